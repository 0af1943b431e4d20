#pragma once
// Ovi's twin backbone (character-ai/Ovi ovi/modules/fusion.py FusionModel): a video and an
// audio Wan tower of equal depth, fused in every block. Block i, in Ovi's order:
//   1. audio: x += self_attn(...)                       (modulation, RoPE 1D scaled)
//   2. video: x += self_attn(...)                       (modulation, RoPE 3D)
//   3. audio: x += cross_attn(text + the video stream of step 2); x += ffn(...)
//   4. video: x += cross_attn(text + the audio stream of step 1, i.e. before step 3); ffn
// Keys are Ovi/model.safetensors': "video_model." / "audio_model." + Ovi's WanModel names.
//
//   WeightStore store({dir + "/Ovi/model.safetensors"}, {.dtype = at::kBFloat16, .device = dev});
//   OviFusionModel ovi = OviFusionModel::load(OviFusionConfig::from_weights(store), store);
//   auto [v, a] = ovi.forward({.x_video = latents, .x_audio = audio_latents, .t_video = t,
//                              .t_audio = t, .context_video = ctx, .context_audio = ctx,
//                              .seq_len_video = 31 * 22 * 22, .seq_len_audio = 157});
//
// fp8 (F8_E4M3) files load through the same path: WeightStore converts every floating tensor to
// WeightOptions::dtype.
#include <ATen/ATen.h>

#include <array>
#include <optional>
#include <string>

#include "io/weight_store.h"
#include "models/ovi/ovi_config.h"
#include "models/ovi/ovi_tower.h"
#include "nn/attention.h"

namespace duet::ovi {

struct OviInputs {
  at::Tensor x_video;         // [B, in_dim (48), F, H, W] video latents
  at::Tensor x_audio;         // [B, in_dim (20), L] audio latents
  at::Tensor t_video;         // [B] or per token [B, seq_len_video]
  at::Tensor t_audio;         // [B] or per token [B, seq_len_audio]
  at::Tensor context_video;   // [B, Lc <= text_len, text_dim], zero padded past each prompt
  at::Tensor context_audio;   // [B, Lc <= text_len, text_dim]
  int64_t seq_len_video = 0;  // tokens the stream is padded to (>= f*h*w; padding masked)
  int64_t seq_len_audio = 0;  // >= L
};

struct OviForwardOptions {
  // Skip-layer guidance: fused block `skip_block` is skipped in both towers on this pass
  // (Ovi's slg_layer; Ovi's slg_layer 0 means "no skipping", here std::nullopt).
  std::optional<int64_t> skip_block;
  nn::AttentionOptions attention;
};

class OviFusionModel {
 public:
  // Strict load: every tensor of the config under `prefix` + "video_model." / "audio_model."
  // with its shape, and no other tensor under `prefix`.
  static OviFusionModel load(const OviFusionConfig& config, WeightStore& store,
                             const std::string& prefix = "");
  // An Ovi/model*.safetensors file (bf16, or fp8 e4m3 community files), config from its shapes.
  static OviFusionModel load_file(const std::string& path, const WeightOptions& options);

  // -> {video velocity [B, out_dim, F, H, W], audio velocity [B, out_dim, L]}, fp32
  std::array<at::Tensor, 2> forward(const OviInputs& in, const OviForwardOptions& opts = {}) const;

  // One fused block on embedded streams (public for tests): vid [B, Lv, D], audio [B, La, D]
  // -> {vid, audio}. Streams' e0 are the towers' time projections.
  std::array<at::Tensor, 2> forward_block(int64_t index, const at::Tensor& vid,
                                          const at::Tensor& audio, const OviStream& video_stream,
                                          const OviStream& audio_stream,
                                          const nn::AttentionOptions& attention = {}) const;

  const OviFusionConfig& config() const { return config_; }
  const OviTower& video_model() const { return video_model_; }
  const OviTower& audio_model() const { return audio_model_; }
  at::ScalarType dtype() const { return video_model_.dtype(); }

 private:
  void check_inputs(const OviInputs& in) const;

  OviFusionConfig config_;
  OviTower video_model_;
  OviTower audio_model_;
};

}  // namespace duet::ovi
