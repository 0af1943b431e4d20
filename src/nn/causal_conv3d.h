#pragma once
// Causal Conv3d of Wan's video VAEs (wan/modules/vae.py, vae2_2.py) and the temporal feature
// cache that lets the VAEs run one chunk of frames at a time.
//
//   CausalConv3d conv;  conv.load(scope, "residual.2", cin, cout, {3, 3, 3}, {1, 1, 1}, {1, 1, 1});
//   FeatureCache cache;                         // one per decode / encode (and per tile)
//   for (chunk : chunks) { cache.begin_chunk(); y = conv.forward(chunk, &cache.next()); }
//
// Time is padded on the left only (2 * padding_t frames), space symmetrically, so frame t of the
// output never sees input frames after t. With a cache slot the padding is taken, as far as it
// goes, from the last frames of the previous chunk: running chunk by chunk then equals running
// the whole sequence at once.
#include <ATen/ATen.h>

#include <array>
#include <deque>
#include <string>

#include "io/weight_store.h"

namespace duet::nn {

// Wan keeps the last CACHE_T = 2 input frames of every cached convolution.
inline constexpr int64_t kCacheFrames = 2;

// One cached convolution's state: its last input frames (undefined before the first chunk), and
// for Wan's upsample3d time convolution whether the first chunk (the one it skips) has passed.
struct CacheSlot {
  at::Tensor frames;  // [B, C, <= kCacheFrames, H, W]
  bool seen = false;
};

// The reference's feat_cache list plus feat_idx: slots are handed out in call order, and
// begin_chunk() rewinds the order for the next chunk. Slots are created on first use.
class FeatureCache {
 public:
  void begin_chunk() { next_ = 0; }
  CacheSlot& next();
  void clear();

 private:
  std::deque<CacheSlot> slots_;  // deque: references stay valid while it grows
  size_t next_ = 0;
};

struct CausalConv3d {
  at::Tensor weight;  // [out, in, kt, kh, kw]
  at::Tensor bias;    // [out]
  std::array<int64_t, 3> stride{1, 1, 1};
  std::array<int64_t, 3> padding{0, 0, 0};  // (t, h, w) as given to the reference constructor

  void load(WeightScope scope, const std::string& name, int64_t in, int64_t out,
            std::array<int64_t, 3> kernel, std::array<int64_t, 3> stride = {1, 1, 1},
            std::array<int64_t, 3> padding = {0, 0, 0});
  // Whole sequence: zero frames on the left.
  // x: [B, in, T, H, W] -> [B, out, T', H', W']
  at::Tensor forward(const at::Tensor& x) const;
  // One chunk: the slot's frames stand in for the left padding, then the slot keeps the last
  // kCacheFrames frames of (slot frames ++ x) for the next chunk.
  // x: [B, in, T, H, W] -> [B, out, T', H', W']
  at::Tensor forward(const at::Tensor& x, CacheSlot& slot) const;

 private:
  at::Tensor conv(const at::Tensor& x, int64_t left_pad) const;
};

}  // namespace duet::nn
