// `duet generate` with Ovi-family models: the embedded duet-tiny package (a tiny random model
// in the Ovi architecture, the default when --model is not given) writes an MP4 with H.264
// video and 16 kHz AAC sound whose durations agree within one frame; the tiny Ovi checkpoint
// folder is checked for everything that must fail (or be adjusted) before compute. A full run
// of that folder is not made here: its 704x704 size costs minutes on two cores (the golden
// test runs the same pipeline on it at a small size).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <cmath>
#include <filesystem>

#include "support/test_support.h"
#include "unit/media/media_probe.h"

namespace duet {
namespace {

namespace fs = std::filesystem;
using test::run_duet;
using test::TempDir;

std::string tiny(const char* layout) { return (test::tiny_dir() / layout).string(); }

const char* kPrompt =
    "A man looks up and says <S>It is raining again.<E> Audio: male voice, rain on a tin roof";

TEST(OviGenerate, EmbeddedModelWritesVideoWithSynchronizedSound) {
  TempDir tmp;
  const std::string out = (tmp / "clip.mp4").string();
  const auto r = run_duet({"generate", kPrompt, "-o", out, "--steps", "3", "--seed", "5",
                           "--no-progress", "--json", "--preview"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j.at("model"), "duet-tiny");
  EXPECT_EQ(j.at("seed"), 5);
  EXPECT_EQ(j.at("frames"), 121);
  EXPECT_EQ(j.at("audio_samples"), 157 * 512);
  EXPECT_EQ(j.at("audio_sample_rate"), 16000);
  // duet-tiny takes <AUDCAP> captions: "Audio: ..." is rewritten as Ovi does.
  EXPECT_NE(j.at("prompt").get<std::string>().find("<AUDCAP>male voice, rain on a tin roof<ENDAUDCAP>"),
            std::string::npos) << j.dump();
  for (const char* stage : {"text", "denoise", "audio", "decode"}) {
    EXPECT_TRUE(j.at("stages").contains(stage)) << stage;
  }
  // --preview: an animated WebP (GIF where libwebp is missing) beside the clip.
  const std::string preview = j.at("preview");
  EXPECT_EQ(fs::path(preview).parent_path(), tmp.path());
  const auto head = media::probe::file_bytes(preview);
  ASSERT_GT(head.size(), 1000u);
  const std::string magic(head.begin(), head.begin() + 12);
  EXPECT_TRUE(magic.rfind("GIF8", 0) == 0 || (magic.rfind("RIFF", 0) == 0 && magic.substr(8) == "WEBP"))
      << preview;

  const auto info = media::probe::probe_file(out);
  ASSERT_EQ(info.count(AVMEDIA_TYPE_VIDEO), 1);
  ASSERT_EQ(info.count(AVMEDIA_TYPE_AUDIO), 1);
  const auto& v = info.first(AVMEDIA_TYPE_VIDEO);
  const auto& a = info.first(AVMEDIA_TYPE_AUDIO);
  EXPECT_EQ(v.codec, "h264");
  EXPECT_EQ(v.width, 128);
  EXPECT_EQ(v.height, 128);
  EXPECT_EQ(a.codec, "aac");
  EXPECT_EQ(a.sample_rate, 16000);
  EXPECT_EQ(a.channels, 1);

  const auto video = media::probe::decode_video(out);
  const auto audio = media::probe::decode_audio(out);
  ASSERT_EQ(video.frames(), 121u);
  const double video_seconds = 121.0 / 24.0;
  const double audio_seconds = static_cast<double>(audio.samples.size()) / audio.sample_rate;
  EXPECT_LE(std::abs(audio_seconds - video_seconds), 1.0 / 24.0)
      << "audio " << audio_seconds << " s, video " << video_seconds << " s";
  EXPECT_LE(std::abs(audio.start - video.times.front()), 1.0 / 24.0);
  const auto tags = media::probe::lower_tags(info);
  EXPECT_EQ(tags.at("seed"), "5");
  EXPECT_NE(tags.at("guidance").find("audio"), std::string::npos);
}

TEST(OviGenerate, FirstFrameConditionedClipTakesTheImagesAspect) {
  TempDir tmp;
  const std::string out = (tmp / "clip.mp4").string();
  // 130x90 at duet-tiny's 128x128 area: Ovi's rule picks 160x96 (multiples of 32).
  const auto r = run_duet({"generate", "A red ball bounces on a gray floor.", "--image",
                           (test::data_dir() / "golden/ovi_joint/first_frame.png").string(), "-o",
                           out, "--steps", "2", "--seed", "3", "--no-progress", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j.at("width"), 160);
  EXPECT_EQ(j.at("height"), 96);
  EXPECT_TRUE(j.at("stages").contains("denoise"));
  const auto info = media::probe::probe_file(out);
  EXPECT_EQ(info.first(AVMEDIA_TYPE_VIDEO).width, 160);
  EXPECT_EQ(info.count(AVMEDIA_TYPE_AUDIO), 1);
  // --image decides the size.
  const auto bad = run_duet({"generate", "x", "--image",
                             (test::data_dir() / "golden/ovi_joint/first_frame.png").string(),
                             "--size", "128x128", "-o", (tmp / "b.mp4").string(), "--no-progress"});
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_NE(bad.err.find("--image sets the size"), std::string::npos) << bad.err;
}

TEST(OviGenerate, SameSeedSameClipDefaultNameFromPrompt) {
  TempDir tmp;
  const std::vector<std::string> args{"generate", "a red ball bounces on a gray floor",
                                      "--steps", "2", "--seed", "11", "--no-progress"};
  auto first = args;
  first.insert(first.end(), {"-o", (tmp / "a.mp4").string()});
  ASSERT_EQ(run_duet(first).exit_code, 0);
  // Without -o the name comes from the prompt's first words and the seed, in the current folder.
  const auto r = test::run_command("cd '" + tmp.path().string() + "' && '" +
                                   test::duet_binary().string() +
                                   "' generate 'a red ball bounces on a gray floor' --steps 2 "
                                   "--seed 11 --no-progress");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const fs::path named = tmp / "a-red-ball-bounces-on-a-11.mp4";
  ASSERT_TRUE(fs::exists(named)) << r.out;
  const auto va = media::probe::decode_video((tmp / "a.mp4").string());
  const auto vb = media::probe::decode_video(named.string());
  EXPECT_EQ(va.first_rgb, vb.first_rgb);
  EXPECT_EQ(va.last_rgb, vb.last_rgb);
  // The name exists now: no overwrite without --force.
  const auto again = test::run_command("cd '" + tmp.path().string() + "' && '" +
                                       test::duet_binary().string() +
                                       "' generate 'a red ball bounces on a gray floor' --steps 2 "
                                       "--seed 11 --no-progress");
  EXPECT_EQ(again.exit_code, 1);
  EXPECT_NE(again.err.find("--force"), std::string::npos) << again.err;
}

// Runs the tiny Ovi checkpoint folder up to the point where the output folder is checked
// (a missing folder), so every earlier decision is visible without compute.
test::CommandResult plan_only(std::vector<std::string> extra) {
  std::vector<std::string> args{"generate", kPrompt, "--model", tiny("ovi"), "--no-progress",
                                "-o", "/nonexistent-duet-folder/clip.mp4"};
  args.insert(args.end(), extra.begin(), extra.end());
  return run_duet(args);
}

TEST(OviGenerate, OviFolderChecksBeforeCompute) {
  // Sizes snap to the checkpoint's area (720x720_5s: 518400 px) in multiples of 32.
  auto r = plan_only({"--size", "1280x720", "--slg-layer", "1"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("1280x720 snapped to 960x544"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("nonexistent-duet-folder"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("denoise"), std::string::npos) << "computed before failing: " << r.err;

  // The clip length is the checkpoint's.
  r = plan_only({"--duration", "10", "--slg-layer", "1"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("241 frames cannot be generated"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("121 (5.042 s, 720x720_5s)"), std::string::npos) << r.err;

  // Ovi's preset skips block 11 on the uncond pass; the tiny model has 2.
  r = plan_only({});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("slg_layer 11 does not exist"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("valid: 0..1"), std::string::npos) << r.err;

  r = plan_only({"--guidance-high-noise", "3"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("two-expert"), std::string::npos) << r.err;

  r = plan_only({"--image", "/nonexistent-duet-folder/face.png", "--slg-layer", "1"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("face.png"), std::string::npos) << r.err;
}

TEST(OviGenerate, MissingOviComponentsAreNamed) {
  TempDir tmp;
  const fs::path model = tmp / "ckpts";
  fs::create_directories(model / "MMAudio" / "ext_weights");
  for (const char* sub : {"Ovi", "Wan2.2-TI2V-5B"}) {
    fs::create_directory_symlink(fs::path(tiny("ovi")) / sub, model / sub);
  }
  fs::create_symlink(fs::path(tiny("ovi")) / "MMAudio/ext_weights/v1-16.pth",
                     model / "MMAudio/ext_weights/v1-16.pth");
  const auto r = run_duet({"generate", kPrompt, "--model", model.string(), "--no-progress", "-o",
                           (tmp / "clip.mp4").string()});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("best_netG.pt"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(tmp / "clip.mp4"));
}

TEST(OviGenerate, NotEnoughMemoryFailsBeforeCompute) {
  TempDir tmp;
  const auto r = run_duet({"generate", kPrompt, "--max-memory", "100M", "--no-progress", "-o",
                           (tmp / "clip.mp4").string()});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("not enough memory on the host"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("100 MiB is available"), std::string::npos) << r.err;
  EXPECT_EQ(r.out.find("seed"), std::string::npos) << "started before failing: " << r.out;
  EXPECT_EQ(r.err.find("loaded the"), std::string::npos) << "loaded weights: " << r.err;
  EXPECT_FALSE(fs::exists(tmp / "clip.mp4"));
}

TEST(OviGenerate, WanOnlyAndOviOnlyOptionsAreRefused) {
  TempDir tmp;
  const auto r = run_duet({"generate", "a cat", "--model", tiny("wan21"), "--audio-guidance", "3",
                           "--no-progress", "-o", (tmp / "c.mp4").string()});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("'audio_guidance' applies to joint audio-video models"), std::string::npos)
      << r.err;
}

}  // namespace
}  // namespace duet
