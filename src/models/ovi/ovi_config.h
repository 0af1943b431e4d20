#pragma once
// Configuration of Ovi's twin backbone (character-ai/Ovi ovi/configs/model/dit/{video,audio}.json):
// two WanModel towers of equal width and depth, fused in every block (see ovi_fusion.h).
//
//   // Ovi/model*.safetensors carries no config: sizes come from the tensor shapes.
//   WeightStore store({dir + "/Ovi/model.safetensors"}, {.dtype = at::kBFloat16});
//   OviFusionConfig config = OviFusionConfig::from_weights(store);
//   // duet packages and tests: {"video": {...video.json...}, "audio": {...audio.json...}}
//   OviFusionConfig real = OviFusionConfig::from_json(json, "duet.json");
#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "io/weight_store.h"
#include "models/wan/wan_block.h"

namespace duet::ovi {

// One tower: Ovi's WanModel keyword arguments (video.json / audio.json field names).
struct OviTowerConfig {
  std::string model_type = "ti2v";           // "ti2v" (video tower) or "t2a" (audio tower)
  std::vector<int64_t> patch_size{1, 2, 2};  // video (t, h, w); audio [1] (no patching)
  int64_t text_len = 512;
  int64_t in_dim = 48;
  int64_t dim = 3072;
  int64_t ffn_dim = 14336;
  int64_t freq_dim = 256;
  int64_t text_dim = 4096;  // WanModel's default; not in Ovi's json files
  int64_t out_dim = 48;
  int64_t num_heads = 24;
  int64_t num_layers = 30;
  bool qk_norm = true;
  bool cross_attn_norm = true;
  double eps = 1e-6;
  double temporal_rope_scaling_factor = 1.0;  // audio: 0.19676
  // Audio: hidden width of the patch-embedding ConvMLP. 0: Ovi's own derivation from dim
  // (ConvMLP(dim, 4*dim): int(2*4*dim/3) rounded up to a multiple of 256, 8192 for 3072).
  int64_t patch_embedding_mlp_dim = 0;

  static OviTowerConfig from_json(const nlohmann::json& json, const std::string& source);
  void validate() const;  // throws duet::Error naming the first inconsistent field

  bool is_audio() const { return model_type.find('a') != std::string::npos; }
  int64_t head_dim() const { return num_heads > 0 ? dim / num_heads : 0; }
  int64_t patch_volume() const;
  int64_t conv_mlp_dim() const;
  wan::WanBlockConfig block() const;
};

struct OviFusionConfig {
  OviTowerConfig video;
  OviTowerConfig audio;

  // The released model: Ovi's video.json and audio.json (11,660,753,108 parameters).
  static OviFusionConfig ovi_defaults();
  // {"video": {...}, "audio": {...}} as in a duet package's "config".
  static OviFusionConfig from_json(const nlohmann::json& json, const std::string& source);
  // From the shapes of the fusion checkpoint's tensors (keys "video_model." / "audio_model." +
  // prefix); fields the shapes do not tell (text_len, eps, rope scaling) keep Ovi's values.
  // Head dim 128, as in every Ovi/Wan model, gives num_heads.
  static OviFusionConfig from_weights(WeightStore& store, const std::string& prefix = "");
  void validate() const;
};

}  // namespace duet::ovi
