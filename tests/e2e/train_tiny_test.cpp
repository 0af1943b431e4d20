// duet_train_tiny (tools/train): every stage of duet-tiny's training runs on a miniature recipe,
// the package it writes generates a clip with sound through the ordinary `duet generate`, and a
// stage stopped half way resumes to exactly the weights of an uninterrupted run.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "io/weight_store.h"
#include "support/test_support.h"
#include "unit/media/media_probe.h"

namespace duet {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// The committed recipe at miniature size: 32x32 scenes, narrow models, a few steps per stage.
json mini_recipe() {
  std::ifstream in(test::source_dir() / "tools/train/recipe.json");
  json r = json::parse(in);
  r["scene"]["width"] = 32;
  r["scene"]["height"] = 32;
  auto& st = r["stages"];
  st["tokenizer"]["captions"] = 400;
  st["tokenizer"]["vocab_size"] = 120;
  // motion_weight: the weighted video VAE loss runs too (the committed recipe may leave it at 1)
  st["video_vae"].update(
      {{"steps", 2}, {"batch", 2}, {"crop", 0}, {"save_every", 1}, {"motion_weight", 4.0}});
  st["audio_vae"].update({{"steps", 2}, {"batch", 2}, {"stat_clips", 2}});
  st["vocoder"].update({{"steps", 2}, {"batch", 2}, {"segment_frames", 8}});
  st["fusion"].update({{"steps", 2}, {"batch", 2}, {"clips", 3}});
  for (auto& [name, stage] : st.items()) stage["log_every"] = 1;
  auto& c = r["package"]["components"];
  c["video_vae"]["config"].update({{"base_dim", 4}, {"decoder_base_dim", 4}});
  c["audio_vae"]["config"]["hidden_dim"] = 8;
  c["vocoder"]["config"]["upsample_initial_channel"] = 64;
  for (const char* tower : {"video", "audio"}) {
    c["fusion"]["config"][tower].update(
        {{"dim", 32}, {"ffn_dim", 64}, {"num_heads", 2}, {"num_layers", 2}});
  }
  c["fusion"]["config"]["spec"].update({{"width", 32}, {"height", 32}});
  return r;
}

test::CommandResult train(const fs::path& recipe, const fs::path& work, const std::string& extra) {
  const fs::path tool = test::duet_binary().parent_path() / "duet_train_tiny";
  return test::run_command("'" + tool.string() + "' --recipe '" + recipe.string() + "' --work '" +
                           work.string() + "' --threads 1 " + extra);
}

at::Tensor load(const fs::path& file, const std::string& key) {
  WeightStore store({file.string()});
  return store.load(key).clone();
}

TEST(TrainTiny, EveryStageTrainsAndThePackageGeneratesAClipWithSound) {
  test::TempDir tmp;
  test::write_file(tmp / "recipe.json", mini_recipe().dump());
  const auto r = train(tmp / "recipe.json", tmp / "work", "--out '" + (tmp / "pkg").string() + "'");
  ASSERT_EQ(r.exit_code, 0) << r.err << r.out;
  for (const char* stage : {"video_vae", "audio_vae", "vocoder", "fusion"}) {
    std::istringstream log(test::read_file(tmp / "work" / stage / "losses.tsv"));
    std::string line;
    int lines = 0;
    while (std::getline(log, line)) {
      ++lines;
      const auto eq = line.find('=');
      ASSERT_NE(eq, std::string::npos) << line;
      EXPECT_TRUE(std::isfinite(std::stod(line.substr(eq + 1)))) << stage << ": " << line;
    }
    EXPECT_EQ(lines, 2) << stage;
  }
  // The latent cache marks the cells where each clip's object is: some, never all.
  for (int i = 0; i < 3; ++i) {
    const at::Tensor video = load(tmp / "work" / "fusion" / "latents.safetensors",
                                  "video." + std::to_string(i));
    const at::Tensor cells = load(tmp / "work" / "fusion" / "latents.safetensors",
                                  "objects." + std::to_string(i));
    EXPECT_EQ(cells.sizes(), video.sizes().slice(1)) << i;
    EXPECT_TRUE(cells.eq(0).logical_or(cells.eq(1)).all().item<bool>()) << i;
    const double covered = cells.mean().item<double>();
    EXPECT_GT(covered, 0.0) << i;
    EXPECT_LT(covered, 0.7) << i;
  }
  for (const char* f : {"duet.json", "fusion.safetensors", "text_encoder.safetensors",
                        "video_vae.safetensors", "audio_vae.safetensors", "vocoder.safetensors",
                        "tokenizer.model"}) {
    EXPECT_TRUE(fs::exists(tmp / "pkg" / f)) << f;
  }
  const std::string clip = (tmp / "clip.mp4").string();
  const auto g = test::run_duet({"generate",
                                 "A small red rubber ball falls and bounces on a gray floor. "
                                 "<AUDCAP>soft thuds at every bounce<ENDAUDCAP>",
                                 "--model", (tmp / "pkg").string(), "-s", "2", "-o", clip});
  ASSERT_EQ(g.exit_code, 0) << g.err;
  const auto video = media::probe::decode_video(clip);
  EXPECT_EQ(video.frames(), 121u);
  EXPECT_EQ(video.width, 32);
  const auto info = media::probe::probe_file(clip);
  EXPECT_EQ(info.count(AVMEDIA_TYPE_AUDIO), 1);
}

TEST(TrainTiny, AStoppedStageResumesToTheWeightsOfAnUninterruptedRun) {
  test::TempDir tmp;
  json recipe = mini_recipe();
  recipe["stages"]["video_vae"]["steps"] = 3;
  test::write_file(tmp / "recipe.json", recipe.dump());
  ASSERT_EQ(train(tmp / "recipe.json", tmp / "a", "--stage video_vae").exit_code, 0);
  const auto first = train(tmp / "recipe.json", tmp / "b", "--stage video_vae --stop-after 1");
  ASSERT_EQ(first.exit_code, 0) << first.err;
  EXPECT_FALSE(fs::exists(tmp / "b/video_vae/weights.safetensors"));
  ASSERT_EQ(train(tmp / "recipe.json", tmp / "b", "--stage video_vae").exit_code, 0);
  const fs::path a = tmp / "a/video_vae/weights.safetensors";
  const fs::path b = tmp / "b/video_vae/weights.safetensors";
  for (const char* key : {"encoder.conv1.weight", "decoder.head.2.weight", "conv1.bias"}) {
    EXPECT_TRUE(at::equal(load(a, key), load(b, key))) << key;
  }
}

TEST(TrainTiny, AnUnknownAutocastModeIsRejectedBeforeAnyWork) {
  test::TempDir tmp;
  json recipe = mini_recipe();
  recipe["stages"]["fusion"]["autocast"] = "fp8";
  test::write_file(tmp / "recipe.json", recipe.dump());
  const auto r = train(tmp / "recipe.json", tmp / "work", "--stage fusion");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE((r.err + r.out).find("stages.fusion.autocast is 'fp8'"), std::string::npos)
      << r.err << r.out;  // spdlog logs errors to stdout
}

}  // namespace
}  // namespace duet
