#pragma once
// A visible text mark in a corner of every frame (as Sora 2 does), drawn with our own 5x7
// bitmap font: white text over a soft dark shadow so it reads on light and dark content.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace duet::media {

enum class Corner { kTopLeft, kTopRight, kBottomLeft, kBottomRight };

Corner parse_corner(const std::string& name);  // "bottom-right", "br", "top-left", ...

struct WatermarkOptions {
  std::string text;  // UTF-8; characters outside ASCII are drawn as '?'
  Corner corner = Corner::kBottomRight;
  int scale = 0;          // pixels per font dot; 0 picks min(w, h) / 360, >= 1
  float opacity = 0.85f;  // of the white text; the shadow uses 0.6 of this
};

class Watermark {
 public:
  // Lays the text out for frames of `width` x `height`; text that does not fit is clipped.
  Watermark(const WatermarkOptions& options, int width, int height);

  // Blends the mark into an RGB24 frame of the size given at construction.
  void apply(uint8_t* rgb, int stride) const;

  // The box the mark may touch, in frame pixels (for tests).
  int box_x() const { return box_x_; }
  int box_y() const { return box_y_; }
  int box_width() const { return box_w_; }
  int box_height() const { return box_h_; }

 private:
  int box_x_ = 0, box_y_ = 0, box_w_ = 0, box_h_ = 0;
  // Per box pixel, 0..256: how much of the text colour and of the shadow colour to mix in.
  std::vector<uint16_t> text_alpha_;
  std::vector<uint16_t> shadow_alpha_;
};

// The writers' shared entry: no mark (nullptr) when `text` is empty.
std::unique_ptr<Watermark> make_watermark(const std::string& text, Corner corner, int width,
                                          int height);

}  // namespace duet::media
