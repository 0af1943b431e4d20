#include "media/output_format.h"

#include <algorithm>
#include <filesystem>

#include "core/error.h"

namespace duet::media {

namespace {

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

}  // namespace

OutputFormat parse_output_format(const std::string& name) {
  std::string n = lower(name);
  if (n.empty() || n == "auto") return OutputFormat::kAuto;
  if (n == "mp4" || n == "m4v") return OutputFormat::kMp4;
  if (n == "mov") return OutputFormat::kMov;
  if (n == "webm") return OutputFormat::kWebm;
  if (n == "mkv" || n == "matroska") return OutputFormat::kMkv;
  if (n == "wav") return OutputFormat::kWav;
  if (n == "png" || n == "png-sequence" || n == "frames") return OutputFormat::kPngSequence;
  if (n == "gif") return OutputFormat::kGif;
  if (n == "webp") return OutputFormat::kWebp;
  DUET_FAIL("output format '{}' is unknown; use mp4, mov, webm, mkv, wav, png, gif or webp", name);
}

VideoCodec parse_video_codec(const std::string& name) {
  std::string n = lower(name);
  if (n.empty() || n == "auto") return VideoCodec::kAuto;
  if (n == "h264" || n == "avc" || n == "x264" || n == "libx264") return VideoCodec::kH264;
  if (n == "h265" || n == "hevc" || n == "x265" || n == "libx265") return VideoCodec::kH265;
  if (n == "av1" || n == "svtav1" || n == "libsvtav1") return VideoCodec::kAv1;
  if (n == "vp9" || n == "libvpx-vp9") return VideoCodec::kVp9;
  if (n == "nvenc" || n == "h264_nvenc") return VideoCodec::kNvenc;
  DUET_FAIL("video codec '{}' is unknown; use auto, h264, h265, av1, vp9 or nvenc", name);
}

const char* output_format_name(OutputFormat format) {
  switch (format) {
    case OutputFormat::kAuto:
      return "auto";
    case OutputFormat::kMp4:
      return "mp4";
    case OutputFormat::kMov:
      return "mov";
    case OutputFormat::kWebm:
      return "webm";
    case OutputFormat::kMkv:
      return "mkv";
    case OutputFormat::kWav:
      return "wav";
    case OutputFormat::kPngSequence:
      return "png";
    case OutputFormat::kGif:
      return "gif";
    case OutputFormat::kWebp:
      return "webp";
  }
  return "?";
}

const char* video_codec_name(VideoCodec codec) {
  switch (codec) {
    case VideoCodec::kAuto:
      return "auto";
    case VideoCodec::kH264:
      return "h264";
    case VideoCodec::kH265:
      return "h265";
    case VideoCodec::kAv1:
      return "av1";
    case VideoCodec::kVp9:
      return "vp9";
    case VideoCodec::kNvenc:
      return "nvenc";
  }
  return "?";
}

OutputFormat infer_output_format(const std::string& path, OutputFormat requested) {
  if (requested != OutputFormat::kAuto) return requested;
  std::string ext = lower(std::filesystem::path(path).extension().string());
  if (ext == ".mp4" || ext == ".m4v") return OutputFormat::kMp4;
  if (ext == ".mov") return OutputFormat::kMov;
  if (ext == ".webm") return OutputFormat::kWebm;
  if (ext == ".mkv") return OutputFormat::kMkv;
  if (ext == ".wav") return OutputFormat::kWav;
  if (ext == ".gif") return OutputFormat::kGif;
  if (ext == ".webp") return OutputFormat::kWebp;
  if (ext == ".png") {
    DUET_CHECK(path.find('%') != std::string::npos,
               "'{}' names one PNG file but a clip has many frames; use a pattern such as "
               "frames/%04d.png",
               path);
    return OutputFormat::kPngSequence;
  }
  if (ext.empty()) return OutputFormat::kMp4;  // MP4 is the default output
  DUET_FAIL(
      "cannot tell the output format from '{}'; use .mp4, .mov, .webm, .mkv, .wav, "
      ".gif, .webp or a %04d.png pattern, or set the format option",
      path);
}

bool format_has_video(OutputFormat format) { return format != OutputFormat::kWav; }

bool format_has_audio(OutputFormat format) {
  switch (format) {
    case OutputFormat::kMp4:
    case OutputFormat::kMov:
    case OutputFormat::kWebm:
    case OutputFormat::kMkv:
    case OutputFormat::kWav:
      return true;
    default:
      return false;
  }
}

bool is_container(OutputFormat format) { return format_has_audio(format); }

}  // namespace duet::media
