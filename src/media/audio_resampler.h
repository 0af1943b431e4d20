#pragma once
// Interleaved float PCM at the source rate -> the audio encoder's rate, layout and sample
// format (libswresample), queued in a FIFO so the encoder can take exact frame sizes.
#include <cstdint>

#include "media/av_util.h"

namespace duet::media {

struct ResamplerConfig {
  int in_rate = 0;
  int in_channels = 1;  // interleaved float input
  int out_rate = 0;
  int out_channels = 1;
  AVSampleFormat out_format = AV_SAMPLE_FMT_FLTP;
};

class AudioResampler {
 public:
  explicit AudioResampler(const ResamplerConfig& config);

  // Converts `samples` frames (per channel) of interleaved float and queues the result.
  void push(const float* interleaved, int64_t samples);
  // Drains the resampling filter's delay into the queue; call once after the last push.
  void flush();

  int64_t available() const;  // queued output samples per channel
  // Fills `frame` (allocated here with nb_samples = count) with the next `count` samples;
  // silence makes up for anything not queued.
  void pop(AVFrame* frame, int count);
  // Discards up to `count` queued samples.
  void drop(int64_t count);

  const ResamplerConfig& config() const { return config_; }

 private:
  void convert(const uint8_t** in, int in_samples);

  ResamplerConfig config_;
  SwrPtr swr_;
  AudioFifoPtr fifo_;
  FramePtr scratch_;
};

}  // namespace duet::media
