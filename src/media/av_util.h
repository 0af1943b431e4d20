#pragma once
// Small RAII owners and error helpers for FFmpeg objects, so every early return (and every
// exception) frees what was allocated. Only the media layer includes this header.
extern "C" {
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/audio_fifo.h>
#include <libswresample/swresample.h>
#include <libswscale/swscale.h>
}

#include <memory>
#include <string>

namespace duet::media {

// "Invalid data found when processing input" for an AVERROR code.
std::string av_error_text(int code);

// Routes FFmpeg's log lines into spdlog once per process (errors as warnings, the chatty
// INFO lines from x264 and friends at trace level).
void install_av_log_bridge();

// Silences FFmpeg's log while alive (used when probing optional encoders such as NVENC,
// whose failure on a machine without a GPU is expected and not worth a warning).
class AvLogQuiet {
 public:
  AvLogQuiet();
  ~AvLogQuiet();
  AvLogQuiet(const AvLogQuiet&) = delete;
  AvLogQuiet& operator=(const AvLogQuiet&) = delete;
};

struct AvCodecContextDeleter {
  void operator()(AVCodecContext* c) const { avcodec_free_context(&c); }
};
struct AvFrameDeleter {
  void operator()(AVFrame* f) const { av_frame_free(&f); }
};
struct AvPacketDeleter {
  void operator()(AVPacket* p) const { av_packet_free(&p); }
};
struct SwsContextDeleter {
  void operator()(SwsContext* s) const { sws_freeContext(s); }
};
struct SwrContextDeleter {
  void operator()(SwrContext* s) const { swr_free(&s); }
};
struct AvAudioFifoDeleter {
  void operator()(AVAudioFifo* f) const { av_audio_fifo_free(f); }
};
struct AvDictionaryDeleter {
  void operator()(AVDictionary* d) const { av_dict_free(&d); }
};
// Input contexts are closed, output contexts freed (their AVIOContext is closed separately).
struct AvInputContextDeleter {
  void operator()(AVFormatContext* f) const { avformat_close_input(&f); }
};
struct AvOutputContextDeleter {
  void operator()(AVFormatContext* f) const {
    if (f->pb && !(f->oformat->flags & AVFMT_NOFILE)) avio_closep(&f->pb);
    avformat_free_context(f);
  }
};

using CodecContextPtr = std::unique_ptr<AVCodecContext, AvCodecContextDeleter>;
using FramePtr = std::unique_ptr<AVFrame, AvFrameDeleter>;
using PacketPtr = std::unique_ptr<AVPacket, AvPacketDeleter>;
using SwsPtr = std::unique_ptr<SwsContext, SwsContextDeleter>;
using SwrPtr = std::unique_ptr<SwrContext, SwrContextDeleter>;
using AudioFifoPtr = std::unique_ptr<AVAudioFifo, AvAudioFifoDeleter>;
using InputContextPtr = std::unique_ptr<AVFormatContext, AvInputContextDeleter>;
using OutputContextPtr = std::unique_ptr<AVFormatContext, AvOutputContextDeleter>;

FramePtr make_frame();
PacketPtr make_packet();

// An AVDictionary owned by a scope; get() hands out the address FFmpeg wants.
class AvDict {
 public:
  AvDict() = default;
  ~AvDict() { av_dict_free(&dict_); }
  AvDict(const AvDict&) = delete;
  AvDict& operator=(const AvDict&) = delete;
  void set(const std::string& key, const std::string& value);
  AVDictionary** get() { return &dict_; }
  AVDictionary* raw() const { return dict_; }
  // Comma-separated keys an FFmpeg call did not consume (empty when all were used).
  std::string leftover_keys() const;

 private:
  AVDictionary* dict_ = nullptr;
};

}  // namespace duet::media
