#pragma once
// RGB frames from the pipeline -> the encoder's pixel format, through swscale.
//
// Odd sizes: yuv420p stores one chroma sample per 2x2 block, so H.264/H.265/VP9/AV1 in
// yuv420p need even width and height. With padding on, the frame grows by one column and/or
// row that repeats the last one (edge replication: no dark border appears when a player shows
// the padded frame, and chroma of the last column stays that of the picture).
#include <cstdint>
#include <memory>
#include <vector>

extern "C" {
#include <libavutil/pixfmt.h>
}

#include "media/av_util.h"

namespace duet::media {

class Watermark;

inline int even_up(int v) { return v + (v & 1); }

struct ConverterConfig {
  int src_width = 0, src_height = 0;  // what the caller hands over
  int pad_width = 0, pad_height = 0;  // >= src: edge-replicated to this size (0 = src)
  int out_width = 0, out_height = 0;  // scaled to this size (0 = padded size)
  AVPixelFormat out_format = AV_PIX_FMT_YUV420P;
  bool bt709 = true;                     // YUV matrix; limited (TV) range either way
  const Watermark* watermark = nullptr;  // drawn on the source area, before scaling
};

class FrameConverter {
 public:
  explicit FrameConverter(const ConverterConfig& config);

  // `rgb` holds src_height rows of src_width RGB triplets, `stride` bytes apart. `out` must
  // be allocated with out_format and the output size (make_writable is the caller's job).
  void convert(const uint8_t* rgb, int stride, AVFrame* out);

  // Converts float RGB in [-1, 1] (a VAE's range) to uint8: round((x + 1) * 127.5), clamped.
  static void float_to_rgb8(const float* in, int64_t count, uint8_t* out);

  int out_width() const { return config_.out_width; }
  int out_height() const { return config_.out_height; }

 private:
  ConverterConfig config_;
  SwsPtr sws_;
  std::vector<uint8_t> scratch_;  // padded / watermarked RGB copy, reused for every frame
};

}  // namespace duet::media
