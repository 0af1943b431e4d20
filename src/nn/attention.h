#pragma once
// The attention front door: every model calls this one function, which validates the inputs
// and picks a backend. Backends are interchangeable (same inputs, same math, tested against
// the reference on the same data); kernels added later plug in behind the same door.
//
//   AttentionOptions opts;                       // backend kAuto, scale 1/sqrt(D)
//   auto out = nn::attention(q, k, v, k_lens, opts);
//   // q: [B, Lq, H, D], k/v: [B, Lk, H, D], k_lens: [B] int (keys at index >= k_lens[b]
//   // are masked out) -> [B, Lq, H, D] in q's dtype
//
// Layout [B, L, H, D] is the one the models produce (a linear then a view), so callers need no
// transposes.
#include <ATen/ATen.h>

#include <optional>
#include <string_view>

namespace duet::nn {

enum class AttentionBackend {
  kAuto,       // the fastest backend that supports the inputs
  kReference,  // materialised softmax in fp32 (fp64 for fp64 inputs): exact and small
  kSdpa,       // at::scaled_dot_product_attention with a boolean key mask
  kTiled,      // CPU, tiled with an online softmax (nn/attention_tiled.h): O(L·D) memory, skips
               // masked keys instead of computing them
  kFlash,      // CUDA, duet's flash-attention kernel (kernels/attention): sm_80+, fp16/bf16,
               // head dim 64 or 128; skips masked keys
};
std::string_view attention_backend_name(AttentionBackend backend);
// Inverse of attention_backend_name; an unknown name is a duet::Error listing the valid ones.
AttentionBackend parse_attention_backend(std::string_view name);

struct AttentionOptions {
  AttentionBackend backend = AttentionBackend::kAuto;
  std::optional<double> scale;  // softmax scale; default 1/sqrt(D)
};

// Whether `backend` can run attention on inputs like q and k (dtype, device, sizes), so a
// caller can fall back instead of failing. kAuto is supported whenever any backend is.
bool attention_supported(AttentionBackend backend, const at::Tensor& q, const at::Tensor& k);

// q: [B, Lq, H, D], k/v: [B, Lk, H, D], k_lens: [B] integer -> [B, Lq, H, D]
// Every query row is computed, padded ones included (as Wan's flash-attention call with
// q_lens=None). k_lens values must lie in [1, Lk]; they are checked when k_lens is on the CPU.
at::Tensor attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                     const std::optional<at::Tensor>& k_lens, const AttentionOptions& opts = {});

}  // namespace duet::nn
