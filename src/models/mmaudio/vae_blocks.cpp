#include "models/mmaudio/vae_blocks.h"

#include "nn/attention.h"

namespace duet::mmaudio {

namespace {
constexpr double kResidualT = 0.3;  // mp_sum(x, h, t=0.3) in both block types
}  // namespace

void ResnetBlock1D::load(WeightScope scope, int64_t in, int64_t out, int64_t kernel,
                         at::ScalarType dtype) {
  conv1.load(scope, "conv1", in, out, kernel, dtype);
  conv2.load(scope, "conv2", out, out, kernel, dtype);
  if (in != out) nin_shortcut.load(scope, "nin_shortcut", in, out, 1, dtype);
}

at::Tensor ResnetBlock1D::forward(const at::Tensor& input) const {
  const at::Tensor x = mp_normalize(input, 1);
  at::Tensor h = conv1.forward(mp_silu(x));
  h = conv2.forward(mp_silu(h));
  const at::Tensor shortcut = nin_shortcut.weight.defined() ? nin_shortcut.forward(x) : x;
  return mp_sum(shortcut, h, kResidualT);
}

void AttnBlock1D::load(WeightScope scope, int64_t channels, at::ScalarType dtype) {
  qkv.load(scope, "qkv", channels, 3 * channels, 1, dtype);
  proj_out.load(scope, "proj_out", channels, channels, 1, dtype);
}

at::Tensor AttnBlock1D::forward(const at::Tensor& x) const {
  const int64_t b = x.size(0), c = x.size(1), l = x.size(2);
  // [B, 3C, L] -> [B, H, C/H, 3, L], each of q, k, v normalised over its C/H channels.
  const at::Tensor y = mp_normalize(qkv.forward(x).reshape({b, num_heads, -1, 3, l}), 2);
  // [B, H, D, L] -> [B, L, H, D], the attention door's layout
  const auto split = [&](int64_t j) { return y.select(3, j).permute({0, 3, 1, 2}); };
  const at::Tensor h = nn::attention(split(0), split(1), split(2), std::nullopt);
  // [B, L, H, D] -> [B, H * D, L]
  return mp_sum(x, proj_out.forward(h.permute({0, 2, 3, 1}).reshape({b, c, l})), kResidualT);
}

void Upsample1D::load(WeightScope scope, int64_t channels, at::ScalarType dtype) {
  conv.load(scope, "conv", channels, channels, 3, dtype);
}

at::Tensor Upsample1D::forward(const at::Tensor& x) const {
  // F.interpolate(scale_factor=2, mode='nearest-exact') takes source step floor((i + 0.5) / 2).
  return conv.forward(x.repeat_interleave(2, 2));
}

void Downsample1D::load(WeightScope scope, int64_t channels, at::ScalarType dtype) {
  conv1.load(scope, "conv1", channels, channels, 1, dtype);
  conv2.load(scope, "conv2", channels, channels, 1, dtype);
}

at::Tensor Downsample1D::forward(const at::Tensor& x) const {
  return conv2.forward(at::avg_pool1d(conv1.forward(x), {2}, {2}));
}

}  // namespace duet::mmaudio
