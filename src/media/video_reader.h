#pragma once
// Video clips (anything FFmpeg reads) to RGB frames and float PCM, for remixing and for
// video-conditioned generation. Frames stream one at a time; audio accumulates as the file is
// read (it is small next to video) and is aligned so sample 0 plays with the first frame.
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "media/media_types.h"

namespace duet::media {

struct VideoReaderOptions {
  bool read_video = true;
  bool read_audio = true;
  int audio_sample_rate = 0;  // 0: the source rate
  int audio_channels = 0;     // 0: the source (more than 2 are mixed down to stereo)
  int64_t max_frames = -1;    // -1: all
};

struct MediaInfo {
  bool has_video = false;
  int width = 0, height = 0;
  Rational fps{0, 1};
  int64_t frame_count = 0;  // from the container; an estimate for some formats
  std::string video_codec;
  bool has_audio = false;
  int sample_rate = 0;  // of audio() (after resampling)
  int channels = 0;
  int source_sample_rate = 0;
  int source_channels = 0;
  std::string audio_codec;
  double duration = 0;                      // seconds, from the container
  std::map<std::string, std::string> tags;  // container tags (MP4 XMP under "xmp")
};

class VideoReader {
 public:
  // Throws duet::Error (one line) when the file cannot be opened or holds no wanted stream.
  explicit VideoReader(const std::string& path, VideoReaderOptions options = {});
  ~VideoReader();
  VideoReader(const VideoReader&) = delete;
  VideoReader& operator=(const VideoReader&) = delete;

  const MediaInfo& info() const;
  // The next frame as RGB24, and its presentation time in seconds; false at the end.
  bool read_frame(RgbImage& frame, double* time = nullptr);
  // Decodes the rest of the audio, skipping remaining video.
  void read_audio_to_end();
  // Interleaved float PCM decoded so far (all of it once read_frame returned false).
  const std::vector<float>& audio() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

struct VideoClip {
  MediaInfo info;
  std::vector<RgbImage> frames;
  std::vector<double> frame_times;  // seconds
  std::vector<float> audio;         // interleaved, info.channels per sample
};

// Reads a whole clip into memory (use VideoReader for long inputs).
VideoClip read_video(const std::string& path, VideoReaderOptions options = {});

}  // namespace duet::media
