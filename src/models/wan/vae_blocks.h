#pragma once
// Building blocks shared by the Wan 2.1 and 2.2 video VAEs (wan/modules/vae.py, vae2_2.py),
// under the original checkpoint's key names. Every block runs on one temporal chunk and keeps
// what the next chunk needs in a FeatureCache, taking slots in the reference's feat_idx order.
#include <ATen/ATen.h>

#include <string>

#include "io/weight_store.h"
#include "nn/causal_conv3d.h"

namespace duet::wan {

using nn::CacheSlot;
using nn::CausalConv3d;
using nn::FeatureCache;

// RMS_norm(channel_first=True): x / ||x||_C * sqrt(C) * gamma. gamma is [C,1,1,1] for videos,
// [C,1,1] for images (the attention block), exactly as stored.
struct ChannelRMSNorm {
  at::Tensor gamma;
  double scale = 1.0;
  void load(WeightScope scope, const std::string& name, int64_t dim, bool images);
  // x: [B, C, ...] -> same
  at::Tensor forward(const at::Tensor& x) const;
};

// nn.Conv2d applied frame by frame ("b c t h w -> (b t) c h w"), run as a Conv3d with a time
// kernel of 1 so no frame copies are made.
struct FrameConv2d {
  at::Tensor weight;  // [out, in, kh, kw] as stored
  at::Tensor bias;    // [out]
  int64_t stride = 1;
  int64_t padding = 0;
  void load(WeightScope scope, const std::string& name, int64_t in, int64_t out, int64_t kernel,
            int64_t stride, int64_t padding);
  // x: [B, in, T, H, W] -> [B, out, T, H', W']
  at::Tensor forward(const at::Tensor& x) const;
};

// residual = [RMS_norm, SiLU, CausalConv3d(3), RMS_norm, SiLU, Dropout, CausalConv3d(3)];
// shortcut = CausalConv3d(1) when the width changes.
struct ResidualBlock {
  ChannelRMSNorm norm1;   // residual.0
  CausalConv3d conv1;     // residual.2
  ChannelRMSNorm norm2;   // residual.3
  CausalConv3d conv2;     // residual.6
  CausalConv3d shortcut;  // undefined weight when in == out
  void load(WeightScope scope, int64_t in, int64_t out);
  // x: [B, in, T, H, W] -> [B, out, T, H, W]
  at::Tensor forward(const at::Tensor& x, FeatureCache& cache) const;
};

// Single-head self-attention over the pixels of each frame (no attention across time).
struct AttentionBlock {
  ChannelRMSNorm norm;
  at::Tensor to_qkv_weight, to_qkv_bias;  // Conv2d(c, 3c, 1)
  at::Tensor proj_weight, proj_bias;      // Conv2d(c, c, 1)
  void load(WeightScope scope, int64_t dim);
  // x: [B, C, T, H, W] -> [B, C, T, H, W]
  at::Tensor forward(const at::Tensor& x) const;
};

// middle = [ResidualBlock, AttentionBlock, ResidualBlock] at the deepest width.
struct MiddleBlock {
  ResidualBlock res0;   // middle.0
  AttentionBlock attn;  // middle.1
  ResidualBlock res2;   // middle.2
  void load(WeightScope scope, int64_t dim);
  // x: [B, C, T, H, W] -> same
  at::Tensor forward(const at::Tensor& x, FeatureCache& cache) const;
};

// head = [RMS_norm, SiLU, CausalConv3d(3)].
struct HeadBlock {
  ChannelRMSNorm norm;  // head.0
  CausalConv3d conv;    // head.2
  void load(WeightScope scope, int64_t in, int64_t out);
  // x: [B, in, T, H, W] -> [B, out, T, H, W]
  at::Tensor forward(const at::Tensor& x, FeatureCache& cache) const;
};

enum class ResampleMode { kUpsample2d, kUpsample3d, kDownsample2d, kDownsample3d };

// Resample: resample.1 is the spatial Conv2d (after nearest-exact 2x upsampling, or after a
// (0,1,0,1) zero pad with stride 2); time_conv doubles (up) or halves (down) the frame count.
// Wan2.1's upsampling conv halves the width (out = dim / 2); Wan2.2's keeps it.
struct Resample {
  ResampleMode mode = ResampleMode::kUpsample2d;
  FrameConv2d resample;  // resample.1
  CausalConv3d time_conv;
  void load(WeightScope scope, int64_t dim, ResampleMode mode, int64_t up_out_dim);
  // x: [B, C, T, H, W] -> [B, C', T', H*2 or H/2, W*2 or W/2]
  at::Tensor forward(const at::Tensor& x, FeatureCache& cache) const;

 private:
  at::Tensor upsample_time(const at::Tensor& x, CacheSlot& slot) const;
  at::Tensor downsample_time(const at::Tensor& x, CacheSlot& slot) const;
};

// Wan2.2's parameter-free shortcuts around a resampling level: AvgDown3D folds a (ft, fs, fs)
// neighbourhood into channels and averages groups of them; DupUp3D is its adjoint (repeat, then
// unfold). DupUp3D drops the first ft-1 frames of the first chunk, as the causal decoder does.
// x: [B, in, T, H, W] -> [B, out, T/ft, H/fs, W/fs] (T left-padded with zeros to a multiple of ft)
at::Tensor avg_down_3d(const at::Tensor& x, int64_t out_channels, int64_t factor_t,
                       int64_t factor_s);
// x: [B, in, T, H, W] -> [B, out, T*ft (minus ft-1 on the first chunk), H*fs, W*fs]
at::Tensor dup_up_3d(const at::Tensor& x, int64_t out_channels, int64_t factor_t, int64_t factor_s,
                     bool first_chunk);

// Wan2.2's 2x2 patchify: "b c f (h q) (w r) -> b (c r q) f h w" and back.
at::Tensor patchify(const at::Tensor& x, int64_t patch);
at::Tensor unpatchify(const at::Tensor& x, int64_t patch);

}  // namespace duet::wan
