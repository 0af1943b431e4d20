#include "media/watermark.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "media/watermark_font.h"

namespace duet::media {

Corner parse_corner(const std::string& name) {
  if (name == "bottom-right" || name == "br" || name.empty()) return Corner::kBottomRight;
  if (name == "bottom-left" || name == "bl") return Corner::kBottomLeft;
  if (name == "top-right" || name == "tr") return Corner::kTopRight;
  if (name == "top-left" || name == "tl") return Corner::kTopLeft;
  DUET_FAIL(
      "watermark corner '{}' is unknown; use top-left, top-right, bottom-left or "
      "bottom-right",
      name);
}

namespace {

// UTF-8 to code points; malformed bytes become '?' rather than an error: a watermark is
// decoration and must never stop a render.
std::u32string decode_utf8(const std::string& s) {
  std::u32string out;
  for (size_t i = 0; i < s.size();) {
    auto b = static_cast<unsigned char>(s[i]);
    if (b < 0x80) {
      out.push_back(b);
      ++i;
      continue;
    }
    // One '?' per multi-byte character; a stray continuation byte counts as one character.
    int extra = (b >> 5) == 6 ? 1 : (b >> 4) == 14 ? 2 : (b >> 3) == 30 ? 3 : 0;
    out.push_back(U'?');
    i += 1 + extra;
  }
  return out;
}

}  // namespace

Watermark::Watermark(const WatermarkOptions& options, int width, int height) {
  DUET_CHECK(width > 0 && height > 0, "watermark needs a frame size, got {}x{}", width, height);
  std::u32string text = decode_utf8(options.text);
  if (text.empty()) return;
  int scale = options.scale > 0 ? options.scale : std::max(1, std::min(width, height) / 360);
  const int advance = (kGlyphWidth + 1) * scale;  // one dot of space between glyphs
  const int shadow = scale;                       // shadow offset down-right
  const int margin = 4 * scale;
  int text_w = static_cast<int>(text.size()) * advance - scale;
  int text_h = kGlyphHeight * scale;
  box_w_ = std::min(text_w + shadow, width);
  box_h_ = std::min(text_h + shadow, height);
  bool right = options.corner == Corner::kTopRight || options.corner == Corner::kBottomRight;
  bool bottom = options.corner == Corner::kBottomLeft || options.corner == Corner::kBottomRight;
  box_x_ = right ? std::max(0, width - margin - box_w_) : std::min(margin, width - box_w_);
  box_y_ = bottom ? std::max(0, height - margin - box_h_) : std::min(margin, height - box_h_);

  text_alpha_.assign(static_cast<size_t>(box_w_) * box_h_, 0);
  shadow_alpha_.assign(text_alpha_.size(), 0);
  const auto text_a =
      static_cast<uint16_t>(std::lround(256 * std::clamp(options.opacity, 0.f, 1.f)));
  const auto shadow_a = static_cast<uint16_t>(std::lround(text_a * 0.6));
  auto mark = [&](std::vector<uint16_t>& plane, int x, int y, uint16_t a) {
    if (x >= 0 && y >= 0 && x < box_w_ && y < box_h_)
      plane[static_cast<size_t>(y) * box_w_ + x] = a;
  };
  for (size_t i = 0; i < text.size(); ++i) {
    auto rows = glyph_rows(text[i]);
    int gx = static_cast<int>(i) * advance;
    for (int r = 0; r < kGlyphHeight; ++r) {
      for (int c = 0; c < kGlyphWidth; ++c) {
        if (!(rows[r] >> (kGlyphWidth - 1 - c) & 1)) continue;
        for (int dy = 0; dy < scale; ++dy) {
          for (int dx = 0; dx < scale; ++dx) {
            int x = gx + c * scale + dx, y = r * scale + dy;
            mark(text_alpha_, x, y, text_a);
            mark(shadow_alpha_, x + shadow, y + shadow, shadow_a);
          }
        }
      }
    }
  }
}

void Watermark::apply(uint8_t* rgb, int stride) const {
  for (int y = 0; y < box_h_; ++y) {
    uint8_t* row = rgb + static_cast<ptrdiff_t>(box_y_ + y) * stride + box_x_ * 3;
    const uint16_t* ta = text_alpha_.data() + static_cast<size_t>(y) * box_w_;
    const uint16_t* sa = shadow_alpha_.data() + static_cast<size_t>(y) * box_w_;
    for (int x = 0; x < box_w_; ++x) {
      for (int ch = 0; ch < 3; ++ch) {
        int v = row[x * 3 + ch];
        v = (v * (256 - sa[x])) >> 8;                // towards black
        v = (v * (256 - ta[x]) + 255 * ta[x]) >> 8;  // towards white
        row[x * 3 + ch] = static_cast<uint8_t>(v);
      }
    }
  }
}

std::unique_ptr<Watermark> make_watermark(const std::string& text, Corner corner, int width,
                                          int height) {
  if (text.empty()) return nullptr;
  return std::make_unique<Watermark>(WatermarkOptions{text, corner}, width, height);
}

}  // namespace duet::media
