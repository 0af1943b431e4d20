// What browsers need from an MP4 to play it while it downloads: H.264 High (or lower) at a
// level they decode, yuv420p limited range, parameter sets in avcC (not in-band), the moov
// box before mdat, ISO brands they recognise, AAC-LC audio.
#include <gtest/gtest.h>

#include <algorithm>

#include "media/video_writer.h"
#include "media_probe.h"
#include "media_test_util.h"
#include "support/test_support.h"

namespace duet::media {
namespace {

using test::TempDir;

void expect_browser_ready(const std::string& path, int width, int height) {
  auto f = probe::probe_file(path);
  ASSERT_EQ(f.count(AVMEDIA_TYPE_VIDEO), 1);
  const auto& v = f.first(AVMEDIA_TYPE_VIDEO);
  EXPECT_EQ(v.codec, "h264");
  EXPECT_EQ(v.codec_tag, MKTAG('a', 'v', 'c', '1'));  // avc3 (in-band SPS) plays in fewer places
  EXPECT_EQ(v.pix_fmt, "yuv420p");
  EXPECT_EQ(v.width, width);
  EXPECT_EQ(v.height, height);
  EXPECT_EQ(v.color_range, AVCOL_RANGE_MPEG);
  EXPECT_EQ(v.colorspace, AVCOL_SPC_BT709);
  // avcC: configurationVersion 1, then profile_idc, constraint flags, level_idc.
  ASSERT_GE(v.extradata.size(), 7u);
  EXPECT_EQ(v.extradata[0], 1);
  EXPECT_EQ(v.extradata[1], 100) << "profile_idc 100 = High";
  const int level = v.extradata[3];
  EXPECT_GT(level, 0);
  EXPECT_LE(level, 51) << "level 5.1 is the most every current browser decodes in hardware";
  // Fast start: ftyp, then moov, before any mdat; our XMP uuid box comes last.
  auto boxes = probe::mp4_top_level_boxes(path);
  ASSERT_GE(boxes.size(), 3u);
  EXPECT_EQ(boxes[0], "ftyp");
  auto moov = std::find(boxes.begin(), boxes.end(), "moov");
  auto mdat = std::find(boxes.begin(), boxes.end(), "mdat");
  ASSERT_NE(moov, boxes.end());
  ASSERT_NE(mdat, boxes.end());
  EXPECT_LT(moov, mdat);
  EXPECT_EQ(boxes.back(), "uuid");
  // Brands: isom major brand with avc1/mp41 compatibility.
  auto bytes = probe::file_bytes(path);
  std::string ftyp(reinterpret_cast<const char*>(bytes.data()), 32);
  EXPECT_EQ(ftyp.substr(8, 4), "isom");
  EXPECT_NE(ftyp.find("avc1"), std::string::npos);
  EXPECT_NE(ftyp.find("mp41"), std::string::npos);
  if (f.count(AVMEDIA_TYPE_AUDIO)) {
    const auto& a = f.first(AVMEDIA_TYPE_AUDIO);
    EXPECT_EQ(a.codec, "aac");
    EXPECT_EQ(a.profile, FF_PROFILE_AAC_LOW);  // mp4a.40.2
    EXPECT_LE(a.channels, 2);
  }
}

TEST(MediaBrowser, DefaultMp4IsBrowserReady) {
  TempDir dir;
  VideoWriterOptions o;
  o.path = dir / "web.mp4";
  o.width = 320;
  o.height = 240;
  o.audio_sample_rate = 16000;
  o.threads = 2;
  test_util::write_clip(o, 12, 8000);
  expect_browser_ready(o.path, 320, 240);
}

TEST(MediaBrowser, FastPresetsStillSignalHighProfile) {
  TempDir dir;
  for (const char* preset : {"ultrafast", "veryfast", "slow"}) {
    SCOPED_TRACE(preset);
    auto o = test_util::small_options(dir / (std::string(preset) + ".mp4"), 96, 64);
    o.preset = preset;
    test_util::write_clip(o, 4, 0);
    expect_browser_ready(o.path, 96, 64);
  }
}

TEST(MediaBrowser, TypicalGenerationSizesStayWithinLevel51) {
  // The sizes the pipelines render (and the largest at 30 fps): level comes from x264's own
  // choice, so check it rather than assume it.
  TempDir dir;
  for (auto [w, h] : {std::pair{1280, 720}, std::pair{960, 960}, std::pair{1920, 1088}}) {
    SCOPED_TRACE(std::to_string(w) + "x" + std::to_string(h));
    auto o = test_util::small_options(dir / "big.mp4", w, h);
    o.fps = {30, 1};
    test_util::write_clip(o, 2, 0);
    expect_browser_ready(o.path, w, h);
  }
}

}  // namespace
}  // namespace duet::media
