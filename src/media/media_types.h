#pragma once
// Plain value types shared by the media readers and writers. Torch-free on purpose: the
// pipelines convert tensors at the edge (tensor_frames.h) and the media layer sees bytes.
#include <cstdint>
#include <string>
#include <vector>

namespace duet::media {

// A frame rate or time base as an exact fraction: 24000/1001 stays exact, 23.976 would not.
struct Rational {
  int num = 24;
  int den = 1;
  double value() const { return den == 0 ? 0.0 : static_cast<double>(num) / den; }
  bool valid() const { return num > 0 && den > 0; }
  std::string str() const;  // "24" or "24000/1001"
};

// Parses "24", "23.976" (-> 24000/1001), "29.97" (-> 30000/1001) or "24000/1001".
Rational parse_rational(const std::string& text);

// An 8-bit RGB picture, rows packed (stride = width * 3).
struct RgbImage {
  int width = 0;
  int height = 0;
  std::vector<uint8_t> pixels;  // [height, width, 3]
  const uint8_t* row(int y) const { return pixels.data() + static_cast<size_t>(y) * width * 3; }
  uint8_t* row(int y) { return pixels.data() + static_cast<size_t>(y) * width * 3; }
};

}  // namespace duet::media
