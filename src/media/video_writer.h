#pragma once
// Writes generated clips: frames and samples in, a finished file out. Torch-free; pipelines
// holding tensors use tensor_frames.h.
//
//   media::VideoWriterOptions o;
//   o.path = "clip.mp4";                 // .mp4 .mov .webm .mkv .wav .gif .webp or %04d.png
//   o.width = 720; o.height = 720; o.fps = {24, 1};
//   o.audio_sample_rate = 16000;         // mono float PCM; 0 for a silent clip
//   o.metadata = media::generation_metadata({.prompt = "a cat", .seed = 42});
//   media::VideoWriter w(o);
//   w.open();
//   for (...) w.write_frame(rgb, 720 * 3);  // as the VAE produces them; nothing is kept
//   w.write_audio(pcm.data(), pcm.size());  // any time, any chunking
//   w.finish();                             // renames the temporary file onto clip.mp4
//
// Any error throws duet::Error with a one-line message and discards the temporary file, so no
// partial file appears under the final name; the writer is unusable afterwards.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "media/writer_options.h"

namespace duet::media {

class FrameSink;

class VideoWriter {
 public:
  explicit VideoWriter(VideoWriterOptions options);
  ~VideoWriter();  // an unfinished writer discards its output
  VideoWriter(const VideoWriter&) = delete;
  VideoWriter& operator=(const VideoWriter&) = delete;

  // Checks options and the output folder, opens encoders and writes the header.
  void open();
  // One RGB24 frame of width x height; `stride` is the byte distance between rows
  // (0 = width * 3).
  void write_frame(const uint8_t* rgb, int stride = 0);
  // One float RGB frame (interleaved, values in [-1, 1] as a VAE outputs them); `stride` in
  // floats (0 = width * 3).
  void write_frame(const float* rgb, int stride = 0);
  // `frames` packed RGB24 frames back to back.
  void write_frames(const uint8_t* rgb, int64_t frames);
  // `samples` per channel of interleaved float PCM at audio_sample_rate.
  void write_audio(const float* interleaved, int64_t samples);
  // Flushes encoders, writes the index (moov first for MP4) and renames into place.
  void finish();

  const VideoWriterOptions& options() const { return options_; }
  // Encoders chosen, encoded size, counts; final after finish().
  const WriterInfo& info() const;
  bool is_open() const { return sink_ != nullptr; }
  bool finished() const { return finished_; }

 private:
  template <typename Fn>
  void guarded(const char* what, Fn&& fn);

  VideoWriterOptions options_;
  OutputFormat format_ = OutputFormat::kAuto;
  std::unique_ptr<FrameSink> sink_;
  std::vector<uint8_t> float_scratch_;
  WriterInfo empty_info_;
  bool finished_ = false;
  bool failed_ = false;
  bool ignoring_frames_ = false;  // WAV: frames are dropped (the sound track is the output)
};

// Writes a whole PCM buffer as a WAV (PCM16) file, atomically.
void write_wav(const std::string& path, const float* interleaved, int64_t samples, int sample_rate,
               int channels = 1, const Metadata& metadata = {});

}  // namespace duet::media
