#pragma once
// One Wan DiT block (wan/modules/model.py WanAttentionBlock), members named like the
// checkpoint keys under "blocks.<i>.":
//
//   x += self_attn(norm1(x) * (1 + e1) + e0) * e2        norm1: LayerNorm, no affine
//   x += cross_attn(norm3(x), context)                    norm3: affine LayerNorm (cross_attn_norm)
//   x += ffn(norm2(x) * (1 + e4) + e3) * e5               ffn: Linear, GELU(tanh), Linear
//
// with e = modulation + e0 (time projection), all in fp32. Precision follows Wan under
// autocast: the residual stream, norms and modulation are fp32, the linear layers and the
// attention run in the weights' dtype, RoPE is applied in fp32.
#include <ATen/ATen.h>

#include <optional>
#include <vector>

#include "io/weight_store.h"
#include "nn/attention.h"
#include "nn/layers.h"
#include "nn/rope.h"

namespace duet::wan {

struct WanBlockConfig {
  int64_t dim = 0;
  int64_t ffn_dim = 0;
  int64_t num_heads = 0;
  bool qk_norm = true;
  bool cross_attn_norm = true;
  double eps = 1e-6;
};

// q, k, v, o projections with optional RMSNorm on q and k over the full width (across heads,
// before the split into heads).
struct WanAttentionProjections {
  nn::Linear q, k, v, o;
  nn::RMSNorm norm_q, norm_k;  // undefined weights when qk_norm is off
  int64_t num_heads = 0;
  int64_t head_dim = 0;

  void load(WeightScope scope, const WanBlockConfig& config);
  // x: [B, L, D] -> [B, L, H, hd] (after norm_q)
  at::Tensor query(const at::Tensor& x) const;
  // x: [B, L, D] -> [B, L, H, hd] (after norm_k)
  at::Tensor key(const at::Tensor& x) const;
  // x: [B, L, D] -> [B, L, H, hd]
  at::Tensor value(const at::Tensor& x) const;
};

struct WanSelfAttention : WanAttentionProjections {
  // x: [B, L, D] (weights' dtype) -> [B, L, D]; keys at index >= k_lens[b] are masked.
  at::Tensor forward(const at::Tensor& x, const std::optional<at::Tensor>& k_lens,
                     const std::vector<nn::VideoGrid>& grids, const nn::VideoRope& rope,
                     const nn::AttentionOptions& attention) const;
};

struct WanCrossAttention : WanAttentionProjections {
  // x: [B, L, D], context: [B, Lc, D] -> [B, L, D]. No key mask: Wan attends over all
  // text_len slots of the zero-padded text (context_lens is None in model.py).
  at::Tensor forward(const at::Tensor& x, const at::Tensor& context,
                     const nn::AttentionOptions& attention) const;
};

struct WanAttentionBlock {
  at::Tensor modulation;  // [1, 6, D], "scale_shift_table" in diffusers
  nn::LayerNorm norm1;    // no weights
  WanSelfAttention self_attn;
  nn::LayerNorm norm3;  // affine; weights undefined and skipped when cross_attn_norm is off
  bool cross_attn_norm = true;
  WanCrossAttention cross_attn;
  nn::LayerNorm norm2;  // no weights
  nn::Linear ffn_0;     // ffn.0; ffn.1 is GELU(tanh)
  nn::Linear ffn_2;     // ffn.2

  void load(WeightScope scope, const WanBlockConfig& config);

  // x: [B, L, D] fp32 residual stream, e0: [B, 1 or L, 6, D] fp32 time projection,
  // context: [B, Lc, D] -> [B, L, D] fp32
  at::Tensor forward(const at::Tensor& x, const at::Tensor& e0,
                     const std::optional<at::Tensor>& k_lens,
                     const std::vector<nn::VideoGrid>& grids, const nn::VideoRope& rope,
                     const at::Tensor& context, const nn::AttentionOptions& attention) const;
};

}  // namespace duet::wan
