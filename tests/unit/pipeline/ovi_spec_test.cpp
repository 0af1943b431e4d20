// Ovi's size and prompt rules against a table computed by Ovi's own functions
// (tools/fixtures/make_golden_ovi_sizes.py -> tests/data/golden/ovi_joint/sizes.json), and the
// checkpoint specs.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "io/json_util.h"
#include "pipeline/ovi_spec.h"
#include "support/test_support.h"

namespace duet {
namespace {

nlohmann::json table() {
  return read_json_file((test::data_dir() / "golden/ovi_joint/sizes.json").string());
}

TEST(OviSpec, SnapsSizesAsOvi) {
  const auto t = table();
  ASSERT_GT(t.at("snap").size(), 100u);
  for (const auto& c : t.at("snap")) {
    const auto hw = snap_ovi_size(c.at("h"), c.at("w"), c.at("area"));
    EXPECT_EQ(hw[0], c.at("out")[0]) << c.dump();
    EXPECT_EQ(hw[1], c.at("out")[1]) << c.dump();
  }
  // Python rounds halves to even: Ovi's "720x720" model generates 704x704.
  EXPECT_EQ(snap_ovi_size(720, 720, 720 * 720), (std::array<int64_t, 2>{704, 704}));
}

TEST(OviSpec, FirstFrameSizesAsOvi) {
  const auto t = table();
  ASSERT_GT(t.at("image").size(), 50u);
  for (const auto& c : t.at("image")) {
    const auto hw = ovi_image_size(c.at("h"), c.at("w"), c.at("area"));
    EXPECT_EQ(hw[0], c.at("out")[0]) << c.dump();
    EXPECT_EQ(hw[1], c.at("out")[1]) << c.dump();
  }
}

TEST(OviSpec, RewritesAudioCaptionsAsOvi) {
  const auto t = table();
  ASSERT_GT(t.at("prompts").size(), 10u);
  for (const auto& c : t.at("prompts")) {
    const OviSpec spec = ovi_spec_named(c.at("spec").get<std::string>());
    EXPECT_EQ(format_ovi_prompt(c.at("in"), spec), c.at("out").get<std::string>()) << c.dump();
  }
}

TEST(OviSpec, CheckpointSpecs) {
  const OviSpec five = ovi_spec_named("720x720_5s");
  EXPECT_EQ(five.frames(), 121);
  EXPECT_EQ(five.audio_latents, 157);
  EXPECT_EQ(five.audio_samples(), 80384);  // 5.024 s at 16 kHz beside 121 / 24 = 5.042 s
  const OviSpec ten = ovi_spec_named("960x960_10s");
  EXPECT_EQ(ten.frames(), 241);
  EXPECT_EQ(ten.audio_latents, 314);
  EXPECT_EQ(ten.area, 960 * 960);
  EXPECT_EQ(ten.caption, OviCaptionFormat::kAudioPrefix);
  EXPECT_THROW(ovi_spec_named("1080p"), Error);
}

TEST(OviSpec, PackageSpecIsValidated) {
  const std::string src = "duet.json: spec";
  const OviSpec s = OviSpec::from_json(
      {{"width", 128}, {"height", 128}, {"video_latent_frames", 31}, {"audio_latents", 157}}, src);
  EXPECT_EQ(s.area, 128 * 128);
  EXPECT_EQ(s.caption, OviCaptionFormat::kAudcapTags);
  try {
    OviSpec::from_json({{"area", 4096}, {"video_latent_frames", 0}, {"audio_latents", 1}}, src);
    FAIL() << "accepted 0 latent frames";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("video_latent_frames"), std::string::npos) << e.what();
  }
  EXPECT_THROW(OviSpec::from_json({{"area", 4096}, {"video_latent_frames", 3}, {"audio_latents", 15},
                                   {"caption", "tags"}}, src),
               Error);
}

TEST(OviSpec, CaptionAndSpeechChecks) {
  EXPECT_TRUE(has_audio_caption("x <AUDCAP>rain<ENDAUDCAP>"));
  EXPECT_TRUE(has_audio_caption("x Audio: rain"));
  EXPECT_FALSE(has_audio_caption("a red ball <AUDCAP>unclosed"));
  EXPECT_TRUE(speech_tags_balanced("he says <S>hi<E> and <S>bye<E>"));
  EXPECT_FALSE(speech_tags_balanced("he says <S>hi"));
  EXPECT_FALSE(speech_tags_balanced("<S>a <S>b<E><E>"));
  EXPECT_FALSE(speech_tags_balanced("b<E>"));
}

}  // namespace
}  // namespace duet
