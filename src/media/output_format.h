#pragma once
// Output kinds and codec choices, parsed from option strings or inferred from the file name.
#include <string>

namespace duet::media {

enum class OutputFormat {
  kAuto,         // from the file extension
  kMp4,          // .mp4 .m4v: H.264/H.265/AV1 + AAC, fast start
  kMov,          // .mov: as MP4, QuickTime brand
  kWebm,         // .webm: VP9/AV1 + Opus
  kMkv,          // .mkv: any of our codecs
  kWav,          // .wav: PCM16, audio only
  kPngSequence,  // a printf pattern such as frames/%04d.png
  kGif,          // animated preview
  kWebp,         // animated preview (falls back to GIF when libwebp is missing)
};

enum class VideoCodec {
  kAuto,   // per container: H.264 (NVENC when a GPU encoder opens, else libx264) or VP9
  kH264,   // libx264
  kH265,   // libx265
  kAv1,    // libsvtav1 (libaom-av1 when SVT is missing)
  kVp9,    // libvpx-vp9
  kNvenc,  // h264_nvenc, no fallback
};

OutputFormat parse_output_format(const std::string& name);  // "mp4", "webm", "png", ...
VideoCodec parse_video_codec(const std::string& name);      // "auto", "h264", "hevc", ...
const char* output_format_name(OutputFormat format);
const char* video_codec_name(VideoCodec codec);

// kAuto resolved from the path's extension; a '%' pattern with .png is a frame sequence.
OutputFormat infer_output_format(const std::string& path, OutputFormat requested);

bool format_has_video(OutputFormat format);
bool format_has_audio(OutputFormat format);
bool is_container(OutputFormat format);  // mp4, mov, webm, mkv, wav: one muxed file

}  // namespace duet::media
