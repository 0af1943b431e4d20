// WanT2VPipeline::resolve on the tiny folders: defaults from presets and diffusers configs,
// derived latent grids at real sizes, and validation messages. No compute happens here.
#include <gtest/gtest.h>

#include "core/error.h"
#include "io/model_dir.h"
#include "pipeline/preset.h"
#include "pipeline/wan_t2v.h"
#include "support/test_support.h"

namespace duet {
namespace {

WanT2VPipeline pipeline(const char* layout) {
  return WanT2VPipeline(detect_model_dir((test::tiny_dir() / layout).string()), {},
                        load_presets(test::source_dir() / "configs"));
}

std::string error_of(const WanT2VPipeline& p, const WanT2VRequest& r) {
  try {
    p.resolve(r);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(WanT2VSettings, DefaultsComeFromThePreset) {
  const auto p = pipeline("wan21");
  const auto s = p.resolve({.prompt = "a cat"});
  EXPECT_EQ(s.preset, "wan2.1-t2v-1.3b");
  EXPECT_EQ(s.width, 832);
  EXPECT_EQ(s.height, 480);
  EXPECT_EQ(s.frames, 81);
  // Wan2.1 at 832x480x81: latents [16, 21, 60, 104], 21 * 30 * 52 = 32760 tokens (Wan's
  // seq_len for this size).
  EXPECT_EQ(s.latent_channels, 16);
  EXPECT_EQ(s.latent_frames, 21);
  EXPECT_EQ(s.latent_height, 60);
  EXPECT_EQ(s.latent_width, 104);
  EXPECT_EQ(s.seq_len, 32760);
  EXPECT_EQ(s.schedule, SigmaScheduleKind::kWanUniPC);
  EXPECT_FALSE(s.boundary.has_value());
  EXPECT_FALSE(s.negative_prompt.empty());
}

TEST(WanT2VSettings, Wan22UsesTheSixteenfoldVae) {
  const auto s = pipeline("wan22-ti2v").resolve({.prompt = "a cat"});
  EXPECT_EQ(s.preset, "wan2.2-ti2v-5b");
  EXPECT_EQ(s.latent_channels, 48);
  EXPECT_EQ(s.latent_frames, 31);
  EXPECT_EQ(s.latent_height, 44);
  EXPECT_EQ(s.latent_width, 80);
  EXPECT_EQ(s.seq_len, 31 * 22 * 40);
  EXPECT_EQ(s.fps, 24);
}

TEST(WanT2VSettings, TwoExpertsGetBoundaryAndTwoScales) {
  const auto p = pipeline("wan22-a14b");
  ASSERT_TRUE(p.two_experts());
  const auto s = p.resolve({.prompt = "a cat"});
  EXPECT_EQ(s.preset, "wan2.2-t2v-a14b");
  EXPECT_EQ(s.boundary.value_or(0), 0.875);
  EXPECT_EQ(s.guidance, 3.0);
  EXPECT_EQ(s.guidance_high_noise.value_or(0), 4.0);
  EXPECT_EQ(s.steps, 40);
  EXPECT_EQ(s.shift, 12.0);
  const auto o = p.resolve({.prompt = "a cat", .guidance = 2.0, .guidance_high_noise = 6.0});
  EXPECT_EQ(o.guidance, 2.0);
  EXPECT_EQ(o.guidance_high_noise.value_or(0), 6.0);
}

TEST(WanT2VSettings, DiffusersFolderTakesItsSchedulerConfig) {
  const auto s = pipeline("wan-diffusers").resolve({.prompt = "a cat"});
  EXPECT_EQ(s.sampler, "unipc");
  EXPECT_EQ(s.schedule, SigmaScheduleKind::kDiffusersFlow);
  EXPECT_EQ(s.shift, 3.0);  // scheduler_config.json flow_shift, not the preset's 8
  const auto o = pipeline("wan-diffusers").resolve({.prompt = "a cat", .shift = 7.0,
                                                    .sampler = std::string("dpm++")});
  EXPECT_EQ(o.shift, 7.0);
  EXPECT_EQ(o.schedule, SigmaScheduleKind::kWanDpm);
}

TEST(WanT2VSettings, InvalidValuesNameTheNearestValidOnes) {
  const auto p = pipeline("wan21");
  EXPECT_NE(error_of(p, {.prompt = "x", .width = 850, .height = 480}).find("nearest valid size: 848x480"),
            std::string::npos);
  EXPECT_NE(error_of(p, {.prompt = "x", .width = 7, .height = 500}).find("16x496"),
            std::string::npos);
  const auto q = pipeline("wan22-ti2v");
  EXPECT_NE(error_of(q, {.prompt = "x", .width = 848, .height = 480}).find("multiples of 32"),
            std::string::npos);
  EXPECT_NE(error_of(p, {.prompt = "x", .frames = 80}).find("nearest valid: 81"), std::string::npos);
  EXPECT_NE(error_of(p, {.prompt = "x", .frames = 0}).find("nearest valid: 1"), std::string::npos);
  EXPECT_NE(error_of(p, {.prompt = ""}).find("prompt is empty"), std::string::npos);
  EXPECT_NE(error_of(p, {.prompt = "x", .shift = -1.0}).find("shift"), std::string::npos);
  EXPECT_NE(error_of(p, {.prompt = "x", .guidance = -2.0}).find("guidance"), std::string::npos);
  EXPECT_NE(error_of(p, {.prompt = "x", .fps = 0.0}).find("fps"), std::string::npos);
}

TEST(WanT2VSettings, NearestValidValues) {
  EXPECT_EQ(nearest_multiple(850, 16), 848);
  EXPECT_EQ(nearest_multiple(856, 16), 848);  // ties go down
  EXPECT_EQ(nearest_multiple(857, 16), 864);
  EXPECT_EQ(nearest_multiple(3, 16), 16);
  EXPECT_EQ(nearest_wan_frame_count(81), 81);
  EXPECT_EQ(nearest_wan_frame_count(82), 81);
  EXPECT_EQ(nearest_wan_frame_count(84), 85);
  EXPECT_EQ(nearest_wan_frame_count(0), 1);
  EXPECT_EQ(nearest_wan_frame_count(-5), 1);
}

TEST(WanT2VSettings, SeedsAreRandomWhenUnsetAndNoiseFollowsTheSeed) {
  const auto p = pipeline("wan21");
  const auto a = p.resolve({.prompt = "x", .width = 64, .height = 48, .frames = 5});
  const auto b = p.resolve({.prompt = "x", .width = 64, .height = 48, .frames = 5});
  EXPECT_NE(a.seed, b.seed);
  EXPECT_LT(a.seed, uint64_t{1} << 63);
  auto c = a;
  c.seed = 5;
  EXPECT_TRUE(at::equal(p.initial_noise(c), p.initial_noise(c)));
  auto d = c;
  d.seed = 6;
  EXPECT_FALSE(at::equal(p.initial_noise(c), p.initial_noise(d)));
  EXPECT_EQ(p.initial_noise(c).sizes(), (std::vector<int64_t>{1, 16, 2, 6, 8}));
}

}  // namespace
}  // namespace duet
