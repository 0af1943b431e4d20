#pragma once
// Fused norm kernels for the DiT blocks: plain params structs and launchers, callable from code
// compiled without nvcc (no CUDA or torch types here). The torch-facing dispatch, the CPU
// versions and the reference semantics live in src/nn/fused_norm.h.
//
//   RmsNormRopeParams p;  ...fill...;  int err = launch_rms_norm_rope(p);  // 0 on success
//
// Every kernel runs one thread block per token row and accumulates in fp32. Element types are
// runtime values (DType) rather than template arguments: the kernels are memory bound, a
// branch uniform across the block costs nothing measurable next to the loads, and one
// instantiation per kernel keeps nvcc's build short for every dtype combination the models
// use (bf16 activations with fp32 modulation, fp16, fp32).
#include <cstdint>

namespace duet::kernels {

enum class DType : int32_t { kFloat32 = 0, kFloat16 = 1, kBFloat16 = 2 };

// RMSNorm over the full width of q and k (across heads), then RoPE on every head, in one pass.
// x rows [batch * len, dim] are read and out rows written in the same layout, which is
// [B, L, H, head_dim] contiguous: what the attention front door reads.
struct RmsNormRopeParams {
  int num_tensors = 2;         // 1 (q only) or 2 (q and k): blockIdx.y picks one
  const void* x[2] = {};       // [batch * len, dim], io dtype
  void* out[2] = {};           // [batch * len, dim], io dtype
  const void* weight[2] = {};  // [dim], weight dtype
  float eps[2] = {1e-6f, 1e-6f};
  DType io_dtype = DType::kFloat32;
  DType weight_dtype = DType::kFloat32;
  // false: Wan's RMSNorm (x.float(), statistics in fp32, normed cast to io, times weight).
  // true: Ovi's (every step rounded to io: squares, mean, mean + eps, rsqrt, weight.to(io)).
  bool stats_in_io_dtype = false;
  int64_t batch = 0, len = 0, dim = 0, head_dim = 0;
  // RoPE: the first `pairs` interleaved pairs of each head rotate; pair i < split0 by the
  // token's position along axis 0, i < split1 along axis 1, the rest along axis 2. Sample b's
  // grid (F, H, W) puts token l < F*H*W at (l / (H*W), (l / W) % H, l % W); later tokens (padding)
  // are not rotated. 1D rope: grid (n, 1, 1) and split0 = split1 = pairs.
  const float* cos = nullptr;  // [max_positions, pairs] fp32
  const float* sin = nullptr;
  int64_t max_positions = 0, pairs = 0, split0 = 0, split1 = 0;
  const int64_t* grids = nullptr;  // [batch, 3] on the device
  void* stream = nullptr;          // cudaStream_t; null: the legacy default stream
};

// x·(1 + scale) + shift over a LayerNorm without affine (fp32 statistics). The rounding follows
// the unfused ATen ops: normed is cast to x's dtype, 1 + scale computed in e's dtype, the product
// and the sum in step_dtype (promote(x, e)), the result cast to out_dtype.
struct LayerNormModulateParams {
  const void* x = nullptr;      // [batch * len, dim]
  const void* shift = nullptr;  // row (b, l) at b * e_batch_stride + l * e_token_stride, dense dim
  const void* scale = nullptr;  // same strides and dtype as shift
  void* out = nullptr;          // [batch * len, dim]
  DType x_dtype = DType::kFloat32, e_dtype = DType::kFloat32;
  DType step_dtype = DType::kFloat32, out_dtype = DType::kFloat32;
  int64_t batch = 0, len = 0, dim = 0;
  int64_t e_batch_stride = 0, e_token_stride = 0;  // elements; token stride 0 broadcasts
  float eps = 1e-6f;
  void* stream = nullptr;
};

// out = x + y·gate: the product rounded to product_dtype (promote(y, gate)), the sum to out_dtype.
struct GatedResidualParams {
  const void* x = nullptr;     // [batch * len, dim]
  const void* y = nullptr;     // [batch * len, dim]
  const void* gate = nullptr;  // row (b, l) at b * gate_batch_stride + l * gate_token_stride
  void* out = nullptr;         // [batch * len, dim]
  DType x_dtype = DType::kFloat32, y_dtype = DType::kFloat32, gate_dtype = DType::kFloat32;
  DType product_dtype = DType::kFloat32, out_dtype = DType::kFloat32;
  int64_t batch = 0, len = 0, dim = 0;
  int64_t gate_batch_stride = 0, gate_token_stride = 0;
  void* stream = nullptr;
};

// Launchers: validate the params (cudaErrorInvalidValue when inconsistent), launch, and return
// the launch's CUDA error code (0 on success). Asynchronous on `stream`.
int launch_rms_norm_rope(const RmsNormRopeParams& p);
int launch_layer_norm_modulate(const LayerNormModulateParams& p);
int launch_gated_residual(const GatedResidualParams& p);

}  // namespace duet::kernels
