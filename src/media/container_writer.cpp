// MP4/MOV/WebM/MKV/WAV through libavformat: video and audio encoders, exact timestamps,
// interleaving, tags, fast start, XMP, temp file + rename.
//
// Timestamps: video frame n has pts n in the encoder time base 1/fps (den/num, exact for
// 24000/1001); audio sample s has pts s in 1/rate. The muxer rescales both to its own time
// base (MP4: the track timescale; Matroska: 1 ms).
//
// Streaming and memory: each frame is converted and sent to the encoder at once (the encoder
// keeps only its lookahead). Audio is resampled as it arrives but encoded only up to the time
// of the video written so far, so both streams reach the muxer in step and its interleaving
// queue stays short; raw audio waits in a FIFO (a few hundred KB per minute at 16 kHz).
#include <spdlog/spdlog.h>

#include "core/error.h"
#include "media/audio_resampler.h"
#include "media/color_convert.h"
#include "media/encoder_setup.h"
#include "media/frame_sink.h"
#include "media/temp_file.h"
#include "media/xmp_embed.h"

namespace duet::media {

void even_size(int width, int height, OddSizePolicy policy, int* out_width, int* out_height) {
  bool odd = (width | height) & 1;
  DUET_CHECK(!odd || policy == OddSizePolicy::kPad,
             "frame size {}x{} is odd but yuv420p video needs even sizes; render at {}x{} or "
             "allow padding (odd_size=pad adds one replicated column/row)",
             width, height, even_up(width), even_up(height));
  *out_width = even_up(width);
  *out_height = even_up(height);
}

namespace {

const char* muxer_name(OutputFormat format) {
  switch (format) {
    case OutputFormat::kMp4:
      return "mp4";
    case OutputFormat::kMov:
      return "mov";
    case OutputFormat::kWebm:
      return "webm";
    case OutputFormat::kMkv:
      return "matroska";
    case OutputFormat::kWav:
      return "wav";
    default:
      break;
  }
  DUET_FAIL("{} is not a container format", output_format_name(format));
}

class ContainerWriter final : public FrameSink {
 public:
  ContainerWriter(const VideoWriterOptions& options, OutputFormat format)
      : opts_(options), format_(format) {
    info_.path = options.path;
    info_.format = format;
  }

  void open() override;
  void write_frame(const uint8_t* rgb, int stride) override;
  void write_audio(const float* interleaved, int64_t samples) override;
  void finish() override;
  const WriterInfo& info() const override { return info_; }

 private:
  bool has_video() const { return venc_ != nullptr; }
  bool has_audio() const { return aenc_ != nullptr; }
  void open_video();
  void open_audio();
  void write_header();
  void send_video(const AVFrame* frame);  // nullptr drains the encoder
  void send_audio(int samples);           // -1 drains the encoder
  void drain(AVCodecContext* enc, AVStream* stream);
  // Output audio samples that cover the first `frames` video frames.
  int64_t audio_samples_for_frames(int64_t frames) const;
  void encode_audio_until(int64_t limit);
  void finish_audio();

  VideoWriterOptions opts_;
  OutputFormat format_;
  WriterInfo info_;
  // Declared first so it is destroyed last, after the muxer closed its file handle.
  std::unique_ptr<AtomicOutputFile> file_;
  OutputContextPtr mux_;
  CodecContextPtr venc_, aenc_;
  AVStream* vst_ = nullptr;
  AVStream* ast_ = nullptr;
  uint32_t video_tag_ = 0;
  std::unique_ptr<Watermark> watermark_;
  std::unique_ptr<FrameConverter> converter_;
  std::unique_ptr<AudioResampler> resampler_;
  FramePtr vframe_, aframe_;
  PacketPtr packet_;
  int audio_frame_size_ = 1024;
  int64_t audio_encoded_ = 0;  // samples per channel sent to the audio encoder
  int opus_offset_ = 0;        // samples added to Opus timestamps (see write_header)
  Metadata tags_;
};

void ContainerWriter::open() {
  install_av_log_bridge();
  file_ = std::make_unique<AtomicOutputFile>(opts_.path);
  AVFormatContext* ctx = nullptr;
  int rc = avformat_alloc_output_context2(&ctx, nullptr, muxer_name(format_),
                                          file_->temp_path().c_str());
  DUET_CHECK(rc >= 0 && ctx, "cannot set up the {} muxer: {}", muxer_name(format_),
             av_error_text(rc));
  mux_.reset(ctx);
  packet_ = make_packet();
  if (opts_.width > 0 || opts_.height > 0) open_video();
  if (opts_.audio_sample_rate > 0) open_audio();
  DUET_CHECK(has_video() || has_audio(),
             "nothing to write to '{}': set a frame size, an audio sample rate, or both",
             opts_.path);
  write_header();
}

void ContainerWriter::open_video() {
  DUET_CHECK(format_ != OutputFormat::kWav, "WAV holds audio only; write .mp4 for video");
  DUET_CHECK(opts_.width > 0 && opts_.height > 0, "frame size {}x{} is not positive", opts_.width,
             opts_.height);
  VideoEncoderRequest req;
  even_size(opts_.width, opts_.height, opts_.odd_size, &req.width, &req.height);
  req.codec = opts_.codec;
  req.format = format_;
  req.fps = opts_.fps;
  req.crf = opts_.crf;
  req.preset = opts_.preset;
  req.threads = opts_.threads;
  req.global_header = mux_->oformat->flags & AVFMT_GLOBALHEADER;
  OpenedVideoEncoder enc = open_video_encoder(req);
  venc_ = std::move(enc.context);
  video_tag_ = enc.codec_tag;
  info_.video_encoder = enc.encoder_name;
  info_.width = req.width;
  info_.height = req.height;

  watermark_ = make_watermark(opts_.watermark, opts_.watermark_corner, opts_.width, opts_.height);
  ConverterConfig cc;
  cc.src_width = opts_.width;
  cc.src_height = opts_.height;
  cc.pad_width = req.width;
  cc.pad_height = req.height;
  cc.out_format = AV_PIX_FMT_YUV420P;
  cc.watermark = watermark_.get();
  converter_ = std::make_unique<FrameConverter>(cc);

  vframe_ = make_frame();
  vframe_->format = AV_PIX_FMT_YUV420P;
  vframe_->width = req.width;
  vframe_->height = req.height;
  vframe_->color_range = AVCOL_RANGE_MPEG;
  vframe_->colorspace = AVCOL_SPC_BT709;
  int rc = av_frame_get_buffer(vframe_.get(), 0);
  DUET_CHECK(rc >= 0, "out of memory for a {}x{} frame", req.width, req.height);

  vst_ = avformat_new_stream(mux_.get(), nullptr);
  DUET_CHECK(vst_, "out of memory adding the video stream");
  rc = avcodec_parameters_from_context(vst_->codecpar, venc_.get());
  DUET_CHECK(rc >= 0, "cannot describe the video stream: {}", av_error_text(rc));
  if (video_tag_) vst_->codecpar->codec_tag = video_tag_;
  vst_->time_base = venc_->time_base;
  vst_->avg_frame_rate = venc_->framerate;
}

void ContainerWriter::open_audio() {
  int in_ch = opts_.audio_channels;
  DUET_CHECK(in_ch == 1 || in_ch == 2, "audio must be mono or stereo, got {} channels", in_ch);
  DUET_CHECK(opts_.audio_sample_rate >= 1000 && opts_.audio_sample_rate <= 384000,
             "audio sample rate {} Hz is out of range", opts_.audio_sample_rate);
  AudioEncoderRequest req;
  req.format = format_;
  req.encoder = opts_.audio_codec;
  req.sample_rate =
      opts_.audio_out_sample_rate > 0
          ? opts_.audio_out_sample_rate
          : default_audio_out_rate(format_, opts_.audio_codec, opts_.audio_sample_rate);
  req.channels = opts_.audio_out_channels > 0 ? opts_.audio_out_channels : in_ch;
  req.bit_rate = opts_.audio_bit_rate;
  req.global_header = mux_->oformat->flags & AVFMT_GLOBALHEADER;
  OpenedAudioEncoder enc = open_audio_encoder(req);
  aenc_ = std::move(enc.context);
  audio_frame_size_ = enc.frame_size;
  info_.audio_encoder = enc.encoder_name;
  info_.audio_sample_rate = req.sample_rate;
  info_.audio_channels = req.channels;

  resampler_ = std::make_unique<AudioResampler>(ResamplerConfig{
      opts_.audio_sample_rate, in_ch, req.sample_rate, req.channels, aenc_->sample_fmt});
  aframe_ = make_frame();

  ast_ = avformat_new_stream(mux_.get(), nullptr);
  DUET_CHECK(ast_, "out of memory adding the audio stream");
  int rc = avcodec_parameters_from_context(ast_->codecpar, aenc_.get());
  DUET_CHECK(rc >= 0, "cannot describe the audio stream: {}", av_error_text(rc));
  ast_->time_base = aenc_->time_base;
}

void ContainerWriter::write_header() {
  tags_ = output_tags(opts_.metadata, opts_.ai_generated_label);
  std::string xmp = make_xmp_packet(tags_, opts_.ai_generated_label);
  for (const auto& [key, value] : tags_)
    av_dict_set(&mux_->metadata, key.c_str(), value.c_str(), 0);
  bool matroska = format_ == OutputFormat::kWebm || format_ == OutputFormat::kMkv;
  if (matroska) av_dict_set(&mux_->metadata, "xmp", xmp.c_str(), 0);

  AvDict opts;
  if (format_ == OutputFormat::kMp4 || format_ == OutputFormat::kMov) {
    // faststart: moov before mdat, so browsers start playing while downloading.
    // use_metadata_tags: free-form keys (prompt, seed, ...) as mdta entries; without it the
    // mov muxer keeps only the iTunes keys it knows.
    opts.set("movflags", "+faststart+use_metadata_tags");
  } else if (matroska) {
    opts.set("cues_to_front", "1");  // the seek index up front, same purpose as faststart
    // Opus packets start at -312 samples (encoder priming), which Matroska expresses as
    // CodecDelay with the first block at 0. libavformat 59.30 and older (Debian 12 has 59.27)
    // instead shift *every* stream 7 ms later, so video lags the sound; newer versions offset
    // the Opus blocks themselves. Disable the shift and, on old versions, offset here.
    mux_->avoid_negative_ts = AVFMT_AVOID_NEG_TS_DISABLED;
    opus_offset_ = has_audio() && aenc_->codec_id == AV_CODEC_ID_OPUS &&
                           avformat_version() <= AV_VERSION_INT(59, 30, 100)
                       ? aenc_->initial_padding
                       : 0;
  }
  int rc = avio_open(&mux_->pb, file_->temp_path().c_str(), AVIO_FLAG_WRITE);
  DUET_CHECK(rc >= 0, "cannot write '{}': {}", opts_.path, av_error_text(rc));
  rc = avformat_write_header(mux_.get(), opts.get());
  DUET_CHECK(rc >= 0, "cannot start the {} file '{}': {}", muxer_name(format_), opts_.path,
             av_error_text(rc));
}

void ContainerWriter::drain(AVCodecContext* enc, AVStream* stream) {
  for (;;) {
    int rc = avcodec_receive_packet(enc, packet_.get());
    if (rc == AVERROR(EAGAIN) || rc == AVERROR_EOF) return;
    DUET_CHECK(rc >= 0, "{} encoder failed: {}", enc->codec->name, av_error_text(rc));
    // FFmpeg 5.1 frames carry no duration; the muxer needs it for the last frame's length.
    if (enc == venc_.get() && packet_->duration == 0) packet_->duration = 1;
    if (enc == aenc_.get() && opus_offset_) {
      packet_->pts += opus_offset_;
      packet_->dts += opus_offset_;
    }
    av_packet_rescale_ts(packet_.get(), enc->time_base, stream->time_base);
    packet_->stream_index = stream->index;
    rc = av_interleaved_write_frame(mux_.get(), packet_.get());
    DUET_CHECK(rc >= 0, "cannot write to '{}': {}", opts_.path, av_error_text(rc));
  }
}

void ContainerWriter::send_video(const AVFrame* frame) {
  int rc = avcodec_send_frame(venc_.get(), frame);
  DUET_CHECK(rc >= 0, "{} encoder rejected frame {}: {}", info_.video_encoder, info_.frames,
             av_error_text(rc));
  drain(venc_.get(), vst_);
}

void ContainerWriter::write_frame(const uint8_t* rgb, int stride) {
  DUET_CHECK(has_video(), "'{}' has no video stream (no frame size given)", opts_.path);
  // The encoder may still hold a reference to the previous frame's buffers.
  int rc = av_frame_make_writable(vframe_.get());
  DUET_CHECK(rc >= 0, "out of memory for a video frame");
  converter_->convert(rgb, stride, vframe_.get());
  vframe_->pts = info_.frames;
  send_video(vframe_.get());
  ++info_.frames;
  if (has_audio()) encode_audio_until(audio_samples_for_frames(info_.frames));
}

int64_t ContainerWriter::audio_samples_for_frames(int64_t frames) const {
  // frames / fps seconds at the output rate, rounded to the nearest sample.
  return av_rescale_rnd(frames, static_cast<int64_t>(aenc_->sample_rate) * opts_.fps.den,
                        opts_.fps.num, AV_ROUND_NEAR_INF);
}

void ContainerWriter::write_audio(const float* interleaved, int64_t samples) {
  DUET_CHECK(has_audio(), "'{}' has no audio stream (set the audio sample rate)", opts_.path);
  resampler_->push(interleaved, samples);
  if (!has_video()) encode_audio_until(INT64_MAX);
}

void ContainerWriter::send_audio(int samples) {
  if (samples < 0) {
    int rc = avcodec_send_frame(aenc_.get(), nullptr);
    DUET_CHECK(rc >= 0, "{} encoder failed at the end: {}", info_.audio_encoder, av_error_text(rc));
  } else {
    resampler_->pop(aframe_.get(), samples);
    aframe_->pts = audio_encoded_;
    int rc = avcodec_send_frame(aenc_.get(), aframe_.get());
    DUET_CHECK(rc >= 0, "{} encoder rejected audio: {}", info_.audio_encoder, av_error_text(rc));
    audio_encoded_ += samples;
  }
  drain(aenc_.get(), ast_);
}

void ContainerWriter::encode_audio_until(int64_t limit) {
  while (resampler_->available() >= audio_frame_size_ &&
         audio_encoded_ + audio_frame_size_ <= limit) {
    send_audio(audio_frame_size_);
  }
}

void ContainerWriter::finish_audio() {
  resampler_->flush();
  int64_t target = audio_encoded_ + resampler_->available();
  if (has_video() && opts_.audio_fit == AudioFit::kMatchVideo) {
    target = audio_samples_for_frames(info_.frames);
  }
  // Full frames, then one short last frame (every encoder here accepts a small last frame);
  // pop() fills with silence past the queued audio.
  while (audio_encoded_ < target) {
    send_audio(static_cast<int>(std::min<int64_t>(audio_frame_size_, target - audio_encoded_)));
  }
  send_audio(-1);
  info_.audio_samples = audio_encoded_;
}

void ContainerWriter::finish() {
  DUET_CHECK(!has_video() || info_.frames > 0,
             "no frames were written to '{}'; nothing to save (a clip needs at least one)",
             opts_.path);
  if (has_video()) send_video(nullptr);
  if (has_audio()) finish_audio();
  int rc = av_write_trailer(mux_.get());
  DUET_CHECK(rc >= 0, "cannot finish '{}': {}", opts_.path, av_error_text(rc));
  rc = avio_closep(&mux_->pb);
  DUET_CHECK(rc >= 0, "cannot close '{}': {}", opts_.path, av_error_text(rc));
  std::string xmp = make_xmp_packet(tags_, opts_.ai_generated_label);
  if (format_ == OutputFormat::kMp4 || format_ == OutputFormat::kMov) {
    append_mp4_xmp(file_->temp_path(), xmp);
  } else if (format_ == OutputFormat::kWav) {
    append_wav_xmp(file_->temp_path(), xmp);
  }
  file_->commit();
  spdlog::debug("media: wrote '{}' ({} frames {}x{} {}, {} audio samples {})", info_.path,
                info_.frames, info_.width, info_.height, info_.video_encoder, info_.audio_samples,
                info_.audio_encoder);
}

}  // namespace

std::unique_ptr<FrameSink> make_container_sink(const VideoWriterOptions& options,
                                               OutputFormat format) {
  return std::make_unique<ContainerWriter>(options, format);
}

}  // namespace duet::media
