#include "media/color_convert.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/error.h"
#include "media/watermark.h"

namespace duet::media {

FrameConverter::FrameConverter(const ConverterConfig& config) : config_(config) {
  ConverterConfig& c = config_;
  DUET_CHECK(c.src_width > 0 && c.src_height > 0, "frame size {}x{} is not positive", c.src_width,
             c.src_height);
  if (c.pad_width == 0) c.pad_width = c.src_width;
  if (c.pad_height == 0) c.pad_height = c.src_height;
  if (c.out_width == 0) c.out_width = c.pad_width;
  if (c.out_height == 0) c.out_height = c.pad_height;
  DUET_CHECK(c.pad_width >= c.src_width && c.pad_height >= c.src_height,
             "padded size {}x{} is smaller than the frame {}x{}", c.pad_width, c.pad_height,
             c.src_width, c.src_height);
  bool needs_copy = c.watermark || c.pad_width != c.src_width || c.pad_height != c.src_height;
  if (needs_copy) scratch_.resize(static_cast<size_t>(c.pad_width) * c.pad_height * 3);

  // Bicubic for scaled previews; for same-size conversion the filter only shapes chroma.
  int flags = SWS_BICUBIC | SWS_ACCURATE_RND | SWS_FULL_CHR_H_INP;
  if (c.out_width < c.pad_width / 2) flags = SWS_AREA | SWS_ACCURATE_RND;
  sws_.reset(sws_getContext(c.pad_width, c.pad_height, AV_PIX_FMT_RGB24, c.out_width, c.out_height,
                            c.out_format, flags, nullptr, nullptr, nullptr));
  DUET_CHECK(sws_, "swscale cannot convert RGB {}x{} to {} {}x{}", c.pad_width, c.pad_height,
             static_cast<int>(c.out_format), c.out_width, c.out_height);
  // RGB input is full range; YUV output is limited range with the BT.709 (HD) or BT.601
  // matrix, matching the colour tags the encoders write.
  const int* table = sws_getCoefficients(c.bt709 ? SWS_CS_ITU709 : SWS_CS_ITU601);
  sws_setColorspaceDetails(sws_.get(), table, 1, table, 0, 0, 1 << 16, 1 << 16);
}

void FrameConverter::convert(const uint8_t* rgb, int stride, AVFrame* out) {
  const ConverterConfig& c = config_;
  DUET_CHECK(rgb != nullptr, "frame data is null");
  DUET_CHECK(stride >= c.src_width * 3, "frame stride {} is smaller than width * 3 = {}", stride,
             c.src_width * 3);
  const uint8_t* src = rgb;
  int src_stride = stride;
  if (!scratch_.empty()) {
    const size_t row_bytes = static_cast<size_t>(c.src_width) * 3;
    const int pad_stride = c.pad_width * 3;
    for (int y = 0; y < c.pad_height; ++y) {
      const uint8_t* in = rgb + static_cast<ptrdiff_t>(std::min(y, c.src_height - 1)) * stride;
      uint8_t* dst = scratch_.data() + static_cast<size_t>(y) * pad_stride;
      std::memcpy(dst, in, row_bytes);
      for (int x = c.src_width; x < c.pad_width; ++x)
        std::memcpy(dst + x * 3, in + row_bytes - 3, 3);
    }
    if (c.watermark) c.watermark->apply(scratch_.data(), pad_stride);
    src = scratch_.data();
    src_stride = pad_stride;
  }
  const uint8_t* planes[4] = {src, nullptr, nullptr, nullptr};
  const int strides[4] = {src_stride, 0, 0, 0};
  int rows = sws_scale(sws_.get(), planes, strides, 0, c.pad_height, out->data, out->linesize);
  DUET_CHECK(rows > 0, "swscale failed to convert a {}x{} frame", c.pad_width, c.pad_height);
}

void FrameConverter::float_to_rgb8(const float* in, int64_t count, uint8_t* out) {
  for (int64_t i = 0; i < count; ++i) {
    float v = (in[i] + 1.0f) * 127.5f;
    // NaN compares false both ways and lands on 0 rather than on undefined behaviour.
    v = v > 0.0f ? (v < 255.0f ? v : 255.0f) : 0.0f;
    out[i] = static_cast<uint8_t>(std::lrintf(v));
  }
}

}  // namespace duet::media
