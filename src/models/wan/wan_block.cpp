#include "models/wan/wan_block.h"

#include "core/error.h"
#include "nn/fused_norm.h"

namespace duet::wan {

void WanAttentionProjections::load(WeightScope scope, const WanBlockConfig& config) {
  const int64_t d = config.dim;
  q.load(scope, "q", d, d);
  k.load(scope, "k", d, d);
  v.load(scope, "v", d, d);
  o.load(scope, "o", d, d);
  if (config.qk_norm) {
    norm_q.load(scope, "norm_q", d, config.eps);
    norm_k.load(scope, "norm_k", d, config.eps);
  }
  num_heads = config.num_heads;
  head_dim = d / config.num_heads;
}

at::Tensor WanAttentionProjections::query(const at::Tensor& x) const {
  auto y = q.forward(x);
  if (norm_q.weight.defined()) y = norm_q.forward(y);
  return y.unflatten(-1, {num_heads, head_dim});
}

at::Tensor WanAttentionProjections::key(const at::Tensor& x) const {
  auto y = k.forward(x);
  if (norm_k.weight.defined()) y = norm_k.forward(y);
  return y.unflatten(-1, {num_heads, head_dim});
}

at::Tensor WanAttentionProjections::value(const at::Tensor& x) const {
  return v.forward(x).unflatten(-1, {num_heads, head_dim});
}

at::Tensor WanSelfAttention::forward(const at::Tensor& x, const std::optional<at::Tensor>& k_lens,
                                     const std::vector<nn::VideoGrid>& grids,
                                     const nn::VideoRope& rope,
                                     const nn::AttentionOptions& attention) const {
  // x: [B, L, D] -> [B, L, D]
  const auto dtype = x.scalar_type();
  // RoPE returns fp32 (the reference rotates in float64 and returns .float()); attention runs
  // in the weights' dtype, as flash-attention does under Wan's autocast. With qk_norm the norm,
  // the rotation and the casts run as one fused pass over q and k (nn/fused_norm.h).
  at::Tensor q_rot, k_rot;
  if (norm_q.weight.defined()) {
    auto qk = nn::rms_norm_rope_qk(q.forward(x), k.forward(x), norm_q, norm_k,
                                   nn::RmsNormPrecision::kFloat32, num_heads,
                                   nn::QkRope::of_video(rope, grids));
    q_rot = std::move(qk.q);
    k_rot = std::move(qk.k);
  } else {
    q_rot = rope.apply(query(x), grids).to(dtype);
    k_rot = rope.apply(key(x), grids).to(dtype);
  }
  const auto out = nn::attention(q_rot, k_rot, value(x), k_lens, attention);  // [B, L, H, hd]
  return o.forward(out.flatten(2));
}

at::Tensor WanCrossAttention::forward(const at::Tensor& x, const at::Tensor& context,
                                      const nn::AttentionOptions& attention) const {
  // x: [B, L, D], context: [B, Lc, D] -> [B, L, D]
  const auto out = nn::attention(query(x), key(context), value(context), std::nullopt, attention);
  return o.forward(out.flatten(2));
}

void WanAttentionBlock::load(WeightScope scope, const WanBlockConfig& config) {
  const int64_t d = config.dim;
  modulation = scope.get("modulation", {1, 6, d}, fmt::format("(config dim={})", d));
  norm1.init_plain(d, config.eps);
  norm2.init_plain(d, config.eps);
  cross_attn_norm = config.cross_attn_norm;
  if (cross_attn_norm) norm3.load(scope, "norm3", d, config.eps, /*affine=*/true);
  self_attn.load(scope.sub("self_attn."), config);
  cross_attn.load(scope.sub("cross_attn."), config);
  ffn_0.load(scope, "ffn.0", d, config.ffn_dim);
  ffn_2.load(scope, "ffn.2", config.ffn_dim, d);
}

at::Tensor WanAttentionBlock::forward(const at::Tensor& x, const at::Tensor& e0,
                                      const std::optional<at::Tensor>& k_lens,
                                      const std::vector<nn::VideoGrid>& grids,
                                      const nn::VideoRope& rope, const at::Tensor& context,
                                      const nn::AttentionOptions& attention) const {
  // x: [B, L, D] fp32, e0: [B, 1 or L, 6, D] fp32 -> [B, L, D] fp32
  const auto dtype = modulation.scalar_type();
  const auto e = modulation.to(at::kFloat) + e0;                 // [B, 1 or L, 6, D]
  const auto chunk = [&](int64_t i) { return e.select(2, i); };  // [B, 1 or L, D]

  // norm(x) * (1 + scale) + shift in fp32, then cast to the weights' dtype for the next linear
  // (autocast casts a linear's input the same way); the residual adds x + y·gate in fp32. Both
  // fused passes (nn/fused_norm.h) with the unfused ops' math.
  auto y = self_attn.forward(nn::layer_norm_modulate(norm1, x, chunk(0), chunk(1), dtype), k_lens,
                             grids, rope, attention);
  auto h = nn::gated_residual(x, y, chunk(2));

  const auto cross_in = cross_attn_norm ? norm3.forward(h) : h;
  h = h + cross_attn.forward(cross_in.to(dtype), context, attention).to(at::kFloat);

  const auto ffn_in = nn::layer_norm_modulate(norm2, h, chunk(3), chunk(4), dtype);
  y = ffn_2.forward(at::gelu(ffn_0.forward(ffn_in), "tanh"));
  return nn::gated_residual(h, y, chunk(5));
}

}  // namespace duet::wan
