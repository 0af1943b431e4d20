#pragma once
// Wan diffusion transformer (Wan-Video/Wan2.1 and Wan2.2 wan/modules/model.py WanModel): the
// video denoiser of Wan 2.1/2.2 and the video tower of Ovi. Members are named like the
// original checkpoint keys; diffusers checkpoints load through wan_keys.h's KeyMap.
//
//   auto config = WanDiTConfig::from_json(read_json_file(dir + "/config.json"), "config.json");
//   WeightStore store({dir + "/diffusion_pytorch_model.safetensors"}, {.dtype = at::kBFloat16});
//   WanDiT dit = WanDiT::load(config, store);       // strict: every tensor used, shapes checked
//   auto v = dit.forward(latents, t, context, seq_len);  // velocity, same shape as latents
#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include <array>
#include <string>
#include <vector>

#include "io/weight_store.h"
#include "models/wan/wan_block.h"
#include "nn/attention.h"
#include "nn/layers.h"
#include "nn/rope.h"

namespace duet::wan {

struct WanDiTConfig {
  // "t2v", "i2v" (Wan2.2 style: the conditioning latents are concatenated to x by the caller,
  // in_dim 36) or "ti2v". Informational for the model itself: all three share one forward.
  std::string model_type = "t2v";
  std::array<int64_t, 3> patch_size{1, 2, 2};
  int64_t text_len = 512;
  int64_t in_dim = 16;
  int64_t dim = 2048;
  int64_t ffn_dim = 8192;
  int64_t freq_dim = 256;
  int64_t text_dim = 4096;  // 0: not in the config, taken from text_embedding.0.weight at load
  int64_t out_dim = 16;
  int64_t num_heads = 16;
  int64_t num_layers = 32;
  bool qk_norm = true;
  bool cross_attn_norm = true;
  double eps = 1e-6;
  int64_t rope_max_seq_len = nn::kRopeMaxPositions;

  // Reads either the original config.json (WanModel: dim, num_heads, in_dim, ...; it never
  // carries text_dim, which is then left 0) or diffusers' transformer/config.json
  // (WanTransformer3DModel: num_attention_heads, attention_head_dim, in_channels, ...).
  // Errors name `source` and the field.
  static WanDiTConfig from_json(const nlohmann::json& json, const std::string& source);
  // Throws duet::Error naming the first inconsistent field.
  void validate() const;

  int64_t head_dim() const { return num_heads > 0 ? dim / num_heads : 0; }
  int64_t patch_volume() const { return patch_size[0] * patch_size[1] * patch_size[2]; }
  WanBlockConfig block() const;
};

// Wan's sinusoidal_embedding_1d: [cos(p w_i), sin(p w_i)] with w_i = 10000^(-i/(dim/2)),
// computed in float64. positions: [N] -> [N, dim] float64
at::Tensor wan_sinusoidal_embedding(int64_t dim, const at::Tensor& positions);

// Wan's unpatchify (einsum 'fhwpqrc->cfphqwr' with the batch in front), shared with Ovi's video
// tower. x: [B, L >= f*h*w, pt*ph*pw*c] -> [B, c, f*pt, h*ph, w*pw]
at::Tensor unpatchify(const at::Tensor& x, const nn::VideoGrid& grid,
                      const std::array<int64_t, 3>& patch_size, int64_t out_dim);

struct WanDiTHead {
  nn::LayerNorm norm;     // no weights
  nn::Linear head;        // head.head: [prod(patch) * out_dim, D], "proj_out" in diffusers
  at::Tensor modulation;  // head.modulation: [1, 2, D], top-level "scale_shift_table" in diffusers
};

class WanDiT {
 public:
  // Strict load from `store` under `prefix` ("" for Wan folders, "video_model." for Ovi):
  // every tensor of the config must be present with its shape, and finish() rejects leftovers.
  static WanDiT load(WanDiTConfig config, WeightStore& store, const std::string& prefix = "");

  // x: [B, in_dim, F, H, W] latents, t: [B] or per token [B, seq_len] timesteps (Wan2.2 TI2V),
  // context: [B, Lc, text_dim] text embeddings zero padded (Lc = text_len in Wan's pipelines),
  // seq_len: token count the sequence is padded to (>= F/pt * H/ph * W/pw; padded keys are
  // masked in self-attention) -> velocity [B, out_dim, F, H, W] fp32.
  at::Tensor forward(const at::Tensor& x, const at::Tensor& t, const at::Tensor& context,
                     int64_t seq_len, const nn::AttentionOptions& attention = {}) const;

  const WanDiTConfig& config() const { return config_; }
  at::ScalarType dtype() const { return patch_embedding_weight_.scalar_type(); }

  // Pieces of forward, public for tests and for Ovi's fusion model.
  // x: [B, in_dim, F, H, W] -> [B, f*h*w, D] in the weights' dtype
  at::Tensor embed_patches(const at::Tensor& x) const;
  // t: [B] or [B, L] -> {e: [B, 1 or L, D], e0: [B, 1 or L, 6, D]}, fp32
  std::array<at::Tensor, 2> embed_time(const at::Tensor& t) const;
  // context: [B, Lc, text_dim] -> [B, Lc, D] in the weights' dtype
  at::Tensor embed_text(const at::Tensor& context) const;
  // x: [B, L, D] fp32, e: [B, 1 or L, D] fp32 -> [B, L, prod(patch) * out_dim] fp32
  at::Tensor apply_head(const at::Tensor& x, const at::Tensor& e) const;
  // x: [B, L >= f*h*w, prod(patch) * out_dim] -> [B, out_dim, f*pt, h*ph, w*pw]
  at::Tensor unpatchify(const at::Tensor& x, const nn::VideoGrid& grid) const;

  const std::vector<WanAttentionBlock>& blocks() const { return blocks_; }
  const nn::VideoRope& rope() const { return rope_; }

 private:
  void check_inputs(const at::Tensor& x, const at::Tensor& t, const at::Tensor& context,
                    int64_t seq_len) const;

  WanDiTConfig config_;
  at::Tensor patch_embedding_weight_;  // patch_embedding.weight: [D, in_dim, pt, ph, pw]
  at::Tensor patch_embedding_bias_;    // patch_embedding.bias: [D]
  nn::Linear text_embedding_0_;        // text_embedding.0; .1 is GELU(tanh)
  nn::Linear text_embedding_2_;        // text_embedding.2
  nn::Linear time_embedding_0_;        // time_embedding.0; .1 is SiLU
  nn::Linear time_embedding_2_;        // time_embedding.2
  nn::Linear time_projection_1_;       // time_projection.1 (after SiLU): [6D, D]
  std::vector<WanAttentionBlock> blocks_;
  WanDiTHead head_;
  nn::VideoRope rope_;  // on the weights' device
};

}  // namespace duet::wan
