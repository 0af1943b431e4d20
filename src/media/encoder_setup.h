#pragma once
// Choosing and opening encoders: which FFmpeg encoder a codec choice means, its options
// (CRF, preset, profile), container compatibility, and the NVENC probe with its fallback.
#include <string>

#include "media/av_util.h"
#include "media/media_types.h"
#include "media/output_format.h"

namespace duet::media {

struct VideoEncoderRequest {
  VideoCodec codec = VideoCodec::kAuto;
  OutputFormat format = OutputFormat::kMp4;
  int width = 0, height = 0;  // even: every encoder here takes yuv420p
  Rational fps;
  int crf = -1;        // -1: per-codec default
  std::string preset;  // x264 names work for every codec; numbers for AV1/VP9
  int threads = 0;
  bool global_header = false;  // the muxer wants parameter sets in extradata (MP4, MKV)
};

struct OpenedVideoEncoder {
  CodecContextPtr context;
  VideoCodec codec = VideoCodec::kH264;  // what kAuto resolved to
  std::string encoder_name;              // "libx264", "h264_nvenc", ...
  uint32_t codec_tag = 0;                // forced sample entry (hvc1 for H.265 in MP4)
};

// Throws one-line errors naming the encoder and what to install or use instead.
OpenedVideoEncoder open_video_encoder(const VideoEncoderRequest& request);

struct AudioEncoderRequest {
  OutputFormat format = OutputFormat::kMp4;
  std::string encoder;  // "" = container default: aac, libopus (WebM) or pcm_s16le (WAV)
  int sample_rate = 0;
  int channels = 1;
  int bit_rate = 0;  // 0 = default by channels and rate
  bool global_header = false;
};

struct OpenedAudioEncoder {
  CodecContextPtr context;
  std::string encoder_name;
  int frame_size = 0;  // samples per frame the encoder wants (never 0: PCM gets 1024)
};

OpenedAudioEncoder open_audio_encoder(const AudioEncoderRequest& request);

// The output sample rate when the caller asks for none: the source rate, except Opus, which
// runs at 48 kHz inside WebM whatever the source was.
int default_audio_out_rate(OutputFormat format, const std::string& encoder, int source_rate);

// True when h264_nvenc is compiled in and the NVIDIA driver's encoder library loads
// (cached; it does not open a session).
bool nvenc_driver_present();

}  // namespace duet::media
