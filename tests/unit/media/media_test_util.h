#pragma once
// Synthetic frames and sound for the media tests: smooth moving content (so encoders behave
// as on real footage), optional flash and click for synchronisation checks.
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "media/video_writer.h"

namespace duet::media::test_util {

// An RGB24 frame of moving diagonal gradients, distinct per frame index.
inline std::vector<uint8_t> gradient_frame(int w, int h, int index) {
  std::vector<uint8_t> rgb(static_cast<size_t>(w) * h * 3);
  for (int y = 0; y < h; ++y) {
    for (int x = 0; x < w; ++x) {
      uint8_t* p = &rgb[(static_cast<size_t>(y) * w + x) * 3];
      p[0] = static_cast<uint8_t>((x * 255) / std::max(1, w - 1));
      p[1] = static_cast<uint8_t>((y * 255) / std::max(1, h - 1));
      p[2] = static_cast<uint8_t>((x + y + 4 * index) & 255);
    }
  }
  return rgb;
}

inline std::vector<uint8_t> solid_frame(int w, int h, uint8_t r, uint8_t g, uint8_t b) {
  std::vector<uint8_t> rgb(static_cast<size_t>(w) * h * 3);
  for (size_t i = 0; i < rgb.size(); i += 3) {
    rgb[i] = r;
    rgb[i + 1] = g;
    rgb[i + 2] = b;
  }
  return rgb;
}

// `samples` of a quiet 440 Hz tone, interleaved over `channels`.
inline std::vector<float> tone(int64_t samples, int rate, int channels = 1, float amp = 0.2f) {
  std::vector<float> pcm(static_cast<size_t>(samples) * channels);
  for (int64_t i = 0; i < samples; ++i) {
    float v = amp * std::sin(2.0f * 3.14159265f * 440.0f * i / rate);
    for (int c = 0; c < channels; ++c) pcm[i * channels + c] = v;
  }
  return pcm;
}

inline VideoWriterOptions small_options(const std::string& path, int w = 64, int h = 48) {
  VideoWriterOptions o;
  o.path = path;
  o.width = w;
  o.height = h;
  o.fps = {24, 1};
  o.preset = "ultrafast";
  o.threads = 1;
  return o;
}

// Writes `frames` gradient frames and `samples` of tone with the given options.
inline WriterInfo write_clip(const VideoWriterOptions& o, int frames, int64_t samples) {
  VideoWriter w(o);
  w.open();
  std::vector<float> pcm;
  if (o.audio_sample_rate > 0) pcm = tone(samples, o.audio_sample_rate, o.audio_channels);
  // Audio first, in two pieces, as a pipeline that decodes sound before frames would.
  if (o.audio_sample_rate > 0) {
    int64_t half = samples / 2;
    w.write_audio(pcm.data(), half);
    w.write_audio(pcm.data() + half * o.audio_channels, samples - half);
  }
  for (int i = 0; i < frames; ++i) w.write_frame(gradient_frame(o.width, o.height, i).data());
  w.finish();
  return w.info();
}

}  // namespace duet::media::test_util
