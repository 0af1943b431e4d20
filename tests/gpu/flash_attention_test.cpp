// duet's CUDA flash-attention kernel (nn::attention backend "flash", kernels/attention) against
// the exact reference backend computed in fp64 on the CPU from the same 16-bit inputs. Runs
// only where a CUDA device of sm_80 or newer exists; skips with a message elsewhere.
#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <gtest/gtest.h>

#include <cmath>
#include <optional>
#include <string>
#include <vector>

#include "core/device.h"
#include "core/error.h"
#include "nn/attention.h"

namespace duet {
namespace {

using nn::AttentionBackend;
using nn::AttentionOptions;

#define SKIP_WITHOUT_FLASH_DEVICE()                                                          \
  do {                                                                                       \
    if (!cuda_available()) GTEST_SKIP() << "no CUDA device on this machine";                 \
    const auto probe = at::zeros({1, 1, 1, 64}, at::device(at::kCUDA).dtype(at::kBFloat16)); \
    if (!nn::attention_supported(AttentionBackend::kFlash, probe, probe)) {                  \
      GTEST_SKIP() << "built without CUDA, or the device is older than sm_80";               \
    }                                                                                        \
  } while (0)

struct Case {
  int64_t batch, len_q, len_k, heads, dim;
  at::ScalarType dtype;
  std::vector<int64_t> k_lens;  // empty: no mask
};

std::string name_of(const Case& c) {
  return "B" + std::to_string(c.batch) + " Lq" + std::to_string(c.len_q) + " Lk" +
         std::to_string(c.len_k) + " H" + std::to_string(c.heads) + " D" + std::to_string(c.dim) +
         " " + c10::toString(c.dtype) + (c.k_lens.empty() ? "" : " masked");
}

double rel_error(const at::Tensor& out, const at::Tensor& ref) {
  return (out.to(at::kDouble) - ref).norm().item<double>() / ref.norm().item<double>();
}

// Fresh normal inputs (scaled so that softmax is neither flat nor one-hot), in the 16-bit dtype.
void check_case(const Case& c, uint64_t seed) {
  SCOPED_TRACE(name_of(c));
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  const auto q = at::randn({c.batch, c.len_q, c.heads, c.dim}, gen).mul(1.5).to(c.dtype);
  const auto k = at::randn({c.batch, c.len_k, c.heads, c.dim}, gen).to(c.dtype);
  const auto v = at::randn({c.batch, c.len_k, c.heads, c.dim}, gen).to(c.dtype);
  std::optional<at::Tensor> lens_cpu, lens_gpu;
  if (!c.k_lens.empty()) {
    lens_cpu = at::tensor(c.k_lens, at::kLong);
    lens_gpu = lens_cpu->to(at::kCUDA);
  }
  AttentionOptions ref_opts{.backend = AttentionBackend::kReference, .scale = std::nullopt};
  const auto ref = nn::attention(q.to(at::kDouble), k.to(at::kDouble), v.to(at::kDouble),
                                 lens_cpu, ref_opts);
  AttentionOptions flash_opts{.backend = AttentionBackend::kFlash, .scale = std::nullopt};
  const auto out = nn::attention(q.cuda(), k.cuda(), v.cuda(), lens_gpu, flash_opts);
  ASSERT_EQ(out.sizes(), q.sizes());
  ASSERT_EQ(out.scalar_type(), c.dtype);
  const auto host = out.cpu();
  ASSERT_TRUE(at::isfinite(host).all().item<bool>()) << "non-finite output";
  // bf16 operands (P rounded to 16 bits before P·V): 1e-2; fp16 has 3 more mantissa bits.
  const double bound = c.dtype == at::kBFloat16 ? 1e-2 : 2e-3;
  EXPECT_LE(rel_error(host, ref), bound);
}

TEST(FlashAttentionCuda, MatchesReferenceOverShapes) {
  SKIP_WITHOUT_FLASH_DEVICE();
  const std::vector<Case> cases = {
      {1, 1, 1, 1, 64, at::kBFloat16, {}},          // one query, one key
      {1, 17, 17, 2, 128, at::kBFloat16, {}},       // partial tiles on both sides
      {2, 1013, 1013, 3, 128, at::kBFloat16, {}},   // many tiles, odd length
      {2, 1013, 1013, 3, 64, at::kHalf, {}},
      {1, 300, 77, 4, 128, at::kBFloat16, {}},      // text cross-attention: Lk < Lq
      {1, 64, 1500, 2, 64, at::kHalf, {}},          // Lq < Lk, one query tile
      {3, 200, 512, 2, 128, at::kBFloat16, {512, 37, 1}},  // padded text: masks incl. 1 key
      {2, 129, 130, 2, 64, at::kHalf, {65, 130}},   // mask just past a tile edge
  };
  uint64_t seed = 100;
  for (const auto& c : cases) check_case(c, seed++);
}

TEST(FlashAttentionCuda, StridedInputsAndEveryOutputWritten) {
  SKIP_WITHOUT_FLASH_DEVICE();
  // q, k, v as slices of one wider tensor (head stride 256, not 128): the kernel reads them in
  // place. The output block is first filled with NaN and freed, so the caching allocator hands
  // the poisoned memory back to the backend: any element the kernel skips stays NaN.
  auto gen = at::make_generator<at::CPUGeneratorImpl>(7);
  const auto wide = at::randn({2, 70, 2, 384}, gen).to(at::kBFloat16);
  const auto q = wide.narrow(3, 0, 128), k = wide.narrow(3, 128, 128), v = wide.narrow(3, 256, 128);
  const auto wide_gpu = wide.cuda();
  const auto qg = wide_gpu.narrow(3, 0, 128), kg = wide_gpu.narrow(3, 128, 128),
             vg = wide_gpu.narrow(3, 256, 128);
  { const auto poison = at::full(q.sizes(), NAN, at::device(at::kCUDA).dtype(at::kBFloat16)); }
  const AttentionOptions flash{.backend = AttentionBackend::kFlash, .scale = 0.05};
  const auto out = nn::attention(qg, kg, vg, std::nullopt, flash).cpu();
  ASSERT_TRUE(at::isfinite(out).all().item<bool>()) << "unwritten (NaN) output elements";
  const AttentionOptions ref_opts{.backend = AttentionBackend::kReference, .scale = 0.05};
  const auto ref =
      nn::attention(q.to(at::kDouble), k.to(at::kDouble), v.to(at::kDouble), std::nullopt, ref_opts);
  EXPECT_LE(rel_error(out, ref), 1e-2);
}

TEST(FlashAttentionCuda, RejectsWhatItDoesNotSupport) {
  SKIP_WITHOUT_FLASH_DEVICE();
  const auto opts = at::device(at::kCUDA);
  const auto f32 = at::randn({1, 8, 1, 64}, opts.dtype(at::kFloat));
  EXPECT_FALSE(nn::attention_supported(AttentionBackend::kFlash, f32, f32));
  const auto d96 = at::randn({1, 8, 1, 96}, opts.dtype(at::kBFloat16));
  EXPECT_FALSE(nn::attention_supported(AttentionBackend::kFlash, d96, d96));
  const AttentionOptions flash{.backend = AttentionBackend::kFlash, .scale = std::nullopt};
  EXPECT_THROW(nn::attention(d96, d96, d96, std::nullopt, flash), Error);
}

}  // namespace
}  // namespace duet
