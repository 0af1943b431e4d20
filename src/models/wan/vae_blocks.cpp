#include "models/wan/vae_blocks.h"

#include <cmath>

#include "core/error.h"
#include "io/tensor_record.h"

namespace duet::wan {

void ChannelRMSNorm::load(WeightScope scope, const std::string& name, int64_t dim, bool images) {
  gamma =
      images ? scope.get(name + ".gamma", {dim, 1, 1}) : scope.get(name + ".gamma", {dim, 1, 1, 1});
  scale = std::sqrt(static_cast<double>(dim));
}

at::Tensor ChannelRMSNorm::forward(const at::Tensor& x) const {
  // F.normalize: x / max(||x||_2, 1e-12) over channels.
  const auto denom = at::linalg_vector_norm(x, 2, {1}, /*keepdim=*/true).clamp_min(1e-12);
  return (x / denom) * scale * gamma.to(x.scalar_type());
}

void FrameConv2d::load(WeightScope scope, const std::string& name, int64_t in, int64_t out,
                       int64_t kernel, int64_t stride_, int64_t padding_) {
  weight = scope.get(name + ".weight", {out, in, kernel, kernel});
  bias = scope.get(name + ".bias", {out});
  stride = stride_;
  padding = padding_;
}

at::Tensor FrameConv2d::forward(const at::Tensor& x) const {
  return at::conv3d(x, weight.to(x.scalar_type()).unsqueeze(2), bias.to(x.scalar_type()),
                    {1, stride, stride}, {0, padding, padding});
}

void ResidualBlock::load(WeightScope scope, int64_t in, int64_t out) {
  norm1.load(scope, "residual.0", in, /*images=*/false);
  conv1.load(scope, "residual.2", in, out, {3, 3, 3}, {1, 1, 1}, {1, 1, 1});
  norm2.load(scope, "residual.3", out, /*images=*/false);
  conv2.load(scope, "residual.6", out, out, {3, 3, 3}, {1, 1, 1}, {1, 1, 1});
  if (in != out) shortcut.load(scope, "shortcut", in, out, {1, 1, 1});
}

at::Tensor ResidualBlock::forward(const at::Tensor& x, FeatureCache& cache) const {
  const at::Tensor h = shortcut.weight.defined() ? shortcut.forward(x) : x;
  at::Tensor y = at::silu(norm1.forward(x));
  y = conv1.forward(y, cache.next());
  y = at::silu(norm2.forward(y));  // residual.5 is Dropout (identity at inference)
  y = conv2.forward(y, cache.next());
  return y + h;
}

void AttentionBlock::load(WeightScope scope, int64_t dim) {
  norm.load(scope, "norm", dim, /*images=*/true);
  to_qkv_weight = scope.get("to_qkv.weight", {3 * dim, dim, 1, 1});
  to_qkv_bias = scope.get("to_qkv.bias", {3 * dim});
  proj_weight = scope.get("proj.weight", {dim, dim, 1, 1});
  proj_bias = scope.get("proj.bias", {dim});
}

at::Tensor AttentionBlock::forward(const at::Tensor& x) const {
  const int64_t b = x.size(0), c = x.size(1), t = x.size(2), h = x.size(3), w = x.size(4);
  const auto dt = x.scalar_type();
  at::Tensor frames = x.permute({0, 2, 1, 3, 4}).reshape({b * t, c, h, w});
  frames = norm.forward(frames);
  // [bt, 3c, h, w] -> [bt, 1, hw, 3c] -> q, k, v [bt, 1, hw, c]
  const auto qkv = at::conv2d(frames, to_qkv_weight.to(dt), to_qkv_bias.to(dt))
                       .reshape({b * t, 1, 3 * c, h * w})
                       .permute({0, 1, 3, 2})
                       .contiguous()
                       .chunk(3, -1);
  at::Tensor out = at::scaled_dot_product_attention(qkv[0], qkv[1], qkv[2]);
  out = out.squeeze(1).permute({0, 2, 1}).reshape({b * t, c, h, w});
  out = at::conv2d(out, proj_weight.to(dt), proj_bias.to(dt));
  return out.reshape({b, t, c, h, w}).permute({0, 2, 1, 3, 4}) + x;
}

void MiddleBlock::load(WeightScope scope, int64_t dim) {
  res0.load(scope.sub("0."), dim, dim);
  attn.load(scope.sub("1."), dim);
  res2.load(scope.sub("2."), dim, dim);
}

at::Tensor MiddleBlock::forward(const at::Tensor& x, FeatureCache& cache) const {
  return res2.forward(attn.forward(res0.forward(x, cache)), cache);
}

void HeadBlock::load(WeightScope scope, int64_t in, int64_t out) {
  norm.load(scope, "0", in, /*images=*/false);
  conv.load(scope, "2", in, out, {3, 3, 3}, {1, 1, 1}, {1, 1, 1});
}

at::Tensor HeadBlock::forward(const at::Tensor& x, FeatureCache& cache) const {
  return conv.forward(at::silu(norm.forward(x)), cache.next());
}

void Resample::load(WeightScope scope, int64_t dim, ResampleMode mode_, int64_t up_out_dim) {
  mode = mode_;
  switch (mode) {
    case ResampleMode::kUpsample3d:
      time_conv.load(scope, "time_conv", dim, 2 * dim, {3, 1, 1}, {1, 1, 1}, {1, 0, 0});
      [[fallthrough]];
    case ResampleMode::kUpsample2d:
      resample.load(scope, "resample.1", dim, up_out_dim, 3, 1, 1);
      break;
    case ResampleMode::kDownsample3d:
      time_conv.load(scope, "time_conv", dim, dim, {3, 1, 1}, {2, 1, 1}, {0, 0, 0});
      [[fallthrough]];
    case ResampleMode::kDownsample2d:
      resample.load(scope, "resample.1", dim, dim, 3, 2, 0);
      break;
  }
}

at::Tensor Resample::upsample_time(const at::Tensor& x, CacheSlot& slot) const {
  // The first chunk passes untouched (the reference marks the slot 'Rep'); the second runs with
  // zero padding, later ones with the cached frames.
  if (!slot.seen) {
    slot.seen = true;
    return x;
  }
  const int64_t b = x.size(0), c = x.size(1), t = x.size(2), h = x.size(3), w = x.size(4);
  const at::Tensor y = time_conv.forward(x, slot);  // [b, 2c, t, h, w]
  // Channel halves become even/odd output frames.
  return y.reshape({b, 2, c, t, h, w}).permute({0, 2, 3, 1, 4, 5}).reshape({b, c, 2 * t, h, w});
}

at::Tensor Resample::downsample_time(const at::Tensor& x, CacheSlot& slot) const {
  // The first chunk (one frame) is kept as is; later chunks are convolved (stride 2, no
  // padding) behind the previous chunk's last frame.
  if (!slot.frames.defined()) {
    slot.frames = x.narrow(2, x.size(2) - 1, 1).clone();
    return x;
  }
  const at::Tensor y = time_conv.forward(at::cat({slot.frames, x}, 2));
  slot.frames = x.narrow(2, x.size(2) - 1, 1).clone();
  return y;
}

at::Tensor Resample::forward(const at::Tensor& x, FeatureCache& cache) const {
  switch (mode) {
    case ResampleMode::kUpsample3d:
    case ResampleMode::kUpsample2d: {
      at::Tensor y = mode == ResampleMode::kUpsample3d ? upsample_time(x, cache.next()) : x;
      // nearest-exact with an exact factor 2 repeats every pixel twice.
      const int64_t b = y.size(0), c = y.size(1), t = y.size(2), h = y.size(3), w = y.size(4);
      y = y.reshape({b, c, t, h, 1, w, 1})
              .expand({b, c, t, h, 2, w, 2})
              .reshape({b, c, t, 2 * h, 2 * w});
      return resample.forward(y);
    }
    case ResampleMode::kDownsample3d:
    case ResampleMode::kDownsample2d: {
      const at::Tensor y = resample.forward(at::constant_pad_nd(x, {0, 1, 0, 1}));
      return mode == ResampleMode::kDownsample3d ? downsample_time(y, cache.next()) : y;
    }
  }
  DUET_FAIL("unknown resample mode");
}

at::Tensor avg_down_3d(const at::Tensor& x_in, int64_t out_channels, int64_t ft, int64_t fs) {
  const int64_t pad_t = (ft - x_in.size(2) % ft) % ft;
  const at::Tensor x = pad_t > 0 ? at::constant_pad_nd(x_in, {0, 0, 0, 0, pad_t, 0}) : x_in;
  const int64_t b = x.size(0), c = x.size(1), t = x.size(2), h = x.size(3), w = x.size(4);
  const int64_t factor = ft * fs * fs;
  DUET_CHECK(c * factor % out_channels == 0, "AvgDown3D: {} channels x {} do not split into {}", c,
             factor, out_channels);
  const int64_t group = c * factor / out_channels;
  return x.reshape({b, c, t / ft, ft, h / fs, fs, w / fs, fs})
      .permute({0, 1, 3, 5, 7, 2, 4, 6})
      .reshape({b, out_channels, group, t / ft, h / fs, w / fs})
      .mean(2);
}

at::Tensor dup_up_3d(const at::Tensor& x, int64_t out_channels, int64_t ft, int64_t fs,
                     bool first_chunk) {
  const int64_t b = x.size(0), c = x.size(1), t = x.size(2), h = x.size(3), w = x.size(4);
  const int64_t factor = ft * fs * fs;
  DUET_CHECK(out_channels * factor % c == 0, "DupUp3D: {} channels x {} do not split from {}",
             out_channels, factor, c);
  at::Tensor y = x.repeat_interleave(out_channels * factor / c, 1)
                     .reshape({b, out_channels, ft, fs, fs, t, h, w})
                     .permute({0, 1, 5, 2, 6, 3, 7, 4})
                     .reshape({b, out_channels, t * ft, h * fs, w * fs});
  if (first_chunk && ft > 1) y = y.narrow(2, ft - 1, y.size(2) - (ft - 1));
  return y;
}

at::Tensor patchify(const at::Tensor& x, int64_t p) {
  if (p == 1) return x;
  const int64_t b = x.size(0), c = x.size(1), f = x.size(2), h = x.size(3) / p, w = x.size(4) / p;
  DUET_CHECK(x.size(3) % p == 0 && x.size(4) % p == 0, "frame size {}x{} is not a multiple of {}",
             x.size(3), x.size(4), p);
  // [b, c, f, h, q, w, r] -> [b, c, r, q, f, h, w]
  return x.reshape({b, c, f, h, p, w, p})
      .permute({0, 1, 6, 4, 2, 3, 5})
      .reshape({b, c * p * p, f, h, w});
}

at::Tensor unpatchify(const at::Tensor& x, int64_t p) {
  if (p == 1) return x;
  const int64_t b = x.size(0), c = x.size(1) / (p * p), f = x.size(2), h = x.size(3), w = x.size(4);
  // [b, c, r, q, f, h, w] -> [b, c, f, h, q, w, r]
  return x.reshape({b, c, p, p, f, h, w})
      .permute({0, 1, 4, 5, 3, 6, 2})
      .reshape({b, c, f, h * p, w * p});
}

}  // namespace duet::wan
