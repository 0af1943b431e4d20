#include "cli/format.h"

#include <fmt/format.h>

namespace duet::cli {

std::string human_bytes(uint64_t bytes) {
  const char* units[] = {"B", "kB", "MB", "GB", "TB"};
  double v = static_cast<double>(bytes);
  int u = 0;
  while (v >= 1000.0 && u < 4) {
    v /= 1000.0;
    ++u;
  }
  return u == 0 ? fmt::format("{} B", bytes) : fmt::format("{:.2f} {}", v, units[u]);
}

std::string human_count(int64_t count) {
  const double v = static_cast<double>(count);
  if (count >= 1'000'000'000) return fmt::format("{:.2f} B", v / 1e9);
  if (count >= 1'000'000) return fmt::format("{:.2f} M", v / 1e6);
  if (count >= 10'000) return fmt::format("{:.1f} k", v / 1e3);
  return fmt::format("{}", count);
}

}  // namespace duet::cli
