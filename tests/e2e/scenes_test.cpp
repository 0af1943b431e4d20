// duet_scenes (tools/train): the procedural training scenes written as MP4 clips with sound,
// decoded back and checked against the JSONL ground truth written beside them; duet_eval_tiny
// (tools/eval_tiny) describing such clips and scoring the generator's own renders.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <filesystem>
#include <sstream>
#include <string>
#include <vector>

#include "media/image_reader.h"
#include "support/test_support.h"
#include "unit/media/media_probe.h"

namespace duet {
namespace {

namespace fs = std::filesystem;

fs::path tool_path(const char* name) { return test::duet_binary().parent_path() / name; }

// Runs duet_scenes with `args` into `dir`; -> the ground truth it wrote, one object per scene.
std::vector<nlohmann::json> write_scenes(const fs::path& dir, const std::string& args) {
  const auto r = test::run_command("'" + tool_path("duet_scenes").string() + "' " + args +
                                   " --out '" + dir.string() + "'");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  std::istringstream lines(test::read_file(dir / "scenes.jsonl"));
  std::vector<nlohmann::json> out;
  for (std::string line; std::getline(lines, line);) out.push_back(nlohmann::json::parse(line));
  return out;
}

TEST(Scenes, DumpWritesClipsWithSoundAndTheirGroundTruth) {
  test::TempDir tmp;
  int n = 0;
  for (const auto& j : write_scenes(tmp.path(), "--count 2 --first-seed 1 --size 64 --strips")) {
    const std::string file = (tmp / j.at("file").get<std::string>()).string();
    const auto info = media::probe::probe_file(file);
    EXPECT_EQ(info.count(AVMEDIA_TYPE_AUDIO), 1);
    EXPECT_EQ(media::probe::decode_video(file).frames(), 121u);
    EXPECT_NE(j.at("caption").get<std::string>().find(j.at("objects")[0].at("color").get<std::string>()),
              std::string::npos);
    EXPECT_TRUE(fs::exists(tmp / ("scene-0000" + std::to_string(1 + n) + ".png")));
    ++n;
  }
  EXPECT_EQ(n, 2);
}

TEST(EvalTiny, ClipModeDescribesAWrittenSceneAsItsGroundTruthSays) {
  test::TempDir tmp;
  int n = 0;
  for (const auto& truth : write_scenes(tmp.path(), "--count 4 --first-seed 20 --size 128")) {
    const std::string line = truth.dump();
    const fs::path clip = tmp / truth.at("file").get<std::string>();
    const fs::path strip = tmp / ("strip" + std::to_string(n) + ".png");
    const fs::path report = tmp / ("report" + std::to_string(n) + ".json");
    const auto e = test::run_command("'" + tool_path("duet_eval_tiny").string() + "' --clip '" +
                                     clip.string() + "' --strip '" + strip.string() +
                                     "' --json '" + report.string() + "'");
    ASSERT_EQ(e.exit_code, 0) << e.err;
    EXPECT_NE(e.out.find("onsets"), std::string::npos) << e.out;
    const auto got = nlohmann::json::parse(test::read_file(report));
    const auto& object = truth.at("objects")[0];
    EXPECT_EQ(got.at("color"), object.at("color")) << line;
    EXPECT_EQ(got.at("motion"), object.at("motion")) << line;
    // Still scenes are exactly silent; every other scene rolls, slides or knocks.
    if (object.at("motion") == "still") {
      EXPECT_LT(got.at("audio_rms_dbfs").get<double>(), -100.0) << line;
    } else {
      EXPECT_GT(got.at("audio_peak_dbfs").get<double>(), -60.0) << line;
    }
    const media::RgbImage png = media::read_image(strip.string());
    EXPECT_EQ(png.width, 128 * 11);  // frames 0, 12, ..., 120
    EXPECT_EQ(png.height, 128);
    ++n;
  }
  EXPECT_EQ(n, 4);
}

TEST(EvalTiny, OracleScoresTheGeneratorsOwnRendersAndRejectsBadOptions) {
  test::TempDir tmp;
  const std::string tool = "'" + tool_path("duet_eval_tiny").string() + "'";
  const auto r = test::run_command(tool + " --oracle --count 4 --json '" + (tmp / "o.json").string() + "'");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto s = nlohmann::json::parse(test::read_file(tmp / "o.json")).at("summary");
  EXPECT_EQ(s.at("clips"), 4);
  EXPECT_EQ(s.at("color").at("ok"), 4);
  EXPECT_EQ(s.at("motion").at("ok"), 4);
  EXPECT_EQ(s.at("still").at("quiet"), 1);  // motions in turn: one still clip in four
  const auto bad = test::run_command(tool + " --strip '" + (tmp / "x.png").string() + "' --oracle");
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_NE(bad.err.find("--strip goes with --clip"), std::string::npos) << bad.err;
}

// --decoders=video keeps the rendered sound and --decoders=audio the rendered frames, so each
// half's score can be told apart: the kept half analyses exactly as the oracle's.
TEST(EvalTiny, DecodersOfOneHalfKeepTheOtherAsRendered) {
  test::TempDir tmp;
  const std::string tool = "'" + tool_path("duet_eval_tiny").string() + "'";
  auto clips = [&](const std::string& mode) {
    const fs::path report = tmp / (mode + ".json");
    // The oracle without --out analyses the renders themselves (no MP4 round trip), as the
    // decoders' runs analyse what they decode.
    const std::string out = mode == "--oracle" ? "" : " --out '" + (tmp / "clips").string() + "'";
    const auto r = test::run_command(tool + " " + mode + " --count 2" + out + " --json '" +
                                     report.string() + "'");
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return nlohmann::json::parse(test::read_file(report));
  };
  const auto oracle = clips("--oracle").at("clips");
  const auto video = clips("--decoders=video");
  const auto audio = clips("--decoders=audio");
  EXPECT_NE(video.at("model").get<std::string>().find("video only"), std::string::npos);
  for (size_t i = 0; i < 2; ++i) {
    const auto& o = oracle[i];
    const auto& v = video.at("clips")[i];
    const auto& a = audio.at("clips")[i];
    EXPECT_EQ(v.at("audio_onsets"), o.at("audio_onsets")) << i;
    EXPECT_EQ(v.at("audio_rms_dbfs"), o.at("audio_rms_dbfs")) << i;
    EXPECT_EQ(a.at("visual_impacts"), o.at("visual_impacts")) << i;
    EXPECT_EQ(a.at("color"), o.at("color")) << i;
    // ... while the decoded half differs from the render.
    EXPECT_NE(v.at("color").at("rgb"), o.at("color").at("rgb")) << i;
    EXPECT_NE(a.at("audio_rms_dbfs"), o.at("audio_rms_dbfs")) << i;
  }
  const auto bad = test::run_command(tool + " --decoders=mel --count 1");
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_NE(bad.err.find("mel"), std::string::npos) << bad.err;
}

}  // namespace
}  // namespace duet
