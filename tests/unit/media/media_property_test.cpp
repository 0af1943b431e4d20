// Property tests: random sizes (odd ones included), frame counts (1 included), sample counts
// (0 included), rates and containers, from a seeded generator so a failure reproduces. Each
// case is decoded back with libav and checked for the invariants the writer promises.
#include <gtest/gtest.h>

#include <random>

#include "media/video_writer.h"
#include "media_probe.h"
#include "media_test_util.h"
#include "support/test_support.h"

namespace duet::media {
namespace {

using test::TempDir;

struct Case {
  int width, height, frames;
  int64_t samples;
  Rational fps;
  int rate, channels;
  bool audio;
  const char* ext;
};

std::string describe(const Case& c) {
  return std::to_string(c.width) + "x" + std::to_string(c.height) +
         " frames=" + std::to_string(c.frames) + " samples=" + std::to_string(c.samples) +
         " fps=" + c.fps.str() + " rate=" + std::to_string(c.rate) +
         " ch=" + std::to_string(c.channels) + " audio=" + std::to_string(c.audio) + " " + c.ext;
}

std::vector<Case> random_cases(uint32_t seed, int count) {
  std::mt19937 rng(seed);
  auto pick = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  const Rational rates[] = {{16, 1}, {24, 1}, {30, 1}, {24000, 1001}, {25, 2}};
  const int sample_rates[] = {8000, 16000, 22050, 44100, 48000};
  const char* exts[] = {"mp4", "mp4", "webm", "mkv", "mov"};
  std::vector<Case> cases;
  for (int i = 0; i < count; ++i) {
    Case c;
    c.width = pick(1, 80);
    c.height = pick(1, 60);
    c.frames = i == 0 ? 1 : pick(1, 30);
    c.fps = rates[pick(0, 4)];
    c.rate = sample_rates[pick(0, 4)];
    c.channels = pick(1, 2);
    c.audio = i % 4 != 3;
    // 0 samples, a few, about the video's length, or much longer.
    int mode = i == 1 ? 0 : pick(0, 3);
    double seconds = c.frames / c.fps.value();
    c.samples = mode == 0   ? 0
                : mode == 1 ? pick(1, 500)
                : mode == 2 ? int64_t(seconds * c.rate)
                            : int64_t(3 * seconds * c.rate);
    c.ext = exts[pick(0, 4)];
    cases.push_back(c);
  }
  return cases;
}

TEST(MediaProperty, RandomClipsDecodeBackAsWritten) {
  TempDir dir;
  int index = 0;
  for (const Case& c : random_cases(20240611, 24)) {
    SCOPED_TRACE(describe(c));
    VideoWriterOptions o;
    o.path = dir / ("case" + std::to_string(index++) + "." + c.ext);
    o.width = c.width;
    o.height = c.height;
    o.fps = c.fps;
    o.preset = "ultrafast";
    o.threads = 1;
    if (c.audio) {
      o.audio_sample_rate = c.rate;
      o.audio_channels = c.channels;
    }
    test_util::write_clip(o, c.frames, c.samples);

    auto f = probe::probe_file(o.path);
    ASSERT_EQ(f.streams.size(), c.audio ? 2u : 1u);
    const auto& v = f.first(AVMEDIA_TYPE_VIDEO);
    EXPECT_EQ(v.pix_fmt, "yuv420p");
    EXPECT_EQ(v.width, c.width + (c.width & 1));  // padded to even
    EXPECT_EQ(v.height, c.height + (c.height & 1));
    auto video = probe::decode_video(o.path);
    ASSERT_EQ(video.frames(), static_cast<size_t>(c.frames));
    const double frame = 1.0 / c.fps.value();
    for (int i = 0; i < c.frames; ++i) {
      // Exact to the container clock (1 ms in Matroska).
      EXPECT_NEAR(video.times[i], i * frame, 0.0006) << "frame " << i;
    }
    // Content survives: the first frame's gradient, within lossy tolerance, where there is
    // enough picture for chroma subsampling not to dominate.
    if (c.width >= 16 && c.height >= 16) {
      auto want = test_util::gradient_frame(c.width, c.height, 0);
      std::vector<uint8_t> got;
      for (int y = 0; y < c.height; ++y) {
        auto* row = &video.first_rgb[static_cast<size_t>(y) * video.width * 3];
        got.insert(got.end(), row, row + c.width * 3);
      }
      EXPECT_GT(probe::psnr(want, got), 24.0);
    }
    if (c.audio) {
      const auto& a = f.first(AVMEDIA_TYPE_AUDIO);
      EXPECT_EQ(a.channels, c.channels);
      auto audio = probe::decode_audio(o.path);
      // Audio is fitted to the video: the decoded end is within one video frame of it (plus
      // the last codec frame's padding, which libav returns for AAC in MP4).
      const double video_end = c.frames * frame;
      const double pad = std::string(c.ext) == "webm" ? 0.0 : 1024.0 / a.sample_rate;
      EXPECT_GE(audio.start + audio.duration(), video_end - frame);
      EXPECT_LE(audio.start + audio.duration(), video_end + frame + pad);
    }
  }
}

TEST(MediaProperty, RandomPcmSurvivesWav) {
  TempDir dir;
  std::mt19937 rng(7);
  for (int i = 0; i < 12; ++i) {
    int64_t samples = i == 0 ? 0 : std::uniform_int_distribution<int64_t>(1, 20000)(rng);
    int channels = 1 + i % 2;
    int rate = i % 3 == 0 ? 16000 : 44100;
    SCOPED_TRACE(std::to_string(samples) + " samples, " + std::to_string(channels) + " ch");
    std::vector<float> pcm(samples * channels);
    std::uniform_real_distribution<float> u(-1.0f, 1.0f);
    for (float& s : pcm) s = u(rng);
    auto path = (dir / ("r" + std::to_string(i) + ".wav")).string();
    write_wav(path, pcm.data(), samples, rate, channels);
    auto f = probe::probe_file(path);
    ASSERT_EQ(f.streams.size(), 1u);
    EXPECT_EQ(f.streams[0].sample_rate, rate);
    EXPECT_EQ(f.streams[0].channels, channels);
    if (samples == 0) continue;
    auto a = probe::decode_audio(path);
    ASSERT_EQ(a.count(), samples);
    for (size_t k = 0; k < pcm.size(); ++k) ASSERT_NEAR(a.samples[k], pcm[k], 1.0 / 32000) << k;
  }
}

}  // namespace
}  // namespace duet::media
