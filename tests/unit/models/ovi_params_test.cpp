// Ovi's released twin backbone has 11,660,753,108 parameters (5.566B video + 6.094B audio). The
// loader runs on a WeightStore::meta() store with the config of Ovi's own json files
// (ovi/configs/model/dit/{video,audio}.json), so the structure comes from the loader itself.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "io/weight_store.h"
#include "models/ovi/ovi_fusion.h"

namespace duet::ovi {
namespace {

constexpr const char* kVideoJson = R"({
  "patch_size": [1, 2, 2], "model_type": "ti2v", "dim": 3072, "ffn_dim": 14336,
  "freq_dim": 256, "num_heads": 24, "num_layers": 30, "in_dim": 48, "out_dim": 48,
  "text_len": 512, "window_size": [-1, -1], "qk_norm": true, "cross_attn_norm": true,
  "eps": 1e-6})";
constexpr const char* kAudioJson = R"({
  "patch_size": [1], "model_type": "t2a", "dim": 3072, "ffn_dim": 14336, "freq_dim": 256,
  "num_heads": 24, "num_layers": 30, "in_dim": 20, "out_dim": 20, "text_len": 512,
  "window_size": [-1, -1], "qk_norm": true, "cross_attn_norm": true, "eps": 1e-6,
  "temporal_rope_scaling_factor": 0.19676})";

int64_t numel(const WeightStore& store, const std::string& prefix = "") {
  int64_t total = 0;
  for (const auto& [key, shape] : store.meta_shapes()) {
    if (!key.starts_with(prefix)) continue;
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    total += n;
  }
  return total;
}

TEST(OviParams, RealConfigHasOvisParameterCount) {
  const auto config = OviFusionConfig::from_json(
      {{"video", nlohmann::json::parse(kVideoJson)}, {"audio", nlohmann::json::parse(kAudioJson)}},
      "video.json/audio.json");
  EXPECT_EQ(config.audio.conv_mlp_dim(), 8192);
  EXPECT_EQ(config.video.text_dim, 4096);
  WeightStore store = WeightStore::meta({.dtype = at::kBFloat16});
  const auto model = OviFusionModel::load(config, store);
  EXPECT_EQ(model.dtype(), at::kBFloat16);
  const int64_t video = numel(store, "video_model.");
  const int64_t audio = numel(store, "audio_model.");
  std::printf("  Ovi: %lld parameters (video %lld, audio %lld)\n",
              static_cast<long long>(video + audio), static_cast<long long>(video),
              static_cast<long long>(audio));
  EXPECT_EQ(numel(store), 11'660'753'108);
  EXPECT_EQ(video + audio, numel(store));
  // The defaults are the same model.
  WeightStore defaults = WeightStore::meta({.dtype = at::kBFloat16});
  OviFusionModel::load(OviFusionConfig::ovi_defaults(), defaults);
  EXPECT_EQ(numel(defaults), 11'660'753'108);
  EXPECT_EQ(defaults.meta_shapes().at("audio_model.blocks.29.modulation.modulation"),
            (std::vector<int64_t>{1, 6, 3072}));
  EXPECT_EQ(defaults.meta_shapes().at("video_model.blocks.0.cross_attn.norm_k_fusion.weight"),
            (std::vector<int64_t>{3072}));
}

}  // namespace
}  // namespace duet::ovi
