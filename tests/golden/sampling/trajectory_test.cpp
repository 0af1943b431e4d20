// Full sampling trajectories against the reference solvers: the generator recorded, per step,
// the model output it fed and the sample the reference returned; we replay the same model
// outputs through our solver (feeding back our own samples, so errors would accumulate) and
// compare every step. fp32 must stay within 1e-6 relative error, bf16 (Ovi samples in bf16)
// within 1e-2; in practice both reproduce the reference bit for bit.
#include <gtest/gtest.h>

#include <algorithm>

#include "sampling/scheduler.h"
#include "sampling_fixture.h"

namespace duet {
namespace {

TEST(GoldenSamplingTrajectory, MatchesReferenceSolvers) {
  test::SamplingFixture fixture("trajectories.safetensors");
  ASSERT_GE(fixture.cases().size(), 20u);
  for (const auto& c : fixture.cases()) {
    const std::string name = c.at("name");
    SCOPED_TRACE(name);
    const int64_t steps = c.at("steps");
    const int64_t begin = c.at("begin");
    const bool bf16 = c.at("dtype") == "bf16";
    auto sampler = make_scheduler(c.at("solver").get<std::string>(),
                                  parse_schedule_kind(c.at("kind").get<std::string>()));
    sampler->set_timesteps(steps, c.at("shift").get<double>());
    ASSERT_TRUE(at::equal(sampler->timesteps(), fixture.tensor(name + ".timesteps")));
    ASSERT_TRUE(at::equal(sampler->schedule().sigmas_tensor(), fixture.tensor(name + ".sigmas")));

    const at::Tensor outputs = fixture.tensor(name + ".model_outputs");
    const at::Tensor samples = fixture.tensor(name + ".samples");
    at::Tensor x = fixture.tensor(name + ".x_init");
    double max_err = 0.0;
    for (int64_t i = begin; i < steps; ++i) {
      x = sampler->step(outputs[i - begin], i, x);
      const at::Tensor ref = samples[i - begin];
      ASSERT_EQ(x.scalar_type(), ref.scalar_type());
      max_err = std::max(max_err, test::relative_error(x, ref));
    }
    EXPECT_LE(max_err, bf16 ? 1e-2 : 1e-6);
    std::printf("  %-58s max rel err %.3g\n", name.c_str(), max_err);
  }
}

}  // namespace
}  // namespace duet
