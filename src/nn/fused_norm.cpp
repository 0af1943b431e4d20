#include "nn/fused_norm.h"

#include <ATen/Parallel.h>
#include <ATen/core/grad_mode.h>

#include <cmath>
#include <initializer_list>
#include <type_traits>

#include "core/error.h"

#ifdef DUET_HAVE_CUDA
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>

#include "fused/fused_norm_params.h"
#include "runtime/cuda_runtime_info.h"
#endif

namespace duet::nn {
namespace {

using at::BFloat16;

// ---------------------------------------------------------------------------------------------
// Dispatch conditions

// These kernels have no backward: while autograd records through any input, the ATen ops run.
bool grad_recording(std::initializer_list<at::Tensor> tensors) {
  if (!at::GradMode::is_enabled()) return false;
  for (const auto& t : tensors) {
    if (t.defined() && t.requires_grad()) return true;
  }
  return false;
}

bool cpu_dtype(at::ScalarType t) { return t == at::kFloat || t == at::kBFloat16; }
bool cuda_dtype(at::ScalarType t) { return cpu_dtype(t) || t == at::kHalf; }

// Every tensor on x's device with a dtype the kernels of that device read.
bool same_device_dtypes(const at::Tensor& x, std::initializer_list<at::Tensor> others) {
  for (const auto& t : others) {
    if (t.device() != x.device()) return false;
    if (!(x.is_cuda() ? cuda_dtype(t.scalar_type()) : cpu_dtype(t.scalar_type()))) return false;
  }
  return true;
}

// A [B, 1 or L, D] row operand (shift, scale, gate) the kernels address as
// base + b * stride(0) + l * stride(1) with a dense last dim.
bool row_operand(const at::Tensor& e, const at::Tensor& x) {
  return e.dim() == 3 && e.size(0) == x.size(0) && (e.size(1) == 1 || e.size(1) == x.size(1)) &&
         e.size(2) == x.size(2) && e.stride(2) == 1;
}
int64_t token_stride(const at::Tensor& e) { return e.size(1) == 1 ? 0 : e.stride(1); }

// ---------------------------------------------------------------------------------------------
// CPU kernels: one token row per step of at::parallel_for, fp32 math, rounding to the dtypes
// the unfused ops would hold at each step.

// v rounded to T and back (a no-op for fp32).
template <typename T>
inline float round_as(float v) {
  if constexpr (std::is_same_v<T, float>) {
    return v;
  } else {
    return static_cast<float>(static_cast<T>(v));
  }
}

// ATen's type promotion between fp32 and bf16.
template <typename A, typename B>
using Promoted =
    std::conditional_t<std::is_same_v<A, float> || std::is_same_v<B, float>, float, BFloat16>;

// Calls f with a value of the C++ type of t (fp32 or bf16).
template <typename F>
void visit_cpu_dtype(at::ScalarType t, F&& f) {
  if (t == at::kFloat) {
    f(float{});
  } else {
    f(BFloat16{});
  }
}

// Rows per parallel task: ~32k elements, libtorch's own grain for elementwise work.
int64_t row_grain(int64_t dim) { return std::max<int64_t>(1, at::internal::GRAIN_SIZE / dim); }

// Where token l of a sample with grid (F, H, W) sits; tokens past F*H*W are padding.
struct TokenPosition {
  bool rotate = false;
  int64_t pos[3] = {0, 0, 0};  // frame, row, column
};

TokenPosition token_position(const VideoGrid& g, int64_t l) {
  TokenPosition t;
  t.rotate = l < g[0] * g[1] * g[2];
  t.pos[0] = l / (g[1] * g[2]);
  t.pos[1] = (l / g[2]) % g[1];
  t.pos[2] = l % g[2];
  return t;
}

struct RmsRowArgs {
  int64_t dim = 0, head_dim = 0;
  float eps = 0.0f;
  const float* weight = nullptr;  // [dim] fp32, already rounded as the precision requires
  const float* cos = nullptr;     // [max_positions, pairs]
  const float* sin = nullptr;
  int64_t pairs = 0, split0 = 0, split1 = 0;
};

// 1 / rms of a row of `dim`: fp32 statistics (Wan), or each step rounded to T (Ovi).
template <typename T, bool kIoStats>
float inverse_rms(const T* x, int64_t dim, float eps) {
  float ss = 0.0f;
#pragma omp simd reduction(+ : ss)
  for (int64_t i = 0; i < dim; ++i) {
    const float v = static_cast<float>(x[i]);
    ss += kIoStats ? round_as<T>(v * v) : v * v;
  }
  const float mean = ss / static_cast<float>(dim);
  if constexpr (!kIoStats) {
    return 1.0f / std::sqrt(mean + eps);
  } else {
    return round_as<T>(1.0f / std::sqrt(round_as<T>(round_as<T>(mean) + eps)));
  }
}

// The normalised value of channel c, rounded as the unfused chain rounds it: x * r cast to T,
// times the weight, cast to T.
template <typename T>
inline float normed(const T* x, const float* w, float r, int64_t c) {
  return round_as<T>(round_as<T>(static_cast<float>(x[c]) * r) * w[c]);
}

// Normalised channels [2*i0, 2*i1) of one head, rotated by one table row (cos/sin point at
// column 0 of the row) in fp32 as rotate_pairs does. x, out, w: [head_dim] of one head
template <typename T>
void norm_rotate_pairs(const T* x, T* out, const float* w, float r, const float* cos,
                       const float* sin, int64_t i0, int64_t i1) {
  for (int64_t i = i0; i < i1; ++i) {
    const float n0 = normed(x, w, r, 2 * i), n1 = normed(x, w, r, 2 * i + 1);
    out[2 * i] = static_cast<T>(n0 * cos[i] - n1 * sin[i]);
    out[2 * i + 1] = static_cast<T>(n0 * sin[i] + n1 * cos[i]);
  }
}

// Normalised channels [c0, c1) of one head, not rotated (pairs past the rope's, padding tokens).
template <typename T>
void norm_channels(const T* x, T* out, const float* w, float r, int64_t c0, int64_t c1) {
  for (int64_t c = c0; c < c1; ++c) out[c] = static_cast<T>(normed(x, w, r, c));
}

// One token row: norm over `dim`, then each head's pairs by their axis' table row.
// x, out: [dim] = [H, head_dim]
template <typename T, bool kIoStats>
void rms_norm_rope_row(const T* x, T* out, const RmsRowArgs& a, const TokenPosition& tp) {
  const float r = inverse_rms<T, kIoStats>(x, a.dim, a.eps);
  const int64_t rotated = tp.rotate ? a.pairs : 0;
  const int64_t bounds[4] = {0, std::min(a.split0, rotated), std::min(a.split1, rotated), rotated};
  for (int64_t h0 = 0; h0 < a.dim; h0 += a.head_dim) {
    for (int axis = 0; tp.rotate && axis < 3; ++axis) {
      const int64_t row = tp.pos[axis] * a.pairs;
      norm_rotate_pairs(x + h0, out + h0, a.weight + h0, r, a.cos + row, a.sin + row, bounds[axis],
                        bounds[axis + 1]);
    }
    norm_channels(x + h0, out + h0, a.weight + h0, r, 2 * rotated, a.head_dim);
  }
}

// x, out: [B, L, dim] contiguous
template <typename T, bool kIoStats>
void rms_norm_rope_cpu(const at::Tensor& x, at::Tensor& out, const RmsRowArgs& a,
                       const std::vector<VideoGrid>& grids) {
  const int64_t len = x.size(1);
  const T* xp = x.data_ptr<T>();
  T* op = out.data_ptr<T>();
  at::parallel_for(0, x.size(0) * len, row_grain(a.dim), [&](int64_t begin, int64_t end) {
    for (int64_t row = begin; row < end; ++row) {
      const auto tp = token_position(grids[static_cast<size_t>(row / len)], row % len);
      rms_norm_rope_row<T, kIoStats>(xp + row * a.dim, op + row * a.dim, a, tp);
    }
  });
}

// One token row of LayerNorm (no affine) + modulation. x, shift, scale, out: [dim]
template <typename X, typename E, typename O>
void layer_norm_modulate_row(const X* x, const E* shift, const E* scale, O* out, int64_t dim,
                             float eps) {
  using S = Promoted<X, E>;
  float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
  for (int64_t i = 0; i < dim; ++i) sum += static_cast<float>(x[i]);
  const float mean = sum / static_cast<float>(dim);
  float var = 0.0f;  // centred second pass: no cancellation for rows with a large mean
#pragma omp simd reduction(+ : var)
  for (int64_t i = 0; i < dim; ++i) {
    const float d = static_cast<float>(x[i]) - mean;
    var += d * d;
  }
  const float rstd = 1.0f / std::sqrt(var / static_cast<float>(dim) + eps);
  for (int64_t i = 0; i < dim; ++i) {
    const float normed = round_as<X>((static_cast<float>(x[i]) - mean) * rstd);
    const float one_plus = round_as<E>(1.0f + static_cast<float>(scale[i]));
    const float product = round_as<S>(normed * one_plus);
    out[i] = static_cast<O>(round_as<S>(product + static_cast<float>(shift[i])));
  }
}

// x, out: [B, L, D] contiguous, shift/scale: row operands
template <typename X, typename E, typename O>
void layer_norm_modulate_cpu(const at::Tensor& x, const at::Tensor& shift, const at::Tensor& scale,
                             at::Tensor& out, float eps) {
  const int64_t len = x.size(1), dim = x.size(2);
  const int64_t eb = shift.stride(0), el = token_stride(shift);
  const X* xp = x.data_ptr<X>();
  const E* sh = shift.data_ptr<E>();
  const E* sc = scale.data_ptr<E>();
  O* op = out.data_ptr<O>();
  at::parallel_for(0, x.size(0) * len, row_grain(dim), [&](int64_t begin, int64_t end) {
    for (int64_t row = begin; row < end; ++row) {
      const int64_t e = (row / len) * eb + (row % len) * el;
      layer_norm_modulate_row(xp + row * dim, sh + e, sc + e, op + row * dim, dim, eps);
    }
  });
}

// x, y, out: [B, L, D] contiguous, gate: row operand
template <typename X, typename Y, typename G>
void gated_residual_cpu(const at::Tensor& x, const at::Tensor& y, const at::Tensor& gate,
                        at::Tensor& out) {
  using P = Promoted<Y, G>;
  using O = Promoted<X, P>;
  const int64_t len = x.size(1), dim = x.size(2);
  const int64_t gb = gate.stride(0), gl = token_stride(gate);
  const X* xp = x.data_ptr<X>();
  const Y* yp = y.data_ptr<Y>();
  const G* gp = gate.data_ptr<G>();
  O* op = out.data_ptr<O>();
  at::parallel_for(0, x.size(0) * len, row_grain(dim), [&](int64_t begin, int64_t end) {
    for (int64_t row = begin; row < end; ++row) {
      const X* xr = xp + row * dim;
      const Y* yr = yp + row * dim;
      const G* gr = gp + (row / len) * gb + (row % len) * gl;
      O* orow = op + row * dim;
      for (int64_t i = 0; i < dim; ++i) {
        const float product = round_as<P>(static_cast<float>(yr[i]) * static_cast<float>(gr[i]));
        orow[i] = static_cast<O>(static_cast<float>(xr[i]) + product);
      }
    }
  });
}

// ---------------------------------------------------------------------------------------------
// CUDA launches (kernels/fused)

#ifdef DUET_HAVE_CUDA
kernels::DType cuda_dtype_of(at::ScalarType t) {
  if (t == at::kFloat) return kernels::DType::kFloat32;
  if (t == at::kHalf) return kernels::DType::kFloat16;
  return kernels::DType::kBFloat16;
}

void* current_stream(const at::Tensor& x) {
  return c10::cuda::getCurrentCUDAStream(x.device().index()).stream();
}

void check_launch(int code, const char* what) {
  DUET_CHECK(code == 0, "{}: CUDA launch failed: {}", what, kernels::cuda_error_string(code));
}

// q/k/outputs: [B, L, dim] contiguous on one CUDA device
void rms_norm_rope_cuda(const at::Tensor& q, const at::Tensor& k, at::Tensor& q_out,
                        at::Tensor& k_out, const at::Tensor& wq, const at::Tensor& wk,
                        const RMSNorm& norm_q, const RMSNorm& norm_k, RmsNormPrecision precision,
                        int64_t head_dim, const QkRope& rope) {
  const c10::cuda::CUDAGuard guard(q.device());
  std::vector<int64_t> flat;
  for (const auto& g : rope.grids) flat.insert(flat.end(), g.begin(), g.end());
  const auto grids = at::tensor(flat, at::kLong).to(q.device());
  const auto cos = rope.cos.to(q.device(), at::kFloat).contiguous();
  const auto sin = rope.sin.to(q.device(), at::kFloat).contiguous();
  kernels::RmsNormRopeParams p;
  p.x[0] = q.data_ptr();
  p.x[1] = k.data_ptr();
  p.out[0] = q_out.data_ptr();
  p.out[1] = k_out.data_ptr();
  p.weight[0] = wq.data_ptr();
  p.weight[1] = wk.data_ptr();
  p.eps[0] = static_cast<float>(norm_q.eps);
  p.eps[1] = static_cast<float>(norm_k.eps);
  p.io_dtype = cuda_dtype_of(q.scalar_type());
  p.weight_dtype = cuda_dtype_of(wq.scalar_type());
  p.stats_in_io_dtype = precision == RmsNormPrecision::kIoDtype;
  p.batch = q.size(0);
  p.len = q.size(1);
  p.dim = q.size(2);
  p.head_dim = head_dim;
  p.cos = cos.data_ptr<float>();
  p.sin = sin.data_ptr<float>();
  p.max_positions = cos.size(0);
  p.pairs = cos.size(1);
  p.split0 = rope.split0;
  p.split1 = rope.split1;
  p.grids = grids.data_ptr<int64_t>();
  p.stream = current_stream(q);
  check_launch(kernels::launch_rms_norm_rope(p), "rms_norm_rope_qk");
}

void layer_norm_modulate_cuda(const at::Tensor& x, const at::Tensor& shift, const at::Tensor& scale,
                              at::Tensor& out, float eps) {
  const c10::cuda::CUDAGuard guard(x.device());
  kernels::LayerNormModulateParams p;
  p.x = x.data_ptr();
  p.shift = shift.data_ptr();
  p.scale = scale.data_ptr();
  p.out = out.data_ptr();
  p.x_dtype = cuda_dtype_of(x.scalar_type());
  p.e_dtype = cuda_dtype_of(shift.scalar_type());
  p.step_dtype = cuda_dtype_of(at::promote_types(x.scalar_type(), shift.scalar_type()));
  p.out_dtype = cuda_dtype_of(out.scalar_type());
  p.batch = x.size(0);
  p.len = x.size(1);
  p.dim = x.size(2);
  p.e_batch_stride = shift.stride(0);
  p.e_token_stride = token_stride(shift);
  p.eps = eps;
  p.stream = current_stream(x);
  check_launch(kernels::launch_layer_norm_modulate(p), "layer_norm_modulate");
}

void gated_residual_cuda(const at::Tensor& x, const at::Tensor& y, const at::Tensor& gate,
                         at::Tensor& out) {
  const c10::cuda::CUDAGuard guard(x.device());
  kernels::GatedResidualParams p;
  p.x = x.data_ptr();
  p.y = y.data_ptr();
  p.gate = gate.data_ptr();
  p.out = out.data_ptr();
  p.x_dtype = cuda_dtype_of(x.scalar_type());
  p.y_dtype = cuda_dtype_of(y.scalar_type());
  p.gate_dtype = cuda_dtype_of(gate.scalar_type());
  p.product_dtype = cuda_dtype_of(at::promote_types(y.scalar_type(), gate.scalar_type()));
  p.out_dtype = cuda_dtype_of(out.scalar_type());
  p.batch = x.size(0);
  p.len = x.size(1);
  p.dim = x.size(2);
  p.gate_batch_stride = gate.stride(0);
  p.gate_token_stride = token_stride(gate);
  p.stream = current_stream(x);
  check_launch(kernels::launch_gated_residual(p), "gated_residual");
}
#endif

// ---------------------------------------------------------------------------------------------
// Validation shared by the fused paths

// The checks VideoRope / SequenceRope::apply make, for a batch of B samples of L tokens.
void check_rope(const QkRope& rope, int64_t batch, int64_t len, int64_t head_dim) {
  DUET_CHECK(static_cast<int64_t>(rope.grids.size()) == batch, "rope: {} grids for batch {}",
             rope.grids.size(), batch);
  DUET_CHECK(
      rope.pairs() <= head_dim / 2 && rope.split0 <= rope.split1 && rope.split1 <= rope.pairs(),
      "rope: {} rotated pairs do not fit head dim {}", rope.pairs(), head_dim);
  const int64_t max_pos = rope.cos.size(0);
  for (const auto& [f, h, w] : rope.grids) {
    DUET_CHECK(f > 0 && h > 0 && w > 0 && f <= max_pos && h <= max_pos && w <= max_pos,
               "rope: grid ({}, {}, {}) outside the {} positions of the table", f, h, w, max_pos);
    DUET_CHECK(f * h * w <= len, "rope: grid ({}, {}, {}) has {} tokens but the sequence holds {}",
               f, h, w, f * h * w, len);
  }
}

// The fused rms_norm_rope_qk applies: same shapes, devices, dtypes the kernels read.
bool rms_fusable(const at::Tensor& q, const at::Tensor& k, const RMSNorm& nq, const RMSNorm& nk,
                 int64_t num_heads) {
  if (!fused_norm_supported(q) || q.dim() != 3 || k.sizes() != q.sizes()) return false;
  if (k.scalar_type() != q.scalar_type() || !q.is_contiguous() || !k.is_contiguous()) return false;
  if (!nq.weight.defined() || !nk.weight.defined()) return false;
  // One weight dtype per CUDA launch.
  if (nq.weight.scalar_type() != nk.weight.scalar_type()) return false;
  if (nq.weight.numel() != q.size(2) || nk.weight.numel() != q.size(2)) return false;
  if (num_heads <= 0 || q.size(2) % num_heads != 0 || (q.size(2) / num_heads) % 2 != 0)
    return false;
  return same_device_dtypes(q, {k, nq.weight, nk.weight}) && q.numel() > 0;
}

// The norm weights as the CPU kernel multiplies them: fp32 values of the weight (Wan) or of
// weight.to(x's dtype) (Ovi).
at::Tensor cpu_weight(const RMSNorm& norm, at::ScalarType io, RmsNormPrecision precision) {
  const auto w = precision == RmsNormPrecision::kIoDtype ? norm.weight.to(io) : norm.weight;
  return w.to(at::kFloat).contiguous();
}

void rms_norm_rope_cpu_dispatch(const at::Tensor& x, at::Tensor& out, const RMSNorm& norm,
                                RmsNormPrecision precision, int64_t head_dim, const QkRope& rope) {
  const auto w = cpu_weight(norm, x.scalar_type(), precision);
  const auto cos = rope.cos.to(at::kCPU, at::kFloat).contiguous();
  const auto sin = rope.sin.to(at::kCPU, at::kFloat).contiguous();
  RmsRowArgs a;
  a.dim = x.size(2);
  a.head_dim = head_dim;
  a.eps = static_cast<float>(norm.eps);
  a.weight = w.data_ptr<float>();
  a.cos = cos.data_ptr<float>();
  a.sin = sin.data_ptr<float>();
  a.pairs = cos.size(1);
  a.split0 = rope.split0;
  a.split1 = rope.split1;
  const bool io = precision == RmsNormPrecision::kIoDtype;
  visit_cpu_dtype(x.scalar_type(), [&](auto tag) {
    using T = decltype(tag);
    if (io) {
      rms_norm_rope_cpu<T, true>(x, out, a, rope.grids);
    } else {
      rms_norm_rope_cpu<T, false>(x, out, a, rope.grids);
    }
  });
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// QkRope

QkRope QkRope::of_video(const VideoRope& rope, const std::vector<VideoGrid>& grids) {
  QkRope r;
  r.cos = rope.cos;
  r.sin = rope.sin;
  r.split0 = rope.pairs[0];
  r.split1 = rope.pairs[0] + rope.pairs[1];
  r.grids = grids;
  r.video = rope;
  return r;
}

QkRope QkRope::of_sequence(const SequenceRope& rope, const std::vector<int64_t>& lens) {
  QkRope r;
  r.cos = rope.cos;
  r.sin = rope.sin;
  r.split0 = r.split1 = rope.pairs();
  for (int64_t n : lens) r.grids.push_back({n, 1, 1});
  r.sequence = rope;
  return r;
}

at::Tensor QkRope::apply(const at::Tensor& x) const {
  if (video) return video->apply(x, grids);
  DUET_CHECK(sequence.has_value(), "rope: QkRope made without a rope module");
  std::vector<int64_t> lens;
  for (const auto& g : grids) lens.push_back(g[0]);
  return sequence->apply(x, lens);
}

// ---------------------------------------------------------------------------------------------
// Unfused: the ATen chains the models ran before, kept as fallback and reference

namespace {
// x: [..., D] -> [..., D] in x's dtype
at::Tensor rms_norm_unfused(const RMSNorm& norm, const at::Tensor& x, RmsNormPrecision precision) {
  if (precision == RmsNormPrecision::kFloat32) return norm.forward(x);
  const auto normed = x * at::rsqrt(x.pow(2).mean(-1, /*keepdim=*/true) + norm.eps);
  return normed * norm.weight.to(x.scalar_type());
}
}  // namespace

QkPair rms_norm_rope_qk_unfused(const at::Tensor& q, const at::Tensor& k, const RMSNorm& norm_q,
                                const RMSNorm& norm_k, RmsNormPrecision precision,
                                int64_t num_heads, const QkRope& rope) {
  const auto one = [&](const at::Tensor& x, const RMSNorm& norm) {
    const auto y = rms_norm_unfused(norm, x, precision);
    return rope.apply(y.unflatten(-1, {num_heads, x.size(-1) / num_heads})).to(x.scalar_type());
  };
  return {one(q, norm_q), one(k, norm_k)};
}

at::Tensor layer_norm_modulate_unfused(const LayerNorm& norm, const at::Tensor& x,
                                       const at::Tensor& shift, const at::Tensor& scale,
                                       at::ScalarType out_dtype) {
  return (norm.forward(x) * (1 + scale) + shift).to(out_dtype);
}

at::Tensor gated_residual_unfused(const at::Tensor& x, const at::Tensor& y,
                                  const at::Tensor& gate) {
  return x + y * gate;
}

// ---------------------------------------------------------------------------------------------
// Dispatch

bool fused_norm_cuda_compiled() {
#ifdef DUET_HAVE_CUDA
  return true;
#else
  return false;
#endif
}

bool fused_norm_supported(const at::Tensor& x) {
  if (!x.defined()) return false;
  if (x.is_cpu()) return cpu_dtype(x.scalar_type());
#ifdef DUET_HAVE_CUDA
  if (x.is_cuda()) {
    return cuda_dtype(x.scalar_type()) && kernels::cuda_kernels_runnable(x.device().index());
  }
#endif
  return false;
}

QkPair rms_norm_rope_qk(const at::Tensor& q, const at::Tensor& k, const RMSNorm& norm_q,
                        const RMSNorm& norm_k, RmsNormPrecision precision, int64_t num_heads,
                        const QkRope& rope) {
  // q, k: [B, L, H*D] -> [B, L, H, D] each
  if (grad_recording({q, k, norm_q.weight, norm_k.weight}) ||
      !rms_fusable(q, k, norm_q, norm_k, num_heads)) {
    return rms_norm_rope_qk_unfused(q, k, norm_q, norm_k, precision, num_heads, rope);
  }
  const int64_t head_dim = q.size(2) / num_heads;
  check_rope(rope, q.size(0), q.size(1), head_dim);
  auto q_out = at::empty_like(q);
  auto k_out = at::empty_like(k);
#ifdef DUET_HAVE_CUDA
  if (q.is_cuda()) {
    rms_norm_rope_cuda(q, k, q_out, k_out, norm_q.weight.contiguous(), norm_k.weight.contiguous(),
                       norm_q, norm_k, precision, head_dim, rope);
    return {q_out.unflatten(-1, {num_heads, head_dim}), k_out.unflatten(-1, {num_heads, head_dim})};
  }
#endif
  rms_norm_rope_cpu_dispatch(q, q_out, norm_q, precision, head_dim, rope);
  rms_norm_rope_cpu_dispatch(k, k_out, norm_k, precision, head_dim, rope);
  return {q_out.unflatten(-1, {num_heads, head_dim}), k_out.unflatten(-1, {num_heads, head_dim})};
}

at::Tensor layer_norm_modulate(const LayerNorm& norm, const at::Tensor& x, const at::Tensor& shift,
                               const at::Tensor& scale, at::ScalarType out_dtype) {
  // x: [B, L, D], shift/scale: [B, 1 or L, D] -> [B, L, D] out_dtype
  const bool fusable =
      fused_norm_supported(x) && !norm.weight.defined() && x.dim() == 3 && x.is_contiguous() &&
      x.size(2) == norm.dim && x.numel() > 0 && row_operand(shift, x) &&
      shift.strides() == scale.strides() && shift.sizes() == scale.sizes() &&
      shift.scalar_type() == scale.scalar_type() && same_device_dtypes(x, {shift, scale}) &&
      (x.is_cuda() ? cuda_dtype(out_dtype) : cpu_dtype(out_dtype));
  if (!fusable || grad_recording({x, shift, scale})) {
    return layer_norm_modulate_unfused(norm, x, shift, scale, out_dtype);
  }
  auto out = at::empty(x.sizes(), x.options().dtype(out_dtype));
  const auto eps = static_cast<float>(norm.eps);
#ifdef DUET_HAVE_CUDA
  if (x.is_cuda()) {
    layer_norm_modulate_cuda(x, shift, scale, out, eps);
    return out;
  }
#endif
  visit_cpu_dtype(x.scalar_type(), [&](auto xt) {
    visit_cpu_dtype(shift.scalar_type(), [&](auto et) {
      visit_cpu_dtype(out_dtype, [&](auto ot) {
        layer_norm_modulate_cpu<decltype(xt), decltype(et), decltype(ot)>(x, shift, scale, out,
                                                                          eps);
      });
    });
  });
  return out;
}

at::Tensor gated_residual(const at::Tensor& x, const at::Tensor& y, const at::Tensor& gate) {
  // x, y: [B, L, D], gate: [B, 1 or L, D] -> [B, L, D]
  const bool fusable = fused_norm_supported(x) && x.dim() == 3 && x.is_contiguous() &&
                       y.sizes() == x.sizes() && y.is_contiguous() && x.numel() > 0 &&
                       row_operand(gate, x) && same_device_dtypes(x, {y, gate});
  if (!fusable || grad_recording({x, y, gate})) return gated_residual_unfused(x, y, gate);
  const auto out_dtype =
      at::promote_types(x.scalar_type(), at::promote_types(y.scalar_type(), gate.scalar_type()));
  auto out = at::empty(x.sizes(), x.options().dtype(out_dtype));
#ifdef DUET_HAVE_CUDA
  if (x.is_cuda()) {
    gated_residual_cuda(x, y, gate, out);
    return out;
  }
#endif
  visit_cpu_dtype(x.scalar_type(), [&](auto xt) {
    visit_cpu_dtype(y.scalar_type(), [&](auto yt) {
      visit_cpu_dtype(gate.scalar_type(), [&](auto gt) {
        gated_residual_cpu<decltype(xt), decltype(yt), decltype(gt)>(x, y, gate, out);
      });
    });
  });
  return out;
}

}  // namespace duet::nn
