// Classifier-free guidance helper: scale 1 skips the uncond pass, errors for missing inputs
// and bad scales. The reference expression itself is checked in tests/golden/sampling/.
#include <gtest/gtest.h>

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include <cmath>
#include <string>

#include "core/error.h"
#include "sampling/guidance.h"
#include "support/test_support.h"

namespace duet {
namespace {

TEST(Guidance, ScaleOneSkipsUncondPass) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(1);
  const at::Tensor cond = at::randn({2, 3, 4}, gen);
  const at::Tensor uncond = at::randn({2, 3, 4}, gen);
  EXPECT_FALSE(needs_uncond_pass(1.0));
  EXPECT_TRUE(needs_uncond_pass(4.0));
  EXPECT_TRUE(needs_uncond_pass(0.0));
  EXPECT_TRUE(at::equal(apply_cfg(cond, at::Tensor(), 1.0), cond));
  // With uncond present the reference expression is used; it equals cond up to rounding.
  EXPECT_LE(test::relative_error(apply_cfg(cond, uncond, 1.0), cond), 1e-6);
  EXPECT_TRUE(at::equal(apply_cfg(cond, uncond, 0.0), uncond));
  const at::Tensor guided = apply_cfg(cond, uncond, 5.0);
  EXPECT_LE(test::relative_error(guided, cond * 5.0 - uncond * 4.0), 1e-6);
}

TEST(Guidance, Errors) {
  const at::Tensor cond = at::ones({2, 3});
  EXPECT_THROW(apply_cfg(cond, at::Tensor(), 4.0), Error);
  EXPECT_THROW(apply_cfg(cond, at::ones({3, 2}), 4.0), Error);
  EXPECT_THROW(apply_cfg(at::Tensor(), cond, 4.0), Error);
  EXPECT_THROW(check_guidance_scale(-1.0, "video_guidance_scale"), Error);
  EXPECT_THROW(check_guidance_scale(NAN, "audio_guidance_scale"), Error);
  EXPECT_NO_THROW(check_guidance_scale(0.0, "audio_guidance_scale"));
  try {
    check_guidance_scale(-2.0, "video_guidance_scale");
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("video_guidance_scale"), std::string::npos);
  }
}

}  // namespace
}  // namespace duet
