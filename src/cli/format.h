#pragma once
// Human-readable numbers for terminal output.
#include <cstdint>
#include <string>

namespace duet::cli {

std::string human_bytes(uint64_t bytes);     // "1.23 GB" (powers of 1000, as disks are sold)
std::string human_count(int64_t count);      // "11.66 B", "5.6 M", "812"

}  // namespace duet::cli
