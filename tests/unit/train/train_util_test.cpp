// duet-tiny's training pieces: models built on a store of tensors compute with those tensors
// (so autograd reaches them), the optimiser converges and resumes exactly, and first values
// follow the reference initialisations where the architecture depends on them.
#include "train_util.h"

#include <ATen/autocast_mode.h>
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

#include "core/error.h"
#include "io/weight_store.h"
#include "nn/layers.h"
#include "stage_common.h"
#include "support/test_support.h"

namespace duet::train {
namespace {

namespace fs = std::filesystem;

double rel_err(const at::Tensor& a, const at::Tensor& b) { return test::relative_error(a, b); }

ParamMap linear_params(int64_t in, int64_t out, uint64_t seed) {
  at::manual_seed(seed);
  return {{"lin.weight", at::randn({out, in})}, {"lin.bias", at::randn({out})}};
}

TEST(WeightStoreFromTensors, ModelsComputeWithTheHeldTensorsAndGradientsReachThem) {
  ParamMap p = linear_params(5, 3, 11);
  for (auto& [k, t] : p) t.requires_grad_(true);
  WeightStore store = WeightStore::from_tensors(p);
  nn::Linear lin;
  lin.load(store.scope(""), "lin", 5, 3);
  EXPECT_TRUE(lin.weight.is_same(p.at("lin.weight")));
  const at::Tensor x = at::randn({7, 5});
  lin.forward(x).sum().backward();
  // d/dW sum(x W^T + b) = 1 x^T summed over rows; d/db = number of rows.
  const at::Tensor expect_w = x.sum(0).unsqueeze(0).expand({3, 5});
  ASSERT_TRUE(p.at("lin.weight").grad().defined());
  EXPECT_LT(rel_err(p.at("lin.weight").grad(), expect_w), 1e-6);
  EXPECT_LT(rel_err(p.at("lin.bias").grad(), at::full({3}, 7.0)), 1e-6);
}

// Mixed precision: inside the scope the product runs in bf16 yet the fp32 parameters get fp32
// gradients close to the fp32 ones (bf16 tolerance); outside it (or when off) all is fp32.
TEST(AutocastScope, Bf16ProductsWithFp32GradientsOnlyWhileItLives) {
  ParamMap p = linear_params(64, 48, 13);
  for (auto& [k, t] : p) t.requires_grad_(true);
  WeightStore store = WeightStore::from_tensors(p);
  nn::Linear lin;
  lin.load(store.scope(""), "lin", 64, 48);
  const at::Tensor x = at::randn({33, 64});
  const at::Tensor probe = at::randn({33, 48});
  auto grads = [&](bool mixed) {
    for (auto& [k, t] : p) t.mutable_grad() = at::Tensor();
    at::Tensor y;
    {
      const AutocastScope scope(mixed);
      y = lin.forward(x);
      EXPECT_EQ(y.scalar_type(), mixed ? at::kBFloat16 : at::kFloat);
      (y.to(at::kFloat) * probe).sum().backward();
    }
    EXPECT_FALSE(at::autocast::is_autocast_enabled(at::kCPU));
    return std::make_pair(p.at("lin.weight").grad().clone(), p.at("lin.bias").grad().clone());
  };
  const auto [w32, b32] = grads(false);
  const auto [w16, b16] = grads(true);
  EXPECT_EQ(w16.scalar_type(), at::kFloat);
  EXPECT_LT(rel_err(w16, w32), 1e-2);
  EXPECT_GT(rel_err(w16, w32), 0.0);  // the product really ran in bf16
  EXPECT_LT(rel_err(b16, b32), 1e-2);
  EXPECT_EQ(lin.forward(x).scalar_type(), at::kFloat);
}

// The video VAE's motion weights: a square moving one pixel a frame over a random still backdrop
// weighs `moving` times the rest where it was or is, frame 0 is uniform, the mean is 1.
TEST(MotionWeights, MarkWhereTheObjectWasAndIsFromTheSecondFrameOn) {
  const int64_t t = 5, h = 16, w = 20;
  at::Tensor x = (at::rand({1, 3, 1, h, w}) * 2 - 1).expand({1, 3, t, h, w}).clone();
  for (int64_t f = 0; f < t; ++f) x.select(2, f).narrow(2, 4, 3).narrow(3, 2 + f, 3).fill_(0.9);
  const at::Tensor wt = motion_weights(x, 10.0);
  ASSERT_EQ(wt.sizes(), (std::vector<int64_t>{1, 1, t, h, w}));
  EXPECT_NEAR(wt.mean().item<double>(), 1.0, 1e-6);
  const at::Tensor f0 = wt.select(2, 0);
  EXPECT_TRUE(at::allclose(f0, f0.flatten()[0].expand_as(f0)));
  const double low = wt[0][0][2][0][0].item<double>();     // backdrop
  const double left = wt[0][0][2][5][3].item<double>();    // uncovered at frame 2 (col 3)
  const double right = wt[0][0][2][5][6].item<double>();   // newly covered (col 6)
  const double inside = wt[0][0][2][5][5].item<double>();  // covered at frames 1 and 2
  EXPECT_NEAR(left / low, 10.0, 1e-4);
  EXPECT_NEAR(right / low, 10.0, 1e-4);
  EXPECT_NEAR(inside, low, 1e-6);
  EXPECT_TRUE(at::equal(motion_weights(x, 1.0), at::ones({1, 1, t, h, w})));
}

TEST(WeightStoreFromTensors, AWrongShapeNamesTheKeyAndUnrequestedTensorsAreReported) {
  WeightStore store = WeightStore::from_tensors(linear_params(5, 3, 12));
  auto scope = store.scope("");
  try {
    scope.get("lin.weight", {3, 4});
    FAIL() << "a wrong shape was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("lin.weight"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("[3, 4]"), std::string::npos) << e.what();
  }
  scope.get("lin.weight", {3, 5});
  EXPECT_THROW(scope.finish(), Error);  // lin.bias never asked for
  scope.get("lin.bias", {3});
  EXPECT_NO_THROW(scope.finish());
}

// Fresh quadratic: p should reach a random target.
double quadratic_step(ParamMap& p, const at::Tensor& target, AdamW& opt, int64_t step) {
  const at::Tensor loss = (p.at("x") - target).pow(2).sum();
  loss.backward();
  opt.step(step);
  return loss.item<double>();
}

TEST(AdamW, MinimisesAQuadratic) {
  at::manual_seed(3);
  const at::Tensor target = at::randn({4, 6});
  ParamMap p{{"x", at::zeros({4, 6})}};
  AdamW opt(p, {"x"}, {.lr = 0.05, .clip_norm = 0, .warmup = 10, .total_steps = 400});
  const double first = quadratic_step(p, target, opt, 0);
  double last = first;
  for (int64_t s = 1; s < 400; ++s) last = quadratic_step(p, target, opt, s);
  EXPECT_LT(last, first * 1e-4) << "from " << first << " to " << last;
}

TEST(AdamW, ASavedStageResumesExactlyWhereItStopped) {
  at::manual_seed(4);
  const at::Tensor target = at::randn({8});
  const AdamWOptions o{.lr = 0.1, .weight_decay = 0.01, .warmup = 3, .total_steps = 10};
  ParamMap straight{{"x", at::ones({8})}, {"fixed", at::full({2}, 5.0)}};
  AdamW a(straight, {"x"}, o);
  for (int64_t s = 0; s < 10; ++s) quadratic_step(straight, target, a, s);

  const test::TempDir tmp;
  const fs::path dir = tmp / "stage";
  ParamMap first{{"x", at::ones({8})}, {"fixed", at::full({2}, 5.0)}};
  AdamW b(first, {"x"}, o);
  for (int64_t s = 0; s < 6; ++s) quadratic_step(first, target, b, s);
  save_stage(dir.string(), first, b, 6);

  ParamMap resumed{{"x", at::zeros({8})}, {"fixed", at::zeros({2})}};
  AdamW c(resumed, {"x"}, o);
  int64_t next = 0;
  ASSERT_TRUE(load_stage(dir.string(), resumed, c, &next));
  EXPECT_EQ(next, 6);
  for (int64_t s = next; s < 10; ++s) quadratic_step(resumed, target, c, s);
  EXPECT_TRUE(at::equal(resumed.at("x"), straight.at("x")));
  EXPECT_TRUE(at::equal(resumed.at("fixed"), straight.at("fixed")));
  EXPECT_FALSE(load_stage((dir / "absent").string(), resumed, c, &next));
}

TEST(InitParams, BigVganStartsFromItsReferenceBuffersAndWeightNorm) {
  const ShapeMap shapes{{"conv_pre.weight_v", {16, 8, 7}},
                        {"conv_pre.weight_g", {16, 1, 1}},
                        {"conv_pre.bias", {16}},
                        {"activation_post.act.alpha", {16}},
                        {"activation_post.upsample.filter", {1, 1, 12}}};
  const ParamMap p = init_params(shapes, InitFamily::kBigVgan, 5);
  // conv_pre: fan-in scaled at 0.1 (0.1 / sqrt(8 x 7) = 0.0134), within sampling error (896).
  EXPECT_NEAR(p.at("conv_pre.weight_v").std().item<double>(), 0.1 / std::sqrt(56.0), 0.0015);
  // w = g v / |v| is v itself at the start, as BigVGAN's weight_norm(init) leaves it.
  const at::Tensor norms = at::linalg_vector_norm(p.at("conv_pre.weight_v"), 2, {1, 2}, true);
  EXPECT_LT(rel_err(p.at("conv_pre.weight_g"), norms), 1e-7);
  EXPECT_TRUE(at::equal(p.at("activation_post.act.alpha"), at::zeros({16})));
  // The anti-aliasing filter against the buffer the reference BigVGAN stored (fp16 there, so
  // the bound is fp16 rounding).
  WeightStore ref({(test::data_dir() / "golden/bigvgan/gain_generator.safetensors").string()}, {.dtype = at::kFloat});
  const at::Tensor expect = ref.load("activation_post.upsample.filter");
  EXPECT_LT(rel_err(p.at("activation_post.upsample.filter"), expect), 1e-3);
  EXPECT_NEAR(p.at("activation_post.upsample.filter").sum().item<double>(), 1.0, 1e-6);
}

TEST(InitParams, ValuesDependOnKeyAndSeedOnly) {
  const ShapeMap one{{"blocks.0.ffn.0.weight", {32, 16}}};
  const ShapeMap two{{"a.weight", {3, 3}}, {"blocks.0.ffn.0.weight", {32, 16}}};
  const at::Tensor w1 = init_params(one, InitFamily::kWanDit, 9).at("blocks.0.ffn.0.weight");
  const at::Tensor w2 = init_params(two, InitFamily::kWanDit, 9).at("blocks.0.ffn.0.weight");
  const at::Tensor w3 = init_params(one, InitFamily::kWanDit, 10).at("blocks.0.ffn.0.weight");
  EXPECT_TRUE(at::equal(w1, w2));
  EXPECT_FALSE(at::equal(w1, w3));
  // LeCun normal: std 1 / sqrt(fan_in) within sampling error (512 values).
  EXPECT_NEAR(w1.std().item<double>(), 0.25, 0.03);
  const ParamMap dit = init_params({{"head.head.weight", {8, 16}}, {"norm3.weight", {16}},
                                    {"blocks.0.modulation", {1, 6, 16}}},
                                   InitFamily::kWanDit, 1);
  EXPECT_TRUE(at::equal(dit.at("head.head.weight"), at::zeros({8, 16})));  // zero velocity
  EXPECT_TRUE(at::equal(dit.at("norm3.weight"), at::ones({16})));
  EXPECT_NEAR(dit.at("blocks.0.modulation").std().item<double>(), 0.25, 0.1);
}

}  // namespace
}  // namespace duet::train
