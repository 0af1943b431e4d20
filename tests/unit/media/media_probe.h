#pragma once
// Test-side decoding with libavformat/libavcodec, written independently of src/media so the
// writer is checked against FFmpeg itself, not against our own reader.
extern "C" {
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/pixdesc.h>
#include <libswresample/swresample.h>
#include <libswscale/swscale.h>
}

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

namespace duet::media::probe {

struct StreamInfo {
  AVMediaType type = AVMEDIA_TYPE_UNKNOWN;
  std::string codec;  // "h264", "aac", ...
  int profile = -1;   // FF_PROFILE_*
  int level = -1;
  std::string pix_fmt;  // "yuv420p"
  int width = 0, height = 0;
  int sample_rate = 0, channels = 0;
  std::string channel_layout;  // "mono", "stereo"
  double duration = -1;        // seconds, -1 when the container does not say
  int64_t nb_frames = 0;
  uint32_t codec_tag = 0;
  std::vector<uint8_t> extradata;
  AVColorRange color_range = AVCOL_RANGE_UNSPECIFIED;
  AVColorSpace colorspace = AVCOL_SPC_UNSPECIFIED;
  AVRational avg_frame_rate{0, 1};
};

struct FileInfo {
  std::string format;  // "mov,mp4,m4a,3gp,3g2,mj2", "matroska,webm", ...
  double duration = -1;
  std::map<std::string, std::string> tags;
  std::vector<StreamInfo> streams;
  int count(AVMediaType t) const {
    int n = 0;
    for (const auto& s : streams) n += s.type == t;
    return n;
  }
  const StreamInfo& first(AVMediaType t) const {
    for (const auto& s : streams) {
      if (s.type == t) return s;
    }
    throw std::runtime_error("no such stream");
  }
};

// Tag names folded to lower case: Matroska stores them upper-cased (PROMPT, AI_GENERATED).
inline std::map<std::string, std::string> lower_tags(const FileInfo& f) {
  std::map<std::string, std::string> out;
  for (const auto& [k, v] : f.tags) {
    std::string key = k;
    for (char& c : key) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    out[key] = v;
  }
  return out;
}

inline AVFormatContext* open_input(const std::string& path) {
  AVFormatContext* ctx = nullptr;
  AVDictionary* opts = nullptr;
  av_dict_set(&opts, "export_xmp", "1", 0);
  int rc = avformat_open_input(&ctx, path.c_str(), nullptr, &opts);
  av_dict_free(&opts);
  if (rc < 0) throw std::runtime_error("cannot open " + path);
  if (avformat_find_stream_info(ctx, nullptr) < 0) {
    avformat_close_input(&ctx);
    throw std::runtime_error("no stream info in " + path);
  }
  return ctx;
}

inline FileInfo probe_file(const std::string& path) {
  AVFormatContext* ctx = open_input(path);
  FileInfo info;
  info.format = ctx->iformat->name;
  if (ctx->duration != AV_NOPTS_VALUE) info.duration = ctx->duration / double(AV_TIME_BASE);
  const AVDictionaryEntry* e = nullptr;
  while ((e = av_dict_get(ctx->metadata, "", e, AV_DICT_IGNORE_SUFFIX)))
    info.tags[e->key] = e->value;
  for (unsigned i = 0; i < ctx->nb_streams; ++i) {
    const AVStream* st = ctx->streams[i];
    const AVCodecParameters* p = st->codecpar;
    StreamInfo s;
    s.type = p->codec_type;
    s.codec = avcodec_get_name(p->codec_id);
    s.profile = p->profile;
    s.level = p->level;
    if (p->codec_type == AVMEDIA_TYPE_VIDEO && p->format >= 0) {
      s.pix_fmt = av_get_pix_fmt_name(static_cast<AVPixelFormat>(p->format));
    }
    s.width = p->width;
    s.height = p->height;
    s.sample_rate = p->sample_rate;
    s.channels = p->ch_layout.nb_channels;
    char layout[64] = {};
    if (s.channels > 0) av_channel_layout_describe(&p->ch_layout, layout, sizeof(layout));
    s.channel_layout = layout;
    if (st->duration != AV_NOPTS_VALUE) s.duration = st->duration * av_q2d(st->time_base);
    s.nb_frames = st->nb_frames;
    s.codec_tag = p->codec_tag;
    if (p->extradata) s.extradata.assign(p->extradata, p->extradata + p->extradata_size);
    s.color_range = p->color_range;
    s.colorspace = p->color_space;
    s.avg_frame_rate = st->avg_frame_rate;
    info.streams.push_back(std::move(s));
  }
  avformat_close_input(&ctx);
  return info;
}

struct DecodedVideo {
  int width = 0, height = 0;
  std::vector<double> times;       // pts seconds
  std::vector<double> luma;        // mean of the decoded Y (gray) plane, 0-255
  std::vector<uint8_t> first_rgb;  // frame 0 as RGB24
  std::vector<uint8_t> last_rgb;
  size_t frames() const { return times.size(); }
};

struct DecodedAudio {
  int sample_rate = 0, channels = 0;
  double start = 0;            // pts of the first decoded sample, seconds
  std::vector<float> samples;  // interleaved float
  int64_t count() const { return channels ? static_cast<int64_t>(samples.size()) / channels : 0; }
  double duration() const { return sample_rate ? count() / double(sample_rate) : 0; }
};

// Decodes the first stream of `type` from `path`; `on_frame` gets every decoded frame.
template <typename Fn>
inline void decode_stream(const std::string& path, AVMediaType type, Fn&& on_frame) {
  AVFormatContext* ctx = open_input(path);
  int index = av_find_best_stream(ctx, type, -1, -1, nullptr, 0);
  if (index < 0) {
    avformat_close_input(&ctx);
    throw std::runtime_error("no stream of that type in " + path);
  }
  AVStream* st = ctx->streams[index];
  const AVCodec* codec = avcodec_find_decoder(st->codecpar->codec_id);
  AVCodecContext* dec = avcodec_alloc_context3(codec);
  avcodec_parameters_to_context(dec, st->codecpar);
  dec->pkt_timebase = st->time_base;
  if (avcodec_open2(dec, codec, nullptr) < 0) throw std::runtime_error("cannot open decoder");
  AVPacket* pkt = av_packet_alloc();
  AVFrame* frame = av_frame_alloc();
  auto receive = [&] {
    while (avcodec_receive_frame(dec, frame) >= 0) {
      on_frame(frame, st->time_base);
      av_frame_unref(frame);
    }
  };
  while (av_read_frame(ctx, pkt) >= 0) {
    if (pkt->stream_index == index) {
      avcodec_send_packet(dec, pkt);
      receive();
    }
    av_packet_unref(pkt);
  }
  avcodec_send_packet(dec, nullptr);
  receive();
  av_frame_free(&frame);
  av_packet_free(&pkt);
  avcodec_free_context(&dec);
  avformat_close_input(&ctx);
}

inline std::vector<uint8_t> to_pixels(const AVFrame* f, AVPixelFormat fmt, int bytes_per_pixel) {
  SwsContext* sws =
      sws_getContext(f->width, f->height, static_cast<AVPixelFormat>(f->format), f->width,
                     f->height, fmt, SWS_BICUBIC | SWS_ACCURATE_RND, nullptr, nullptr, nullptr);
  std::vector<uint8_t> out(static_cast<size_t>(f->width) * f->height * bytes_per_pixel);
  uint8_t* dst[4] = {out.data(), nullptr, nullptr, nullptr};
  int stride[4] = {f->width * bytes_per_pixel, 0, 0, 0};
  sws_scale(sws, f->data, f->linesize, 0, f->height, dst, stride);
  sws_freeContext(sws);
  return out;
}

inline DecodedVideo decode_video(const std::string& path) {
  DecodedVideo v;
  decode_stream(path, AVMEDIA_TYPE_VIDEO, [&](const AVFrame* f, AVRational tb) {
    v.width = f->width;
    v.height = f->height;
    int64_t pts = f->best_effort_timestamp;
    v.times.push_back(pts == AV_NOPTS_VALUE ? -1.0 : pts * av_q2d(tb));
    double sum = 0;
    auto desc = av_pix_fmt_desc_get(static_cast<AVPixelFormat>(f->format));
    if (desc && !(desc->flags & AV_PIX_FMT_FLAG_RGB) && !(desc->flags & AV_PIX_FMT_FLAG_PAL)) {
      for (int y = 0; y < f->height; ++y) {
        for (int x = 0; x < f->width; ++x) sum += f->data[0][y * f->linesize[0] + x];
      }
      v.luma.push_back(sum / (f->width * f->height));
    } else {
      auto gray = to_pixels(f, AV_PIX_FMT_GRAY8, 1);
      for (uint8_t g : gray) sum += g;
      v.luma.push_back(sum / gray.size());
    }
    v.last_rgb = to_pixels(f, AV_PIX_FMT_RGB24, 3);
    if (v.first_rgb.empty()) v.first_rgb = v.last_rgb;
  });
  return v;
}

inline DecodedAudio decode_audio(const std::string& path) {
  DecodedAudio a;
  bool first = true;
  decode_stream(path, AVMEDIA_TYPE_AUDIO, [&](const AVFrame* f, AVRational tb) {
    a.sample_rate = f->sample_rate;
    a.channels = f->ch_layout.nb_channels;
    if (first) {
      int64_t pts = f->best_effort_timestamp;
      a.start = pts == AV_NOPTS_VALUE ? 0.0 : pts * av_q2d(tb);
      first = false;
    }
    auto fmt = static_cast<AVSampleFormat>(f->format);
    for (int i = 0; i < f->nb_samples; ++i) {
      for (int c = 0; c < a.channels; ++c) {
        float v = 0;
        bool planar = av_sample_fmt_is_planar(fmt);
        int idx = planar ? i : i * a.channels + c;
        const uint8_t* plane = f->extended_data[planar ? c : 0];
        switch (av_get_packed_sample_fmt(fmt)) {
          case AV_SAMPLE_FMT_FLT:
            v = reinterpret_cast<const float*>(plane)[idx];
            break;
          case AV_SAMPLE_FMT_S16:
            v = reinterpret_cast<const int16_t*>(plane)[idx] / 32768.0f;
            break;
          case AV_SAMPLE_FMT_S32:
            v = reinterpret_cast<const int32_t*>(plane)[idx] / 2147483648.0f;
            break;
          case AV_SAMPLE_FMT_DBL:
            v = static_cast<float>(reinterpret_cast<const double*>(plane)[idx]);
            break;
          default:
            throw std::runtime_error("unexpected sample format");
        }
        a.samples.push_back(v);
      }
    }
  });
  return a;
}

inline std::vector<uint8_t> file_bytes(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

inline bool contains(const std::vector<uint8_t>& bytes, const std::string& needle) {
  return std::search(bytes.begin(), bytes.end(), needle.begin(), needle.end()) != bytes.end();
}

// Top-level ISO BMFF boxes in file order ("ftyp", "moov", "mdat", ...).
inline std::vector<std::string> mp4_top_level_boxes(const std::filesystem::path& path) {
  auto b = file_bytes(path);
  std::vector<std::string> boxes;
  size_t pos = 0;
  while (pos + 8 <= b.size()) {
    uint64_t size = uint64_t(b[pos]) << 24 | b[pos + 1] << 16 | b[pos + 2] << 8 | b[pos + 3];
    std::string type(reinterpret_cast<const char*>(&b[pos + 4]), 4);
    if (size == 1 && pos + 16 <= b.size()) {
      size = 0;
      for (int i = 0; i < 8; ++i) size = size << 8 | b[pos + 8 + i];
    } else if (size == 0) {
      size = b.size() - pos;
    }
    boxes.push_back(type);
    if (size < 8) break;
    pos += size;
  }
  return boxes;
}

inline double psnr(const std::vector<uint8_t>& a, const std::vector<uint8_t>& b) {
  if (a.size() != b.size() || a.empty()) return 0;
  double mse = 0;
  for (size_t i = 0; i < a.size(); ++i) mse += (double(a[i]) - b[i]) * (double(a[i]) - b[i]);
  mse /= a.size();
  return mse == 0 ? 99.0 : 10 * std::log10(255.0 * 255.0 / mse);
}

}  // namespace duet::media::probe
