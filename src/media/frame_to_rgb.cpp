#include "media/frame_to_rgb.h"

extern "C" {
#include <libavutil/pixdesc.h>
}

#include "core/error.h"

namespace duet::media {

namespace {

bool is_full_range(const AVFrame* f) {
  auto fmt = static_cast<AVPixelFormat>(f->format);
  return f->color_range == AVCOL_RANGE_JPEG || fmt == AV_PIX_FMT_YUVJ420P ||
         fmt == AV_PIX_FMT_YUVJ422P || fmt == AV_PIX_FMT_YUVJ444P || fmt == AV_PIX_FMT_YUVJ440P;
}

int sws_matrix(const AVFrame* f) {
  switch (f->colorspace) {
    case AVCOL_SPC_BT709:
      return SWS_CS_ITU709;
    case AVCOL_SPC_BT470BG:
    case AVCOL_SPC_SMPTE170M:
      return SWS_CS_ITU601;
    case AVCOL_SPC_SMPTE240M:
      return SWS_CS_SMPTE240M;
    case AVCOL_SPC_BT2020_NCL:
    case AVCOL_SPC_BT2020_CL:
      return SWS_CS_BT2020;
    default:
      return f->height >= 720 ? SWS_CS_ITU709 : SWS_CS_ITU601;
  }
}

}  // namespace

void RgbConverter::convert(const AVFrame* frame, RgbImage& out, const std::string& name) {
  DUET_CHECK(frame->width > 0 && frame->height > 0, "'{}' has a picture of size {}x{}", name,
             frame->width, frame->height);
  int range = is_full_range(frame) ? 1 : 0;
  if (!sws_ || frame->width != width_ || frame->height != height_ || frame->format != format_ ||
      frame->colorspace != colorspace_ || range != range_) {
    sws_.reset(sws_getContext(
        frame->width, frame->height, static_cast<AVPixelFormat>(frame->format), frame->width,
        frame->height, AV_PIX_FMT_RGB24, SWS_BICUBIC | SWS_ACCURATE_RND | SWS_FULL_CHR_H_INT,
        nullptr, nullptr, nullptr));
    const char* fmt_name = av_get_pix_fmt_name(static_cast<AVPixelFormat>(frame->format));
    DUET_CHECK(sws_, "cannot convert '{}' from pixel format {} to RGB", name,
               fmt_name ? fmt_name : "?");
    const AVPixFmtDescriptor* desc = av_pix_fmt_desc_get(static_cast<AVPixelFormat>(frame->format));
    if (desc && !(desc->flags & AV_PIX_FMT_FLAG_RGB) && desc->nb_components >= 3) {
      const int* coeffs = sws_getCoefficients(sws_matrix(frame));
      sws_setColorspaceDetails(sws_.get(), coeffs, range, coeffs, 1, 0, 1 << 16, 1 << 16);
    }
    width_ = frame->width;
    height_ = frame->height;
    format_ = frame->format;
    colorspace_ = frame->colorspace;
    range_ = range;
  }
  out.width = frame->width;
  out.height = frame->height;
  out.pixels.resize(static_cast<size_t>(out.width) * out.height * 3);
  uint8_t* dst[4] = {out.pixels.data(), nullptr, nullptr, nullptr};
  int dst_stride[4] = {out.width * 3, 0, 0, 0};
  int rows = sws_scale(sws_.get(), frame->data, frame->linesize, 0, frame->height, dst, dst_stride);
  DUET_CHECK(rows > 0, "converting a picture of '{}' to RGB failed", name);
}

RgbImage frame_to_rgb(const AVFrame* frame, const std::string& name) {
  RgbConverter converter;
  RgbImage out;
  converter.convert(frame, out, name);
  return out;
}

}  // namespace duet::media
