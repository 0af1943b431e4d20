#include "nn/attention.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cmath>

#include "core/error.h"
#include "support/test_support.h"

namespace duet::nn {
namespace {

using test::relative_error;

struct Inputs {
  at::Tensor q, k, v;
};

Inputs random_inputs(int64_t b, int64_t lq, int64_t lk, int64_t h, int64_t d, uint64_t seed,
                     at::ScalarType dtype = at::kFloat) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  // Scaled up so the softmax is far from uniform and masking errors show.
  return {(at::randn({b, lq, h, d}, gen) * 2).to(dtype),
          (at::randn({b, lk, h, d}, gen) * 2).to(dtype), at::randn({b, lk, h, d}, gen).to(dtype)};
}

// Straight from the definition in float64, one (batch, head, query) at a time.
at::Tensor naive_attention(const Inputs& in, const std::vector<int64_t>& k_lens) {
  const auto q = in.q.to(at::kDouble), k = in.k.to(at::kDouble), v = in.v.to(at::kDouble);
  auto out = at::zeros_like(q);
  const double scale = 1.0 / std::sqrt(static_cast<double>(q.size(3)));
  for (int64_t b = 0; b < q.size(0); ++b) {
    const int64_t n = k_lens.empty() ? k.size(1) : k_lens[static_cast<size_t>(b)];
    for (int64_t h = 0; h < q.size(2); ++h) {
      const auto kb = k.select(0, b).select(1, h).narrow(0, 0, n);  // [n, D]
      const auto vb = v.select(0, b).select(1, h).narrow(0, 0, n);
      const auto s = at::matmul(q.select(0, b).select(1, h), kb.t()) * scale;  // [Lq, n]
      out.select(0, b).select(1, h).copy_(at::matmul(at::softmax(s, -1), vb));
    }
  }
  return out;
}

struct Case {
  const char* name;
  int64_t b, lq, lk, h, d;
  std::vector<int64_t> k_lens;  // empty: no mask
};

class AttentionBackends : public ::testing::TestWithParam<Case> {};

TEST_P(AttentionBackends, MatchFloat64Definition) {
  const auto& c = GetParam();
  const auto in = random_inputs(c.b, c.lq, c.lk, c.h, c.d, 1000 + c.lq * 31 + c.lk);
  std::optional<at::Tensor> lens;
  if (!c.k_lens.empty()) lens = at::tensor(c.k_lens, at::kLong);
  const auto want = naive_attention(in, c.k_lens);
  for (auto backend :
       {AttentionBackend::kReference, AttentionBackend::kSdpa, AttentionBackend::kAuto}) {
    AttentionOptions opts;
    opts.backend = backend;
    const auto got = attention(in.q, in.k, in.v, lens, opts);
    EXPECT_EQ(got.sizes(), in.q.sizes()) << attention_backend_name(backend);
    EXPECT_EQ(got.scalar_type(), at::kFloat);
    EXPECT_LE(relative_error(got, want), 2e-6) << attention_backend_name(backend);
  }
}

INSTANTIATE_TEST_SUITE_P(
    OddSizes, AttentionBackends,
    ::testing::Values(Case{"L1", 1, 1, 1, 2, 128, {}}, Case{"L17", 2, 17, 17, 3, 64, {}},
                      Case{"L17UnequalKeyLengths", 3, 17, 17, 2, 128, {17, 5, 1}},
                      Case{"QueryShorterThanKeys", 2, 5, 33, 2, 32, {33, 20}},
                      Case{"QueryLongerThanKeys", 2, 40, 7, 1, 16, {}},
                      Case{"TextCrossAttention", 1, 13, 512, 2, 128, {}},
                      Case{"L1013Masked", 1, 1013, 1013, 1, 64, {1000}}),
    [](const auto& info) { return std::string(info.param.name); });

TEST(Attention, BackendsAgreeInBf16) {
  const auto in = random_inputs(2, 17, 23, 2, 128, 7, at::kBFloat16);
  const auto lens = at::tensor(std::vector<int64_t>{23, 9}, at::kLong);
  const auto want = naive_attention(in, {23, 9});
  AttentionOptions ref, sdpa;
  ref.backend = AttentionBackend::kReference;
  sdpa.backend = AttentionBackend::kSdpa;
  const auto a = attention(in.q, in.k, in.v, lens, ref);
  const auto b = attention(in.q, in.k, in.v, lens, sdpa);
  EXPECT_EQ(a.scalar_type(), at::kBFloat16);
  EXPECT_EQ(b.scalar_type(), at::kBFloat16);
  // bf16 inputs are exact in float64; the error is the output rounding (2^-9) and, for sdpa,
  // its bf16 intermediate products.
  EXPECT_LE(relative_error(a, want), 4e-3);
  EXPECT_LE(relative_error(b, want), 1e-2);
}

TEST(Attention, MaskedKeysDoNotMatter) {
  auto in = random_inputs(1, 6, 10, 2, 32, 3);
  const auto lens = at::tensor(std::vector<int64_t>{4}, at::kLong);
  const auto before = attention(in.q, in.k, in.v, lens);
  in.k.narrow(1, 4, 6).fill_(100.0);
  in.v.narrow(1, 4, 6).fill_(-100.0);
  EXPECT_TRUE(at::allclose(attention(in.q, in.k, in.v, lens), before));
}

TEST(Attention, CustomScale) {
  const auto in = random_inputs(1, 5, 7, 1, 16, 4);
  AttentionOptions opts;
  opts.scale = 0.5;
  Inputs scaled = in;
  scaled.q = in.q * (0.5 * 4.0);  // default scale is 1/sqrt(16)
  EXPECT_LE(relative_error(attention(in.q, in.k, in.v, std::nullopt, opts),
                           attention(scaled.q, in.k, in.v, std::nullopt)),
            1e-6);
}

std::string error_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(Attention, OneLineErrorsOnBadInputs) {
  const auto in = random_inputs(2, 4, 6, 2, 8, 5);
  EXPECT_NE(error_of([&] {
              attention(in.q.flatten(2), in.k, in.v, std::nullopt);
            }).find("q must be [B, Lq, H, D]"),
            std::string::npos);
  EXPECT_NE(error_of([&] {
              attention(in.q, in.k, in.v.narrow(1, 0, 5), std::nullopt);
            }).find("differ in shape"),
            std::string::npos);
  EXPECT_NE(
      error_of([&] { attention(in.q.narrow(3, 0, 4), in.k, in.v, std::nullopt); }).find("head dim"),
      std::string::npos);
  EXPECT_NE(error_of([&] {
              attention(in.q, in.k.to(at::kDouble), in.v, std::nullopt);
            }).find("dtypes differ"),
            std::string::npos);
  EXPECT_NE(error_of([&] {
              attention(in.q, in.k, in.v, at::tensor(std::vector<int64_t>{6}, at::kLong));
            }).find("k_lens must be [B]"),
            std::string::npos);
  EXPECT_NE(error_of([&] {
              attention(in.q, in.k, in.v, at::tensor(std::vector<int64_t>{6, 7}, at::kLong));
            }).find("k_lens values must be in [1, 6]"),
            std::string::npos);
  EXPECT_NE(error_of([&] {
              attention(in.q, in.k, in.v, at::tensor(std::vector<int64_t>{0, 3}, at::kLong));
            }).find("k_lens values"),
            std::string::npos);
  EXPECT_NE(
      error_of([&] { attention(in.q, in.k, in.v, at::ones({2}, at::kFloat)); }).find("integer"),
      std::string::npos);
}

TEST(Attention, CapabilityQuery) {
  const auto in = random_inputs(1, 3, 3, 1, 8, 6);
  EXPECT_TRUE(attention_supported(AttentionBackend::kReference, in.q, in.k));
  EXPECT_TRUE(attention_supported(AttentionBackend::kSdpa, in.q, in.k));
  EXPECT_TRUE(attention_supported(AttentionBackend::kAuto, in.q, in.k));
  EXPECT_FALSE(attention_supported(AttentionBackend::kSdpa, in.q.flatten(2), in.k));
  EXPECT_FALSE(attention_supported(AttentionBackend::kReference, in.q.to(at::kInt), in.k));
}

}  // namespace
}  // namespace duet::nn
