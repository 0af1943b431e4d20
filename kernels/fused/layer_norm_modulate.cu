// LayerNorm (no affine, fp32 statistics) + x·(1 + scale) + shift, one block per token row
// (fused_norm_params.h).
#include <cuda_runtime.h>

#include "fused/fused_device.cuh"

namespace duet::kernels {
namespace {

using fused::kThreads;
using fused::load_f32;
using fused::round_to;

// grid: [blockIdx.x = b * len + l], block: kThreads over the row. Two passes for the statistics
// (mean, then the centred variance) re-read the row from L1/L2; the centred form keeps fp32
// exact enough where E[x^2] - E[x]^2 would cancel.
__global__ void __launch_bounds__(kThreads) layer_norm_modulate_kernel(LayerNormModulateParams p) {
  const int64_t row = blockIdx.x;
  const int64_t b = row / p.len, l = row % p.len;
  const int64_t base = row * p.dim;
  const int64_t e_base = b * p.e_batch_stride + l * p.e_token_stride;
  const float n = static_cast<float>(p.dim);

  float s = 0.0f;
  for (int64_t i = threadIdx.x; i < p.dim; i += blockDim.x) s += load_f32(p.x, p.x_dtype, base + i);
  const float mean = fused::block_sum(s) / n;
  float v = 0.0f;
  for (int64_t i = threadIdx.x; i < p.dim; i += blockDim.x) {
    const float d = load_f32(p.x, p.x_dtype, base + i) - mean;
    v += d * d;
  }
  const float rstd = fused::exact_rsqrt(fused::block_sum(v) / n + p.eps);

  for (int64_t i = threadIdx.x; i < p.dim; i += blockDim.x) {
    const float normed = round_to((load_f32(p.x, p.x_dtype, base + i) - mean) * rstd, p.x_dtype);
    const float one_plus = round_to(1.0f + load_f32(p.scale, p.e_dtype, e_base + i), p.e_dtype);
    const float product = round_to(normed * one_plus, p.step_dtype);
    const float out = round_to(product + load_f32(p.shift, p.e_dtype, e_base + i), p.step_dtype);
    fused::store_f32(p.out, p.out_dtype, base + i, out);
  }
}

bool valid(const LayerNormModulateParams& p) {
  return p.x && p.shift && p.scale && p.out && p.batch > 0 && p.len > 0 && p.dim > 0 &&
         p.batch * p.len <= 0x7fffffffLL;
}

}  // namespace

int launch_layer_norm_modulate(const LayerNormModulateParams& p) {
  if (!valid(p)) return static_cast<int>(cudaErrorInvalidValue);
  const auto blocks = static_cast<unsigned>(p.batch * p.len);
  layer_norm_modulate_kernel<<<blocks, kThreads, 0, static_cast<cudaStream_t>(p.stream)>>>(p);
  return static_cast<int>(cudaGetLastError());
}

}  // namespace duet::kernels
