// RMSNorm of q and k across heads + RoPE, one block per token row (fused_norm_params.h).
#include <cuda_runtime.h>

#include "fused/fused_device.cuh"

namespace duet::kernels {
namespace {

using fused::kThreads;
using fused::load_f32;
using fused::round_to;
using fused::store_f32;

// 1 / rms of the row, rounded as Wan's (fp32) or Ovi's (io dtype) RMSNorm rounds it.
__device__ float inverse_rms(const RmsNormRopeParams& p, const void* x, int64_t base, float eps) {
  float ss = 0.0f;
  for (int64_t i = threadIdx.x; i < p.dim; i += blockDim.x) {
    const float v = load_f32(x, p.io_dtype, base + i);
    ss += p.stats_in_io_dtype ? round_to(v * v, p.io_dtype) : v * v;
  }
  ss = fused::block_sum(ss);
  const float mean = ss / static_cast<float>(p.dim);
  if (!p.stats_in_io_dtype) return fused::exact_rsqrt(mean + eps);
  const float m = round_to(round_to(mean, p.io_dtype) + eps, p.io_dtype);
  return round_to(fused::exact_rsqrt(m), p.io_dtype);
}

// grid: [blockIdx.x = b * len + l, blockIdx.y = q or k], block: kThreads over the row's pairs.
__global__ void __launch_bounds__(kThreads) rms_norm_rope_kernel(RmsNormRopeParams p) {
  const int t = blockIdx.y;
  const int64_t row = blockIdx.x;
  const int64_t b = row / p.len, l = row % p.len;
  const int64_t base = row * p.dim;
  const float r = inverse_rms(p, p.x[t], base, p.eps[t]);

  const int64_t* g = p.grids + 3 * b;
  const bool rotate = l < g[0] * g[1] * g[2];
  const int64_t pos[3] = {l / (g[1] * g[2]), (l / g[2]) % g[1], l % g[2]};
  const int64_t half = p.head_dim / 2;
  for (int64_t j = threadIdx.x; j < p.dim / 2; j += blockDim.x) {
    const int64_t idx = base + 2 * j;
    float w0 = load_f32(p.weight[t], p.weight_dtype, 2 * j);
    float w1 = load_f32(p.weight[t], p.weight_dtype, 2 * j + 1);
    if (p.stats_in_io_dtype) {  // Ovi multiplies by weight.to(x.dtype)
      w0 = round_to(w0, p.io_dtype);
      w1 = round_to(w1, p.io_dtype);
    }
    const float n0 =
        round_to(round_to(load_f32(p.x[t], p.io_dtype, idx) * r, p.io_dtype) * w0, p.io_dtype);
    const float n1 =
        round_to(round_to(load_f32(p.x[t], p.io_dtype, idx + 1) * r, p.io_dtype) * w1, p.io_dtype);
    const int64_t i = j % half;
    float o0 = n0, o1 = n1;
    if (rotate && i < p.pairs) {
      const int64_t axis = i < p.split0 ? 0 : (i < p.split1 ? 1 : 2);
      const int64_t k = pos[axis] * p.pairs + i;
      const float c = p.cos[k], s = p.sin[k];
      o0 = __fsub_rn(__fmul_rn(n0, c), __fmul_rn(n1, s));  // no FMA: as ATen's separate ops
      o1 = __fadd_rn(__fmul_rn(n0, s), __fmul_rn(n1, c));
    }
    store_f32(p.out[t], p.io_dtype, idx, o0);
    store_f32(p.out[t], p.io_dtype, idx + 1, o1);
  }
}

bool valid(const RmsNormRopeParams& p) {
  if (p.num_tensors < 1 || p.num_tensors > 2 || p.batch < 1 || p.len < 1) return false;
  if (p.head_dim < 2 || p.head_dim % 2 != 0 || p.dim % p.head_dim != 0) return false;
  if (p.pairs < 0 || p.pairs > p.head_dim / 2 || p.split0 > p.split1 || p.split1 > p.pairs)
    return false;
  if (p.batch * p.len > 0x7fffffffLL || p.grids == nullptr) return false;
  if (p.pairs > 0 && (p.cos == nullptr || p.sin == nullptr)) return false;
  for (int t = 0; t < p.num_tensors; ++t) {
    if (!p.x[t] || !p.out[t] || !p.weight[t]) return false;
  }
  return true;
}

}  // namespace

int launch_rms_norm_rope(const RmsNormRopeParams& p) {
  if (!valid(p)) return static_cast<int>(cudaErrorInvalidValue);
  const dim3 grid(static_cast<unsigned>(p.batch * p.len), static_cast<unsigned>(p.num_tensors));
  rms_norm_rope_kernel<<<grid, kThreads, 0, static_cast<cudaStream_t>(p.stream)>>>(p);
  return static_cast<int>(cudaGetLastError());
}

}  // namespace duet::kernels
