#pragma once
// Fused norm kernels of the DiT blocks: each replaces a chain of ATen ops that reads and writes
// the whole [B, L, D] activation once per op with one pass over it, and reproduces that chain's
// math and dtype casts (the "unfused" functions below are the chains themselves, used as the
// fallback and as the tests' reference).
//
//   auto [q, k] = nn::rms_norm_rope_qk(q_lin, k_lin, norm_q, norm_k, RmsNormPrecision::kFloat32,
//                                      heads, nn::QkRope::video(rope, grids));  // [B, L, H, D]
//   auto h = nn::layer_norm_modulate(norm1, x, shift, scale, at::kBFloat16);  // [B, L, D]
//   x = nn::gated_residual(x, y, gate);                                        // x + y * gate
//
// Dispatch: CPU tensors of fp32/bf16 run the CPU kernels (at::parallel_for over token rows,
// fp32 math); CUDA tensors of fp32/fp16/bf16 run kernels/fused when duet was built with CUDA
// and the device can run them; anything else, and every call while autograd records a graph
// through an input (these kernels have no backward; the models are also trained), runs the
// unfused ATen ops.
#include <ATen/ATen.h>

#include <optional>
#include <vector>

#include "nn/layers.h"
#include "nn/rope.h"

namespace duet::nn {

// How RMSNorm rounds its intermediates.
enum class RmsNormPrecision {
  kFloat32,  // Wan's WanRMSNorm (nn::RMSNorm::forward): x.float(), fp32 statistics, normed cast
             // to x's dtype, times weight, cast to x's dtype
  kIoDtype,  // Ovi's WanRMSNorm (ovi::ovi_rms_norm): every step in x's dtype: squares, mean,
             // mean + eps, rsqrt, x * rsqrt, times weight.to(x's dtype)
};

// The rotation applied after the norm, with per-sample positions: Wan's 3D video RoPE or Ovi's
// 1D scaled audio RoPE, seen by the kernels as one table and a grid per sample.
struct QkRope {
  at::Tensor cos, sin;             // [max_positions, P] fp32
  int64_t split0 = 0, split1 = 0;  // pairs [0, split0) rotate by frame, [split0, split1) by
                                   // row, [split1, P) by column; 1D: split0 = split1 = P
  std::vector<VideoGrid> grids;    // per sample; 1D: (len, 1, 1)
  std::optional<VideoRope> video;  // the module itself, for the unfused path
  std::optional<SequenceRope> sequence;

  static QkRope of_video(const VideoRope& rope, const std::vector<VideoGrid>& grids);
  static QkRope of_sequence(const SequenceRope& rope, const std::vector<int64_t>& lens);
  int64_t pairs() const { return cos.size(1); }
  // The unfused rotation (VideoRope / SequenceRope::apply). x: [B, L, H, D] -> [B, L, H, D] fp32
  at::Tensor apply(const at::Tensor& x) const;
};

struct QkPair {
  at::Tensor q, k;  // [B, L, H, D] each
};

// RMSNorm of q and k over their full width (across heads), split into heads, RoPE in fp32, cast
// back to the input dtype. q, k: [B, L, H*D] (the projections' output) -> [B, L, H, D] each in
// q's dtype, contiguous. Norms must have weights (qk_norm on).
QkPair rms_norm_rope_qk(const at::Tensor& q, const at::Tensor& k, const RMSNorm& norm_q,
                        const RMSNorm& norm_k, RmsNormPrecision precision, int64_t num_heads,
                        const QkRope& rope);
QkPair rms_norm_rope_qk_unfused(const at::Tensor& q, const at::Tensor& k, const RMSNorm& norm_q,
                                const RMSNorm& norm_k, RmsNormPrecision precision,
                                int64_t num_heads, const QkRope& rope);

// (norm(x) * (1 + scale) + shift).to(out_dtype) with norm a LayerNorm without affine (fp32
// statistics, result cast to x's dtype as nn::LayerNorm::forward does); the product and the
// sum round to promote(x, scale) as ATen's ops do. x: [B, L, D], shift/scale: [B, 1 or L, D]
// (any strides, e.g. chunks of the modulation) -> [B, L, D] out_dtype
at::Tensor layer_norm_modulate(const LayerNorm& norm, const at::Tensor& x, const at::Tensor& shift,
                               const at::Tensor& scale, at::ScalarType out_dtype);
at::Tensor layer_norm_modulate_unfused(const LayerNorm& norm, const at::Tensor& x,
                                       const at::Tensor& shift, const at::Tensor& scale,
                                       at::ScalarType out_dtype);

// x + y * gate with ATen's type promotion and rounding (the product in promote(y, gate)).
// x, y: [B, L, D], gate: [B, 1 or L, D] -> [B, L, D] promote(x, y, gate)
at::Tensor gated_residual(const at::Tensor& x, const at::Tensor& y, const at::Tensor& gate);
at::Tensor gated_residual_unfused(const at::Tensor& x, const at::Tensor& y, const at::Tensor& gate);

// Whether the fused kernels run for tensors like x (device, dtype, build, GPU generation); the
// dispatching functions fall back to the unfused ops otherwise.
bool fused_norm_supported(const at::Tensor& x);
// Whether this build has the CUDA kernels (DUET_HAVE_CUDA).
bool fused_norm_cuda_compiled();

}  // namespace duet::nn
