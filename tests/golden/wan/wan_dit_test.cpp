// Wan DiT against Wan's own WanModel (Wan2.1 for t2v, Wan2.2 for ti2v per-token timesteps)
// and diffusers' WanTransformer3DModel, on the tiny checkpoints. Fixtures:
// tools/fixtures/make_golden_wan_dit.py -> tests/data/golden/wan_dit/.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "core/error.h"
#include "io/json_util.h"
#include "io/weight_store.h"
#include "models/wan/wan_dit.h"
#include "models/wan/wan_keys.h"
#include "support/test_support.h"

namespace duet::wan {
namespace {

using test::relative_error;
namespace fs = std::filesystem;

struct Golden {
  at::Tensor x, t, context, out, out_diffusers;
  int64_t seq_len = 0;
};

Golden load_golden(const std::string& name) {
  WeightStore store({(test::data_dir() / "golden/wan_dit" / name).string()});
  Golden g;
  g.x = store.load("x");
  g.t = store.load("t");
  g.context = store.load("context");
  g.out = store.load("out");
  if (store.contains("out_diffusers")) g.out_diffusers = store.load("out_diffusers");
  g.seq_len = store.load("seq_len").item<int64_t>();
  return g;
}

struct Folder {
  std::string config;                // config.json path
  std::vector<std::string> weights;  // checkpoint (or index) path
  std::string layout;                // "wan" or "wan_diffusers"
};

Folder wan21() {
  const auto d = test::tiny_dir() / "wan21";
  return {
      (d / "config.json").string(), {(d / "diffusion_pytorch_model.safetensors").string()}, "wan"};
}
Folder wan22() {
  const auto d = test::tiny_dir() / "wan22-ti2v";
  return {(d / "config.json").string(),
          {(d / "diffusion_pytorch_model.safetensors.index.json").string()},
          "wan"};
}
Folder wan_diffusers() {
  const auto d = test::tiny_dir() / "wan-diffusers/transformer";
  return {(d / "config.json").string(),
          {(d / "diffusion_pytorch_model.safetensors").string()},
          "wan_diffusers"};
}

WanDiT load_dit(const Folder& f, at::ScalarType dtype = at::kFloat) {
  WeightStore store(f.weights, {.dtype = dtype}, wan_dit_key_map(f.layout));
  return WanDiT::load(WanDiTConfig::from_json(read_json_file(f.config), f.config), store);
}

at::Tensor run(const WanDiT& dit, const Golden& g,
               nn::AttentionBackend backend = nn::AttentionBackend::kAuto) {
  nn::AttentionOptions opts;
  opts.backend = backend;
  return dit.forward(g.x, g.t, g.context, g.seq_len, opts);
}

// Checks ||out - ref|| / ||ref|| <= tol and records the measured error in the test report
// (--gtest_output=xml) so tolerances can be revisited with numbers.
void expect_close(const at::Tensor& out, const at::Tensor& ref, double tol,
                  const std::string& label) {
  ASSERT_EQ(out.sizes(), ref.sizes()) << label;
  const double err = relative_error(out, ref);
  ::testing::Test::RecordProperty("rel_err_" + label, fmt::format("{:.3e}", err));
  EXPECT_LE(err, tol) << label;
}

TEST(WanDiTGolden, Wan21T2VOriginalLayoutFp32) {
  const auto g = load_golden("wan21_t2v.safetensors");
  const auto dit = load_dit(wan21());
  EXPECT_EQ(dit.config().text_dim, 64);  // from text_embedding.0.weight
  for (auto backend : {nn::AttentionBackend::kReference, nn::AttentionBackend::kSdpa}) {
    const auto out = run(dit, g, backend);
    EXPECT_EQ(out.scalar_type(), at::kFloat);
    expect_close(out, g.out, 1e-5, std::string(nn::attention_backend_name(backend)));
  }
}

TEST(WanDiTGolden, Wan21T2VDiffusersLayoutFp32) {
  const auto g = load_golden("wan21_t2v.safetensors");
  const auto dit = load_dit(wan_diffusers());
  const auto out = run(dit, g);
  // Same tensors as the original folder, so the original model's output is the reference;
  // diffusers' own output (computed with an fp32 sinusoid, no padding) agrees to ~5e-7.
  expect_close(out, g.out, 1e-5, "vs_original");
  expect_close(out, g.out_diffusers, 1e-5, "vs_diffusers");
}

TEST(WanDiTGolden, Wan22TI2VPerTokenTimestepsFp32) {
  const auto g = load_golden("wan22_ti2v_per_token.safetensors");
  ASSERT_EQ(g.t.dim(), 2);
  const auto dit = load_dit(wan22());
  EXPECT_EQ(dit.config().model_type, "ti2v");
  expect_close(run(dit, g), g.out, 1e-5, "wan22");
}

TEST(WanDiTGolden, Wan22TI2VScalarTimestepFp32) {
  const auto g = load_golden("wan22_ti2v_scalar_t.safetensors");
  const auto dit = load_dit(wan22());
  expect_close(run(dit, g), g.out, 1e-5, "wan22");
  // [B] timesteps and the same value repeated per token are the same model input.
  const auto per_token = g.t.view({1, 1}).expand({1, g.seq_len}).contiguous();
  EXPECT_LE(relative_error(dit.forward(g.x, per_token, g.context, g.seq_len), g.out), 1e-5);
}

// bf16 weights and compute against the fp32 reference (Wan's own bf16 path needs CUDA
// autocast, so there is no bf16 reference output to compare with).
TEST(WanDiTGolden, Bf16AgainstFp32Reference) {
  for (const auto& [name, folder] : {std::pair{"wan21_t2v.safetensors", wan21()},
                                     std::pair{"wan22_ti2v_per_token.safetensors", wan22()}}) {
    const auto g = load_golden(name);
    const auto dit = load_dit(folder, at::kBFloat16);
    EXPECT_EQ(dit.dtype(), at::kBFloat16);
    const auto out = run(dit, g);
    EXPECT_EQ(out.scalar_type(), at::kFloat);
    expect_close(out, g.out, 1e-2, std::string("bf16_") + name);
  }
}

TEST(WanDiTGolden, PaddingTokensDoNotChangeTheOutput) {
  const auto g = load_golden("wan21_t2v.safetensors");
  const auto dit = load_dit(wan21());
  const int64_t tokens = g.x.size(2) * (g.x.size(3) / 2) * (g.x.size(4) / 2);
  ASSERT_LT(tokens, g.seq_len);
  const auto unpadded = dit.forward(g.x, g.t, g.context, tokens);
  EXPECT_LE(relative_error(unpadded, g.out), 1e-5);
  // A context shorter than text_len is zero padded inside, as Wan does.
  const auto short_ctx = g.context.narrow(1, 0, 13);
  EXPECT_LE(relative_error(dit.forward(g.x, g.t, short_ctx, g.seq_len), g.out), 1e-6);
}

std::string error_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(WanDiTGolden, StrictLoading) {
  const auto f = wan21();
  auto config = WanDiTConfig::from_json(read_json_file(f.config), f.config);
  {
    WeightStore store(f.weights);
    auto c = config;
    c.num_layers = 3;
    EXPECT_NE(
        error_of([&] { WanDiT::load(c, store); }).find("missing tensor 'blocks.2.modulation'"),
        std::string::npos);
  }
  {
    WeightStore store(f.weights);
    auto c = config;
    c.num_layers = 1;
    const auto msg = error_of([&] { WanDiT::load(c, store); });
    EXPECT_NE(msg.find("unexpected tensor"), std::string::npos) << msg;
    EXPECT_NE(msg.find("blocks.1."), std::string::npos) << msg;
  }
  {
    WeightStore store(f.weights);
    auto c = config;
    c.in_dim = 48;
    const auto msg = error_of([&] { WanDiT::load(c, store); });
    EXPECT_NE(
        msg.find(
            "'patch_embedding.weight' has shape [256, 16, 1, 2, 2], expected [256, 48, 1, 2, 2]"),
        std::string::npos)
        << msg;
    EXPECT_NE(msg.find("in_dim=48"), std::string::npos) << msg;
  }
  {
    // Original names asked of a diffusers file without the key map.
    WeightStore store(wan_diffusers().weights);
    EXPECT_NE(error_of([&] { WanDiT::load(config, store); }).find("missing tensor"),
              std::string::npos);
  }
}

TEST(WanDiTGolden, InputErrorsNameTheShapes) {
  const auto g = load_golden("wan21_t2v.safetensors");
  const auto dit = load_dit(wan21());
  EXPECT_NE(error_of([&] {
              dit.forward(g.x.narrow(1, 0, 8), g.t, g.context, g.seq_len);
            }).find("x must be [B, 16, F, H, W]"),
            std::string::npos);
  EXPECT_NE(
      error_of([&] { dit.forward(g.x.narrow(3, 0, 5), g.t, g.context, g.seq_len); }).find("rows 5"),
      std::string::npos);
  EXPECT_NE(error_of([&] {
              dit.forward(g.x, g.t, g.context, 35);
            }).find("seq_len 35 is shorter than the 36"),
            std::string::npos);
  EXPECT_NE(error_of([&] {
              dit.forward(g.x, g.t.view({2, 1}), g.context, g.seq_len);
            }).find("t must be [B]"),
            std::string::npos);
  EXPECT_NE(error_of([&] {
              dit.forward(g.x, g.t, g.context.narrow(2, 0, 32), g.seq_len);
            }).find("context must be"),
            std::string::npos);
}

}  // namespace
}  // namespace duet::wan
