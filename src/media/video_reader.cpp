#include "media/video_reader.h"

extern "C" {
#include <libavutil/channel_layout.h>
}

#include <cmath>
#include <deque>

#include "core/error.h"
#include "media/av_util.h"
#include "media/frame_to_rgb.h"

namespace duet::media {

struct VideoReader::Impl {
  std::string path;
  VideoReaderOptions options;
  MediaInfo info;
  InputContextPtr input;
  CodecContextPtr vdec, adec;
  int vindex = -1, aindex = -1;
  PacketPtr packet = make_packet();
  FramePtr decoded = make_frame();
  std::deque<FramePtr> pending;  // decoded video frames not yet handed out
  RgbConverter rgb;
  SwrPtr swr;
  std::vector<float> audio;
  double audio_origin = 0;  // seconds at which audio[0] plays (the video's start)
  bool audio_started = false;
  int64_t skip_samples = 0;  // output samples still to cut from the front
  bool demux_done = false;
  bool skip_video = false;
  int64_t frames_out = 0;

  void open();
  CodecContextPtr open_decoder(int index);
  void pump();  // reads one packet (or flushes at the end) into pending / audio
  void decode(AVCodecContext* dec, const AVPacket* pkt);
  void take_audio(const AVFrame* frame);
  void resample(const uint8_t** in, int samples);
};

CodecContextPtr VideoReader::Impl::open_decoder(int index) {
  AVStream* st = input->streams[index];
  const AVCodec* codec = avcodec_find_decoder(st->codecpar->codec_id);
  DUET_CHECK(codec, "'{}': no decoder for its {} stream ({}) in this FFmpeg build", path,
             av_get_media_type_string(st->codecpar->codec_type),
             avcodec_get_name(st->codecpar->codec_id));
  CodecContextPtr dec(avcodec_alloc_context3(codec));
  DUET_CHECK(dec, "out of memory opening '{}'", path);
  int rc = avcodec_parameters_to_context(dec.get(), st->codecpar);
  DUET_CHECK(rc >= 0, "'{}': bad stream parameters: {}", path, av_error_text(rc));
  // Needed so the decoder can shift timestamps when it drops encoder priming samples.
  dec->pkt_timebase = st->time_base;
  dec->thread_count = 0;
  rc = avcodec_open2(dec.get(), codec, nullptr);
  DUET_CHECK(rc >= 0, "'{}': cannot start the {} decoder: {}", path, codec->name,
             av_error_text(rc));
  return dec;
}

void VideoReader::Impl::open() {
  install_av_log_bridge();
  AVFormatContext* ctx = nullptr;
  AvDict opts;
  opts.set("export_xmp", "1");  // MP4: the XMP packet as the "xmp" tag
  int rc = avformat_open_input(&ctx, path.c_str(), nullptr, opts.get());
  DUET_CHECK(rc >= 0, "cannot open '{}': {}", path, av_error_text(rc));
  input.reset(ctx);
  rc = avformat_find_stream_info(ctx, nullptr);
  DUET_CHECK(rc >= 0, "cannot read the streams of '{}': {}", path, av_error_text(rc));
  const AVDictionaryEntry* e = nullptr;
  while ((e = av_dict_get(ctx->metadata, "", e, AV_DICT_IGNORE_SUFFIX)))
    info.tags[e->key] = e->value;
  if (ctx->duration != AV_NOPTS_VALUE) info.duration = ctx->duration / double(AV_TIME_BASE);

  if (options.read_video) {
    vindex = av_find_best_stream(ctx, AVMEDIA_TYPE_VIDEO, -1, -1, nullptr, 0);
    // A cover picture is not the video.
    if (vindex >= 0 && (ctx->streams[vindex]->disposition & AV_DISPOSITION_ATTACHED_PIC))
      vindex = -1;
  }
  if (options.read_audio) aindex = av_find_best_stream(ctx, AVMEDIA_TYPE_AUDIO, -1, -1, nullptr, 0);
  DUET_CHECK(vindex >= 0 || aindex >= 0, "'{}' has no {} stream", path,
             options.read_video && options.read_audio ? "video or audio"
             : options.read_video                     ? "video"
                                                      : "audio");
  if (vindex >= 0) {
    AVStream* st = ctx->streams[vindex];
    vdec = open_decoder(vindex);
    info.has_video = true;
    info.width = st->codecpar->width;
    info.height = st->codecpar->height;
    AVRational fr = av_guess_frame_rate(ctx, st, nullptr);
    if (fr.num > 0 && fr.den > 0) info.fps = {fr.num, fr.den};
    info.frame_count = st->nb_frames;
    if (info.frame_count <= 0 && info.duration > 0 && info.fps.valid()) {
      info.frame_count = std::llround(info.duration * info.fps.value());
    }
    info.video_codec = avcodec_get_name(st->codecpar->codec_id);
    if (st->start_time != AV_NOPTS_VALUE) audio_origin = st->start_time * av_q2d(st->time_base);
  }
  if (aindex >= 0) {
    AVStream* st = ctx->streams[aindex];
    adec = open_decoder(aindex);
    info.has_audio = true;
    info.source_sample_rate = st->codecpar->sample_rate;
    info.source_channels = st->codecpar->ch_layout.nb_channels;
    info.sample_rate =
        options.audio_sample_rate > 0 ? options.audio_sample_rate : info.source_sample_rate;
    info.channels =
        options.audio_channels > 0 ? options.audio_channels : std::min(info.source_channels, 2);
    DUET_CHECK(info.channels == 1 || info.channels == 2,
               "audio can be read as mono or stereo, not {} channels", info.channels);
    info.audio_codec = avcodec_get_name(st->codecpar->codec_id);
    if (vindex < 0 && st->start_time != AV_NOPTS_VALUE) {
      audio_origin = st->start_time * av_q2d(st->time_base);
    }
  }
  // Don't spend time demuxing streams nobody reads.
  for (unsigned i = 0; i < ctx->nb_streams; ++i) {
    if (static_cast<int>(i) != vindex && static_cast<int>(i) != aindex) {
      ctx->streams[i]->discard = AVDISCARD_ALL;
    }
  }
}

void VideoReader::Impl::resample(const uint8_t** in, int samples) {
  int capacity = swr_get_out_samples(swr.get(), samples);
  if (capacity <= 0) return;
  size_t old = audio.size();
  audio.resize(old + static_cast<size_t>(capacity) * info.channels);
  uint8_t* out[1] = {reinterpret_cast<uint8_t*>(audio.data() + old)};
  int got = swr_convert(swr.get(), out, capacity, in, samples);
  DUET_CHECK(got >= 0, "'{}': audio resampling failed: {}", path, av_error_text(got));
  audio.resize(old + static_cast<size_t>(got) * info.channels);
}

void VideoReader::Impl::take_audio(const AVFrame* frame) {
  if (!swr) {
    AVChannelLayout in_layout;
    if (frame->ch_layout.order == AV_CHANNEL_ORDER_UNSPEC) {
      av_channel_layout_default(&in_layout, frame->ch_layout.nb_channels);
    } else {
      av_channel_layout_copy(&in_layout, &frame->ch_layout);
    }
    AVChannelLayout out_layout;
    av_channel_layout_default(&out_layout, info.channels);
    SwrContext* s = nullptr;
    int rc = swr_alloc_set_opts2(&s, &out_layout, AV_SAMPLE_FMT_FLT, info.sample_rate, &in_layout,
                                 static_cast<AVSampleFormat>(frame->format), frame->sample_rate, 0,
                                 nullptr);
    swr.reset(s);
    av_channel_layout_uninit(&in_layout);
    if (rc >= 0 && in_layout.nb_channels == 1 && info.channels == 2) {
      const double matrix[2] = {1.0, 1.0};  // mono to both sides at full level
      swr_set_matrix(swr.get(), matrix, 1);
    }
    if (rc >= 0) rc = swr_init(swr.get());
    DUET_CHECK(rc >= 0, "'{}': cannot convert its audio: {}", path, av_error_text(rc));
  }
  if (!audio_started) {
    audio_started = true;
    // Align: audio that starts after the first frame gets leading silence, audio that starts
    // before it is cut, so audio[0] plays with frame 0.
    AVStream* st = input->streams[aindex];
    int64_t pts = frame->best_effort_timestamp;
    if (pts != AV_NOPTS_VALUE) {
      double offset = pts * av_q2d(st->time_base) - audio_origin;
      int64_t shift = std::llround(offset * info.sample_rate);
      if (shift > 0) audio.assign(static_cast<size_t>(shift) * info.channels, 0.0f);
      if (shift < 0) skip_samples = -shift;
    }
  }
  resample(const_cast<const uint8_t**>(frame->extended_data), frame->nb_samples);
  if (skip_samples > 0) {
    int64_t n = std::min<int64_t>(skip_samples, static_cast<int64_t>(audio.size()) / info.channels);
    audio.erase(audio.begin(), audio.begin() + n * info.channels);
    skip_samples -= n;
  }
}

void VideoReader::Impl::decode(AVCodecContext* dec, const AVPacket* pkt) {
  int rc = avcodec_send_packet(dec, pkt);
  // A damaged packet should not end the read; FFmpeg's own tools carry on the same way.
  if (rc < 0 && rc != AVERROR_EOF) return;
  for (;;) {
    rc = avcodec_receive_frame(dec, decoded.get());
    if (rc == AVERROR(EAGAIN) || rc == AVERROR_EOF) return;
    DUET_CHECK(rc >= 0, "'{}': decoding failed: {}", path, av_error_text(rc));
    if (dec == vdec.get()) {
      if (!skip_video) {
        FramePtr f = make_frame();
        av_frame_move_ref(f.get(), decoded.get());
        pending.push_back(std::move(f));
      }
    } else {
      take_audio(decoded.get());
    }
    av_frame_unref(decoded.get());
  }
}

void VideoReader::Impl::pump() {
  int rc = av_read_frame(input.get(), packet.get());
  if (rc == AVERROR_EOF || (rc < 0 && input->pb && avio_feof(input->pb))) {
    demux_done = true;
    if (vdec) decode(vdec.get(), nullptr);
    if (adec) decode(adec.get(), nullptr);
    if (swr) resample(nullptr, 0);
    return;
  }
  DUET_CHECK(rc >= 0, "cannot read '{}': {}", path, av_error_text(rc));
  if (packet->stream_index == vindex && !skip_video) {
    decode(vdec.get(), packet.get());
  } else if (packet->stream_index == aindex) {
    decode(adec.get(), packet.get());
  }
  av_packet_unref(packet.get());
}

VideoReader::VideoReader(const std::string& path, VideoReaderOptions options)
    : impl_(std::make_unique<Impl>()) {
  impl_->path = path;
  impl_->options = options;
  impl_->open();
}

VideoReader::~VideoReader() = default;

const MediaInfo& VideoReader::info() const { return impl_->info; }

const std::vector<float>& VideoReader::audio() const { return impl_->audio; }

bool VideoReader::read_frame(RgbImage& frame, double* time) {
  Impl& m = *impl_;
  if (!m.vdec || m.skip_video) return false;
  if (m.options.max_frames >= 0 && m.frames_out >= m.options.max_frames) return false;
  while (m.pending.empty() && !m.demux_done) m.pump();
  if (m.pending.empty()) return false;
  FramePtr f = std::move(m.pending.front());
  m.pending.pop_front();
  m.rgb.convert(f.get(), frame, m.path);
  if (time) {
    int64_t pts = f->best_effort_timestamp;
    *time = pts == AV_NOPTS_VALUE ? m.frames_out / m.info.fps.value()
                                  : pts * av_q2d(m.input->streams[m.vindex]->time_base);
  }
  ++m.frames_out;
  return true;
}

void VideoReader::read_audio_to_end() {
  Impl& m = *impl_;
  m.skip_video = true;
  m.pending.clear();
  while (!m.demux_done) m.pump();
}

VideoClip read_video(const std::string& path, VideoReaderOptions options) {
  VideoReader reader(path, options);
  VideoClip clip;
  RgbImage frame;
  double t = 0;
  while (reader.read_frame(frame, &t)) {
    clip.frames.push_back(std::move(frame));
    clip.frame_times.push_back(t);
  }
  reader.read_audio_to_end();
  clip.info = reader.info();
  clip.audio = reader.audio();
  if (options.max_frames >= 0 && clip.info.has_video && clip.info.fps.valid() &&
      clip.info.has_audio) {
    // The clip was cut after max_frames: keep the sound that goes with those frames.
    auto keep = static_cast<size_t>(std::llround(clip.frames.size() / clip.info.fps.value() *
                                                 clip.info.sample_rate)) *
                clip.info.channels;
    if (clip.audio.size() > keep) clip.audio.resize(keep);
  }
  return clip;
}

}  // namespace duet::media
