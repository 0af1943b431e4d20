#pragma once
// CPU attention tiled with an online softmax (flash-attention's forward pass on the CPU): scores
// exist only one [query tile x key tile] block at a time per thread, so memory is O(L·D)
// (inputs, output, a reordered copy of k and v) instead of the O(Lq·Lk) of a materialised softmax.
//
//   out = tiled_attention(q, k, v, k_lens, scale);
//   // q: [B, Lq, H, D], k/v: [B, Lk, H, D] (fp32 or bf16, CPU), k_lens: [B] integer or none
//   // -> [B, Lq, H, D] in q's dtype; keys at index >= k_lens[b] are left out
//
// Work is split over batch × heads × query tiles with at::parallel_for. The two matmuls of each
// tile go through oneDNN's small-GEMM micro-kernel (at::native::cpublas::brgemm, the one libtorch's
// own CPU flash attention uses): bf16 operands on AMX/AVX512-bf16 CPUs, fp32 elsewhere. The
// softmax, rescaling and conversions are plain loops compiled per ISA (AVX-512, AVX2, baseline)
// and picked at load time. Everything accumulates in fp32.
#include <ATen/ATen.h>

#include <cstdint>
#include <optional>

namespace duet::nn {

struct TiledAttentionConfig {
  int64_t q_tile = 256;  // query rows per task: the unit of parallel work
  int64_t k_tile = 512;  // keys per online-softmax step; a multiple of 64 (oneDNN's packed width)
  // Use bf16 matmuls (AMX / AVX512-bf16) for bf16 inputs when the CPU has them. false converts
  // bf16 inputs to fp32 and takes the fp32 path, which is what CPUs without them get; tests use
  // it to cover that path here.
  bool bf16_matmul = true;
};

// Tiles from one place. 256 queries × 512 keys measured fastest at D = 128 on a Sapphire Rapids
// core (BENCHMARKS.md): the micro-kernel calls are big enough to amortise, and the fp32 scores,
// bf16 probabilities and accumulator (512 + 256 + 128 KiB) still sit in a 2 MiB L2. Query tiles
// shrink (down to 32) until there are at least 4 tasks per thread, so short sequences still
// use every core.
constexpr TiledAttentionConfig tiled_attention_config(int64_t batch_heads, int64_t q_len,
                                                      int64_t threads) {
  TiledAttentionConfig c;
  while (c.q_tile > 32 && batch_heads * ((q_len + c.q_tile - 1) / c.q_tile) < 4 * threads) {
    c.q_tile /= 2;
  }
  return c;
}

// CPU tensors of fp32 or bf16, any head dim.
bool tiled_attention_supported(const at::Tensor& q, const at::Tensor& k);

// q: [B, Lq, H, D], k/v: [B, Lk, H, D], k_lens: [B] integer on the CPU (values in [1, Lk]) or
// none -> [B, Lq, H, D] in q's dtype. Inputs are assumed validated by the attention front door.
// Tiles come from tiled_attention_config unless given.
at::Tensor tiled_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                           const std::optional<at::Tensor>& k_lens, double scale);
at::Tensor tiled_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                           const std::optional<at::Tensor>& k_lens, double scale,
                           const TiledAttentionConfig& config);

}  // namespace duet::nn
