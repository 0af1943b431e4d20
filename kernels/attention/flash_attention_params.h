#pragma once
// Flash-attention forward: plain params struct and launcher, callable from code compiled without
// nvcc (no CUDA or torch types here). The torch-facing dispatch is nn::attention's "flash"
// backend (src/nn/attention.cpp).
//
//   FlashAttentionParams p;  ...fill...;  int err = launch_flash_attention(p);  // 0 on success
//
// out[b, i, h, :] = softmax(scale · q[b, i, h, :] · k[b, j, h, :]ᵀ over j < k_len[b]) · v[b, j, h, :]
// Non-causal; query and key lengths independent (self, text and cross-modal attention); every
// query row is computed, as the front door promises. fp32 accumulation of scores, softmax and
// output; q/k/v/out in one 16-bit dtype.
#include <cstdint>

namespace duet::kernels {

enum class FlashDType : int32_t { kFloat16 = 1, kBFloat16 = 2 };

struct FlashAttentionParams {
  const void* q = nullptr;  // [batch, len_q, heads, head_dim] with the strides below
  const void* k = nullptr;  // [batch, len_k, heads, head_dim]
  const void* v = nullptr;  // [batch, len_k, heads, head_dim]
  void* out = nullptr;      // [batch, len_q, heads, head_dim]
  // Strides in elements; the head_dim axis is dense. Every stride is a multiple of 8 and every
  // pointer 16-byte aligned (the kernel moves 16-byte vectors).
  int64_t q_batch_stride = 0, q_row_stride = 0, q_head_stride = 0;
  int64_t k_batch_stride = 0, k_row_stride = 0, k_head_stride = 0;
  int64_t v_batch_stride = 0, v_row_stride = 0, v_head_stride = 0;
  int64_t out_batch_stride = 0, out_row_stride = 0, out_head_stride = 0;
  int32_t batch = 0, heads = 0, len_q = 0, len_k = 0, head_dim = 0;
  // [batch] keys kept per sample, each in [1, len_k] (keys at index >= k_lens[b] are masked);
  // null keeps all len_k. On the device.
  const int32_t* k_lens = nullptr;
  float scale = 0.0f;  // softmax scale, usually 1/sqrt(head_dim)
  FlashDType dtype = FlashDType::kBFloat16;
  void* stream = nullptr;  // cudaStream_t; null: the legacy default stream
};

// The mma.sync path (sm_80 and newer): head dims 64 and 128, fp16 and bf16.
bool flash_attention_head_dim_supported(int head_dim);
// True when `device` can run the compiled kernels (compute capability 8.0 or newer).
bool flash_attention_device_supported(int device);
// Returns the CUDA error code (0 on success): invalid params give cudaErrorInvalidValue
// without launching.
int launch_flash_attention(const FlashAttentionParams& p);

}  // namespace duet::kernels
