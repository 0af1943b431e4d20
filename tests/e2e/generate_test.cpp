// `duet generate` on the tiny Wan checkpoints: the MP4 is decoded back with libav and checked
// (size, frame count, frame rate, tags), invalid requests fail before any compute with one
// line naming the nearest valid values, and nothing is left under the output name on failure.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>

#include "support/test_support.h"
#include "unit/media/media_probe.h"

namespace duet {
namespace {

namespace fs = std::filesystem;
using test::run_duet;
using test::TempDir;

std::string tiny(const char* layout) { return (test::tiny_dir() / layout).string(); }

std::vector<std::string> small_args(const std::string& model, const std::string& out,
                                    const std::string& size = "64x48") {
  return {"generate", "a red ball bounces on a gray floor", "--model", model, "-o", out,
          "--size", size, "--frames", "9", "--steps", "2", "--seed", "42", "--device", "cpu",
          "--no-progress"};
}

TEST(Generate, WritesADecodableMp4WithTheRequestedShape) {
  TempDir tmp;
  const std::string out = (tmp / "clip.mp4").string();
  const auto r = run_duet(small_args(tiny("wan21"), out));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("seed 42"), std::string::npos) << r.out;
  const auto info = media::probe::probe_file(out);
  ASSERT_EQ(info.count(AVMEDIA_TYPE_VIDEO), 1);
  EXPECT_EQ(info.count(AVMEDIA_TYPE_AUDIO), 0);
  const auto& v = info.first(AVMEDIA_TYPE_VIDEO);
  EXPECT_EQ(v.codec, "h264");
  EXPECT_EQ(v.width, 64);
  EXPECT_EQ(v.height, 48);
  EXPECT_EQ(v.avg_frame_rate.num * 1, 16 * v.avg_frame_rate.den);  // the preset's 16 fps
  const auto decoded = media::probe::decode_video(out);
  EXPECT_EQ(decoded.luma.size(), 9u);
  const auto tags = media::probe::lower_tags(info);
  EXPECT_EQ(tags.at("seed"), "42");
  EXPECT_NE(tags.at("prompt").find("red ball"), std::string::npos);
  for (const auto& entry : fs::directory_iterator(tmp.path())) {
    EXPECT_EQ(entry.path().filename(), "clip.mp4") << "left behind: " << entry.path();
  }
}

TEST(Generate, SameSeedSameVideo) {
  TempDir tmp;
  const std::string a = (tmp / "a.mp4").string(), b = (tmp / "b.mp4").string();
  // Wan2.2's VAE needs multiples of 32.
  ASSERT_EQ(run_duet(small_args(tiny("wan22-ti2v"), a, "64x64")).exit_code, 0);
  ASSERT_EQ(run_duet(small_args(tiny("wan22-ti2v"), b, "64x64")).exit_code, 0);
  const auto va = media::probe::decode_video(a), vb = media::probe::decode_video(b);
  EXPECT_EQ(va.luma, vb.luma);
  EXPECT_EQ(va.last_rgb, vb.last_rgb);
}

TEST(Generate, DiffusersAndTwoExpertFoldersRun) {
  for (const char* layout : {"wan-diffusers", "wan22-a14b"}) {
    SCOPED_TRACE(layout);
    if (!fs::exists(tiny(layout))) GTEST_SKIP() << layout << " not generated";
    TempDir tmp;
    const std::string out = (tmp / "clip.webm").string();
    const auto r = run_duet(small_args(tiny(layout), out));
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(media::probe::decode_video(out).luma.size(), 9u);
  }
}

// Each bad request: exit code 1, one line on stderr naming what is valid, no output file.
TEST(Generate, InvalidRequestsFailBeforeComputeWithTheNearestValidValues) {
  TempDir tmp;
  const std::string out = (tmp / "clip.mp4").string();
  struct Case {
    std::vector<std::string> extra;
    std::string needle;
  };
  const std::vector<Case> cases = {
      {{"--size", "70x48"}, "nearest valid size: 64x48"},
      {{"--frames", "8"}, "nearest valid: 9"},
      {{"--steps", "0"}, "steps must be in 1..1000"},
      {{"--sampler", "ddim"}, "valid: unipc, euler, dpm++"},
      {{"--guidance-high-noise", "4"}, "two-expert"},
      {{"--attention", "flash9"}, "valid: auto, reference, sdpa"},
      {{"--size", "64by48"}, "--size"},
  };
  for (const auto& c : cases) {
    auto args = small_args(tiny("wan21"), out);
    const auto given = std::find(args.begin(), args.end(), c.extra[0]);
    if (given != args.end()) {
      given[1] = c.extra[1];  // replaces the default value of an option already there
    } else {
      args.insert(args.end(), c.extra.begin(), c.extra.end());
    }
    const auto r = run_duet(args);
    EXPECT_EQ(r.exit_code, 1) << c.needle;
    // Log lines may precede it; the error itself is one line, the last one.
    const std::string last = r.err.substr(r.err.rfind('\n', r.err.size() - 2) + 1);
    EXPECT_EQ(last.rfind("duet: error: ", 0), 0u) << r.err;
    EXPECT_NE(last.find(c.needle), std::string::npos) << r.err;
    EXPECT_FALSE(fs::exists(out));
  }
  const auto missing_dir = run_duet(small_args(tiny("wan21"), (tmp / "no/such/clip.mp4").string()));
  EXPECT_EQ(missing_dir.exit_code, 1);
  EXPECT_NE(missing_dir.err.find("does not exist"), std::string::npos) << missing_dir.err;
  const auto no_model = run_duet(small_args((tmp / "nothing").string(), out));
  EXPECT_EQ(no_model.exit_code, 1);
  EXPECT_NE(no_model.err.find("neither a folder nor a preset"), std::string::npos) << no_model.err;
}

TEST(Generate, MissingComponentsAreNamed) {
  TempDir tmp;
  const fs::path model = tmp / "model";
  fs::create_directories(model);
  for (const auto& e : fs::directory_iterator(tiny("wan21"))) {
    if (e.path().filename() == "Wan2.1_VAE.pth") continue;
    fs::create_symlink(e.path(), model / e.path().filename());
  }
  const auto r = run_duet(small_args(model.string(), (tmp / "clip.mp4").string()));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("Wan2.1_VAE.pth"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace duet

namespace duet {
namespace {

// Ctrl-C in the middle of denoising: exit status 130 and nothing left in the output folder
// (neither the final name nor the writer's temporary file).
TEST(Generate, InterruptLeavesNoOutput) {
  TempDir tmp;
  const std::string out = (tmp / "clip.mp4").string();
  std::string cmd = "'" + test::duet_binary().string() + "'";
  auto args = small_args(tiny("wan21"), out, "256x192");
  // Enough steps that the run cannot finish before the signal (bf16 on CPUs with AMX does
  // ~40 it/s here), and progress lines to wait for.
  *(std::find(args.begin(), args.end(), "--steps") + 1) = "1000";
  args.erase(std::find(args.begin(), args.end(), "--no-progress"));
  for (const auto& a : args) cmd += " '" + a + "'";
  cmd += " > '" + (tmp / "log").string() + "' 2>&1 & pid=$!; "
         "for i in $(seq 100); do grep -q 'denoise ' '" + (tmp / "log").string() +
         "' && break; sleep 0.2; done; kill -INT $pid; wait $pid; echo rc=$?";
  const auto r = test::run_command(cmd);
  EXPECT_NE(r.out.find("rc=130"), std::string::npos) << r.out << test::read_file(tmp / "log");
  EXPECT_NE(test::read_file(tmp / "log").find("cancelled"), std::string::npos);
  for (const auto& entry : fs::directory_iterator(tmp.path())) {
    EXPECT_EQ(entry.path().filename(), "log") << "left behind: " << entry.path();
  }
}

}  // namespace
}  // namespace duet
