#include "media/encoder_setup.h"

#include <dlfcn.h>
#include <stdlib.h>

extern "C" {
#include <libavutil/channel_layout.h>
#include <libavutil/opt.h>
}

#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <cmath>

#include "core/error.h"

namespace duet::media {

namespace {

constexpr std::array<const char*, 10> kPresetNames = {
    "ultrafast", "superfast", "veryfast", "faster",   "fast",
    "medium",    "slow",      "slower",   "veryslow", "placebo"};

// Index into kPresetNames, or -1 for anything else (a number, a codec-specific name).
int preset_rank(const std::string& preset) {
  for (size_t i = 0; i < kPresetNames.size(); ++i) {
    if (preset == kPresetNames[i]) return static_cast<int>(i);
  }
  return -1;
}

bool is_number(const std::string& s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// x264's preset names mapped onto the speed scales of the other encoders, so one option
// means "faster" or "better" everywhere. Numbers pass through for SVT-AV1 and VP9.
std::string mapped_preset(VideoCodec codec, const std::string& preset) {
  int rank = preset_rank(preset.empty() ? "medium" : preset);
  switch (codec) {
    case VideoCodec::kH264:
    case VideoCodec::kH265:
      DUET_CHECK(rank >= 0,
                 "preset '{}' is unknown for {}; use ultrafast, superfast, veryfast, "
                 "faster, fast, medium, slow, slower, veryslow or placebo",
                 preset, video_codec_name(codec));
      return kPresetNames[rank];
    case VideoCodec::kAv1: {
      if (is_number(preset)) return preset;
      DUET_CHECK(rank >= 0, "preset '{}' is unknown for av1; use an x264 name or 0-13", preset);
      constexpr int kSvt[] = {12, 11, 11, 10, 9, 8, 6, 4, 2, 1};
      return std::to_string(kSvt[rank]);
    }
    case VideoCodec::kVp9: {
      if (is_number(preset)) return preset;
      DUET_CHECK(rank >= 0, "preset '{}' is unknown for vp9; use an x264 name or 0-8", preset);
      constexpr int kCpuUsed[] = {8, 7, 6, 6, 5, 4, 3, 2, 1, 0};
      return std::to_string(kCpuUsed[rank]);
    }
    case VideoCodec::kNvenc: {
      if (preset.size() == 2 && preset[0] == 'p') return preset;
      DUET_CHECK(rank >= 0, "preset '{}' is unknown for nvenc; use an x264 name or p1-p7", preset);
      constexpr const char* kNv[] = {"p1", "p1", "p2", "p3", "p3", "p4", "p5", "p6", "p7", "p7"};
      return kNv[rank];
    }
    case VideoCodec::kAuto:
      break;
  }
  return preset;
}

struct CodecTraits {
  const char* encoder;
  int default_crf;
  int max_crf;
};

CodecTraits traits(VideoCodec codec) {
  switch (codec) {
    case VideoCodec::kH264:
      return {"libx264", 20, 51};
    case VideoCodec::kH265:
      return {"libx265", 24, 51};
    case VideoCodec::kAv1:
      return {"libsvtav1", 32, 63};
    case VideoCodec::kVp9:
      return {"libvpx-vp9", 32, 63};
    case VideoCodec::kNvenc:
      return {"h264_nvenc", 23, 51};
    case VideoCodec::kAuto:
      break;
  }
  return {"", 0, 0};
}

const char* install_hint(VideoCodec codec) {
  switch (codec) {
    case VideoCodec::kH264:
      return "install libavcodec with libx264 (Debian: libavcodec59)";
    case VideoCodec::kH265:
      return "install libavcodec with libx265 or use --codec h264";
    case VideoCodec::kAv1:
      return "install libavcodec with libsvtav1 or libaom, or use --codec h264";
    case VideoCodec::kVp9:
      return "install libavcodec with libvpx or use --codec h264 and .mp4";
    case VideoCodec::kNvenc:
      return "it needs an NVIDIA GPU and driver; use --codec h264 for the CPU encoder";
    case VideoCodec::kAuto:
      break;
  }
  return "";
}

// Which codecs each container holds (what browsers and FFmpeg's muxers accept).
void check_container(VideoCodec codec, OutputFormat format) {
  bool webm = format == OutputFormat::kWebm;
  if (webm) {
    DUET_CHECK(codec == VideoCodec::kVp9 || codec == VideoCodec::kAv1,
               "WebM holds VP9 or AV1 video, not {}; use --codec vp9 or av1, or write .mp4",
               video_codec_name(codec));
  }
  if (format == OutputFormat::kMov) {
    DUET_CHECK(codec != VideoCodec::kVp9, "MOV cannot hold VP9; write .mp4, .webm or .mkv");
  }
}

void set_common(AVCodecContext* ctx, const VideoEncoderRequest& r) {
  ctx->width = r.width;
  ctx->height = r.height;
  ctx->time_base = AVRational{r.fps.den, r.fps.num};
  ctx->framerate = AVRational{r.fps.num, r.fps.den};
  ctx->pix_fmt = AV_PIX_FMT_YUV420P;
  ctx->sample_aspect_ratio = AVRational{1, 1};
  // A key frame every ~2 s keeps seeking in browsers snappy at a negligible size cost.
  ctx->gop_size = std::clamp(static_cast<int>(std::lround(2.0 * r.fps.value())), 1, 600);
  // Tags that match the BT.709 limited-range conversion in color_convert.cpp.
  ctx->color_range = AVCOL_RANGE_MPEG;
  ctx->colorspace = AVCOL_SPC_BT709;
  ctx->color_primaries = AVCOL_PRI_BT709;
  ctx->color_trc = AVCOL_TRC_BT709;
  ctx->thread_count = r.threads;
  if (r.global_header) ctx->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
}

void set_codec_options(VideoCodec codec, const VideoEncoderRequest& r, int crf, AVCodecContext* ctx,
                       AvDict& opts) {
  std::string preset = mapped_preset(codec, r.preset);
  switch (codec) {
    case VideoCodec::kH264:
      opts.set("preset", preset);
      opts.set("crf", std::to_string(crf));
      opts.set("profile", "high");  // what every browser decodes; baseline costs ~20% bits
      // x264 signals the lowest profile its tools need; the 8x8 transform is the High tool,
      // so the fast presets (which turn it off) would otherwise come out Constrained Baseline.
      opts.set("8x8dct", "1");
      break;
    case VideoCodec::kH265:
      opts.set("preset", preset);
      opts.set("crf", std::to_string(crf));
      opts.set("profile", "main");
      opts.set("x265-params", "log-level=error");
      break;
    case VideoCodec::kAv1:
      opts.set("preset", preset);
      opts.set("crf", std::to_string(crf));
      // SVT-AV1 prints a 15-line banner to stderr at info level; warnings and errors only,
      // unless the user set SVT_LOG themselves.
      setenv("SVT_LOG", "2", 0);
      break;
    case VideoCodec::kVp9:
      ctx->bit_rate = 0;  // constant quality: crf with no bitrate target
      opts.set("crf", std::to_string(crf));
      opts.set("deadline", "good");
      opts.set("cpu-used", preset);
      opts.set("row-mt", "1");
      break;
    case VideoCodec::kNvenc:
      ctx->bit_rate = 0;
      opts.set("preset", preset);
      opts.set("rc", "vbr");
      opts.set("cq", std::to_string(crf));
      opts.set("profile", "high");
      break;
    case VideoCodec::kAuto:
      break;
  }
}

// Opens one concrete codec; returns null (with `error` set) instead of throwing so `auto` can
// fall back from NVENC to libx264.
CodecContextPtr try_open(VideoCodec codec, const VideoEncoderRequest& r, std::string* encoder_name,
                         std::string* error) {
  CodecTraits t = traits(codec);
  const AVCodec* enc = avcodec_find_encoder_by_name(t.encoder);
  if (!enc && codec == VideoCodec::kAv1) enc = avcodec_find_encoder_by_name("libaom-av1");
  if (!enc) {
    *error = fmt::format("encoder {} for {} is not in this FFmpeg build; {}", t.encoder,
                         video_codec_name(codec), install_hint(codec));
    return nullptr;
  }
  int crf = r.crf >= 0 ? r.crf : t.default_crf;
  DUET_CHECK(crf <= t.max_crf, "crf {} is out of range for {}; use 0-{}", crf,
             video_codec_name(codec), t.max_crf);
  DUET_CHECK(crf > 0 || codec != VideoCodec::kH264,
             "crf 0 (lossless) H.264 needs the High 4:4:4 profile, which browsers cannot play; "
             "use crf 1 or more, or a PNG sequence for lossless frames");
  CodecContextPtr ctx(avcodec_alloc_context3(enc));
  DUET_CHECK(ctx, "out of memory allocating the {} encoder", enc->name);
  set_common(ctx.get(), r);
  AvDict opts;
  if (std::string(enc->name) == "libaom-av1") {
    opts.set("crf", std::to_string(crf));
    opts.set("cpu-used", "6");
    opts.set("row-mt", "1");
    ctx->bit_rate = 0;
  } else {
    set_codec_options(codec, r, crf, ctx.get(), opts);
  }
  int rc = avcodec_open2(ctx.get(), enc, opts.get());
  if (rc < 0) {
    *error = fmt::format("encoder {} could not start for {}x{} at {} fps: {}; {}", enc->name,
                         r.width, r.height, r.fps.str(), av_error_text(rc),
                         codec == VideoCodec::kNvenc
                             ? install_hint(codec)
                             : "check the size, crf and preset, or try another --codec");
    return nullptr;
  }
  if (std::string left = opts.leftover_keys(); !left.empty()) {
    spdlog::debug("media: {} ignored options: {}", enc->name, left);
  }
  *encoder_name = enc->name;
  return ctx;
}

}  // namespace

bool nvenc_driver_present() {
  static const bool present = [] {
    if (!avcodec_find_encoder_by_name("h264_nvenc")) return false;
    for (const char* lib : {"libcuda.so.1", "libnvidia-encode.so.1"}) {
      void* handle = dlopen(lib, RTLD_LAZY | RTLD_LOCAL);
      if (!handle) return false;
      dlclose(handle);
    }
    return true;
  }();
  return present;
}

OpenedVideoEncoder open_video_encoder(const VideoEncoderRequest& r) {
  DUET_CHECK(r.fps.valid(), "frame rate {} is not positive", r.fps.str());
  DUET_CHECK(r.width > 0 && r.height > 0 && r.width % 2 == 0 && r.height % 2 == 0,
             "encoder size {}x{} must be positive and even", r.width, r.height);
  OpenedVideoEncoder out;
  std::string error;
  VideoCodec codec = r.codec;
  if (codec == VideoCodec::kAuto) {
    bool webm = r.format == OutputFormat::kWebm;
    if (!webm && nvenc_driver_present()) {
      AvLogQuiet quiet;  // a busy or missing GPU is an expected reason to fall back
      out.context = try_open(VideoCodec::kNvenc, r, &out.encoder_name, &error);
      if (out.context) {
        out.codec = VideoCodec::kNvenc;
        return out;
      }
      spdlog::info("media: NVENC unavailable ({}), encoding with libx264", error);
    }
    codec = webm ? VideoCodec::kVp9 : VideoCodec::kH264;
  }
  check_container(codec, r.format);
  out.context = try_open(codec, r, &out.encoder_name, &error);
  DUET_CHECK(out.context, "{}", error);
  out.codec = codec;
  bool iso = r.format == OutputFormat::kMp4 || r.format == OutputFormat::kMov;
  // Apple players and Safari require the hvc1 sample entry (parameter sets in the header).
  if (iso && codec == VideoCodec::kH265) out.codec_tag = MKTAG('h', 'v', 'c', '1');
  return out;
}

int default_audio_out_rate(OutputFormat format, const std::string& encoder, int source_rate) {
  bool opus = encoder.find("opus") != std::string::npos ||
              (encoder.empty() && format == OutputFormat::kWebm);
  return opus ? 48000 : source_rate;
}

namespace {

std::string default_audio_encoder(OutputFormat format) {
  switch (format) {
    case OutputFormat::kWebm:
      return "libopus";
    case OutputFormat::kWav:
      return "pcm_s16le";
    default:
      return "aac";
  }
}

AVSampleFormat pick_sample_format(const AVCodec* codec) {
  if (!codec->sample_fmts) return AV_SAMPLE_FMT_FLTP;
  for (AVSampleFormat want : {AV_SAMPLE_FMT_FLTP, AV_SAMPLE_FMT_FLT, AV_SAMPLE_FMT_S16}) {
    for (const AVSampleFormat* f = codec->sample_fmts; *f != AV_SAMPLE_FMT_NONE; ++f) {
      if (*f == want) return want;
    }
  }
  return codec->sample_fmts[0];
}

std::string supported_rates(const AVCodec* codec) {
  std::string out;
  for (const int* r = codec->supported_samplerates; r && *r; ++r) {
    out += (out.empty() ? "" : ", ") + std::to_string(*r);
  }
  return out;
}

}  // namespace

OpenedAudioEncoder open_audio_encoder(const AudioEncoderRequest& r) {
  std::string name = r.encoder.empty() ? default_audio_encoder(r.format) : r.encoder;
  if (r.format == OutputFormat::kWebm) {
    DUET_CHECK(name.find("opus") != std::string::npos || name.find("vorbis") != std::string::npos,
               "WebM holds Opus or Vorbis audio, not {}; leave the audio codec unset or use "
               "libopus",
               name);
  }
  const AVCodec* codec = avcodec_find_encoder_by_name(name.c_str());
  DUET_CHECK(codec,
             "audio encoder '{}' is not in this FFmpeg build; use aac (MP4), libopus "
             "(WebM) or pcm_s16le (WAV)",
             name);
  DUET_CHECK(codec->type == AVMEDIA_TYPE_AUDIO, "'{}' is not an audio encoder", name);
  DUET_CHECK(r.channels == 1 || r.channels == 2, "audio must be mono or stereo, got {} channels",
             r.channels);
  if (codec->supported_samplerates) {
    bool ok = false;
    for (const int* rate = codec->supported_samplerates; *rate; ++rate)
      ok |= *rate == r.sample_rate;
    DUET_CHECK(ok, "{} cannot encode at {} Hz; resample to one of {} (audio output rate option)",
               name, r.sample_rate, supported_rates(codec));
  }
  CodecContextPtr ctx(avcodec_alloc_context3(codec));
  DUET_CHECK(ctx, "out of memory allocating the {} encoder", name);
  ctx->sample_fmt = pick_sample_format(codec);
  ctx->sample_rate = r.sample_rate;
  av_channel_layout_default(&ctx->ch_layout, r.channels);
  ctx->time_base = AVRational{1, r.sample_rate};
  bool pcm = name.rfind("pcm_", 0) == 0;
  if (!pcm) {
    int per_channel = name.find("opus") != std::string::npos ? 64000
                      : r.sample_rate <= 24000               ? 64000
                                                             : 96000;
    ctx->bit_rate = r.bit_rate > 0 ? r.bit_rate : per_channel * r.channels;
  }
  if (name == "aac") ctx->profile = FF_PROFILE_AAC_LOW;
  if (r.global_header) ctx->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
  int rc = avcodec_open2(ctx.get(), codec, nullptr);
  DUET_CHECK(rc >= 0, "audio encoder {} could not start at {} Hz, {} channel(s): {}", name,
             r.sample_rate, r.channels, av_error_text(rc));
  OpenedAudioEncoder out;
  out.frame_size = ctx->frame_size > 0 ? ctx->frame_size : 1024;
  out.encoder_name = codec->name;
  out.context = std::move(ctx);
  return out;
}

}  // namespace duet::media
