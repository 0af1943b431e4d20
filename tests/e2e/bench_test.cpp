// `duet bench`: a tiny Ovi folder (real weights path, every stage) and a real Wan architecture
// at real width with random weights, one block. Checks the JSON's fields and that the token
// counts follow from the size.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "support/test_support.h"

namespace duet {
namespace {

using nlohmann::json;
using test::run_duet;

void expect_run_sane(const json& run, size_t steps) {
  ASSERT_EQ(run.at("step_s").size(), steps);
  for (const auto& s : run.at("step_s")) EXPECT_GT(s.get<double>(), 0);
  EXPECT_GT(run.at("step_mean_s").get<double>(), 0);
  EXPECT_LE(run.at("step_min_s").get<double>(), run.at("step_mean_s").get<double>());
  EXPECT_GT(run.at("steps_per_s").get<double>(), 0);
  EXPECT_GT(run.at("tokens_per_s").get<double>(), 0);
  EXPECT_GT(run.at("flops_per_step").get<double>(), 0);
  EXPECT_GT(run.at("tflops").get<double>(), 0);
  EXPECT_GT(run.at("steps_peak_rss_mib").get<double>(), 0);
  EXPECT_TRUE(run.at("peak_device_mib").is_null());  // CPU: n/a
}

TEST(Bench, TinyOviFolder) {
  // 128x128, 9 frames: latents 3 x 8 x 8 -> 3 * 4 * 4 = 48 video tokens (patch 2x2), audio
  // latents round(157 * 3 / 31) = 15.
  const auto r =
      run_duet({"bench", "--model", (test::tiny_dir() / "ovi").string(), "--size", "128x128",
                "--frames", "9", "--steps", "2", "--warmup", "1", "--device", "cpu", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const json j = json::parse(r.out);
  EXPECT_EQ(j.at("family"), "ovi");
  EXPECT_EQ(j.at("width"), 128);
  EXPECT_EQ(j.at("height"), 128);
  EXPECT_EQ(j.at("frames"), 9);
  EXPECT_EQ(j.at("tokens").at("video"), 48);
  EXPECT_EQ(j.at("tokens").at("audio"), 15);
  EXPECT_EQ(j.at("tokens").at("per_step"), 2 * (48 + 15));
  EXPECT_EQ(j.at("layers"), j.at("layers_total"));
  for (const char* stage : {"text", "audio_decode", "video_decode", "mux"}) {
    EXPECT_GT(j.at("stages").at(stage).get<double>(), 0) << stage;
  }
  EXPECT_GT(j.at("load_s").get<double>(), 0);
  EXPECT_GT(j.at("peak_rss_mib").get<double>(), 0);
  ASSERT_EQ(j.at("runs").size(), 1u);
  expect_run_sane(j.at("runs")[0], 2);
  const json& run = j.at("runs")[0];
  EXPECT_NEAR(run.at("tokens_per_s").get<double>(),
              2.0 * (48 + 15) / run.at("step_mean_s").get<double>(), 1e-6);
}

TEST(Bench, RealWanArchOneLayer) {
  // Wan2.1 1.3B at 64x64, 5 frames: latents 2 x 8 x 8 -> 2 * 4 * 4 = 32 tokens.
  const auto r =
      run_duet({"bench", "--arch", "wan2.1-1.3b", "--layers", "1", "--size", "64x64", "--frames",
                "5", "--steps", "1", "--device", "cpu", "--attention", "sdpa,reference", "--dtype",
                "fp32,bf16", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const json j = json::parse(r.out);
  EXPECT_EQ(j.at("family"), "wan");
  EXPECT_EQ(j.at("layers"), 1);
  EXPECT_EQ(j.at("layers_total"), 30);
  EXPECT_EQ(j.at("tokens").at("video"), 32);
  EXPECT_EQ(j.at("tokens").at("audio"), 0);
  EXPECT_TRUE(j.at("stages").empty());  // no folder: no text encoder or decoders
  // Every backend in every dtype: the model is rebuilt per dtype.
  ASSERT_EQ(j.at("runs").size(), 4u);
  EXPECT_EQ(j.at("runs")[0].at("attention"), "sdpa");
  EXPECT_EQ(j.at("runs")[1].at("attention"), "reference");
  EXPECT_EQ(j.at("runs")[0].at("dtype"), "Float");
  EXPECT_EQ(j.at("runs")[3].at("dtype"), "BFloat16");
  for (const auto& run : j.at("runs")) expect_run_sane(run, 1);
}

TEST(Bench, RejectsBadArguments) {
  EXPECT_NE(run_duet({"bench"}).exit_code, 0);  // neither --model nor --arch
  const auto r = run_duet({"bench", "--arch", "wan9", "--steps", "1"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("wan2.1-1.3b"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace duet
