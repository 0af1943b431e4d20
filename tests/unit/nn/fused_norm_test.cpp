#include "nn/fused_norm.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <ATen/core/grad_mode.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/device.h"
#include "nn/layers.h"
#include "nn/rope.h"
#include "support/test_support.h"

namespace duet::nn {
namespace {

using test::relative_error;

// The bounds: fp32 matches the unfused chain to rounding, bf16 within a bf16 step.
double tolerance(at::ScalarType dtype) { return dtype == at::kFloat ? 1e-6 : 1e-2; }

std::string dtype_name(at::ScalarType t) { return std::string(c10::toString(t)); }

at::Tensor randn(at::IntArrayRef sizes, uint64_t seed, at::ScalarType dtype, double scale = 1.0) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  return (at::randn(sizes, gen) * scale).to(dtype);
}

RMSNorm random_rms_norm(int64_t dim, uint64_t seed, at::ScalarType dtype) {
  RMSNorm n;
  n.weight = (1 + randn({dim}, seed, at::kFloat, 0.2)).to(dtype);
  n.eps = 1e-6;
  return n;
}

// One rope case: per-sample grids over L tokens; grids smaller than L leave padding tokens.
struct RopeCase {
  std::string name;
  int64_t len = 0;
  std::vector<VideoGrid> grids;  // video grids, or (n, 1, 1) token counts for the 1D rope
  bool video = true;
};

std::vector<RopeCase> rope_cases() {
  return {
      {"video_L1", 1, {{1, 1, 1}}, true},
      {"video_L17_padded", 17, {{1, 3, 5}, {1, 1, 17}}, true},
      {"video_3x5x7", 105, {{3, 5, 7}}, true},
      {"video_L1013", 1013, {{7, 11, 13}, {3, 5, 7}}, true},
      {"audio_L1", 1, {{1, 1, 1}}, false},
      {"audio_L17", 17, {{17, 1, 1}, {12, 1, 1}}, false},
      {"audio_L1013", 1013, {{1013, 1, 1}}, false},
  };
}

QkRope make_rope(const RopeCase& c, int64_t head_dim, const at::Device& device) {
  if (c.video) return QkRope::of_video(VideoRope::make(head_dim).to(device), c.grids);
  std::vector<int64_t> lens;
  for (const auto& g : c.grids) lens.push_back(g[0]);
  // Ovi's audio tower: the first d - 4*(d//6) channels' pairs, frequencies scaled.
  const auto rope = SequenceRope::make(head_dim, video_rope_pairs(head_dim)[0], 0.19676, 1024);
  return QkRope::of_sequence(rope.to(device), lens);
}

// Fused against unfused for every rope case, both precisions, on `device`.
void check_rms_norm_rope(at::ScalarType dtype, const at::Device& device) {
  const int64_t heads = 3, head_dim = 12;  // odd head count; 6 pairs split 2/2/2 (1D: 2)
  const int64_t dim = heads * head_dim;
  uint64_t seed = 1;
  for (const auto& c : rope_cases()) {
    for (auto precision : {RmsNormPrecision::kFloat32, RmsNormPrecision::kIoDtype}) {
      const int64_t batch = static_cast<int64_t>(c.grids.size());
      const auto q = randn({batch, c.len, dim}, ++seed, dtype, 3.0).to(device);
      const auto k = randn({batch, c.len, dim}, ++seed, dtype, 0.5).to(device);
      auto nq = random_rms_norm(dim, ++seed, dtype), nk = random_rms_norm(dim, ++seed, dtype);
      nq.weight = nq.weight.to(device);
      nk.weight = nk.weight.to(device);
      const auto rope = make_rope(c, head_dim, device);
      const auto out = rms_norm_rope_qk(q, k, nq, nk, precision, heads, rope);
      const auto ref = rms_norm_rope_qk_unfused(q, k, nq, nk, precision, heads, rope);
      const std::string what = c.name + " " + dtype_name(dtype) +
                               (precision == RmsNormPrecision::kIoDtype ? " io" : " fp32");
      ASSERT_EQ(out.q.sizes(), (at::IntArrayRef{batch, c.len, heads, head_dim})) << what;
      EXPECT_EQ(out.q.scalar_type(), dtype) << what;
      EXPECT_TRUE(out.q.is_contiguous()) << what;
      EXPECT_LE(relative_error(out.q, ref.q), tolerance(dtype)) << what;
      EXPECT_LE(relative_error(out.k, ref.k), tolerance(dtype)) << what;
    }
  }
}

// Modulation chunks as the blocks pass them: selects of e [B, 1 or L, 6, D] (strided).
void check_layer_norm_modulate(at::ScalarType x_dtype, at::ScalarType e_dtype,
                               at::ScalarType out_dtype, const at::Device& device) {
  uint64_t seed = 100;
  for (int64_t len : {1, 17, 1013}) {
    for (int64_t e_len : {int64_t{1}, len}) {
      const int64_t batch = 2, dim = 257;
      LayerNorm norm;
      norm.init_plain(dim, 1e-6);
      // A large mean per row: the variance must be centred, not E[x^2] - E[x]^2.
      const auto x = (randn({batch, len, dim}, ++seed, at::kFloat, 2.0) + 5).to(x_dtype).to(device);
      const auto e = randn({batch, e_len, 6, dim}, ++seed, e_dtype, 0.5).to(device);
      const auto out = layer_norm_modulate(norm, x, e.select(2, 0), e.select(2, 1), out_dtype);
      const auto ref =
          layer_norm_modulate_unfused(norm, x, e.select(2, 0), e.select(2, 1), out_dtype);
      const std::string what = "L=" + std::to_string(len) + " e_len=" + std::to_string(e_len) +
                               " x " + dtype_name(x_dtype) + " e " + dtype_name(e_dtype) + " out " +
                               dtype_name(out_dtype);
      ASSERT_EQ(out.sizes(), ref.sizes()) << what;
      EXPECT_EQ(out.scalar_type(), out_dtype) << what;
      const bool all_fp32 =
          x_dtype == at::kFloat && e_dtype == at::kFloat && out_dtype == at::kFloat;
      EXPECT_LE(relative_error(out, ref), tolerance(all_fp32 ? at::kFloat : at::kBFloat16)) << what;
    }
  }
}

void check_gated_residual(at::ScalarType x_dtype, at::ScalarType y_dtype, at::ScalarType g_dtype,
                          const at::Device& device) {
  uint64_t seed = 200;
  for (int64_t len : {1, 17, 1013}) {
    for (int64_t g_len : {int64_t{1}, len}) {
      const int64_t batch = 2, dim = 257;
      const auto x = randn({batch, len, dim}, ++seed, x_dtype).to(device);
      const auto y = randn({batch, len, dim}, ++seed, y_dtype).to(device);
      const auto e = randn({batch, g_len, 6, dim}, ++seed, g_dtype, 0.5).to(device);
      const auto out = gated_residual(x, y, e.select(2, 2));
      const auto ref = gated_residual_unfused(x, y, e.select(2, 2));
      const std::string what = "L=" + std::to_string(len) + " g_len=" + std::to_string(g_len) +
                               " x " + dtype_name(x_dtype) + " y " + dtype_name(y_dtype) +
                               " gate " + dtype_name(g_dtype);
      EXPECT_EQ(out.scalar_type(), ref.scalar_type()) << what;
      EXPECT_LE(relative_error(out, ref), tolerance(ref.scalar_type())) << what;
    }
  }
}

const at::Device kCpu(at::kCPU);

TEST(FusedNorm, RmsNormRopeQkFp32) { check_rms_norm_rope(at::kFloat, kCpu); }
TEST(FusedNorm, RmsNormRopeQkBf16) { check_rms_norm_rope(at::kBFloat16, kCpu); }

TEST(FusedNorm, RmsNormRopeQkWanSizes) {
  // Wan 1.3B widths: 12 heads of 128 (22/21/21 pairs), fp32 weights on bf16 activations.
  const int64_t heads = 12, head_dim = 128, dim = heads * head_dim;
  const auto q = randn({1, 113, dim}, 7, at::kBFloat16, 2.0);
  const auto k = randn({1, 113, dim}, 8, at::kBFloat16);
  const auto nq = random_rms_norm(dim, 9, at::kFloat), nk = random_rms_norm(dim, 10, at::kFloat);
  const auto rope = QkRope::of_video(VideoRope::make(head_dim), {{3, 5, 7}});
  const auto out = rms_norm_rope_qk(q, k, nq, nk, RmsNormPrecision::kFloat32, heads, rope);
  const auto ref = rms_norm_rope_qk_unfused(q, k, nq, nk, RmsNormPrecision::kFloat32, heads, rope);
  EXPECT_LE(relative_error(out.q, ref.q), 1e-2);
  EXPECT_LE(relative_error(out.k, ref.k), 1e-2);
}

TEST(FusedNorm, RmsNormRopeQkChecksGrids) {
  const auto q = randn({1, 10, 24}, 1, at::kFloat);
  const auto n = random_rms_norm(24, 2, at::kFloat);
  const auto rope = QkRope::of_video(VideoRope::make(12), {{3, 5, 7}});  // 105 tokens > 10
  EXPECT_ANY_THROW(rms_norm_rope_qk(q, q, n, n, RmsNormPrecision::kFloat32, 2, rope));
}

TEST(FusedNorm, LayerNormModulate) {
  const auto f = at::kFloat, b = at::kBFloat16;
  check_layer_norm_modulate(f, f, f, kCpu);  // Wan's residual stream, fp32 weights
  check_layer_norm_modulate(f, f, b, kCpu);  // Wan with bf16 weights: cast for the linear
  check_layer_norm_modulate(b, b, b, kCpu);  // Ovi: every step in bf16
  check_layer_norm_modulate(b, f, b, kCpu);
}

TEST(FusedNorm, GatedResidual) {
  const auto f = at::kFloat, b = at::kBFloat16;
  check_gated_residual(f, f, f, kCpu);
  check_gated_residual(f, b, f, kCpu);  // Wan: bf16 attention output, fp32 gate and stream
  check_gated_residual(b, b, b, kCpu);  // Ovi
  check_gated_residual(b, f, b, kCpu);
}

TEST(FusedNorm, FallsBackWhileAutogradRecords) {
  // No backward in the kernels: inputs that require grad must get a graph through ATen.
  const auto x = randn({1, 17, 64}, 1, at::kFloat).requires_grad_();
  const auto e = randn({1, 1, 6, 64}, 2, at::kFloat);
  LayerNorm norm;
  norm.init_plain(64, 1e-6);
  const auto y = layer_norm_modulate(norm, x, e.select(2, 0), e.select(2, 1), at::kFloat);
  EXPECT_TRUE(y.requires_grad());
  EXPECT_TRUE(gated_residual(x, y, e.select(2, 2)).requires_grad());
  const auto n = random_rms_norm(64, 3, at::kFloat);
  const auto qk = rms_norm_rope_qk(x, x, n, n, RmsNormPrecision::kFloat32, 2,
                                   QkRope::of_video(VideoRope::make(32), {{1, 1, 17}}));
  EXPECT_TRUE(qk.q.requires_grad());
  qk.q.sum().backward();
  EXPECT_TRUE(x.grad().defined());
  {
    at::NoGradGuard no_grad;  // inference under no_grad takes the kernels and makes no graph
    EXPECT_FALSE(
        layer_norm_modulate(norm, x, e.select(2, 0), e.select(2, 1), at::kFloat).requires_grad());
  }
}

TEST(FusedNorm, SupportedOnCpuForFp32AndBf16) {
  EXPECT_TRUE(fused_norm_supported(at::zeros({1}, at::kFloat)));
  EXPECT_TRUE(fused_norm_supported(at::zeros({1}, at::kBFloat16)));
  EXPECT_FALSE(fused_norm_supported(at::zeros({1}, at::kDouble)));  // unfused fallback
}

// CUDA: the kernels of kernels/fused against the unfused ops on the same GPU.
bool cuda_ready() { return fused_norm_cuda_compiled() && cuda_available(); }
#define SKIP_WITHOUT_CUDA()                                                      \
  if (!cuda_ready())                                                             \
  GTEST_SKIP() << (fused_norm_cuda_compiled() ? "no CUDA device on this machine" \
                                              : "built without CUDA (no nvcc at configure)")

TEST(FusedNormCuda, RmsNormRopeQk) {
  SKIP_WITHOUT_CUDA();
  const at::Device gpu(at::kCUDA, 0);
  ASSERT_TRUE(fused_norm_supported(at::zeros({1}, at::TensorOptions().device(gpu))));
  for (auto dtype : {at::kFloat, at::kBFloat16, at::kHalf}) check_rms_norm_rope(dtype, gpu);
}

TEST(FusedNormCuda, LayerNormModulate) {
  SKIP_WITHOUT_CUDA();
  const at::Device gpu(at::kCUDA, 0);
  const auto f = at::kFloat, b = at::kBFloat16;
  check_layer_norm_modulate(f, f, f, gpu);
  check_layer_norm_modulate(f, f, b, gpu);
  check_layer_norm_modulate(b, b, b, gpu);
}

TEST(FusedNormCuda, GatedResidual) {
  SKIP_WITHOUT_CUDA();
  const at::Device gpu(at::kCUDA, 0);
  const auto f = at::kFloat, b = at::kBFloat16;
  check_gated_residual(f, f, f, gpu);
  check_gated_residual(f, b, f, gpu);
  check_gated_residual(b, b, b, gpu);
}

}  // namespace
}  // namespace duet::nn
