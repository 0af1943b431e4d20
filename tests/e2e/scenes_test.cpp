// duet_scenes (tools/train): the procedural training scenes written as MP4 clips with sound,
// decoded back and checked against the JSONL ground truth written beside them.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <filesystem>
#include <sstream>

#include "support/test_support.h"
#include "unit/media/media_probe.h"

namespace duet {
namespace {

namespace fs = std::filesystem;

TEST(Scenes, DumpWritesClipsWithSoundAndTheirGroundTruth) {
  test::TempDir tmp;
  const fs::path tool = test::duet_binary().parent_path() / "duet_scenes";
  const auto r = test::run_command("'" + tool.string() + "' --count 2 --first-seed 1 --size 64 --strips --out '" +
                                   tmp.path().string() + "'");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::istringstream lines(test::read_file(tmp / "scenes.jsonl"));
  std::string line;
  int n = 0;
  while (std::getline(lines, line)) {
    const auto j = nlohmann::json::parse(line);
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

}  // namespace
}  // namespace duet
