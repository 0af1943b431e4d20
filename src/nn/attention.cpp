#include "nn/attention.h"

#include <cmath>
#include <cstdint>
#include <limits>

#include "core/error.h"
#include "nn/attention_tiled.h"

#ifdef DUET_HAVE_CUDA
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>

#include "attention/flash_attention_params.h"
#include "runtime/cuda_runtime_info.h"
#endif

namespace duet::nn {

std::string_view attention_backend_name(AttentionBackend backend) {
  switch (backend) {
    case AttentionBackend::kAuto:
      return "auto";
    case AttentionBackend::kReference:
      return "reference";
    case AttentionBackend::kSdpa:
      return "sdpa";
    case AttentionBackend::kTiled:
      return "tiled";
    case AttentionBackend::kFlash:
      return "flash";
  }
  return "unknown";
}

AttentionBackend parse_attention_backend(std::string_view name) {
  for (auto b : {AttentionBackend::kAuto, AttentionBackend::kReference, AttentionBackend::kSdpa,
                 AttentionBackend::kTiled, AttentionBackend::kFlash}) {
    if (attention_backend_name(b) == name) return b;
  }
  DUET_FAIL("unknown attention backend '{}'; valid: auto, reference, sdpa, tiled, flash", name);
}

namespace {

std::string shape_of(const at::Tensor& t) {
  return fmt::format("[{}]", fmt::join(t.sizes(), ", "));
}

void check_inputs(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                  const std::optional<at::Tensor>& k_lens) {
  DUET_CHECK(q.dim() == 4, "attention: q must be [B, Lq, H, D], got {}", shape_of(q));
  DUET_CHECK(k.dim() == 4, "attention: k must be [B, Lk, H, D], got {}", shape_of(k));
  DUET_CHECK(k.sizes() == v.sizes(), "attention: k {} and v {} differ in shape", shape_of(k),
             shape_of(v));
  DUET_CHECK(q.size(0) == k.size(0) && q.size(2) == k.size(2) && q.size(3) == k.size(3),
             "attention: q {} and k {} disagree on batch, heads or head dim", shape_of(q),
             shape_of(k));
  DUET_CHECK(q.size(3) > 0 && k.size(1) > 0, "attention: empty head dim or key length (k {})",
             shape_of(k));
  DUET_CHECK(at::isFloatingType(q.scalar_type()), "attention: q must be floating point, got {}",
             c10::toString(q.scalar_type()));
  DUET_CHECK(q.scalar_type() == k.scalar_type() && q.scalar_type() == v.scalar_type(),
             "attention: q, k, v dtypes differ ({}, {}, {})", c10::toString(q.scalar_type()),
             c10::toString(k.scalar_type()), c10::toString(v.scalar_type()));
  DUET_CHECK(q.device() == k.device() && q.device() == v.device(),
             "attention: q, k, v are on different devices");
  if (!k_lens) return;
  const auto& lens = *k_lens;
  DUET_CHECK(lens.dim() == 1 && lens.size(0) == q.size(0),
             "attention: k_lens must be [B] = [{}], got {}", q.size(0), shape_of(lens));
  DUET_CHECK(at::isIntegralType(lens.scalar_type(), /*includeBool=*/false),
             "attention: k_lens must be integer, got {}", c10::toString(lens.scalar_type()));
  if (lens.is_cpu()) {  // values on a GPU would need a sync to check; the callers build them on the
                        // CPU
    const auto lo = lens.min().item<int64_t>();
    const auto hi = lens.max().item<int64_t>();
    DUET_CHECK(lo >= 1 && hi <= k.size(1),
               "attention: k_lens values must be in [1, {}], got {}..{}", k.size(1), lo, hi);
  }
}

// [B, Lk] true where the key is attended to; undefined when no key is masked.
at::Tensor key_mask(const std::optional<at::Tensor>& k_lens, int64_t lk, const at::Device& device) {
  if (!k_lens) return {};
  const auto lens = k_lens->to(device, at::kLong);
  const auto positions = at::arange(lk, at::TensorOptions().dtype(at::kLong).device(device));
  return positions.unsqueeze(0) < lens.unsqueeze(1);
}

double softmax_scale(const at::Tensor& q, const AttentionOptions& opts) {
  return opts.scale.value_or(1.0 / std::sqrt(static_cast<double>(q.size(3))));
}

at::Tensor reference_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                               const at::Tensor& mask, double scale) {
  // Scores and softmax in fp32 (fp64 stays fp64) whatever the input precision, so this is
  // the yardstick the other backends are measured against.
  const auto acc = q.scalar_type() == at::kDouble ? at::kDouble : at::kFloat;
  const auto qh = q.to(acc).transpose(1, 2);                   // [B, H, Lq, D]
  const auto kh = k.to(acc).transpose(1, 2);                   // [B, H, Lk, D]
  const auto vh = v.to(acc).transpose(1, 2);                   // [B, H, Lk, D]
  auto scores = at::matmul(qh, kh.transpose(-1, -2)) * scale;  // [B, H, Lq, Lk]
  if (mask.defined()) {
    scores = scores.masked_fill(mask.logical_not().view({mask.size(0), 1, 1, mask.size(1)}),
                                -std::numeric_limits<double>::infinity());
  }
  const auto out = at::matmul(at::softmax(scores, -1), vh);  // [B, H, Lq, D]
  return out.transpose(1, 2).to(q.scalar_type());
}

at::Tensor sdpa_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                          const at::Tensor& mask, double scale) {
  std::optional<at::Tensor> attn_mask;
  if (mask.defined()) attn_mask = mask.view({mask.size(0), 1, 1, mask.size(1)});
  const auto out = at::scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2),
                                                    v.transpose(1, 2), attn_mask, 0.0,
                                                    /*is_causal=*/false, scale);
  return out.transpose(1, 2);
}

#ifdef DUET_HAVE_CUDA
// The kernel reads 16-byte vectors: a dense head dim, strides in multiples of 8 elements and a
// 16-byte aligned start. Model tensors ([B, L, H*D] views) already are; others are copied.
at::Tensor flash_ready(const at::Tensor& t) {
  const bool ok = t.stride(3) == 1 && t.stride(0) % 8 == 0 && t.stride(1) % 8 == 0 &&
                  t.stride(2) % 8 == 0 && reinterpret_cast<std::uintptr_t>(t.data_ptr()) % 16 == 0;
  return ok ? t : t.clone(at::MemoryFormat::Contiguous);
}

at::Tensor flash_attention(const at::Tensor& q_in, const at::Tensor& k_in, const at::Tensor& v_in,
                           const std::optional<at::Tensor>& k_lens, double scale) {
  const c10::cuda::CUDAGuard guard(q_in.device());
  const auto q = flash_ready(q_in), k = flash_ready(k_in), v = flash_ready(v_in);
  auto out = at::empty(q.sizes(), q.options());  // [B, Lq, H, D] contiguous
  at::Tensor lens;
  if (k_lens) lens = k_lens->to(q.device(), at::kInt).contiguous();
  kernels::FlashAttentionParams p;
  p.q = q.data_ptr();
  p.k = k.data_ptr();
  p.v = v.data_ptr();
  p.out = out.data_ptr();
  p.q_batch_stride = q.stride(0), p.q_row_stride = q.stride(1), p.q_head_stride = q.stride(2);
  p.k_batch_stride = k.stride(0), p.k_row_stride = k.stride(1), p.k_head_stride = k.stride(2);
  p.v_batch_stride = v.stride(0), p.v_row_stride = v.stride(1), p.v_head_stride = v.stride(2);
  p.out_batch_stride = out.stride(0), p.out_row_stride = out.stride(1);
  p.out_head_stride = out.stride(2);
  p.batch = static_cast<int32_t>(q.size(0));
  p.len_q = static_cast<int32_t>(q.size(1));
  p.heads = static_cast<int32_t>(q.size(2));
  p.head_dim = static_cast<int32_t>(q.size(3));
  p.len_k = static_cast<int32_t>(k.size(1));
  p.k_lens = lens.defined() ? lens.data_ptr<int32_t>() : nullptr;
  p.scale = static_cast<float>(scale);
  p.dtype = q.scalar_type() == at::kHalf ? kernels::FlashDType::kFloat16
                                         : kernels::FlashDType::kBFloat16;
  p.stream = c10::cuda::getCurrentCUDAStream(q.device().index()).stream();
  const int code = kernels::launch_flash_attention(p);
  DUET_CHECK(code == 0, "attention backend 'flash': CUDA launch failed for q {}: {}", shape_of(q),
             kernels::cuda_error_string(code));
  return out;
}
#endif

bool flash_supported(const at::Tensor& q, const at::Tensor& k) {
#ifdef DUET_HAVE_CUDA
  constexpr int64_t kIntMax = std::numeric_limits<int32_t>::max();
  return q.is_cuda() && (q.scalar_type() == at::kHalf || q.scalar_type() == at::kBFloat16) &&
         kernels::flash_attention_head_dim_supported(static_cast<int>(q.size(3))) &&
         q.size(0) <= 65535 && q.size(2) <= 65535 && q.size(1) <= kIntMax && k.size(1) <= kIntMax &&
         kernels::flash_attention_device_supported(q.device().index());
#else
  (void)q;
  (void)k;
  return false;
#endif
}

}  // namespace

bool attention_supported(AttentionBackend backend, const at::Tensor& q, const at::Tensor& k) {
  if (q.dim() != 4 || k.dim() != 4 || !at::isFloatingType(q.scalar_type())) return false;
  switch (backend) {
    case AttentionBackend::kAuto:
    case AttentionBackend::kReference:
      return true;
    case AttentionBackend::kSdpa:
      // libtorch's math fallback covers every float dtype on every device; half types on the
      // CPU are slow but correct.
      return q.scalar_type() != at::kFloat8_e4m3fn && q.scalar_type() != at::kFloat8_e5m2;
    case AttentionBackend::kTiled:
      return tiled_attention_supported(q, k);
    case AttentionBackend::kFlash:
      return flash_supported(q, k);
  }
  return false;
}

namespace {

// Fraction of the B·Lk keys that k_lens keeps: 1 without k_lens, or with k_lens off the CPU
// (reading it there would cost a device sync).
double kept_key_fraction(const std::optional<at::Tensor>& k_lens, int64_t lk) {
  if (!k_lens || !k_lens->is_cpu()) return 1.0;
  return k_lens->sum().item<double>() / static_cast<double>(k_lens->size(0) * lk);
}

// kAuto, from the CPU measurements in BENCHMARKS.md ("Attention on the CPU", 2026-12-01, B = 1,
// H = 24, D = 128, L = 4096 and 15000, CPU time per call). libtorch's CPU SDPA is itself a
// flash-style kernel (oneDNN/AMX micro-kernels, O(L·D) memory), so this is close:
// - fp32: tiled takes 9-20% less CPU time than SDPA at equal work, and more memory (k and v
//   rearranged once: +2 copies of k's size), so tiled.
// - bf16: tiled takes 5-15% more than SDPA at equal work, but it never touches keys past
//   k_lens[b] where SDPA computes every key and masks the scores; with a quarter of the keys kept
//   it is ~3.5x faster. So tiled once k_lens drops more than 15% of the keys (padded batches,
//   zero-padded text), SDPA otherwise (B = 1 passes k_lens = [L], which masks nothing).
// Off the CPU SDPA (its flash and cuDNN kernels); duet's own kFlash joins `auto` once its
// GPU tests have passed and its speed has been measured beside SDPA's (BENCHMARKS.md). Reference
// for what neither supports (fp8).
AttentionBackend auto_backend(const at::Tensor& q, const at::Tensor& k,
                              const std::optional<at::Tensor>& k_lens) {
  if (attention_supported(AttentionBackend::kTiled, q, k) &&
      (q.scalar_type() == at::kFloat || kept_key_fraction(k_lens, k.size(1)) < 0.85)) {
    return AttentionBackend::kTiled;
  }
  return attention_supported(AttentionBackend::kSdpa, q, k) ? AttentionBackend::kSdpa
                                                            : AttentionBackend::kReference;
}

}  // namespace

at::Tensor attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                     const std::optional<at::Tensor>& k_lens, const AttentionOptions& opts) {
  check_inputs(q, k, v, k_lens);
  auto backend = opts.backend;
  if (backend == AttentionBackend::kAuto) backend = auto_backend(q, k, k_lens);
  DUET_CHECK(attention_supported(backend, q, k),
             "attention backend '{}' does not support {} inputs on {}",
             attention_backend_name(backend), c10::toString(q.scalar_type()), q.device().str());
  const double scale = softmax_scale(q, opts);
  if (backend == AttentionBackend::kTiled) return tiled_attention(q, k, v, k_lens, scale);
#ifdef DUET_HAVE_CUDA
  if (backend == AttentionBackend::kFlash) return flash_attention(q, k, v, k_lens, scale);
#endif
  const auto mask = key_mask(k_lens, k.size(1), q.device());
  if (backend == AttentionBackend::kReference) return reference_attention(q, k, v, mask, scale);
  return sdpa_attention(q, k, v, mask, scale);
}

}  // namespace duet::nn
