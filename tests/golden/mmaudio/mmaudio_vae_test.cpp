// MMAudio mel VAE and mel front end against Ovi's copy of the MMAudio reference modules on the
// tiny v1-16.pth (fixtures: tools/fixtures/make_golden_mmaudio.py). fp32 on the CPU.
#include <gtest/gtest.h>

#include <cstdio>
#include <string>

#include "io/weight_store.h"
#include "models/mmaudio/mel.h"
#include "models/mmaudio/vae.h"
#include "support/golden_file.h"
#include "support/test_support.h"

namespace duet::mmaudio {
namespace {

using duet::test::data_dir;
using duet::test::relative_error;
using duet::test::tiny_dir;

constexpr double kTol = 1e-5;

using duet::test::logged_error;

struct Fixture : test::GoldenFile {
  explicit Fixture(const std::string& name) : GoldenFile("mmaudio", name) {}
};

const MMAudioVae& vae() {
  static auto model = load_mmaudio_vae((tiny_dir() / "ovi/MMAudio/ext_weights/v1-16.pth").string());
  return *model;
}

class MMAudioVaeDecode : public ::testing::TestWithParam<int> {};

TEST_P(MMAudioVaeDecode, MatchesReference) {
  Fixture f("vae_decode_l" + std::to_string(GetParam()));
  const at::Tensor out = vae().decode(f["z"]);
  ASSERT_EQ(out.sizes(), f["mel"].sizes());
  EXPECT_LE(logged_error(out, f["mel"]), kTol);
}

INSTANTIATE_TEST_SUITE_P(Lengths, MMAudioVaeDecode, ::testing::Values(1, 7, 16));

class MMAudioVaeEncode : public ::testing::TestWithParam<int> {};

TEST_P(MMAudioVaeEncode, MatchesReference) {
  Fixture f("vae_encode_t" + std::to_string(GetParam()));
  const MMAudioPosterior post = vae().encode_posterior(f["mel"]);
  ASSERT_EQ(post.mean.sizes(), f["mean"].sizes());
  EXPECT_LE(logged_error(post.mean, f["mean"]), kTol);
  EXPECT_LE(logged_error(post.std, f["std"]), kTol);
  EXPECT_TRUE(at::equal(vae().encode(f["mel"]), post.mean));
}

INSTANTIATE_TEST_SUITE_P(Frames, MMAudioVaeEncode, ::testing::Values(2, 15, 32));

TEST(MMAudioMel, FilterbankMatchesLibrosa) {
  Fixture f("mel_basis");
  const at::Tensor basis = slaney_mel_filterbank(16000, 1024, 80, 0, 8000);
  ASSERT_EQ(basis.sizes(), f["mel_basis"].sizes());
  EXPECT_LE(logged_error(basis, f["mel_basis"]), 1e-6);
  EXPECT_LE(logged_error(MelConverter().mel_basis(), f["mel_basis"]), 1e-6);
}

class MMAudioMelGolden : public ::testing::TestWithParam<std::string> {};

TEST_P(MMAudioMelGolden, MatchesReference) {
  Fixture f("mel_" + GetParam());
  const at::Tensor out = MelConverter(mel_16k()).forward(f["pcm"]);
  ASSERT_EQ(out.sizes(), f["mel"].sizes());
  EXPECT_LE(logged_error(out, f["mel"]), kTol);
}

INSTANTIATE_TEST_SUITE_P(Signals, MMAudioMelGolden, ::testing::Values("sine", "short"));

TEST(MMAudioMel, AudioEncodeMatchesWrappedEncode) {
  Fixture f("audio_encode");
  const at::Tensor mel = MelConverter().forward(f["pcm"]);
  EXPECT_LE(logged_error(mel, f["mel"]), kTol);
  EXPECT_LE(logged_error(vae().encode(mel), f["mean"]), kTol);
}

}  // namespace
}  // namespace duet::mmaudio
