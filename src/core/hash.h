#pragma once
// FNV-1a, 64 bit: a stable hash of a string (std::hash may differ between standard libraries),
// for per-key random seeds and the train / held-out caption split.
#include <cstdint>
#include <string_view>

namespace duet {

inline uint64_t fnv1a64(std::string_view text) {
  uint64_t h = 1469598103934665603ULL;
  for (unsigned char c : text) h = (h ^ c) * 1099511628211ULL;
  return h;
}

}  // namespace duet
