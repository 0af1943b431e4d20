// Sigma schedules and timesteps against the reference schedulers (Wan FlowUniPC / FlowDPM,
// diffusers UniPC with flow sigmas, diffusers FlowMatchEuler) for every (kind, steps, shift)
// case of tools/fixtures/make_golden_sampling.py. Both are computed with the same float64 /
// float32 operations, so they must agree exactly, not just within a tolerance.
#include <gtest/gtest.h>

#include "sampling/sigma_schedule.h"
#include "sampling_fixture.h"

namespace duet {
namespace {

TEST(GoldenSigmaSchedule, MatchesReferenceExactly) {
  test::SamplingFixture fixture("schedules.safetensors");
  ASSERT_GT(fixture.cases().size(), 200u);
  int checked = 0;
  for (const auto& c : fixture.cases()) {
    const std::string name = c.at("name");
    SCOPED_TRACE(name);
    const SigmaSchedule s =
        make_sigma_schedule(parse_schedule_kind(c.at("kind").get<std::string>()),
                            c.at("steps").get<int64_t>(), c.at("shift").get<double>());
    const at::Tensor ref_t = fixture.tensor(name + ".timesteps");
    const at::Tensor ref_s = fixture.tensor(name + ".sigmas");
    const at::Tensor t = s.timesteps_tensor();
    ASSERT_EQ(t.scalar_type(), ref_t.scalar_type());
    EXPECT_TRUE(at::equal(t, ref_t)) << "timesteps\n" << t << "\nreference\n" << ref_t;
    EXPECT_TRUE(at::equal(s.sigmas_tensor(), ref_s))
        << "max |diff| " << (s.sigmas_tensor() - ref_s).abs().max().item<double>();
    EXPECT_EQ(s.sigmas.back(), 0.0f);
    EXPECT_EQ(s.steps(), c.at("steps").get<int64_t>());
    ++checked;
  }
  EXPECT_EQ(checked, static_cast<int>(fixture.cases().size()));
}

}  // namespace
}  // namespace duet
