// BigVGAN 16 kHz vocoder against Ovi's reference (ovi/modules/mmaudio/ext/bigvgan, weight norm
// removed) in fp32 on the CPU (fixtures: tools/fixtures/make_golden_bigvgan.py). tiny_*: the tiny
// best_netG.pt through the Ovi-folder loader ("generator." prefix, legacy weight_g / weight_v);
// its output is nearly conv_post's bias, so gain_*: a unit-gain variant of the same weights
// (bare keys, fp16 safetensors) whose waveform exercises every layer.
#include <gtest/gtest.h>

#include <cstdio>
#include <string>

#include "io/weight_store.h"
#include "models/mmaudio/bigvgan.h"
#include "support/golden_file.h"
#include "support/test_support.h"

namespace duet::mmaudio {
namespace {

using duet::test::data_dir;
using duet::test::relative_error;
using duet::test::tiny_dir;

constexpr double kTol = 1e-5;

using duet::test::logged_error;

std::string golden(const std::string& name) {
  return (data_dir() / "golden/bigvgan" / (name + ".safetensors")).string();
}

const BigVgan& tiny() {
  static auto v = load_bigvgan((tiny_dir() / "ovi/MMAudio/ext_weights/best_netG.pt").string());
  return *v;
}
const BigVgan& unit_gain() {
  static auto v = load_bigvgan(golden("gain_generator"));
  return *v;
}

class BigVganGolden : public ::testing::TestWithParam<std::tuple<std::string, int>> {};

TEST_P(BigVganGolden, MatchesReference) {
  const auto& [weights, t] = GetParam();
  const BigVgan& vocoder = weights == "tiny" ? tiny() : unit_gain();
  WeightStore f({golden(weights + "_t" + std::to_string(t))});
  const at::Tensor mel = f.load("mel");
  const at::Tensor ref = f.load("audio");
  const at::Tensor out = vocoder.forward(mel);
  ASSERT_EQ(out.sizes(), ref.sizes());
  EXPECT_EQ(out.size(2), 256 * t);
  EXPECT_LE(logged_error(out, ref), kTol);
}

INSTANTIATE_TEST_SUITE_P(Frames, BigVganGolden,
                         ::testing::Combine(::testing::Values("tiny", "gain"),
                                            ::testing::Values(1, 7, 32)),
                         [](const auto& info) {
                           return std::get<0>(info.param) + "_t" +
                                  std::to_string(std::get<1>(info.param));
                         });

}  // namespace
}  // namespace duet::mmaudio
