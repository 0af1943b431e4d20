// WeightStore::random(): the real loaders build a model with seeded random weights, no file.
#include <gtest/gtest.h>

#include "io/weight_store.h"
#include "models/wan/wan_dit.h"

namespace duet {
namespace {

TEST(WeightStoreRandom, SeededPerKeyWithNormsAtOne) {
  WeightStore a = WeightStore::random(7, {.dtype = at::kBFloat16, .device = at::kCPU});
  WeightStore b = WeightStore::random(7, {.dtype = at::kBFloat16, .device = at::kCPU});
  WeightStore c = WeightStore::random(8, {.dtype = at::kBFloat16, .device = at::kCPU});
  const at::Tensor w = a.scope("blocks.0.").get("ffn.0.weight", {64, 32});
  EXPECT_FALSE(w.is_meta());
  EXPECT_EQ(w.scalar_type(), at::kBFloat16);
  EXPECT_EQ(w.sizes().vec(), (std::vector<int64_t>{64, 32}));
  // Same seed and key: same values, whatever else was asked before.
  b.scope("").get("other.weight", {3});
  EXPECT_TRUE(at::equal(w, b.scope("blocks.0.").get("ffn.0.weight", {64, 32})));
  EXPECT_FALSE(at::equal(w, c.scope("blocks.0.").get("ffn.0.weight", {64, 32})));
  EXPECT_FALSE(at::equal(w, a.scope("blocks.0.").get("ffn.2.weight", {64, 32})));
  const double std = w.to(at::kFloat).std().item<double>();
  EXPECT_NEAR(std, 0.02, 0.003);
  EXPECT_TRUE(
      at::equal(a.scope("").get("blocks.0.norm3.weight", {5}), at::ones({5}, at::kBFloat16)));
  EXPECT_TRUE(
      at::equal(a.scope("").get("blocks.0.norm3.bias", {5}), at::zeros({5}, at::kBFloat16)));
  EXPECT_TRUE(at::equal(a.scope("").get("blocks.0.self_attn.norm_q.weight", {5}),
                        at::ones({5}, at::kBFloat16)));
  EXPECT_TRUE(a.is_random());
  EXPECT_FALSE(a.is_meta());
  EXPECT_FALSE(a.contains("blocks.0.ffn.0.weight"));  // no file: optional tensors stay absent
  EXPECT_EQ(a.meta_shapes().size(), 5u);
}

TEST(WeightStoreRandom, BuildsAndRunsAWanDiT) {
  wan::WanDiTConfig c;
  c.dim = 256, c.ffn_dim = 512, c.num_heads = 2, c.num_layers = 2, c.text_dim = 64;
  WeightStore store = WeightStore::random(1);
  const wan::WanDiT dit = wan::WanDiT::load(c, store);
  const at::Tensor x = at::randn({1, 16, 2, 4, 4});
  const at::Tensor ctx = at::randn({1, 8, 64});
  const at::Tensor v = dit.forward(x, at::full({1}, 999, at::kLong), ctx, 8);
  EXPECT_EQ(v.sizes(), x.sizes());
  EXPECT_TRUE(at::isfinite(v).all().item<bool>());
  EXPECT_GT(v.abs().max().item<double>(), 0);
}

}  // namespace
}  // namespace duet
