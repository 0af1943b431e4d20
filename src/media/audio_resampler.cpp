#include "media/audio_resampler.h"

extern "C" {
#include <libavutil/channel_layout.h>
#include <libavutil/samplefmt.h>
}

#include <algorithm>

#include "core/error.h"

namespace duet::media {

AudioResampler::AudioResampler(const ResamplerConfig& config) : config_(config) {
  const ResamplerConfig& c = config_;
  DUET_CHECK(c.in_rate > 0 && c.out_rate > 0, "audio sample rates must be positive ({} -> {})",
             c.in_rate, c.out_rate);
  DUET_CHECK(c.in_channels >= 1 && c.in_channels <= 2 && c.out_channels >= 1 && c.out_channels <= 2,
             "audio must be mono or stereo (got {} -> {} channels)", c.in_channels, c.out_channels);
  AVChannelLayout in_layout, out_layout;
  av_channel_layout_default(&in_layout, c.in_channels);
  av_channel_layout_default(&out_layout, c.out_channels);
  SwrContext* swr = nullptr;
  int rc = swr_alloc_set_opts2(&swr, &out_layout, c.out_format, c.out_rate, &in_layout,
                               AV_SAMPLE_FMT_FLT, c.in_rate, 0, nullptr);
  swr_.reset(swr);
  DUET_CHECK(rc >= 0, "cannot set up audio resampling {} Hz -> {} Hz: {}", c.in_rate, c.out_rate,
             av_error_text(rc));
  // swresample's default matrix mixes mono into stereo at -3 dB (centre mix level) and stereo
  // into mono likewise; a generated mono track should keep its level on both sides, and a
  // stereo track fold down as the plain average.
  if (c.in_channels == 1 && c.out_channels == 2) {
    const double matrix[2] = {1.0, 1.0};
    swr_set_matrix(swr_.get(), matrix, 1);
  } else if (c.in_channels == 2 && c.out_channels == 1) {
    const double matrix[2] = {0.5, 0.5};
    swr_set_matrix(swr_.get(), matrix, 2);
  }
  rc = swr_init(swr_.get());
  DUET_CHECK(rc >= 0, "cannot start audio resampling {} Hz -> {} Hz: {}", c.in_rate, c.out_rate,
             av_error_text(rc));
  fifo_.reset(av_audio_fifo_alloc(c.out_format, c.out_channels, 4096));
  DUET_CHECK(fifo_, "out of memory allocating the audio queue");
  scratch_ = make_frame();
}

void AudioResampler::convert(const uint8_t** in, int in_samples) {
  int capacity = swr_get_out_samples(swr_.get(), in_samples);
  DUET_CHECK(capacity >= 0, "audio resampler cannot size its output: {}", av_error_text(capacity));
  if (capacity == 0) return;
  AVFrame* f = scratch_.get();
  if (f->nb_samples < capacity) {
    av_frame_unref(f);
    f->format = config_.out_format;
    av_channel_layout_default(&f->ch_layout, config_.out_channels);
    f->nb_samples = capacity;
    int rc = av_frame_get_buffer(f, 0);
    DUET_CHECK(rc >= 0, "out of memory for {} audio samples", capacity);
  }
  int got = swr_convert(swr_.get(), f->data, capacity, in, in_samples);
  DUET_CHECK(got >= 0, "audio resampling failed: {}", av_error_text(got));
  if (got == 0) return;
  int rc = av_audio_fifo_write(fifo_.get(), reinterpret_cast<void**>(f->data), got);
  DUET_CHECK(rc == got, "out of memory queueing audio samples");
}

void AudioResampler::push(const float* interleaved, int64_t samples) {
  DUET_CHECK(samples >= 0, "audio sample count {} is negative", samples);
  DUET_CHECK(samples == 0 || interleaved != nullptr, "audio data is null");
  // Bounded chunks keep the conversion buffer small whatever the caller hands over.
  constexpr int64_t kChunk = 1 << 15;
  for (int64_t done = 0; done < samples;) {
    int n = static_cast<int>(std::min(kChunk, samples - done));
    const auto* ptr = reinterpret_cast<const uint8_t*>(interleaved + done * config_.in_channels);
    const uint8_t* planes[1] = {ptr};
    convert(planes, n);
    done += n;
  }
}

void AudioResampler::flush() { convert(nullptr, 0); }

int64_t AudioResampler::available() const { return av_audio_fifo_size(fifo_.get()); }

void AudioResampler::pop(AVFrame* frame, int count) {
  av_frame_unref(frame);
  frame->format = config_.out_format;
  av_channel_layout_default(&frame->ch_layout, config_.out_channels);
  frame->sample_rate = config_.out_rate;
  frame->nb_samples = count;
  int rc = av_frame_get_buffer(frame, 0);
  DUET_CHECK(rc >= 0, "out of memory for an audio frame of {} samples", count);
  int got = av_audio_fifo_read(fifo_.get(), reinterpret_cast<void**>(frame->data), count);
  DUET_CHECK(got >= 0, "reading queued audio failed: {}", av_error_text(got));
  if (got < count) {
    av_samples_set_silence(frame->data, got, count - got, config_.out_channels, config_.out_format);
  }
}

void AudioResampler::drop(int64_t count) {
  int n = static_cast<int>(std::min<int64_t>(count, available()));
  if (n > 0) av_audio_fifo_drain(fifo_.get(), n);
}

}  // namespace duet::media
