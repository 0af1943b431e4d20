#pragma once
// Decoded frames in any pixel format -> packed RGB24, with the YUV matrix and range the
// stream declares (BT.709 for HD and BT.601 for SD when it declares none, as players do).
#include <string>

#include "media/av_util.h"
#include "media/media_types.h"

namespace duet::media {

class RgbConverter {
 public:
  // Converts `frame`; the swscale context is rebuilt only when the input format changes.
  void convert(const AVFrame* frame, RgbImage& out, const std::string& name);

 private:
  SwsPtr sws_;
  int width_ = 0, height_ = 0, format_ = -1, colorspace_ = -1, range_ = -1;
};

RgbImage frame_to_rgb(const AVFrame* frame, const std::string& name);

}  // namespace duet::media
