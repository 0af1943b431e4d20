// Clips in: files written by VideoWriter (and by libav directly) read back as frames, times
// and PCM, for remixing.
#include "media/video_reader.h"

#include <gtest/gtest.h>

#include "core/error.h"
#include "media/video_writer.h"
#include "media_probe.h"
#include "media_test_util.h"
#include "support/test_support.h"

namespace duet::media {
namespace {

using test::TempDir;

TEST(VideoReader, ReadsFramesTimesAndAudio) {
  TempDir dir;
  auto o = test_util::small_options(dir / "in.mp4", 64, 48);
  o.fps = {24000, 1001};
  o.crf = 10;
  o.audio_sample_rate = 16000;
  const int frames = 10;
  const int64_t samples = 16000 * frames * 1001 / 24000;
  test_util::write_clip(o, frames, samples);

  VideoClip clip = read_video(o.path);
  EXPECT_TRUE(clip.info.has_video);
  EXPECT_EQ(clip.info.width, 64);
  EXPECT_EQ(clip.info.height, 48);
  EXPECT_EQ(clip.info.fps.num, 24000);
  EXPECT_EQ(clip.info.fps.den, 1001);
  EXPECT_EQ(clip.info.video_codec, "h264");
  ASSERT_EQ(clip.frames.size(), static_cast<size_t>(frames));
  for (int i = 0; i < frames; ++i) {
    EXPECT_NEAR(clip.frame_times[i], i * 1001.0 / 24000, 1e-4);
    EXPECT_GT(probe::psnr(clip.frames[i].pixels, test_util::gradient_frame(64, 48, i)), 30.0);
  }
  EXPECT_TRUE(clip.info.has_audio);
  EXPECT_EQ(clip.info.sample_rate, 16000);
  EXPECT_EQ(clip.info.channels, 1);
  EXPECT_EQ(clip.info.audio_codec, "aac");
  // The tone comes back in place: same length (plus AAC end padding) and correlated.
  auto want = test_util::tone(samples, 16000);
  ASSERT_GE(clip.audio.size(), want.size());
  EXPECT_LE(clip.audio.size(), want.size() + 1024);
  double dot = 0, norm_a = 0, norm_b = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    dot += want[i] * clip.audio[i];
    norm_a += want[i] * want[i];
    norm_b += clip.audio[i] * clip.audio[i];
  }
  EXPECT_GT(dot / std::sqrt(norm_a * norm_b), 0.95);
  EXPECT_EQ(clip.info.tags["ai_generated"], "trainedAlgorithmicMedia");
  EXPECT_NE(clip.info.tags["xmp"].find("trainedAlgorithmicMedia"), std::string::npos);
}

TEST(VideoReader, ResamplesAndLimitsFrames) {
  TempDir dir;
  auto o = test_util::small_options(dir / "in.webm", 32, 32);
  o.audio_sample_rate = 16000;
  test_util::write_clip(o, 24, 16000);
  VideoReaderOptions ro;
  ro.audio_sample_rate = 22050;
  ro.audio_channels = 2;
  ro.max_frames = 6;
  VideoClip clip = read_video(o.path, ro);
  EXPECT_EQ(clip.frames.size(), 6u);
  EXPECT_EQ(clip.info.sample_rate, 22050);
  EXPECT_EQ(clip.info.channels, 2);
  EXPECT_EQ(clip.info.source_sample_rate, 48000);  // Opus
  // Sound for the 6 frames kept (0.25 s), both channels.
  EXPECT_NEAR(clip.audio.size() / 2.0 / 22050, 0.25, 0.01);
}

TEST(VideoReader, StreamsFrameByFrame) {
  TempDir dir;
  auto o = test_util::small_options(dir / "in.mp4", 32, 32);
  test_util::write_clip(o, 5, 0);
  VideoReader reader(o.path);
  EXPECT_FALSE(reader.info().has_audio);
  RgbImage frame;
  double t = -1;
  int n = 0;
  while (reader.read_frame(frame, &t)) {
    EXPECT_EQ(frame.width, 32);
    EXPECT_NEAR(t, n / 24.0, 1e-3);
    ++n;
  }
  EXPECT_EQ(n, 5);
  EXPECT_FALSE(reader.read_frame(frame));
}

TEST(VideoReader, AudioOnlyFiles) {
  TempDir dir;
  auto pcm = test_util::tone(4000, 8000, 2);
  write_wav(dir / "a.wav", pcm.data(), 4000, 8000, 2);
  VideoClip clip = read_video(dir / "a.wav");
  EXPECT_FALSE(clip.info.has_video);
  EXPECT_EQ(clip.info.channels, 2);
  ASSERT_EQ(clip.audio.size(), pcm.size());
  for (size_t i = 0; i < pcm.size(); ++i) ASSERT_NEAR(clip.audio[i], pcm[i], 1e-4);
}

TEST(VideoReader, Errors) {
  TempDir dir;
  EXPECT_THROW(VideoReader(dir / "missing.mp4"), Error);
  test::write_file(dir / "junk.mp4", std::string(1000, 'x'));
  try {
    VideoReader r(dir / "junk.mp4");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("junk.mp4"), std::string::npos);
  }
  auto pcm = test_util::tone(100, 8000);
  write_wav(dir / "a.wav", pcm.data(), 100, 8000);
  VideoReaderOptions ro;
  ro.read_audio = false;
  EXPECT_THROW(VideoReader(dir / "a.wav", ro), Error);  // no video in it
}

}  // namespace
}  // namespace duet::media
