#include "nn/rope.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cmath>

#include "core/error.h"
#include "io/weight_store.h"
#include "support/test_support.h"

namespace duet::nn {
namespace {

using test::relative_error;

TEST(Rope, WanSplitOfHeadDims) {
  EXPECT_EQ(video_rope_pairs(128), (std::array<int64_t, 3>{22, 21, 21}));
  EXPECT_EQ(video_rope_pairs(64), (std::array<int64_t, 3>{12, 10, 10}));
  EXPECT_EQ(video_rope_pairs(96), (std::array<int64_t, 3>{16, 16, 16}));
  EXPECT_THROW(video_rope_pairs(7), Error);
}

TEST(Rope, AnglesAreFloat64PowersOfTheta) {
  const auto a = rope_angles(1024, 44);
  ASSERT_EQ(a.sizes(), (at::IntArrayRef{1024, 22}));
  EXPECT_EQ(a.scalar_type(), at::kDouble);
  EXPECT_DOUBLE_EQ(a[0][5].item<double>(), 0.0);
  EXPECT_DOUBLE_EQ(a[1023][0].item<double>(), 1023.0);
  EXPECT_NEAR(a[7][3].item<double>(), 7.0 * std::pow(10000.0, -6.0 / 44.0), 1e-12);
}

// Outputs of Wan's own rope_apply (tools/fixtures/make_golden_wan_dit.py) on two samples of
// different grids with padding tokens, for head dims 128 and 64.
TEST(Rope, MatchesWanRopeApply) {
  WeightStore store({(test::data_dir() / "golden/wan_dit/rope.safetensors").string()});
  const auto grids_t = store.load("grid_sizes");
  std::vector<VideoGrid> grids;
  for (int64_t b = 0; b < grids_t.size(0); ++b) {
    grids.push_back({grids_t[b][0].item<int64_t>(), grids_t[b][1].item<int64_t>(),
                     grids_t[b][2].item<int64_t>()});
  }
  for (const std::string suffix : {"", "64"}) {
    const auto x = store.load("x" + suffix);
    const auto want = store.load("out" + suffix);
    const auto rope = VideoRope::make(x.size(3));
    const auto got = rope.apply(x, grids);
    EXPECT_EQ(got.scalar_type(), at::kFloat);
    EXPECT_LE(relative_error(got, want), 1e-6) << "head dim " << x.size(3);
    // Sample 1 has 10 tokens of 20: the padding passes through bit for bit.
    EXPECT_TRUE(at::equal(got[1].narrow(0, 10, 10), x[1].narrow(0, 10, 10)));
    EXPECT_FALSE(at::allclose(got[1].narrow(0, 1, 9), x[1].narrow(0, 1, 9)));
  }
}

TEST(Rope, IsARotation) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(11);
  const auto x = at::randn({1, 24, 3, 128}, gen);
  const auto rope = VideoRope::make(128);
  const auto y = rope.apply(x, {{2, 3, 4}});
  // Pairwise norms are preserved and the token at (0, 0, 0) is not rotated.
  const auto pair_norm = [](const at::Tensor& t) { return t.view({1, 24, 3, 64, 2}).norm(2, -1); };
  EXPECT_TRUE(at::allclose(pair_norm(y), pair_norm(x), 1e-5, 1e-6));
  EXPECT_TRUE(at::allclose(y[0][0], x[0][0]));
  // Token (f=1, h=0, w=0) = index 12 rotates only the 22 temporal pairs.
  EXPECT_FALSE(at::allclose(y[0][12].narrow(1, 0, 44), x[0][12].narrow(1, 0, 44)));
  EXPECT_TRUE(at::allclose(y[0][12].narrow(1, 44, 84), x[0][12].narrow(1, 44, 84)));
  // Token (0, 0, w=1) = index 1 rotates only the last 21 (width) pairs.
  EXPECT_TRUE(at::allclose(y[0][1].narrow(1, 0, 86), x[0][1].narrow(1, 0, 86)));
}

TEST(Rope, RotatePairsPassesTrailingPairsThrough) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(12);
  const auto x = at::randn({2, 5, 1, 16}, gen);
  const auto angles = rope_angles(5, 6).to(at::kFloat).view({5, 1, 3});  // 3 of 8 pairs
  const auto y = rotate_pairs(x, at::cos(angles), at::sin(angles));
  EXPECT_TRUE(at::equal(y.narrow(3, 6, 10), x.narrow(3, 6, 10)));
  EXPECT_FALSE(at::allclose(y.narrow(3, 0, 6), x.narrow(3, 0, 6)));
}

TEST(Rope, ErrorsNameTheProblem) {
  const auto rope = VideoRope::make(128);
  const auto x = at::zeros({2, 10, 1, 128});
  EXPECT_THROW(rope.apply(x, {{1, 2, 5}}), Error);             // one grid for batch 2
  EXPECT_THROW(rope.apply(x, {{1, 2, 5}, {2, 2, 3}}), Error);  // 12 tokens > 10
  EXPECT_THROW(rope.apply(x.narrow(3, 0, 64), {{1, 2, 5}, {1, 2, 5}}), Error);
  EXPECT_THROW(rope.apply(at::zeros({1, 2000, 1, 128}), {{1, 1, 1025}}), Error);
  try {
    rope.apply(x, {{1, 2, 5}, {2, 2, 3}});
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("grid (2, 2, 3) has 12 tokens"), std::string::npos)
        << e.what();
  }
}

// Ovi's audio RoPE: rope_params(1024, 44, freqs_scaling=0.19676) on the first 22 of 64 pairs.
TEST(Rope, SequenceRopeScalesAndRotatesLeadingPairsOnly) {
  const auto rope = SequenceRope::make(128, 22, 0.19676);
  ASSERT_EQ(rope.pairs(), 22);
  const double angle = 7.0 * (0.19676 * std::pow(10000.0, -6.0 / 44.0));  // position 7, pair 3
  EXPECT_NEAR(rope.cos[7][3].item<double>(), std::cos(angle), 1e-7);
  EXPECT_NEAR(rope.sin[7][3].item<double>(), std::sin(angle), 1e-7);
  auto gen = at::make_generator<at::CPUGeneratorImpl>(13);
  const auto x = at::randn({2, 9, 2, 128}, gen);
  const auto y = rope.apply(x, {9, 6});
  EXPECT_TRUE(at::equal(y.narrow(3, 44, 84), x.narrow(3, 44, 84)));    // pairs 22.. pass through
  EXPECT_TRUE(at::equal(y[1].narrow(0, 6, 3), x[1].narrow(0, 6, 3)));  // padding of sample 1
  EXPECT_TRUE(at::allclose(y[0][0], x[0][0]));                         // position 0: no rotation
  EXPECT_FALSE(at::allclose(y.narrow(3, 0, 44), x.narrow(3, 0, 44)));
  EXPECT_TRUE(at::allclose((y * y).sum(3), (x * x).sum(3), 1e-5, 1e-5));  // a rotation
  EXPECT_THROW(rope.apply(x, {10, 6}), Error);
  EXPECT_THROW(SequenceRope::make(128, 65, 1.0), Error);
}

}  // namespace
}  // namespace duet::nn
