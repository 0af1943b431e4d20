// launch_flash_attention: checks the params and picks the instantiation for (dtype, head dim).
// The instantiations themselves live in the generated flash_fwd_*_sm80.cu files.
#include <cuda_runtime.h>

#include <cstdint>

#include "attention/flash_attention_params.h"
#include "attention/flash_fwd_sm80.cuh"
#include "runtime/cuda_runtime_info.h"

namespace duet::kernels {
namespace flash {
extern template int launch_flash_fwd_sm80<__nv_bfloat16, 64>(const FlashAttentionParams&);
extern template int launch_flash_fwd_sm80<__nv_bfloat16, 128>(const FlashAttentionParams&);
extern template int launch_flash_fwd_sm80<__half, 64>(const FlashAttentionParams&);
extern template int launch_flash_fwd_sm80<__half, 128>(const FlashAttentionParams&);
}  // namespace flash

namespace {

bool aligned16(const void* ptr) { return reinterpret_cast<std::uintptr_t>(ptr) % 16 == 0; }

bool strides_ok(int64_t a, int64_t b, int64_t c) { return a % 8 == 0 && b % 8 == 0 && c % 8 == 0; }

bool valid(const FlashAttentionParams& p) {
  if (!p.q || !p.k || !p.v || !p.out) return false;
  if (!aligned16(p.q) || !aligned16(p.k) || !aligned16(p.v) || !aligned16(p.out)) return false;
  if (!strides_ok(p.q_batch_stride, p.q_row_stride, p.q_head_stride) ||
      !strides_ok(p.k_batch_stride, p.k_row_stride, p.k_head_stride) ||
      !strides_ok(p.v_batch_stride, p.v_row_stride, p.v_head_stride) ||
      !strides_ok(p.out_batch_stride, p.out_row_stride, p.out_head_stride)) {
    return false;
  }
  // grid: (query tiles, heads, batch); y and z are limited to 65535.
  return p.batch > 0 && p.batch <= 65535 && p.heads > 0 && p.heads <= 65535 && p.len_q > 0 &&
         p.len_k > 0 && flash_attention_head_dim_supported(p.head_dim) && p.scale > 0.0f &&
         (p.dtype == FlashDType::kBFloat16 || p.dtype == FlashDType::kFloat16);
}

}  // namespace

bool flash_attention_head_dim_supported(int head_dim) { return head_dim == 64 || head_dim == 128; }

bool flash_attention_device_supported(int device) { return cuda_kernels_runnable(device); }

int launch_flash_attention(const FlashAttentionParams& p) {
  if (!valid(p)) return static_cast<int>(cudaErrorInvalidValue);
  const bool bf16 = p.dtype == FlashDType::kBFloat16;
  if (p.head_dim == 64) {
    return bf16 ? flash::launch_flash_fwd_sm80<__nv_bfloat16, 64>(p)
                : flash::launch_flash_fwd_sm80<__half, 64>(p);
  }
  return bf16 ? flash::launch_flash_fwd_sm80<__nv_bfloat16, 128>(p)
              : flash::launch_flash_fwd_sm80<__half, 128>(p);
}

}  // namespace duet::kernels
