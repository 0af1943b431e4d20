#include "media/video_writer.h"

#include <spdlog/spdlog.h>

#include "core/error.h"
#include "media/color_convert.h"
#include "media/frame_sink.h"

namespace duet::media {

VideoWriter::VideoWriter(VideoWriterOptions options) : options_(std::move(options)) {}

VideoWriter::~VideoWriter() = default;

const WriterInfo& VideoWriter::info() const { return sink_ ? sink_->info() : empty_info_; }

template <typename Fn>
void VideoWriter::guarded(const char* what, Fn&& fn) {
  DUET_CHECK(!failed_, "the writer for '{}' stopped after an earlier error", options_.path);
  DUET_CHECK(!finished_, "cannot {} '{}': the writer has finished", what, options_.path);
  DUET_CHECK(sink_, "cannot {} '{}': call open() first", what, options_.path);
  try {
    fn();
  } catch (...) {
    // Destroying the sink closes the encoders and removes the temporary file.
    failed_ = true;
    empty_info_ = sink_->info();
    sink_.reset();
    throw;
  }
}

void VideoWriter::open() {
  DUET_CHECK(!sink_ && !failed_ && !finished_, "writer for '{}' is already open", options_.path);
  DUET_CHECK(!options_.path.empty(), "no output path given");
  DUET_CHECK(options_.fps.valid(), "frame rate {} must be positive", options_.fps.str());
  DUET_CHECK(options_.width >= 0 && options_.height >= 0 && options_.width <= 16384 &&
                 options_.height <= 16384,
             "frame size {}x{} is out of range (1-16384)", options_.width, options_.height);
  DUET_CHECK(options_.audio_sample_rate >= 0, "audio sample rate {} is negative",
             options_.audio_sample_rate);
  format_ = infer_output_format(options_.path, options_.format);
  VideoWriterOptions opts = options_;
  opts.format = format_;
  if (format_ == OutputFormat::kWav) {
    DUET_CHECK(opts.audio_sample_rate > 0, "WAV output '{}' needs an audio sample rate", opts.path);
    ignoring_frames_ = opts.width > 0;
    opts.width = opts.height = 0;
  }
  if (format_ == OutputFormat::kPngSequence) {
    sink_ = make_png_sequence_sink(opts);
  } else if (format_ == OutputFormat::kGif || format_ == OutputFormat::kWebp) {
    sink_ = make_preview_sink(opts, format_);
  } else {
    sink_ = make_container_sink(opts, format_);
  }
  try {
    sink_->open();
  } catch (...) {
    failed_ = true;
    sink_.reset();
    throw;
  }
}

void VideoWriter::write_frame(const uint8_t* rgb, int stride) {
  if (ignoring_frames_) return;
  guarded("write a frame to",
          [&] { sink_->write_frame(rgb, stride > 0 ? stride : options_.width * 3); });
}

void VideoWriter::write_frame(const float* rgb, int stride) {
  if (ignoring_frames_) return;
  guarded("write a frame to", [&] {
    DUET_CHECK(rgb != nullptr, "frame data is null");
    const int row = options_.width * 3;
    if (stride <= 0) stride = row;
    DUET_CHECK(stride >= row, "frame stride {} floats is smaller than width * 3 = {}", stride, row);
    float_scratch_.resize(static_cast<size_t>(row) * options_.height);
    for (int y = 0; y < options_.height; ++y) {
      FrameConverter::float_to_rgb8(rgb + static_cast<ptrdiff_t>(y) * stride, row,
                                    float_scratch_.data() + static_cast<size_t>(y) * row);
    }
    sink_->write_frame(float_scratch_.data(), row);
  });
}

void VideoWriter::write_frames(const uint8_t* rgb, int64_t frames) {
  const size_t frame_bytes = static_cast<size_t>(options_.width) * options_.height * 3;
  for (int64_t i = 0; i < frames; ++i) write_frame(rgb + i * frame_bytes, options_.width * 3);
}

void VideoWriter::write_audio(const float* interleaved, int64_t samples) {
  guarded("write audio to", [&] { sink_->write_audio(interleaved, samples); });
}

void VideoWriter::finish() {
  guarded("finish", [&] { sink_->finish(); });
  finished_ = true;
}

void write_wav(const std::string& path, const float* interleaved, int64_t samples, int sample_rate,
               int channels, const Metadata& metadata) {
  VideoWriterOptions o;
  o.path = path;
  o.format = OutputFormat::kWav;
  o.audio_sample_rate = sample_rate;
  o.audio_channels = channels;
  o.metadata = metadata;
  VideoWriter writer(o);
  writer.open();
  writer.write_audio(interleaved, samples);
  writer.finish();
}

}  // namespace duet::media
