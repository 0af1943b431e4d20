// Gated residual add out = x + y·gate, gate broadcast per row (fused_norm_params.h).
#include <cuda_runtime.h>

#include "fused/fused_device.cuh"

namespace duet::kernels {
namespace {

using fused::kThreads;
using fused::load_f32;

// grid: [blockIdx.x = b * len + l], block: kThreads over the row.
__global__ void __launch_bounds__(kThreads) gated_residual_kernel(GatedResidualParams p) {
  const int64_t row = blockIdx.x;
  const int64_t b = row / p.len, l = row % p.len;
  const int64_t base = row * p.dim;
  const int64_t g_base = b * p.gate_batch_stride + l * p.gate_token_stride;
  for (int64_t i = threadIdx.x; i < p.dim; i += blockDim.x) {
    const float product = fused::round_to(
        load_f32(p.y, p.y_dtype, base + i) * load_f32(p.gate, p.gate_dtype, g_base + i),
        p.product_dtype);
    fused::store_f32(p.out, p.out_dtype, base + i, load_f32(p.x, p.x_dtype, base + i) + product);
  }
}

bool valid(const GatedResidualParams& p) {
  return p.x && p.y && p.gate && p.out && p.batch > 0 && p.len > 0 && p.dim > 0 &&
         p.batch * p.len <= 0x7fffffffLL;
}

}  // namespace

int launch_gated_residual(const GatedResidualParams& p) {
  if (!valid(p)) return static_cast<int>(cudaErrorInvalidValue);
  const auto blocks = static_cast<unsigned>(p.batch * p.len);
  gated_residual_kernel<<<blocks, kThreads, 0, static_cast<cudaStream_t>(p.stream)>>>(p);
  return static_cast<int>(cudaGetLastError());
}

}  // namespace duet::kernels
