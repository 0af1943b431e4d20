#include "media/av_util.h"

extern "C" {
#include <libavutil/log.h>
}
#include <spdlog/spdlog.h>

#include <atomic>
#include <cstdarg>
#include <mutex>

#include "core/error.h"

namespace duet::media {

std::string av_error_text(int code) {
  char buf[AV_ERROR_MAX_STRING_SIZE] = {};
  av_strerror(code, buf, sizeof(buf));
  return buf;
}

namespace {

std::atomic<int> g_quiet_depth{0};

void av_log_to_spdlog(void* avcl, int level, const char* fmt, va_list args) {
  if (level > AV_LOG_VERBOSE || g_quiet_depth.load() > 0) return;
  char line[1024];
  int print_prefix = 1;
  av_log_format_line2(avcl, level, fmt, args, line, sizeof(line), &print_prefix);
  std::string text(line);
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
  if (text.empty()) return;
  // Errors we care about become exceptions with their own message; FFmpeg's line is context.
  if (level <= AV_LOG_ERROR) {
    spdlog::warn("ffmpeg: {}", text);
  } else if (level <= AV_LOG_WARNING) {
    spdlog::debug("ffmpeg: {}", text);
  } else {
    spdlog::trace("ffmpeg: {}", text);
  }
}

}  // namespace

void install_av_log_bridge() {
  static std::once_flag once;
  std::call_once(once, [] { av_log_set_callback(av_log_to_spdlog); });
}

AvLogQuiet::AvLogQuiet() { ++g_quiet_depth; }
AvLogQuiet::~AvLogQuiet() { --g_quiet_depth; }

FramePtr make_frame() {
  FramePtr frame(av_frame_alloc());
  DUET_CHECK(frame, "out of memory allocating a video/audio frame");
  return frame;
}

PacketPtr make_packet() {
  PacketPtr packet(av_packet_alloc());
  DUET_CHECK(packet, "out of memory allocating a packet");
  return packet;
}

void AvDict::set(const std::string& key, const std::string& value) {
  int rc = av_dict_set(&dict_, key.c_str(), value.c_str(), 0);
  DUET_CHECK(rc >= 0, "cannot set option {}={}: {}", key, value, av_error_text(rc));
}

std::string AvDict::leftover_keys() const {
  std::string keys;
  const AVDictionaryEntry* e = nullptr;
  while ((e = av_dict_get(dict_, "", e, AV_DICT_IGNORE_SUFFIX))) {
    if (!keys.empty()) keys += ", ";
    keys += e->key;
  }
  return keys;
}

}  // namespace duet::media
