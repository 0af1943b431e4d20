#pragma once
// The weights of one Ovi block of one tower (ovi/modules/model.py WanAttentionBlock with the
// fusion projections FusionModel.inject_cross_attention_kv_projections adds), named like the
// keys under "<tower>.blocks.<i>.", and the pieces of the fused forward (ovi_fusion.cpp runs
// them in Ovi's order). Projections and their loading are Wan's (wan_block.h); the forward is
// Ovi's: every step in the compute dtype, RMSNorm computed in it too (Ovi's WanRMSNorm works in
// bf16 where Wan's works in fp32).
#include <ATen/ATen.h>

#include <optional>
#include <vector>

#include "io/weight_store.h"
#include "models/wan/wan_block.h"
#include "nn/attention.h"
#include "nn/layers.h"
#include "nn/rope.h"

namespace duet::ovi {

class OviTower;

// cross_attn: Wan's q/k/v/o (+ norm_q/norm_k) for the text, plus the fusion keys/values over
// the other tower. q and o are shared by the text and the fusion attention.
struct OviCrossAttention : wan::WanAttentionProjections {
  nn::Linear k_fusion, v_fusion;
  nn::LayerNorm pre_attn_norm_fusion;  // affine LayerNorm over the other tower's stream
  nn::RMSNorm norm_k_fusion;           // undefined when qk_norm is off (Identity in Ovi)

  void load(WeightScope scope, const wan::WanBlockConfig& config);
};

// One tower's state in a pass through the fused blocks.
struct OviStream {
  const OviTower* tower = nullptr;
  at::Tensor e0;                     // [B, 1 or L, 6, D] time projection
  std::vector<nn::VideoGrid> grids;  // per sample; audio (L, 1, 1)
  std::optional<at::Tensor> k_lens;  // [B] real token counts; nullopt: no padding
  at::Tensor context;                // [B, Lc, D] embedded text
};

struct OviBlock {
  at::Tensor modulation;  // modulation.modulation: [1, 6, D] (Ovi's ModulationAdd module)
  nn::LayerNorm norm1;    // no weights
  wan::WanAttentionProjections self_attn;
  nn::LayerNorm norm3;  // affine; undefined weights (identity) when cross_attn_norm is off
  bool cross_attn_norm = true;
  OviCrossAttention cross_attn;
  nn::LayerNorm norm2;  // no weights
  nn::Linear ffn_0;     // ffn.0; ffn.1 is GELU(tanh)
  nn::Linear ffn_2;     // ffn.2

  void load(WeightScope scope, const wan::WanBlockConfig& config);

  // modulation + e0, chunked: e0 [B, 1 or L, 6, D] -> [B, 1 or L, 6, D]
  at::Tensor modulate(const at::Tensor& e0) const;
  // x += self_attn(norm1(x) * (1 + e1) + e0) * e2.  x: [B, L, D], e: modulate() -> [B, L, D]
  at::Tensor self_attention_step(const at::Tensor& x, const at::Tensor& e, const OviStream& s,
                                 const nn::AttentionOptions& attention) const;
  // x += cross_attn(norm3(x), text, other tower); x += ffn(norm2(x) * (1 + e4) + e3) * e5
  // x: [B, L, D], target: [B, Lt, D] (the other tower's stream) -> [B, L, D]
  at::Tensor cross_attention_ffn_step(const at::Tensor& x, const at::Tensor& e, const OviStream& s,
                                      const at::Tensor& target, const OviStream& t,
                                      const nn::AttentionOptions& attention) const;
};

// Ovi's WanRMSNorm: x * rsqrt(mean(x^2) + eps) * weight, computed in x's dtype (bf16 in Ovi).
// Identity when the norm has no weight (qk_norm off).  x: [..., D] -> [..., D]
at::Tensor ovi_rms_norm(const nn::RMSNorm& norm, const at::Tensor& x);

}  // namespace duet::ovi
