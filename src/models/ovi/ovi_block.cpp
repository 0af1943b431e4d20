#include "models/ovi/ovi_block.h"

#include <fmt/format.h>

#include "models/ovi/ovi_tower.h"
#include "nn/fused_norm.h"

namespace duet::ovi {

at::Tensor ovi_rms_norm(const nn::RMSNorm& norm, const at::Tensor& x) {
  // x: [..., D] -> [..., D] in x's dtype
  if (!norm.weight.defined()) return x;
  const auto normed = x * at::rsqrt(x.pow(2).mean(-1, /*keepdim=*/true) + norm.eps);
  return normed * norm.weight.to(x.scalar_type());
}

void OviCrossAttention::load(WeightScope scope, const wan::WanBlockConfig& config) {
  WanAttentionProjections::load(scope, config);
  const int64_t d = config.dim;
  k_fusion.load(scope, "k_fusion", d, d);
  v_fusion.load(scope, "v_fusion", d, d);
  // Ovi builds both with fixed eps: WanLayerNorm's default 1e-6, WanRMSNorm(eps=1e-6).
  pre_attn_norm_fusion.load(scope, "pre_attn_norm_fusion", d, 1e-6, /*affine=*/true);
  if (config.qk_norm) norm_k_fusion.load(scope, "norm_k_fusion", d, 1e-6);
}

void OviBlock::load(WeightScope scope, const wan::WanBlockConfig& config) {
  const int64_t d = config.dim;
  modulation = scope.get("modulation.modulation", {1, 6, d}, fmt::format("(config dim={})", d));
  norm1.init_plain(d, config.eps);
  norm2.init_plain(d, config.eps);
  cross_attn_norm = config.cross_attn_norm;
  if (cross_attn_norm) norm3.load(scope, "norm3", d, config.eps, /*affine=*/true);
  self_attn.load(scope.sub("self_attn."), config);
  cross_attn.load(scope.sub("cross_attn."), config);
  ffn_0.load(scope, "ffn.0", d, config.ffn_dim);
  ffn_2.load(scope, "ffn.2", config.ffn_dim, d);
}

namespace {

// [B, L, D] -> [B, L, H, hd]
at::Tensor heads(const at::Tensor& x, const wan::WanAttentionProjections& p) {
  return x.unflatten(-1, {p.num_heads, p.head_dim});
}

// Ovi's norm(x).bfloat16() * (1 + scale) + shift, in the compute dtype (one fused pass).
at::Tensor modulated(const nn::LayerNorm& norm, const at::Tensor& x, const at::Tensor& e,
                     int64_t shift, int64_t scale) {
  return nn::layer_norm_modulate(norm, x, e.select(2, shift), e.select(2, scale),
                                 at::promote_types(x.scalar_type(), e.scalar_type()));
}

// Self-attention q and k: Ovi's RMSNorm (in the compute dtype) and the tower's RoPE, fused
// into one pass when qk_norm is on. h: [B, L, D] -> [B, L, H, hd] each
nn::QkPair rotated_qk(const wan::WanAttentionProjections& p, const at::Tensor& h,
                      const OviStream& s) {
  if (p.norm_q.weight.defined()) {
    return nn::rms_norm_rope_qk(p.q.forward(h), p.k.forward(h), p.norm_q, p.norm_k,
                                nn::RmsNormPrecision::kIoDtype, p.num_heads,
                                s.tower->qk_rope(s.grids));
  }
  return {s.tower->rotate(heads(p.q.forward(h), p), s.grids),
          s.tower->rotate(heads(p.k.forward(h), p), s.grids)};
}

}  // namespace

at::Tensor OviBlock::modulate(const at::Tensor& e0) const {
  // e0: [B, 1 or L, 6, D] -> [B, 1 or L, 6, D]  (ModulationAdd: both in bf16 in Ovi)
  return modulation.to(e0.scalar_type()) + e0;
}

at::Tensor OviBlock::self_attention_step(const at::Tensor& x, const at::Tensor& e,
                                         const OviStream& s,
                                         const nn::AttentionOptions& attention) const {
  // x: [B, L, D], e: [B, 1 or L, 6, D] -> [B, L, D]
  const auto h = modulated(norm1, x, e, 0, 1);
  const auto& p = self_attn;
  const auto qk = rotated_qk(p, h, s);  // [B, L, H, hd] each
  const auto v = heads(p.v.forward(h), p);
  const auto out = nn::attention(qk.q, qk.k, v, s.k_lens, attention);  // [B, L, H, hd]
  return nn::gated_residual(x, p.o.forward(out.flatten(2)), e.select(2, 2));
}

at::Tensor OviBlock::cross_attention_ffn_step(const at::Tensor& x, const at::Tensor& e,
                                              const OviStream& s, const at::Tensor& target,
                                              const OviStream& t,
                                              const nn::AttentionOptions& attention) const {
  // x: [B, L, D], e: [B, 1 or L, 6, D], target: [B, Lt, D] -> [B, L, D]
  const auto& c = cross_attn;
  const auto src = cross_attn_norm ? norm3.forward(x) : x;
  const auto q = heads(ovi_rms_norm(c.norm_q, c.q.forward(src)), c);  // [B, L, H, hd]
  // Text: no RoPE, no key mask over all text_len zero-padded slots (context_lens is None).
  const auto k = heads(ovi_rms_norm(c.norm_k, c.k.forward(s.context)), c);
  auto out = nn::attention(q, k, heads(c.v.forward(s.context), c), std::nullopt, attention);
  // The other tower: q rotated by this tower's positions, its keys by the target's, and the
  // target's padding masked (k_lens = target seq_lens).
  const auto tgt = c.pre_attn_norm_fusion.forward(target);
  const auto k_t = heads(ovi_rms_norm(c.norm_k_fusion, c.k_fusion.forward(tgt)), c);
  const auto v_t = heads(c.v_fusion.forward(tgt), c);
  out = out + nn::attention(s.tower->rotate(q, s.grids), t.tower->rotate(k_t, t.grids), v_t,
                            t.k_lens, attention);
  const auto h = x + c.o.forward(out.flatten(2));

  const auto y = ffn_2.forward(at::gelu(ffn_0.forward(modulated(norm2, h, e, 3, 4)), "tanh"));
  return nn::gated_residual(h, y, e.select(2, 5));
}

}  // namespace duet::ovi
