#pragma once
// Device helpers shared by the fused norm kernels: element access by runtime dtype, rounding to
// a dtype (how the unfused ATen ops round every intermediate), and a block-wide fp32 sum.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include "fused/fused_norm_params.h"

namespace duet::kernels::fused {

constexpr int kThreads = 256;  // one block per token row; 8 warps cover dim 3072-5120 in few steps

__device__ __forceinline__ float load_f32(const void* p, DType t, int64_t i) {
  switch (t) {
    case DType::kFloat32:
      return static_cast<const float*>(p)[i];
    case DType::kFloat16:
      return __half2float(static_cast<const __half*>(p)[i]);
    default:
      return __bfloat162float(static_cast<const __nv_bfloat16*>(p)[i]);
  }
}

__device__ __forceinline__ void store_f32(void* p, DType t, int64_t i, float v) {
  switch (t) {
    case DType::kFloat32:
      static_cast<float*>(p)[i] = v;
      break;
    case DType::kFloat16:
      static_cast<__half*>(p)[i] = __float2half_rn(v);
      break;
    default:
      static_cast<__nv_bfloat16*>(p)[i] = __float2bfloat16_rn(v);
      break;
  }
}

// v rounded to t and back: the value an ATen op producing a `t` tensor would hold.
__device__ __forceinline__ float round_to(float v, DType t) {
  switch (t) {
    case DType::kFloat32:
      return v;
    case DType::kFloat16:
      return __half2float(__float2half_rn(v));
    default:
      return __bfloat162float(__float2bfloat16_rn(v));
  }
}

// Sum of v over the block, returned to every thread. blockDim.x is a multiple of 32, <= 1024.
// The leading barrier lets a kernel call it twice (mean, then variance) on the same scratch.
__device__ __forceinline__ float block_sum(float v) {
  __shared__ float partial[32];
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  __syncthreads();
  if (lane == 0) partial[warp] = v;
  __syncthreads();
  v = lane < static_cast<int>(blockDim.x / 32) ? partial[lane] : 0.0f;
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

// IEEE 1/sqrt (not the approximate rsqrtf), as ATen's rsqrt computes it on the CPU.
__device__ __forceinline__ float exact_rsqrt(float v) { return 1.0f / sqrtf(v); }

}  // namespace duet::kernels::fused
