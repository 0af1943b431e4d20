// Classifier-free guidance against the reference expression uncond + s * (cond - uncond)
// evaluated by torch in fp32 and bf16 (tools/fixtures/make_golden_sampling.py).
#include <fmt/format.h>
#include <gtest/gtest.h>

#include "sampling/guidance.h"
#include "sampling_fixture.h"

namespace duet {
namespace {

TEST(GoldenGuidance, MatchesReferenceExpression) {
  test::SamplingFixture fixture("guidance.safetensors");
  ASSERT_FALSE(fixture.cases().empty());
  for (const auto& c : fixture.cases()) {
    const std::string dtype = c.at("dtype");
    const double scale = c.at("scale");
    SCOPED_TRACE(dtype + " scale " + std::to_string(scale));
    const at::Tensor cond = fixture.tensor(dtype + ".cond");
    const at::Tensor uncond = fixture.tensor(dtype + ".uncond");
    const at::Tensor ref = fixture.tensor(dtype + ".s" + fmt::format("{:.1f}", scale));
    const at::Tensor out = apply_cfg(cond, uncond, scale);
    EXPECT_EQ(out.scalar_type(), ref.scalar_type());
    EXPECT_TRUE(at::equal(out, ref)) << "rel err " << test::relative_error(out, ref);
  }
}

}  // namespace
}  // namespace duet
