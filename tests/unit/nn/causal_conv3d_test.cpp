// Causal Conv3d: running chunk by chunk with the feature cache equals the whole sequence at once.
#include "nn/causal_conv3d.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <gtest/gtest.h>

#include <vector>

#include "core/error.h"
#include "support/test_support.h"

namespace duet::nn {
namespace {

CausalConv3d random_conv(int64_t in, int64_t out, std::array<int64_t, 3> k,
                         std::array<int64_t, 3> pad, at::Generator& gen) {
  CausalConv3d conv;
  conv.weight = at::randn({out, in, k[0], k[1], k[2]}, gen) * 0.2;
  conv.bias = at::randn({out}, gen) * 0.1;
  conv.padding = pad;
  return conv;
}

at::Tensor run_chunked(const CausalConv3d& conv, const at::Tensor& x,
                       const std::vector<int64_t>& sizes) {
  FeatureCache cache;
  std::vector<at::Tensor> outs;
  int64_t start = 0;
  for (int64_t n : sizes) {
    cache.begin_chunk();
    outs.push_back(conv.forward(x.narrow(2, start, n), cache.next()));
    start += n;
  }
  return at::cat(outs, 2);
}

TEST(CausalConv3d, WholeSequenceIsCausal) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(1);
  const auto conv = random_conv(3, 5, {3, 3, 3}, {1, 1, 1}, gen);
  const at::Tensor x = at::randn({2, 3, 6, 5, 7}, gen);
  const at::Tensor y = conv.forward(x);
  ASSERT_EQ(y.sizes(), (std::vector<int64_t>{2, 5, 6, 5, 7}));
  // Changing the future must not change the past.
  at::Tensor x2 = x.clone();
  x2.narrow(2, 4, 2).add_(1.0);
  const at::Tensor y2 = conv.forward(x2);
  EXPECT_TRUE(at::equal(y.narrow(2, 0, 4), y2.narrow(2, 0, 4)));
  EXPECT_FALSE(at::allclose(y.narrow(2, 4, 2), y2.narrow(2, 4, 2)));
  // Frame 0 sees two zero frames on the left: equal to a plain conv over [0, 0, x0].
  const at::Tensor padded = at::constant_pad_nd(x.narrow(2, 0, 1), {1, 1, 1, 1, 2, 0});
  const at::Tensor y0 = at::conv3d(padded, conv.weight, conv.bias);
  EXPECT_LE(duet::test::relative_error(y.narrow(2, 0, 1), y0), 1e-6);
}

class CausalConv3dChunks : public ::testing::TestWithParam<std::vector<int64_t>> {};

TEST_P(CausalConv3dChunks, ChunkedEqualsWhole) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(7);
  const auto& sizes = GetParam();
  int64_t total = 0;
  for (int64_t n : sizes) total += n;
  const auto conv = random_conv(4, 6, {3, 3, 3}, {1, 1, 1}, gen);
  const at::Tensor x = at::randn({1, 4, total, 6, 5}, gen);
  EXPECT_LE(duet::test::relative_error(run_chunked(conv, x, sizes), conv.forward(x)), 1e-6);
}

// 1, 4, 4 is the encoder's split; single frames the decoder's; 2-frame chunks follow upsampling.
INSTANTIATE_TEST_SUITE_P(Splits, CausalConv3dChunks,
                         ::testing::Values(std::vector<int64_t>{1, 4, 4},
                                           std::vector<int64_t>{1, 1, 1, 1},
                                           std::vector<int64_t>{2, 2, 2},
                                           std::vector<int64_t>{1, 2, 4, 1},
                                           std::vector<int64_t>{5}));

TEST(CausalConv3d, TimeOnlyKernelKeepsTwoFrames) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(3);
  const auto conv = random_conv(3, 6, {3, 1, 1}, {1, 0, 0}, gen);  // upsample3d's time_conv
  const at::Tensor x = at::randn({1, 3, 4, 3, 3}, gen);
  FeatureCache cache;
  std::vector<at::Tensor> outs;
  for (int64_t t = 0; t < 4; ++t) {
    cache.begin_chunk();
    CacheSlot& slot = cache.next();
    outs.push_back(conv.forward(x.narrow(2, t, 1), slot));
    EXPECT_EQ(slot.frames.size(2), std::min<int64_t>(t + 1, kCacheFrames));
  }
  EXPECT_LE(duet::test::relative_error(at::cat(outs, 2), conv.forward(x)), 1e-6);
}

TEST(CausalConv3d, KernelOneIgnoresCache) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(5);
  const auto conv = random_conv(3, 2, {1, 1, 1}, {0, 0, 0}, gen);
  const at::Tensor x = at::randn({1, 3, 3, 2, 2}, gen);
  EXPECT_LE(duet::test::relative_error(run_chunked(conv, x, {1, 2}), conv.forward(x)), 1e-6);
}

TEST(CausalConv3d, WrongChannelsNamed) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(5);
  const auto conv = random_conv(3, 2, {3, 3, 3}, {1, 1, 1}, gen);
  try {
    conv.forward(at::randn({1, 4, 2, 3, 3}, gen));
    FAIL() << "expected an error";
  } catch (const duet::Error& e) {
    EXPECT_NE(std::string(e.what()).find("[B, 3, T, H, W]"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace duet::nn
