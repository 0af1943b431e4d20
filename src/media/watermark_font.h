#pragma once
// A 5x7 bitmap font for the visible watermark (libavfilter's drawtext is not among our
// dependencies). Printable ASCII; lowercase letters are drawn as capitals.
#include <array>
#include <cstdint>

namespace duet::media {

inline constexpr int kGlyphWidth = 5;
inline constexpr int kGlyphHeight = 7;

// Row bits of one glyph, bit 4 = leftmost column. Characters without a glyph come back as '?'.
std::array<uint8_t, kGlyphHeight> glyph_rows(char32_t c);

}  // namespace duet::media
