#include "nn/causal_conv3d.h"

#include "core/error.h"
#include "io/tensor_record.h"

namespace duet::nn {

CacheSlot& FeatureCache::next() {
  if (next_ == slots_.size()) slots_.emplace_back();
  return slots_[next_++];
}

void FeatureCache::clear() {
  slots_.clear();
  next_ = 0;
}

void CausalConv3d::load(WeightScope scope, const std::string& name, int64_t in, int64_t out,
                        std::array<int64_t, 3> kernel, std::array<int64_t, 3> stride_,
                        std::array<int64_t, 3> padding_) {
  weight = scope.get(name + ".weight", {out, in, kernel[0], kernel[1], kernel[2]});
  bias = scope.get(name + ".bias", {out});
  stride = stride_;
  padding = padding_;
}

at::Tensor CausalConv3d::conv(const at::Tensor& x, int64_t left_pad) const {
  DUET_CHECK(x.dim() == 5 && x.size(1) == weight.size(1),
             "causal conv3d expects input [B, {}, T, H, W], got {}", weight.size(1),
             shape_to_string(x.sizes().vec()));
  // Spatial padding is symmetric and left to the convolution; only time is padded by hand.
  const at::Tensor xp = left_pad > 0 ? at::constant_pad_nd(x, {0, 0, 0, 0, left_pad, 0}) : x;
  return at::conv3d(xp, weight.to(x.scalar_type()), bias.to(x.scalar_type()),
                    {stride[0], stride[1], stride[2]}, {0, padding[1], padding[2]});
}

at::Tensor CausalConv3d::forward(const at::Tensor& x) const { return conv(x, 2 * padding[0]); }

at::Tensor CausalConv3d::forward(const at::Tensor& x, CacheSlot& slot) const {
  const int64_t pad_t = 2 * padding[0];
  // As in the reference, convolutions without time padding (kernel 1 in time) ignore the cache.
  if (pad_t == 0) return conv(x, 0);
  at::Tensor input = slot.frames.defined() ? at::cat({slot.frames, x}, 2) : x;
  const int64_t cached = slot.frames.defined() ? slot.frames.size(2) : 0;
  const int64_t keep = std::min<int64_t>(kCacheFrames, input.size(2));
  // clone(): a view would keep the whole chunk alive until the next one.
  slot.frames = input.narrow(2, input.size(2) - keep, keep).clone();
  slot.seen = true;
  return conv(input, std::max<int64_t>(pad_t - cached, 0));
}

}  // namespace duet::nn
