// Still images in: PNG/JPEG/WebP made with libavcodec's own encoders, read back with
// read_image, compared with the pixels that went in; unreadable files give one-line errors.
#include "media/image_reader.h"

#include <gtest/gtest.h>

#include "core/error.h"
#include "media_probe.h"
#include "media_test_util.h"
#include "support/test_support.h"

namespace duet::media {
namespace {

using test::TempDir;

// Encodes one RGB24 frame with a libavcodec image encoder and returns the bytes.
std::string encode_image(const char* encoder, AVPixelFormat fmt, int w, int h,
                         const std::vector<uint8_t>& rgb) {
  const AVCodec* codec = avcodec_find_encoder_by_name(encoder);
  if (!codec) return {};
  AVCodecContext* ctx = avcodec_alloc_context3(codec);
  ctx->width = w;
  ctx->height = h;
  ctx->pix_fmt = fmt;
  ctx->time_base = {1, 1};
  ctx->color_range = AVCOL_RANGE_JPEG;
  if (std::string(encoder) == "mjpeg") {
    ctx->flags |= AV_CODEC_FLAG_QSCALE;
    ctx->global_quality = FF_QP2LAMBDA * 2;
  }
  EXPECT_GE(avcodec_open2(ctx, codec, nullptr), 0);
  AVFrame* frame = av_frame_alloc();
  frame->format = fmt;
  frame->width = w;
  frame->height = h;
  frame->color_range = AVCOL_RANGE_JPEG;
  frame->quality = ctx->global_quality;
  av_frame_get_buffer(frame, 0);
  SwsContext* sws =
      sws_getContext(w, h, AV_PIX_FMT_RGB24, w, h, fmt, SWS_BICUBIC, nullptr, nullptr, nullptr);
  const uint8_t* src[1] = {rgb.data()};
  int stride[1] = {w * 3};
  sws_scale(sws, src, stride, 0, h, frame->data, frame->linesize);
  sws_freeContext(sws);
  AVPacket* pkt = av_packet_alloc();
  avcodec_send_frame(ctx, frame);
  avcodec_send_frame(ctx, nullptr);
  std::string out;
  while (avcodec_receive_packet(ctx, pkt) >= 0) {
    out.append(reinterpret_cast<const char*>(pkt->data), pkt->size);
    av_packet_unref(pkt);
  }
  av_packet_free(&pkt);
  av_frame_free(&frame);
  avcodec_free_context(&ctx);
  return out;
}

TEST(ImageReader, PngIsExact) {
  TempDir dir;
  auto rgb = test_util::gradient_frame(37, 23, 3);
  test::write_file(dir / "a.png", encode_image("png", AV_PIX_FMT_RGB24, 37, 23, rgb));
  RgbImage img = read_image(dir / "a.png");
  EXPECT_EQ(img.width, 37);
  EXPECT_EQ(img.height, 23);
  EXPECT_EQ(img.pixels, rgb);
}

TEST(ImageReader, PngWithAlphaDropsAlpha) {
  TempDir dir;
  std::vector<uint8_t> rgba(4 * 4 * 4);
  for (size_t i = 0; i < rgba.size(); i += 4) {
    rgba[i] = 10;
    rgba[i + 1] = 200;
    rgba[i + 2] = 30;
    rgba[i + 3] = 0;  // fully transparent: the colour is kept, as PIL's convert("RGB") does
  }
  const AVCodec* codec = avcodec_find_encoder(AV_CODEC_ID_PNG);
  AVCodecContext* ctx = avcodec_alloc_context3(codec);
  ctx->width = ctx->height = 4;
  ctx->pix_fmt = AV_PIX_FMT_RGBA;
  ctx->time_base = {1, 1};
  ASSERT_GE(avcodec_open2(ctx, codec, nullptr), 0);
  AVFrame* f = av_frame_alloc();
  f->format = AV_PIX_FMT_RGBA;
  f->width = f->height = 4;
  av_frame_get_buffer(f, 0);
  for (int y = 0; y < 4; ++y) std::memcpy(f->data[0] + y * f->linesize[0], &rgba[y * 16], 16);
  AVPacket* p = av_packet_alloc();
  avcodec_send_frame(ctx, f);
  ASSERT_GE(avcodec_receive_packet(ctx, p), 0);
  RgbImage img = decode_image(p->data, p->size, "rgba.png");
  av_packet_free(&p);
  av_frame_free(&f);
  avcodec_free_context(&ctx);
  ASSERT_EQ(img.pixels.size(), 48u);
  EXPECT_EQ(img.pixels[0], 10);
  EXPECT_EQ(img.pixels[1], 200);
  EXPECT_EQ(img.pixels[2], 30);
}

TEST(ImageReader, JpegAndWebpAreClose) {
  TempDir dir;
  auto rgb = test_util::gradient_frame(64, 48, 0);
  struct Fmt {
    const char* encoder;
    AVPixelFormat pix;
    const char* file;
  };
  for (Fmt f :
       {Fmt{"mjpeg", AV_PIX_FMT_YUVJ420P, "a.jpg"}, Fmt{"libwebp", AV_PIX_FMT_YUV420P, "a.webp"}}) {
    SCOPED_TRACE(f.file);
    std::string bytes = encode_image(f.encoder, f.pix, 64, 48, rgb);
    if (bytes.empty()) GTEST_SKIP() << f.encoder << " not in this FFmpeg";
    test::write_file(dir / f.file, bytes);
    RgbImage img = read_image(dir / f.file);
    ASSERT_EQ(img.width, 64);
    ASSERT_EQ(img.height, 48);
    EXPECT_GT(probe::psnr(img.pixels, rgb), 28.0);
  }
}

// A JPEG with an EXIF APP1 segment holding only Orientation, as phones write them.
std::string with_exif_orientation(const std::string& jpeg, uint16_t orientation) {
  std::string tiff("II*\0\x08\0\0\0", 8);              // little endian, IFD at offset 8
  tiff += std::string("\x01\0", 2);                    // one entry
  tiff += std::string("\x12\x01\x03\0\x01\0\0\0", 8);  // 0x0112 SHORT x1
  tiff += std::string(1, char(orientation)) + std::string(3, '\0');
  tiff += std::string(4, '\0');  // no next IFD
  std::string app1 = std::string("Exif\0\0", 6) + tiff;
  uint16_t len = static_cast<uint16_t>(app1.size() + 2);
  std::string segment = std::string("\xFF\xE1", 2) + char(len >> 8) + char(len & 0xFF) + app1;
  return jpeg.substr(0, 2) + segment + jpeg.substr(2);
}

TEST(ImageReader, JpegExifOrientationIsApplied) {
  TempDir dir;
  // 16x8: left half red, right half blue.
  std::vector<uint8_t> rgb(16 * 8 * 3);
  for (int y = 0; y < 8; ++y) {
    for (int x = 0; x < 16; ++x) {
      uint8_t* p = &rgb[(y * 16 + x) * 3];
      p[0] = x < 8 ? 230 : 20;
      p[2] = x < 8 ? 20 : 230;
    }
  }
  std::string jpeg = encode_image("mjpeg", AV_PIX_FMT_YUVJ444P, 16, 8, rgb);
  ASSERT_FALSE(jpeg.empty());
  test::write_file(dir / "rot.jpg", with_exif_orientation(jpeg, 6));
  RgbImage img = read_image(dir / "rot.jpg");
  // Rotated 90 degrees clockwise: 8 wide, 16 tall, the red (left) half now on top.
  ASSERT_EQ(img.width, 8);
  ASSERT_EQ(img.height, 16);
  EXPECT_GT(img.row(2)[4 * 3], 150);
  EXPECT_GT(img.row(13)[4 * 3 + 2], 150);
  test::write_file(dir / "plain.jpg", with_exif_orientation(jpeg, 1));
  EXPECT_EQ(read_image(dir / "plain.jpg").width, 16);
}

TEST(ImageReader, ExtensionDoesNotMatterContentDoes) {
  TempDir dir;
  auto rgb = test_util::gradient_frame(8, 8, 0);
  test::write_file(dir / "really_png.jpg", encode_image("png", AV_PIX_FMT_RGB24, 8, 8, rgb));
  EXPECT_EQ(read_image(dir / "really_png.jpg").pixels, rgb);
}

TEST(ImageReader, UnreadableFilesGiveOneLineErrors) {
  TempDir dir;
  auto expect_error = [](const std::string& path, const std::string& part) {
    try {
      read_image(path);
      ADD_FAILURE() << "expected an error for " << path;
    } catch (const Error& e) {
      std::string m = e.what();
      EXPECT_NE(m.find(part), std::string::npos) << m;
      EXPECT_EQ(m.find('\n'), std::string::npos) << m;
    }
  };
  expect_error(dir / "missing.png", "cannot open image");
  test::write_file(dir / "empty.png", "");
  expect_error(dir / "empty.png", "is empty");
  test::write_file(dir / "text.png", "hello, not an image at all");
  expect_error(dir / "text.png", "is not a PNG, JPEG or WebP image");
  auto png = encode_image("png", AV_PIX_FMT_RGB24, 16, 16, test_util::gradient_frame(16, 16, 0));
  test::write_file(dir / "truncated.png", png.substr(0, 40));
  expect_error(dir / "truncated.png", "cannot decode PNG image");
}

TEST(ImageReader, WritePngRoundTrips) {
  TempDir dir;
  RgbImage img;
  img.width = 5;
  img.height = 3;
  img.pixels = test_util::gradient_frame(5, 3, 1);
  write_png(dir / "w.png", img);
  EXPECT_EQ(read_image(dir / "w.png").pixels, img.pixels);
}

}  // namespace
}  // namespace duet::media
