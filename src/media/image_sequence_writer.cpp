// PNG frame sequences: each frame encoded with libavcodec's PNG encoder and written to the
// pattern's file name (printf style, e.g. frames/%04d.png) through its own temporary file, so
// every file that exists under its final name is complete. Tags and XMP go into iTXt chunks.
// PNG stores any size, so odd sizes are kept as they are.
#include <spdlog/spdlog.h>

#include <fstream>

#include "core/error.h"
#include "media/color_convert.h"
#include "media/frame_sink.h"
#include "media/temp_file.h"
#include "media/xmp_embed.h"

namespace duet::media {

namespace {

class PngSequenceWriter final : public FrameSink {
 public:
  explicit PngSequenceWriter(const VideoWriterOptions& options) : opts_(options) {
    info_.path = options.path;
    info_.format = OutputFormat::kPngSequence;
  }

  void open() override {
    install_av_log_bridge();
    DUET_CHECK(opts_.width > 0 && opts_.height > 0, "frame size {}x{} is not positive", opts_.width,
               opts_.height);
    // av_get_frame_filename2 accepts exactly one %d-style field; anything else is refused.
    char probe[4096];
    DUET_CHECK(av_get_frame_filename2(probe, sizeof(probe), opts_.path.c_str(), 0, 0) >= 0,
               "PNG output '{}' needs one frame-number field such as %04d", opts_.path);
    check_output_path(probe);
    const AVCodec* codec = avcodec_find_encoder(AV_CODEC_ID_PNG);
    DUET_CHECK(codec, "the PNG encoder is not in this FFmpeg build");
    enc_.reset(avcodec_alloc_context3(codec));
    DUET_CHECK(enc_, "out of memory allocating the PNG encoder");
    enc_->width = opts_.width;
    enc_->height = opts_.height;
    enc_->pix_fmt = AV_PIX_FMT_RGB24;
    enc_->time_base = AVRational{opts_.fps.den, opts_.fps.num};
    int rc = avcodec_open2(enc_.get(), codec, nullptr);
    DUET_CHECK(rc >= 0, "cannot start the PNG encoder: {}", av_error_text(rc));
    info_.video_encoder = "png";
    info_.width = opts_.width;
    info_.height = opts_.height;

    watermark_ = make_watermark(opts_.watermark, opts_.watermark_corner, opts_.width, opts_.height);
    ConverterConfig cc;
    cc.src_width = opts_.width;
    cc.src_height = opts_.height;
    cc.out_format = AV_PIX_FMT_RGB24;
    cc.watermark = watermark_.get();
    converter_ = std::make_unique<FrameConverter>(cc);
    frame_ = make_frame();
    frame_->format = AV_PIX_FMT_RGB24;
    frame_->width = opts_.width;
    frame_->height = opts_.height;
    rc = av_frame_get_buffer(frame_.get(), 0);
    DUET_CHECK(rc >= 0, "out of memory for a {}x{} frame", opts_.width, opts_.height);
    packet_ = make_packet();
    tags_ = output_tags(opts_.metadata, opts_.ai_generated_label);
    xmp_ = make_xmp_packet(tags_, opts_.ai_generated_label);
  }

  void write_frame(const uint8_t* rgb, int stride) override {
    int rc = av_frame_make_writable(frame_.get());
    DUET_CHECK(rc >= 0, "out of memory for a video frame");
    converter_->convert(rgb, stride, frame_.get());
    frame_->pts = info_.frames;
    rc = avcodec_send_frame(enc_.get(), frame_.get());
    DUET_CHECK(rc >= 0, "PNG encoder rejected frame {}: {}", info_.frames, av_error_text(rc));
    rc = avcodec_receive_packet(enc_.get(), packet_.get());
    DUET_CHECK(rc >= 0, "PNG encoder failed on frame {}: {}", info_.frames, av_error_text(rc));
    std::vector<uint8_t> png(packet_->data, packet_->data + packet_->size);
    av_packet_unref(packet_.get());
    png = add_png_text(png, tags_, xmp_);

    char name[4096];
    int64_t number = opts_.png_start_number + info_.frames;
    rc =
        av_get_frame_filename2(name, sizeof(name), opts_.path.c_str(), static_cast<int>(number), 0);
    DUET_CHECK(rc >= 0, "cannot make a file name from '{}' for frame {}", opts_.path, number);
    AtomicOutputFile file{std::string(name)};
    {
      std::ofstream out(file.temp_path(), std::ios::binary | std::ios::trunc);
      out.write(reinterpret_cast<const char*>(png.data()),
                static_cast<std::streamsize>(png.size()));
      DUET_CHECK(out.good(), "cannot write '{}' (disk full?)", name);
    }
    file.commit();
    ++info_.frames;
  }

  void write_audio(const float*, int64_t) override {
    if (!warned_audio_) spdlog::info("media: PNG frames carry no sound; audio is not written");
    warned_audio_ = true;
  }

  void finish() override {}
  const WriterInfo& info() const override { return info_; }

 private:
  VideoWriterOptions opts_;
  WriterInfo info_;
  CodecContextPtr enc_;
  std::unique_ptr<Watermark> watermark_;
  std::unique_ptr<FrameConverter> converter_;
  FramePtr frame_;
  PacketPtr packet_;
  Metadata tags_;
  std::string xmp_;
  bool warned_audio_ = false;
};

}  // namespace

std::unique_ptr<FrameSink> make_png_sequence_sink(const VideoWriterOptions& options) {
  return std::make_unique<PngSequenceWriter>(options);
}

}  // namespace duet::media
