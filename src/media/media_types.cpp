#include "media/media_types.h"

#include <fmt/format.h>

#include <cmath>
#include <numeric>

#include "core/error.h"

namespace duet::media {

std::string Rational::str() const {
  return den == 1 ? fmt::format("{}", num) : fmt::format("{}/{}", num, den);
}

Rational parse_rational(const std::string& text) {
  auto fail = [&] {
    DUET_FAIL("frame rate '{}' is not a number; use e.g. 24, 23.976 or 24000/1001", text);
  };
  if (text.empty()) fail();
  if (auto slash = text.find('/'); slash != std::string::npos) {
    size_t used_num = 0, used_den = 0;
    long num = 0, den = 0;
    try {
      num = std::stol(text.substr(0, slash), &used_num);
      den = std::stol(text.substr(slash + 1), &used_den);
    } catch (const std::exception&) {
      fail();
    }
    if (used_num != slash || used_den != text.size() - slash - 1 || num <= 0 || den <= 0) fail();
    long g = std::gcd(num, den);
    return {static_cast<int>(num / g), static_cast<int>(den / g)};
  }
  double value = 0;
  size_t used = 0;
  try {
    value = std::stod(text, &used);
  } catch (const std::exception&) {
    fail();
  }
  if (used != text.size() || !(value > 0) || value > 1000) fail();
  // NTSC rates are written rounded (23.976, 29.97, 59.94); they mean N*1000/1001 exactly.
  for (int base : {24, 30, 48, 60, 120}) {
    double ntsc = base * 1000.0 / 1001.0;
    if (std::abs(value - ntsc) < 0.006) return {base * 1000, 1001};
  }
  if (std::abs(value - std::round(value)) < 1e-9) return {static_cast<int>(std::round(value)), 1};
  // Other fractional rates: milli-frames per second, reduced.
  long num = std::lround(value * 1000.0), den = 1000;
  long g = std::gcd(num, den);
  return {static_cast<int>(num / g), static_cast<int>(den / g)};
}

}  // namespace duet::media
