// Animated previews for quick looks: GIF (libavcodec gif) or WebP (libwebp_anim), scaled so
// the longer side is at most preview_max_side, looping, silent.
//
// GIF palette: a fixed 6x7x6 colour cube (252 entries; green gets the extra level because the
// eye resolves it best) with 4x4 ordered (Bayer) dithering. A fixed palette keeps the writer
// streaming (no first pass over all frames to build a palette) and, unlike error diffusion,
// ordered dither does not crawl between frames of a still scene.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <filesystem>

#include "core/error.h"
#include "media/color_convert.h"
#include "media/frame_sink.h"
#include "media/temp_file.h"
#include "media/xmp_embed.h"

namespace duet::media {

namespace {

constexpr int kLevelsR = 6, kLevelsG = 7, kLevelsB = 6;

uint32_t palette_entry(int index) {
  int r = index / (kLevelsG * kLevelsB), g = index / kLevelsB % kLevelsG, b = index % kLevelsB;
  auto level = [](int i, int n) { return static_cast<uint32_t>(std::lround(i * 255.0 / (n - 1))); };
  return 0xFF000000u | level(r, kLevelsR) << 16 | level(g, kLevelsG) << 8 | level(b, kLevelsB);
}

// RGB24 -> PAL8 indices into the fixed cube, with 4x4 Bayer dithering of one level step.
void quantize(const AVFrame* rgb, AVFrame* pal) {
  static constexpr int kBayer[4][4] = {
      {0, 8, 2, 10}, {12, 4, 14, 6}, {3, 11, 1, 9}, {15, 7, 13, 5}};
  auto* palette = reinterpret_cast<uint32_t*>(pal->data[1]);
  for (int i = 0; i < 256; ++i)
    palette[i] = i < kLevelsR * kLevelsG * kLevelsB ? palette_entry(i) : 0xFF000000u;
  for (int y = 0; y < rgb->height; ++y) {
    const uint8_t* in = rgb->data[0] + static_cast<ptrdiff_t>(y) * rgb->linesize[0];
    uint8_t* out = pal->data[0] + static_cast<ptrdiff_t>(y) * pal->linesize[0];
    for (int x = 0; x < rgb->width; ++x) {
      float d = (kBayer[y & 3][x & 3] + 0.5f) / 16.0f - 0.5f;  // in (-0.5, 0.5) of a step
      auto q = [&](int v, int n) {
        float level = v * (n - 1) / 255.0f + d;
        return std::clamp(static_cast<int>(std::lround(level)), 0, n - 1);
      };
      int r = q(in[3 * x], kLevelsR), g = q(in[3 * x + 1], kLevelsG),
          b = q(in[3 * x + 2], kLevelsB);
      out[x] = static_cast<uint8_t>((r * kLevelsG + g) * kLevelsB + b);
    }
  }
}

class PreviewWriter final : public FrameSink {
 public:
  PreviewWriter(const VideoWriterOptions& options, OutputFormat format)
      : opts_(options), format_(format) {
    info_.path = options.path;
    info_.format = format;
  }

  void open() override {
    install_av_log_bridge();
    DUET_CHECK(opts_.width > 0 && opts_.height > 0, "frame size {}x{} is not positive", opts_.width,
               opts_.height);
    if (format_ == OutputFormat::kWebp && !avcodec_find_encoder_by_name("libwebp_anim")) {
      // Not every FFmpeg build has libwebp; a GIF beside the requested name still gives a look.
      opts_.path = std::filesystem::path(opts_.path).replace_extension(".gif").string();
      spdlog::warn("media: this FFmpeg has no libwebp_anim encoder; writing GIF '{}' instead",
                   opts_.path);
      format_ = OutputFormat::kGif;
      info_.path = opts_.path;
      info_.format = format_;
    }
    bool gif = format_ == OutputFormat::kGif;
    scaled_size(&info_.width, &info_.height);
    file_ = std::make_unique<AtomicOutputFile>(opts_.path);

    const char* encoder = gif ? "gif" : "libwebp_anim";
    const AVCodec* codec = avcodec_find_encoder_by_name(encoder);
    DUET_CHECK(codec, "the {} encoder is not in this FFmpeg build", encoder);
    enc_.reset(avcodec_alloc_context3(codec));
    DUET_CHECK(enc_, "out of memory allocating the {} encoder", encoder);
    enc_->width = info_.width;
    enc_->height = info_.height;
    enc_->pix_fmt = gif ? AV_PIX_FMT_PAL8 : AV_PIX_FMT_YUV420P;
    enc_->time_base = AVRational{opts_.fps.den, opts_.fps.num};
    enc_->framerate = AVRational{opts_.fps.num, opts_.fps.den};
    AvDict enc_opts;
    if (!gif) enc_opts.set("quality", "75");
    int rc = avcodec_open2(enc_.get(), codec, enc_opts.get());
    DUET_CHECK(rc >= 0, "cannot start the {} encoder: {}", encoder, av_error_text(rc));
    info_.video_encoder = encoder;

    AVFormatContext* ctx = nullptr;
    rc = avformat_alloc_output_context2(&ctx, nullptr, gif ? "gif" : "webp",
                                        file_->temp_path().c_str());
    DUET_CHECK(rc >= 0 && ctx, "cannot set up the {} muxer: {}", gif ? "gif" : "webp",
               av_error_text(rc));
    mux_.reset(ctx);
    stream_ = avformat_new_stream(mux_.get(), nullptr);
    DUET_CHECK(stream_, "out of memory adding the preview stream");
    rc = avcodec_parameters_from_context(stream_->codecpar, enc_.get());
    DUET_CHECK(rc >= 0, "cannot describe the preview stream: {}", av_error_text(rc));
    stream_->time_base = enc_->time_base;
    tags_ = output_tags(opts_.metadata, opts_.ai_generated_label);
    for (const auto& [k, v] : tags_) av_dict_set(&mux_->metadata, k.c_str(), v.c_str(), 0);
    rc = avio_open(&mux_->pb, file_->temp_path().c_str(), AVIO_FLAG_WRITE);
    DUET_CHECK(rc >= 0, "cannot write '{}': {}", opts_.path, av_error_text(rc));
    AvDict mux_opts;
    mux_opts.set("loop", "0");  // loop forever, as previews do
    rc = avformat_write_header(mux_.get(), mux_opts.get());
    DUET_CHECK(rc >= 0, "cannot start '{}': {}", opts_.path, av_error_text(rc));

    watermark_ = make_watermark(opts_.watermark, opts_.watermark_corner, opts_.width, opts_.height);
    ConverterConfig cc;
    cc.src_width = opts_.width;
    cc.src_height = opts_.height;
    cc.out_width = info_.width;
    cc.out_height = info_.height;
    cc.out_format = gif ? AV_PIX_FMT_RGB24 : AV_PIX_FMT_YUV420P;
    cc.watermark = watermark_.get();
    converter_ = std::make_unique<FrameConverter>(cc);
    scaled_ = alloc_frame(cc.out_format);
    if (gif) indexed_ = alloc_frame(AV_PIX_FMT_PAL8);
    packet_ = make_packet();
  }

  void write_frame(const uint8_t* rgb, int stride) override {
    int rc = av_frame_make_writable(scaled_.get());
    DUET_CHECK(rc >= 0, "out of memory for a preview frame");
    converter_->convert(rgb, stride, scaled_.get());
    AVFrame* frame = scaled_.get();
    if (indexed_) {
      rc = av_frame_make_writable(indexed_.get());
      DUET_CHECK(rc >= 0, "out of memory for a preview frame");
      quantize(scaled_.get(), indexed_.get());
      frame = indexed_.get();
    }
    frame->pts = info_.frames;
    send(frame);
    ++info_.frames;
  }

  void write_audio(const float*, int64_t) override {
    if (!warned_audio_) spdlog::info("media: previews are silent; audio is not written");
    warned_audio_ = true;
  }

  void finish() override {
    DUET_CHECK(info_.frames > 0, "no frames were written to '{}'; nothing to save", opts_.path);
    send(nullptr);
    int rc = av_write_trailer(mux_.get());
    DUET_CHECK(rc >= 0, "cannot finish '{}': {}", opts_.path, av_error_text(rc));
    rc = avio_closep(&mux_->pb);
    DUET_CHECK(rc >= 0, "cannot close '{}': {}", opts_.path, av_error_text(rc));
    std::string xmp = make_xmp_packet(tags_, opts_.ai_generated_label);
    if (format_ == OutputFormat::kGif) {
      insert_gif_xmp(file_->temp_path(), xmp);
    } else {
      add_webp_xmp(file_->temp_path(), xmp, info_.width, info_.height);
    }
    file_->commit();
  }

  const WriterInfo& info() const override { return info_; }

 private:
  void scaled_size(int* w, int* h) const {
    int longest = std::max(opts_.width, opts_.height);
    if (opts_.preview_max_side <= 0 || longest <= opts_.preview_max_side) {
      *w = opts_.width;
      *h = opts_.height;
      return;
    }
    double s = static_cast<double>(opts_.preview_max_side) / longest;
    *w = std::max(1, static_cast<int>(std::lround(opts_.width * s)));
    *h = std::max(1, static_cast<int>(std::lround(opts_.height * s)));
  }

  FramePtr alloc_frame(AVPixelFormat format) const {
    FramePtr f = make_frame();
    f->format = format;
    f->width = info_.width;
    f->height = info_.height;
    int rc = av_frame_get_buffer(f.get(), 0);
    DUET_CHECK(rc >= 0, "out of memory for a {}x{} preview frame", info_.width, info_.height);
    return f;
  }

  void send(const AVFrame* frame) {
    int rc = avcodec_send_frame(enc_.get(), frame);
    DUET_CHECK(rc >= 0, "{} encoder failed: {}", info_.video_encoder, av_error_text(rc));
    for (;;) {
      rc = avcodec_receive_packet(enc_.get(), packet_.get());
      if (rc == AVERROR(EAGAIN) || rc == AVERROR_EOF) return;
      DUET_CHECK(rc >= 0, "{} encoder failed: {}", info_.video_encoder, av_error_text(rc));
      if (packet_->duration == 0) packet_->duration = 1;
      av_packet_rescale_ts(packet_.get(), enc_->time_base, stream_->time_base);
      packet_->stream_index = stream_->index;
      rc = av_interleaved_write_frame(mux_.get(), packet_.get());
      DUET_CHECK(rc >= 0, "cannot write '{}': {}", opts_.path, av_error_text(rc));
    }
  }

  VideoWriterOptions opts_;
  OutputFormat format_;
  WriterInfo info_;
  std::unique_ptr<AtomicOutputFile> file_;  // destroyed after the muxer closed the file
  OutputContextPtr mux_;
  CodecContextPtr enc_;
  AVStream* stream_ = nullptr;
  std::unique_ptr<Watermark> watermark_;
  std::unique_ptr<FrameConverter> converter_;
  FramePtr scaled_, indexed_;
  PacketPtr packet_;
  Metadata tags_;
  bool warned_audio_ = false;
};

}  // namespace

std::unique_ptr<FrameSink> make_preview_sink(const VideoWriterOptions& options,
                                             OutputFormat format) {
  return std::make_unique<PreviewWriter>(options, format);
}

}  // namespace duet::media
