#include "nn/attention_tiled.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "core/error.h"
#include "nn/attention.h"
#include "support/test_support.h"

namespace duet::nn {
namespace {

using test::relative_error;

struct Inputs {
  at::Tensor q, k, v;
};

// Fresh seeded normals, scaled up so the softmax is far from uniform and masking errors show.
Inputs random_inputs(int64_t b, int64_t lq, int64_t lk, int64_t h, int64_t d, uint64_t seed,
                     at::ScalarType dtype) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  return {(at::randn({b, lq, h, d}, gen) * 2).to(dtype),
          (at::randn({b, lk, h, d}, gen) * 2).to(dtype), at::randn({b, lk, h, d}, gen).to(dtype)};
}

// The definition in float64 for the query rows `rows` ([R] long) of every batch and head:
// -> [B, R, H, D]. Only those rows' scores are formed, so Lq = Lk = 15004 stays cheap.
at::Tensor reference_rows(const Inputs& in, const std::vector<int64_t>& k_lens,
                          const at::Tensor& rows) {
  const auto q = in.q.index_select(1, rows).to(at::kDouble);
  const auto k = in.k.to(at::kDouble), v = in.v.to(at::kDouble);
  auto out = at::empty_like(q);
  const double scale = 1.0 / std::sqrt(static_cast<double>(q.size(3)));
  for (int64_t b = 0; b < q.size(0); ++b) {
    const int64_t n = k_lens.empty() ? k.size(1) : k_lens[static_cast<size_t>(b)];
    for (int64_t h = 0; h < q.size(2); ++h) {
      const auto kb = k.select(0, b).select(1, h).narrow(0, 0, n);             // [n, D]
      const auto vb = v.select(0, b).select(1, h).narrow(0, 0, n);             // [n, D]
      const auto s = at::matmul(q.select(0, b).select(1, h), kb.t()) * scale;  // [R, n]
      out.select(0, b).select(1, h).copy_(at::matmul(at::softmax(s, -1), vb));
    }
  }
  return out;
}

std::optional<at::Tensor> lens_tensor(const std::vector<int64_t>& k_lens) {
  if (k_lens.empty()) return std::nullopt;
  return at::tensor(k_lens, at::kLong);
}

// How the inputs reach the kernel: fp32, bf16 on the bf16 micro-kernel (AMX / AVX512-bf16 where
// the CPU has it), and bf16 widened to the fp32 path, which is what other CPUs run.
enum class Precision { kFp32, kBf16, kBf16ViaFp32 };

std::string precision_name(Precision p) {
  switch (p) {
    case Precision::kFp32:
      return "fp32";
    case Precision::kBf16:
      return "bf16";
    case Precision::kBf16ViaFp32:
      return "bf16_via_fp32";
  }
  return "?";
}

struct Case {
  const char* name;
  int64_t b, lq, lk, h, d;
  std::vector<int64_t> k_lens;  // empty: no mask
  int64_t checked_rows = 0;     // 0: every query row; else this many random rows
};

class TiledAttention : public ::testing::TestWithParam<std::tuple<Case, Precision>> {};

// The acceptance criterion: error against float64 at most twice libtorch SDPA's on the
// same inputs at the same precision, and for fp32 within 1e-5.
TEST_P(TiledAttention, ErrorAtMostTwiceSdpa) {
  const auto& [c, precision] = GetParam();
  const auto dtype = precision == Precision::kFp32 ? at::kFloat : at::kBFloat16;
  const auto in = random_inputs(c.b, c.lq, c.lk, c.h, c.d, 7000 + c.lq * 31 + c.lk, dtype);
  const auto lens = lens_tensor(c.k_lens);
  at::Tensor rows = at::arange(c.lq, at::kLong);
  if (c.checked_rows > 0) {
    auto gen = at::make_generator<at::CPUGeneratorImpl>(c.lq);
    rows = std::get<0>(at::sort(at::randperm(c.lq, gen, at::kLong).narrow(0, 0, c.checked_rows)));
  }
  const auto want = reference_rows(in, c.k_lens, rows);

  TiledAttentionConfig config = tiled_attention_config(c.b * c.h, c.lq, at::get_num_threads());
  config.bf16_matmul = precision != Precision::kBf16ViaFp32;
  const double scale = 1.0 / std::sqrt(static_cast<double>(c.d));
  const auto got = tiled_attention(in.q, in.k, in.v, lens, scale, config);
  ASSERT_EQ(got.sizes(), in.q.sizes());
  ASSERT_EQ(got.scalar_type(), dtype);

  AttentionOptions sdpa;
  sdpa.backend = AttentionBackend::kSdpa;
  const auto baseline = attention(in.q, in.k, in.v, lens, sdpa);
  const double err = relative_error(got.index_select(1, rows), want);
  const double sdpa_err = relative_error(baseline.index_select(1, rows), want);
  // 1e-12 only matters where both are exact (one key: the output is v itself).
  EXPECT_LE(err, 2 * sdpa_err + 1e-12) << "sdpa error " << sdpa_err;
  if (dtype == at::kFloat) EXPECT_LE(err, 1e-5);
  EXPECT_TRUE(at::isfinite(got).all().item<bool>());
}

const Case kCases[] = {
    {"L1", 1, 1, 1, 2, 64, {}},
    {"L1Masked", 2, 1, 1, 1, 128, {1, 1}},
    {"L17", 2, 17, 17, 3, 128, {}},
    {"L17UnequalKeyLengths", 3, 17, 17, 2, 64, {17, 5, 1}},
    {"L1013", 1, 1013, 1013, 2, 64, {}},
    {"L1013UnequalKeyLengths", 2, 1013, 1013, 2, 128, {1013, 517}},
    {"QueryShorterThanKeys", 2, 17, 1013, 2, 128, {1013, 600}},
    {"QueryLongerThanKeys", 2, 1013, 17, 2, 64, {17, 9}},
    {"TextCrossAttention", 1, 1013, 512, 2, 128, {300}},
    {"OddHeadDim", 2, 17, 33, 2, 40, {33, 20}},
    {"L15004", 2, 15004, 15004, 1, 64, {15004, 9001}, 96},
};

INSTANTIATE_TEST_SUITE_P(OddSizes, TiledAttention,
                         ::testing::Combine(::testing::ValuesIn(kCases),
                                            ::testing::Values(Precision::kFp32, Precision::kBf16,
                                                              Precision::kBf16ViaFp32)),
                         [](const auto& info) {
                           return std::string(std::get<0>(info.param).name) + "_" +
                                  precision_name(std::get<1>(info.param));
                         });

// Small tiles put many tile edges (query and key) inside one problem, at every boundary case:
// a key tile cut by k_lens, a last query tile of one row.
TEST(TiledAttention, SmallTilesMatchReference) {
  const std::vector<int64_t> k_lens{200, 64, 65};
  for (auto dtype : {at::kFloat, at::kBFloat16}) {
    const auto in = random_inputs(3, 129, 200, 2, 64, 11, dtype);
    TiledAttentionConfig config;
    config.q_tile = 16;
    config.k_tile = 64;
    const auto got = tiled_attention(in.q, in.k, in.v, lens_tensor(k_lens), 0.125, config);
    const auto want = reference_rows(in, k_lens, at::arange(129, at::kLong));
    EXPECT_LE(relative_error(got, want), dtype == at::kFloat ? 2e-6 : 4e-3) << c10::toString(dtype);
  }
}

// Keys past k_lens[b] must not matter at all, however large they are.
TEST(TiledAttention, MaskedKeysDoNotMatter) {
  for (auto dtype : {at::kFloat, at::kBFloat16}) {
    auto in = random_inputs(2, 40, 300, 2, 64, 12, dtype);
    const auto lens = at::tensor(std::vector<int64_t>{300, 130}, at::kLong);
    AttentionOptions tiled;
    tiled.backend = AttentionBackend::kTiled;
    const auto before = attention(in.q, in.k, in.v, lens, tiled);
    in.k.select(0, 1).narrow(0, 130, 170).fill_(100.0);
    in.v.select(0, 1).narrow(0, 130, 170).fill_(-1000.0);
    EXPECT_TRUE(at::equal(attention(in.q, in.k, in.v, lens, tiled), before))
        << c10::toString(dtype);
    AttentionOptions reference;
    reference.backend = AttentionBackend::kReference;
    EXPECT_LE(relative_error(before, attention(in.q, in.k, in.v, lens, reference)),
              dtype == at::kFloat ? 2e-6 : 4e-3);
  }
}

// Same inputs, same output bits, whatever the number of threads: each query row is computed
// by one thread in a fixed order.
TEST(TiledAttention, DeterministicAcrossThreadCounts) {
  const auto in = random_inputs(2, 300, 257, 3, 64, 13, at::kBFloat16);
  const auto lens = at::tensor(std::vector<int64_t>{257, 100}, at::kLong);
  TiledAttentionConfig config;
  config.q_tile = 64;
  const int threads = at::get_num_threads();
  const auto a = tiled_attention(in.q, in.k, in.v, lens, 0.125, config);
  at::set_num_threads(1);
  const auto b = tiled_attention(in.q, in.k, in.v, lens, 0.125, config);
  at::set_num_threads(threads);
  EXPECT_TRUE(at::equal(a, b));
}

TEST(TiledAttention, CustomScale) {
  const auto in = random_inputs(1, 5, 7, 1, 16, 4, at::kFloat);
  AttentionOptions opts;
  opts.backend = AttentionBackend::kTiled;
  opts.scale = 0.5;
  AttentionOptions reference = opts;
  reference.backend = AttentionBackend::kReference;
  EXPECT_LE(relative_error(attention(in.q, in.k, in.v, std::nullopt, opts),
                           attention(in.q, in.k, in.v, std::nullopt, reference)),
            1e-6);
}

// kAuto's policy (attention.cpp, from BENCHMARKS.md): tiled for fp32 on the CPU, and for bf16
// once k_lens drops more than 15% of the keys; SDPA for bf16 otherwise.
TEST(TiledAttention, AutoFollowsTheMeasuredPolicy) {
  const auto pick = [](const Inputs& in, const std::vector<int64_t>& k_lens,
                       AttentionBackend backend) {
    AttentionOptions opts;
    opts.backend = backend;
    return attention(in.q, in.k, in.v, lens_tensor(k_lens), opts);
  };
  const auto same = [&](const Inputs& in, const std::vector<int64_t>& k_lens,
                        AttentionBackend backend) {
    return at::equal(pick(in, k_lens, AttentionBackend::kAuto), pick(in, k_lens, backend));
  };
  const auto fp32 = random_inputs(2, 40, 300, 2, 64, 14, at::kFloat);
  EXPECT_TRUE(same(fp32, {}, AttentionBackend::kTiled));
  const auto bf16 = random_inputs(2, 40, 300, 2, 64, 15, at::kBFloat16);
  EXPECT_TRUE(same(bf16, {300, 100}, AttentionBackend::kTiled));  // keeps 67% of the keys
  EXPECT_TRUE(same(bf16, {300, 290}, AttentionBackend::kSdpa));   // keeps 98%
  EXPECT_TRUE(same(bf16, {}, AttentionBackend::kSdpa));
}

TEST(TiledAttention, NameRoundTrips) {
  EXPECT_EQ(attention_backend_name(AttentionBackend::kTiled), "tiled");
  EXPECT_EQ(parse_attention_backend("tiled"), AttentionBackend::kTiled);
  for (auto b : {AttentionBackend::kAuto, AttentionBackend::kReference, AttentionBackend::kSdpa,
                 AttentionBackend::kTiled, AttentionBackend::kFlash}) {
    EXPECT_EQ(parse_attention_backend(attention_backend_name(b)), b);
  }
}

std::string error_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(TiledAttention, CapabilityQuery) {
  const auto in = random_inputs(1, 3, 3, 1, 8, 6, at::kFloat);
  EXPECT_TRUE(attention_supported(AttentionBackend::kTiled, in.q, in.k));
  EXPECT_TRUE(attention_supported(AttentionBackend::kTiled, in.q.to(at::kBFloat16), in.k));
  EXPECT_FALSE(attention_supported(AttentionBackend::kTiled, in.q.to(at::kDouble), in.k));
  EXPECT_FALSE(attention_supported(AttentionBackend::kTiled, in.q.flatten(2), in.k));
  const auto meta = at::empty({1, 3, 1, 8}, at::TensorOptions().device(at::kMeta));
  EXPECT_FALSE(attention_supported(AttentionBackend::kTiled, meta, meta));
}

// The CUDA flash kernel (tests/gpu/flash_attention_test.cpp checks its numbers) is never
// offered for CPU tensors, and forcing it there is a one-line error naming backend and device.
TEST(TiledAttention, FlashIsCudaOnly) {
  const auto in = random_inputs(1, 3, 3, 1, 64, 6, at::kFloat);
  const auto q = in.q.to(at::kBFloat16), k = in.k.to(at::kBFloat16);
  EXPECT_FALSE(attention_supported(AttentionBackend::kFlash, q, k));
  AttentionOptions flash;
  flash.backend = AttentionBackend::kFlash;
  const auto message = error_of([&] { attention(q, k, k, std::nullopt, flash); });
  EXPECT_NE(message.find("attention backend 'flash' does not support BFloat16 inputs on cpu"),
            std::string::npos)
      << message;
  EXPECT_EQ(message.find('\n'), std::string::npos);
}

// A tensor off the CPU (a meta tensor stands in for CUDA here) is a one-line duet::Error that
// names the backend and the device, not a crash inside the kernel.
TEST(TiledAttention, OneLineErrorOffTheCpu) {
  const auto opts = at::TensorOptions().dtype(at::kBFloat16).device(at::kMeta);
  const auto q = at::empty({1, 4, 2, 64}, opts), k = at::empty({1, 6, 2, 64}, opts);
  AttentionOptions tiled;
  tiled.backend = AttentionBackend::kTiled;
  const auto message = error_of([&] { attention(q, k, k, std::nullopt, tiled); });
  EXPECT_NE(message.find("attention backend 'tiled' does not support BFloat16 inputs on meta"),
            std::string::npos)
      << message;
  EXPECT_EQ(message.find('\n'), std::string::npos);
  const auto bad_tiles = error_of([&] {
    const auto in = random_inputs(1, 3, 3, 1, 8, 6, at::kFloat);
    TiledAttentionConfig config;
    config.k_tile = 100;
    tiled_attention(in.q, in.k, in.v, std::nullopt, 1.0, config);
  });
  EXPECT_NE(bad_tiles.find("k_tile a multiple of 64"), std::string::npos) << bad_tiles;
}

TEST(TiledAttention, TileConfigKeepsEveryThreadBusy) {
  static_assert(tiled_attention_config(48, 15000, 16).q_tile == 256);
  static_assert(tiled_attention_config(1, 17, 2).q_tile == 32);
  static_assert(tiled_attention_config(2, 1024, 4).q_tile == 128);
  EXPECT_EQ(tiled_attention_config(1, 1, 64).k_tile % 64, 0);
}

}  // namespace
}  // namespace duet::nn
