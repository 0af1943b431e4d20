#pragma once
// Options for VideoWriter. Defaults give what DESIGN.md promises: H.264 High yuv420p + AAC-LC
// in a fast-start MP4 with generation tags and the AI-generated label.
#include <cstdint>
#include <string>

#include "media/media_types.h"
#include "media/metadata.h"
#include "media/output_format.h"
#include "media/watermark.h"

namespace duet::media {

// yuv420p needs even sizes: pad (one replicated column/row) or refuse.
enum class OddSizePolicy { kPad, kReject };

// What to do when the audio is shorter or longer than the video.
enum class AudioFit {
  kMatchVideo,  // pad with silence or cut so both end together (to the sample)
  kKeep,        // write the audio as given
};

struct VideoWriterOptions {
  std::string path;                           // target file, or a %d pattern for PNG frames
  OutputFormat format = OutputFormat::kAuto;  // kAuto: from the extension

  // Video: frames handed over are width x height RGB. 0 x 0 for audio-only (WAV).
  int width = 0;
  int height = 0;
  Rational fps{24, 1};
  VideoCodec codec = VideoCodec::kAuto;
  int crf = -1;        // -1: h264 20, h265 24, av1 32, vp9 32, nvenc 23
  std::string preset;  // x264 names for every codec ("" = medium), or SVT/VP9 numbers
  OddSizePolicy odd_size = OddSizePolicy::kPad;
  int threads = 0;  // encoder threads, 0 = encoder default

  // Audio: interleaved float PCM in [-1, 1]. audio_sample_rate 0 means no audio stream.
  int audio_sample_rate = 0;
  int audio_channels = 1;
  int audio_out_sample_rate = 0;  // 0: source rate (WebM/Opus: 48000); else resampled
  int audio_out_channels = 0;     // 0: as the source; 1 or 2 (mono is copied to both sides)
  std::string audio_codec;        // "" = aac (MP4/MOV/MKV), libopus (WebM), pcm_s16le (WAV)
  int audio_bit_rate = 0;         // 0 = 64 kb/s per channel (96 above 24 kHz for AAC)
  AudioFit audio_fit = AudioFit::kMatchVideo;

  // Tags (see metadata.h for keys and where each format stores them).
  Metadata metadata;
  bool ai_generated_label = true;

  // Visible text mark; empty = none.
  std::string watermark;
  Corner watermark_corner = Corner::kBottomRight;

  // GIF/WebP previews are scaled so the longer side is at most this (0 = full size).
  int preview_max_side = 480;
  // First number substituted into a PNG pattern.
  int png_start_number = 0;
};

// What a writer produced; filled as it goes, final after finish().
struct WriterInfo {
  std::string path;  // final path (a WebP preview that fell back to GIF ends in .gif)
  OutputFormat format = OutputFormat::kAuto;
  std::string video_encoder;  // "libx264", "h264_nvenc", "png", "gif", ...
  std::string audio_encoder;  // "aac", "libopus", "pcm_s16le", or empty
  int width = 0, height = 0;  // encoded size (padded, or scaled for previews)
  int64_t frames = 0;
  int64_t audio_samples = 0;  // encoded samples per channel at audio_sample_rate
  int audio_sample_rate = 0;  // output rate
  int audio_channels = 0;
};

}  // namespace duet::media
