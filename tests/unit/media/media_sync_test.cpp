// Audio/video synchronisation, measured the way a viewer would notice it: a white flash at
// frame k and a click at k / fps seconds are written, decoded back with libav, and the
// decoded flash-to-click offset must be at most one frame, for every frame rate we ship
// (16, 24, 30, 24000/1001) and both web containers (MP4/AAC, WebM/Opus).
#include <gtest/gtest.h>

#include <cmath>

#include "media/video_writer.h"
#include "media_probe.h"
#include "media_test_util.h"
#include "support/test_support.h"

namespace duet::media {
namespace {

using test::TempDir;

struct SyncCase {
  Rational fps;
  const char* ext;
};

std::string case_name(const testing::TestParamInfo<SyncCase>& info) {
  return std::string(info.param.ext) + "_" + std::to_string(info.param.fps.num) + "_" +
         std::to_string(info.param.fps.den);
}

class MediaSync : public testing::TestWithParam<SyncCase> {};

TEST_P(MediaSync, FlashAndClickLineUpWithinOneFrame) {
  const SyncCase c = GetParam();
  const double fps = c.fps.value();
  const int frames = static_cast<int>(std::ceil(2.0 * fps));   // 2 s
  const int flash = static_cast<int>(std::lround(1.1 * fps));  // not on a round second
  const int rate = 16000;
  TempDir dir;
  VideoWriterOptions o;
  o.path = dir / (std::string("sync.") + c.ext);
  o.width = 64;
  o.height = 64;
  o.fps = c.fps;
  o.preset = "ultrafast";
  o.threads = 1;
  o.audio_sample_rate = rate;

  // The click: 5 ms of a full-scale square wave starting at flash / fps seconds; the sample
  // index is computed exactly from the rational rate.
  const int64_t total = static_cast<int64_t>(std::llround(frames / fps * rate));
  const int64_t click_at = static_cast<int64_t>(flash) * rate * c.fps.den / c.fps.num;
  std::vector<float> pcm(total, 0.0f);
  for (int64_t i = 0; i < rate / 200; ++i) pcm[click_at + i] = (i / 4) % 2 ? -0.9f : 0.9f;

  VideoWriter w(o);
  w.open();
  w.write_audio(pcm.data(), total);
  auto dark = test_util::solid_frame(64, 64, 16, 16, 16);
  auto white = test_util::solid_frame(64, 64, 255, 255, 255);
  for (int i = 0; i < frames; ++i) w.write_frame(i == flash ? white.data() : dark.data());
  w.finish();

  auto video = probe::decode_video(o.path);
  ASSERT_EQ(video.frames(), static_cast<size_t>(frames));
  size_t bright = std::max_element(video.luma.begin(), video.luma.end()) - video.luma.begin();
  ASSERT_EQ(bright, static_cast<size_t>(flash));
  const double flash_time = video.times[bright];
  // Frame timestamps are exact (to the container's clock: 1 ms in Matroska).
  EXPECT_NEAR(flash_time, flash / fps, 0.0006);

  auto audio = probe::decode_audio(o.path);
  ASSERT_GT(audio.count(), 0);
  float peak = 0;
  for (float s : audio.samples) peak = std::max(peak, std::abs(s));
  int64_t onset = -1;
  for (int64_t i = 0; i < audio.count(); ++i) {
    if (std::abs(audio.samples[i * audio.channels]) > 0.5f * peak) {
      onset = i;
      break;
    }
  }
  ASSERT_GE(onset, 0);
  const double click_time = audio.start + onset / static_cast<double>(audio.sample_rate);
  const double offset = click_time - flash_time;
  RecordProperty("offset_ms", std::to_string(offset * 1000));
  EXPECT_LE(std::abs(offset), 1.0 / fps) << "offset " << offset * 1000 << " ms";
  // Measured: under 0.4 ms everywhere (priming is compensated to the sample); keep it so.
  EXPECT_LE(std::abs(offset), 0.002) << "offset " << offset * 1000 << " ms";

  // Durations agree within one frame, as the container declares them (what players use; a
  // libav decode of AAC also returns the padding of the last frame, see video_writer_test).
  auto info = probe::probe_file(o.path);
  const double video_duration = info.first(AVMEDIA_TYPE_VIDEO).duration;
  const double audio_duration = info.first(AVMEDIA_TYPE_AUDIO).duration;
  if (video_duration > 0 && audio_duration > 0) {
    EXPECT_NEAR(video_duration, frames / fps, 0.0006);
    EXPECT_NEAR(audio_duration, video_duration, 1.0 / fps);
  } else {
    // Matroska keeps no per-stream duration; the file's duration covers both streams.
    EXPECT_NEAR(info.duration, frames / fps, 1.0 / fps);
  }
  EXPECT_GE(audio.start + audio.duration(), frames / fps - 1.0 / fps);
}

INSTANTIATE_TEST_SUITE_P(Media, MediaSync,
                         testing::Values(SyncCase{{16, 1}, "mp4"}, SyncCase{{24, 1}, "mp4"},
                                         SyncCase{{30, 1}, "mp4"}, SyncCase{{24000, 1001}, "mp4"},
                                         SyncCase{{16, 1}, "webm"}, SyncCase{{24, 1}, "webm"},
                                         SyncCase{{30, 1}, "webm"},
                                         SyncCase{{24000, 1001}, "webm"}),
                         case_name);

}  // namespace
}  // namespace duet::media
