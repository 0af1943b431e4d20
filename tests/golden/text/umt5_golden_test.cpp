// umT5 encoder against Wan's T5Encoder (wan/modules/t5.py) and transformers' UMT5EncoderModel,
// fp32 and bf16, on fixed ids with a padding mask (one prompt of 41 tokens, one of 512).
// Fixture: tools/fixtures/make_golden_text.py.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cstdio>

#include "support/test_support.h"
#include "text/text_encoder.h"
#include "text/umt5.h"

namespace duet {
namespace {

namespace fs = std::filesystem;

fs::path golden(const std::string& name) { return test::data_dir() / "golden/text" / name; }

at::Tensor io(const std::string& name) {
  static WeightStore store({golden("encoder_io.safetensors").string()});
  return store.load(name);
}

// Rows of real tokens only (Wan returns u[:len]).
at::Tensor real_rows(const at::Tensor& y, int64_t b) {
  const int64_t n = io("mask")[b].sum().item<int64_t>();
  return y[b].narrow(0, 0, n).to(at::kFloat);
}

double real_rows_error(const at::Tensor& y, const at::Tensor& ref, const char* what = "") {
  double worst = 0;
  for (int64_t b = 0; b < ref.size(0); ++b)
    worst = std::max(worst, test::relative_error(real_rows(y, b), real_rows(ref, b)));
  if (*what) std::printf("%s: rel err %.3g\n", what, worst);
  return worst;
}

at::Tensor run_fixture_weights(at::ScalarType dtype) {
  WeightStore store({golden("encoder_weights.safetensors").string()}, {.dtype = dtype});
  const Umt5Encoder enc(Umt5Config::from_weights(store), store);
  EXPECT_EQ(enc.config().num_layers, 2);
  EXPECT_EQ(enc.config().num_heads, 4);
  return enc.forward(io("ids"), io("mask"));
}

TEST(Umt5Golden, WanFp32) {
  const auto y = run_fixture_weights(at::kFloat);
  ASSERT_EQ(y.sizes(), io("wan_fp32").sizes());
  // Padded rows too: with the same mask they are computed the same way.
  EXPECT_LE(test::relative_error(y, io("wan_fp32")), 1e-5);
  EXPECT_LE(real_rows_error(y, io("wan_fp32"), "fixture fp32 vs Wan fp32"), 1e-5);
  EXPECT_LE(real_rows_error(y, io("hf_fp32"), "fixture fp32 vs transformers fp32"), 1e-5);
}

TEST(Umt5Golden, WanBf16) {
  const auto y = run_fixture_weights(at::kBFloat16);
  EXPECT_EQ(y.scalar_type(), at::kBFloat16);
  // Same ops in the same order as Wan: measured 0, so a tighter bound than the house 1e-2
  // catches mistakes (e.g. swapped bucket halves give 9.5e-3 here).
  EXPECT_LE(real_rows_error(y, io("wan_bf16"), "fixture bf16 vs Wan bf16"), 1e-3);
  EXPECT_LE(real_rows_error(y, io("wan_fp32"), "fixture bf16 vs Wan fp32"), 1e-2);
}

std::unique_ptr<Umt5Encoder> load_tiny(const fs::path& path, at::ScalarType dtype,
                                       std::unique_ptr<WeightStore>& s) {
  return load_umt5(path, WeightOptions{dtype, at::Device(at::kCPU)}, s);
}

TEST(Umt5Golden, WanPthFile) {
  const auto pth = test::tiny_dir() / "wan21/models_t5_umt5-xxl-enc-bf16.pth";
  if (!fs::exists(pth)) GTEST_SKIP() << "tiny models not generated: " << pth;
  std::unique_ptr<WeightStore> store;
  const auto enc = load_tiny(pth, at::kFloat, store);
  EXPECT_LE(
      real_rows_error(enc->forward(io("ids"), io("mask")), io("wan_fp32"), "pth fp32 vs Wan fp32"),
      1e-5);
}

TEST(Umt5Golden, TransformersFolder) {
  const auto dir = test::tiny_dir() / "wan-diffusers/text_encoder";
  if (!fs::exists(dir)) GTEST_SKIP() << "tiny models not generated: " << dir;
  std::unique_ptr<WeightStore> store;
  const auto fp32 = load_tiny(dir, at::kFloat, store);
  EXPECT_LE(real_rows_error(fp32->forward(io("ids"), io("mask")), io("hf_fp32"),
                            "diffusers fp32 vs transformers fp32"),
            1e-5);
  const auto bf16 = load_tiny(dir, at::kBFloat16, store);
  // transformers keeps wo in fp32 under bf16 (_keep_in_fp32_modules), Wan does not; we follow Wan.
  EXPECT_LE(real_rows_error(bf16->forward(io("ids"), io("mask")), io("hf_bf16"),
                            "diffusers bf16 vs transformers bf16"),
            1e-2);
}

// The front end: prompts -> tokens -> encoder at the real length -> zero-padded context.
TEST(Umt5Golden, TextEncoderCutsAndPads) {
  const auto pth = test::tiny_dir() / "wan21/models_t5_umt5-xxl-enc-bf16.pth";
  if (!fs::exists(pth)) GTEST_SKIP() << "tiny models not generated: " << pth;
  TextEncoderOptions opt;
  opt.dtype = at::kFloat;
  const TextEncoder te(pth, test::tiny_dir() / "wan21/google/umt5-xxl", opt);
  // The fixture's two prompts are the tokenizer fixture's cases 0 and 8.
  const std::string long_prompt = [] {
    std::string s;
    for (int i = 0; i < 60; ++i)
      s += std::string(i ? " " : "") +
           "A young woman walks slowly along a rainy city street at dawn.";
    return s;
  }();
  const auto batch = te.tokenize(
      {"A young woman holding a red umbrella walks slowly along a rainy city street at dawn.",
       long_prompt});
  ASSERT_TRUE(batch.ids.equal(io("ids")));
  ASSERT_TRUE(batch.mask.equal(io("mask")));
  const auto e = te.encode(
      {"A young woman holding a red umbrella walks slowly along a rainy city street at dawn.",
       long_prompt});
  ASSERT_EQ(e.context.sizes(), (std::vector<int64_t>{2, 512, 64}));
  EXPECT_EQ(e.lengths, (std::vector<int64_t>{41, 512}));
  EXPECT_LE(real_rows_error(e.context, io("wan_fp32"), "TextEncoder (real length) vs Wan fp32"),
            1e-5);
  EXPECT_EQ(e.context[0].narrow(0, 41, 512 - 41).abs().max().item<float>(), 0.0f);
}

}  // namespace
}  // namespace duet
