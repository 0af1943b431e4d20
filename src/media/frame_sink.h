#pragma once
// The interface behind VideoWriter: one implementation per kind of output (muxed container,
// PNG sequence, animated preview). VideoWriter validates options and handles failure; a sink
// only encodes. Destroying an unfinished sink discards its output.
#include <cstdint>
#include <memory>

#include "media/writer_options.h"

namespace duet::media {

class FrameSink {
 public:
  virtual ~FrameSink() = default;
  virtual void open() = 0;
  virtual void write_frame(const uint8_t* rgb, int stride) = 0;
  virtual void write_audio(const float* interleaved, int64_t samples) = 0;
  virtual void finish() = 0;
  virtual const WriterInfo& info() const = 0;
};

// `format` is already resolved (not kAuto).
std::unique_ptr<FrameSink> make_container_sink(const VideoWriterOptions& options,
                                               OutputFormat format);
std::unique_ptr<FrameSink> make_png_sequence_sink(const VideoWriterOptions& options);
std::unique_ptr<FrameSink> make_preview_sink(const VideoWriterOptions& options,
                                             OutputFormat format);

// Encoded size for yuv420p: even, by padding or a one-line refusal per `policy`.
void even_size(int width, int height, OddSizePolicy policy, int* out_width, int* out_height);

}  // namespace duet::media
