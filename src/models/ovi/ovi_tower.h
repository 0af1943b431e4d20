#pragma once
// One tower of Ovi's twin backbone: Ovi's WanModel (ovi/modules/model.py) without the blocks'
// forward, which the fusion model runs pairwise (ovi_fusion.h). Members are named like the keys
// under "video_model." / "audio_model." of Ovi/model.safetensors.
//
// Video tower = Wan2.2 TI2V-5B: Conv3d patch embedding (1, 2, 2), 3D RoPE (nn::VideoRope).
// Audio tower: no patching; patch_embedding = Conv1d(20->D, k7, p3) -> SiLU -> SwiGLU ConvMLP
// (Conv1d k7 w1/w3/w2, no bias) "hardcoded to MMAudio"; 1D RoPE scaled by
// temporal_rope_scaling_factor on the first 22 of 64 pairs (nn::SequenceRope).
//
// Precision follows Ovi, not Wan: Ovi casts the time embedding, modulation, norms, RoPE and head
// outputs to bfloat16 where Wan keeps fp32, so every activation here is in the compute dtype
// (the weights' dtype); with bf16 weights this is Ovi's own run, with fp32 weights it is the
// fp32 reference of tools/fixtures/make_golden_ovi_fusion.py.
#include <ATen/ATen.h>

#include <array>
#include <vector>

#include "io/weight_store.h"
#include "models/ovi/ovi_block.h"
#include "models/ovi/ovi_config.h"
#include "nn/layers.h"
#include "nn/rope.h"

namespace duet::nn {
struct QkRope;  // nn/fused_norm.h
}  // namespace duet::nn

namespace duet::ovi {

class OviTower {
 public:
  // Strict: every tensor of the config under `scope` with its shape (the caller finishes).
  static OviTower load(const OviTowerConfig& config, WeightScope scope);

  const OviTowerConfig& config() const { return config_; }
  at::ScalarType dtype() const { return text_embedding_0_.weight.scalar_type(); }
  at::Device device() const { return text_embedding_0_.weight.device(); }

  // Token grid of an input: video (F/pt, H/ph, W/pw); audio (L, 1, 1).
  nn::VideoGrid grid_of(const at::Tensor& x) const;
  // video x: [B, in_dim, F, H, W] -> [B, f*h*w, D]; audio x: [B, in_dim, L] -> [B, L, D]
  at::Tensor embed(const at::Tensor& x) const;
  // t: [B] or per token [B, L] -> {e: [B, 1 or L, D], e0: [B, 1 or L, 6, D]}
  std::array<at::Tensor, 2> embed_time(const at::Tensor& t) const;
  // context: [B, Lc <= text_len, text_dim] -> [B, text_len, D] (zero padded before embedding)
  at::Tensor embed_text(const at::Tensor& context) const;
  // Rotates the first f*h*w tokens of each sample by its grid (the rest pass through).
  // x: [B, L, H, hd] -> [B, L, H, hd] in x's dtype (Ovi's rope_apply returns bf16)
  at::Tensor rotate(const at::Tensor& x, const std::vector<nn::VideoGrid>& grids) const;
  // The same rotation as the fused norm kernels take it (nn::rms_norm_rope_qk).
  nn::QkRope qk_rope(const std::vector<nn::VideoGrid>& grids) const;
  // x: [B, L, D], e: [B, 1 or L, D] -> [B, L, prod(patch) * out_dim]
  at::Tensor apply_head(const at::Tensor& x, const at::Tensor& e) const;
  // x: [B, L, prod(patch) * out_dim] -> video [B, out_dim, F, H, W] / audio [B, out_dim, L]
  at::Tensor unpatchify(const at::Tensor& x, const nn::VideoGrid& grid) const;

  const std::vector<OviBlock>& blocks() const { return blocks_; }

 private:
  OviTowerConfig config_;
  // Video: patch_embedding.{weight,bias} (Conv3d). Audio: patch_embedding.0.{weight,bias}
  // (Conv1d k7), .1 is SiLU, .2.w1/.w3/.w2 the ConvMLP (Conv1d k7, no bias).
  at::Tensor patch_embedding_weight_, patch_embedding_bias_;
  at::Tensor mlp_w1_, mlp_w2_, mlp_w3_;
  nn::Linear text_embedding_0_;   // text_embedding.0; .1 is GELU(tanh)
  nn::Linear text_embedding_2_;   // text_embedding.2
  nn::Linear time_embedding_0_;   // time_embedding.0; .1 is SiLU
  nn::Linear time_embedding_2_;   // time_embedding.2
  nn::Linear time_projection_1_;  // time_projection.1 (after SiLU): [6D, D]
  std::vector<OviBlock> blocks_;
  nn::LayerNorm head_norm_;     // head.norm: no weights
  nn::Linear head_head_;        // head.head: [prod(patch) * out_dim, D]
  at::Tensor head_modulation_;  // head.modulation: [1, 2, D]
  nn::VideoRope video_rope_;
  nn::SequenceRope audio_rope_;
};

}  // namespace duet::ovi
