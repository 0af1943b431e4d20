#include "media/image_reader.h"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <utility>

#include "core/error.h"
#include "media/av_util.h"
#include "media/frame_to_rgb.h"
#include "media/temp_file.h"
#include "media/video_reader.h"

namespace duet::media {

namespace {

enum class ImageKind { kPng, kJpeg, kWebp, kOther };

ImageKind sniff(const uint8_t* d, size_t n) {
  if (n >= 8 && std::memcmp(d, "\x89PNG\r\n\x1a\n", 8) == 0) return ImageKind::kPng;
  if (n >= 3 && d[0] == 0xFF && d[1] == 0xD8 && d[2] == 0xFF) return ImageKind::kJpeg;
  if (n >= 12 && std::memcmp(d, "RIFF", 4) == 0 && std::memcmp(d + 8, "WEBP", 4) == 0) {
    return ImageKind::kWebp;
  }
  return ImageKind::kOther;
}

const char* kind_name(ImageKind k) {
  switch (k) {
    case ImageKind::kPng:
      return "PNG";
    case ImageKind::kJpeg:
      return "JPEG";
    case ImageKind::kWebp:
      return "WebP";
    case ImageKind::kOther:
      break;
  }
  return "image";
}

// EXIF orientation (1-8) applied as PIL's ImageOps.exif_transpose does, so a portrait photo
// from a phone conditions the model upright. out(x, y) takes src(sx, sy).
RgbImage apply_orientation(const RgbImage& src, int orientation) {
  if (orientation < 2 || orientation > 8) return src;
  const int w = src.width, h = src.height;
  const bool swap = orientation >= 5;
  RgbImage out;
  out.width = swap ? h : w;
  out.height = swap ? w : h;
  out.pixels.resize(src.pixels.size());
  auto source = [&](int x, int y) -> std::pair<int, int> {
    switch (orientation) {
      case 2:
        return {w - 1 - x, y};  // mirrored
      case 3:
        return {w - 1 - x, h - 1 - y};  // rotated 180
      case 4:
        return {x, h - 1 - y};  // flipped
      case 5:
        return {y, x};  // transposed
      case 6:
        return {y, h - 1 - x};  // rotated 90 clockwise
      case 7:
        return {w - 1 - y, h - 1 - x};  // transversed
      default:
        return {w - 1 - y, x};  // 8: rotated 90 counter-clockwise
    }
  };
  for (int y = 0; y < out.height; ++y) {
    for (int x = 0; x < out.width; ++x) {
      auto [sx, sy] = source(x, y);
      std::memcpy(out.row(y) + x * 3, src.row(sy) + sx * 3, 3);
    }
  }
  return out;
}

}  // namespace

RgbImage decode_image(const uint8_t* data, size_t size, const std::string& name) {
  install_av_log_bridge();
  ImageKind kind = sniff(data, size);
  DUET_CHECK(kind != ImageKind::kOther, "'{}' is not a PNG, JPEG or WebP image", name);
  AVCodecID id = kind == ImageKind::kPng    ? AV_CODEC_ID_PNG
                 : kind == ImageKind::kJpeg ? AV_CODEC_ID_MJPEG
                                            : AV_CODEC_ID_WEBP;
  const AVCodec* codec = avcodec_find_decoder(id);
  DUET_CHECK(codec, "this FFmpeg build cannot decode {} ('{}')", kind_name(kind), name);
  CodecContextPtr dec(avcodec_alloc_context3(codec));
  DUET_CHECK(dec, "out of memory decoding '{}'", name);
  int rc = avcodec_open2(dec.get(), codec, nullptr);
  DUET_CHECK(rc >= 0, "cannot start the {} decoder: {}", kind_name(kind), av_error_text(rc));

  // Decoders may read a few bytes past the end; FFmpeg asks for zeroed padding.
  PacketPtr packet = make_packet();
  rc = av_new_packet(packet.get(), static_cast<int>(size));
  DUET_CHECK(rc >= 0, "out of memory reading '{}'", name);
  std::memcpy(packet->data, data, size);
  FramePtr frame = make_frame();
  rc = avcodec_send_packet(dec.get(), packet.get());
  if (rc >= 0) avcodec_send_packet(dec.get(), nullptr);
  if (rc >= 0) rc = avcodec_receive_frame(dec.get(), frame.get());
  DUET_CHECK(rc >= 0, "cannot decode {} image '{}': {}", kind_name(kind), name,
             rc == AVERROR_EOF ? "no picture in the file" : av_error_text(rc));
  RgbImage image = frame_to_rgb(frame.get(), name);
  // The JPEG decoder exports EXIF tags as frame metadata.
  if (const AVDictionaryEntry* e = av_dict_get(frame->metadata, "Orientation", nullptr, 0)) {
    image = apply_orientation(image, std::atoi(e->value));
  }
  return image;
}

RgbImage read_image(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  DUET_CHECK(in, "cannot open image '{}': {}", path, std::strerror(errno));
  std::vector<uint8_t> bytes{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  DUET_CHECK(!bytes.empty(), "image '{}' is empty", path);
  if (sniff(bytes.data(), bytes.size()) != ImageKind::kOther) {
    return decode_image(bytes.data(), bytes.size(), path);
  }
  // Anything else FFmpeg reads (BMP, TIFF, a video's first frame): through libavformat.
  try {
    VideoReaderOptions ro;
    ro.read_audio = false;
    VideoReader reader(path, ro);
    RgbImage image;
    DUET_CHECK(reader.read_frame(image), "no picture in '{}'", path);
    return image;
  } catch (const Error&) {
    DUET_FAIL("'{}' is not a PNG, JPEG or WebP image, and FFmpeg cannot read it either", path);
  }
}

void write_png(const std::string& path, const RgbImage& image) {
  install_av_log_bridge();
  DUET_CHECK(image.width > 0 && image.height > 0 &&
                 image.pixels.size() == static_cast<size_t>(image.width) * image.height * 3,
             "image for '{}' is {}x{} with {} bytes; expected width * height * 3", path,
             image.width, image.height, image.pixels.size());
  const AVCodec* codec = avcodec_find_encoder(AV_CODEC_ID_PNG);
  DUET_CHECK(codec, "the PNG encoder is not in this FFmpeg build");
  CodecContextPtr enc(avcodec_alloc_context3(codec));
  DUET_CHECK(enc, "out of memory allocating the PNG encoder");
  enc->width = image.width;
  enc->height = image.height;
  enc->pix_fmt = AV_PIX_FMT_RGB24;
  enc->time_base = AVRational{1, 1};
  int rc = avcodec_open2(enc.get(), codec, nullptr);
  DUET_CHECK(rc >= 0, "cannot start the PNG encoder: {}", av_error_text(rc));
  FramePtr frame = make_frame();
  frame->format = AV_PIX_FMT_RGB24;
  frame->width = image.width;
  frame->height = image.height;
  rc = av_frame_get_buffer(frame.get(), 0);
  DUET_CHECK(rc >= 0, "out of memory for a {}x{} image", image.width, image.height);
  for (int y = 0; y < image.height; ++y) {
    std::memcpy(frame->data[0] + static_cast<ptrdiff_t>(y) * frame->linesize[0], image.row(y),
                static_cast<size_t>(image.width) * 3);
  }
  PacketPtr packet = make_packet();
  rc = avcodec_send_frame(enc.get(), frame.get());
  if (rc >= 0) rc = avcodec_receive_packet(enc.get(), packet.get());
  DUET_CHECK(rc >= 0, "PNG encoding of '{}' failed: {}", path, av_error_text(rc));
  AtomicOutputFile file(path);
  {
    std::ofstream out(file.temp_path(), std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(packet->data), packet->size);
    DUET_CHECK(out.good(), "cannot write '{}' (disk full?)", path);
  }
  file.commit();
}

}  // namespace duet::media
