#pragma once
// Small helpers every pipeline uses.
#include <chrono>
#include <cstdint>
#include <string_view>

#include "io/model_dir.h"

namespace duet {

using PipelineClock = std::chrono::steady_clock;

inline double seconds_since(PipelineClock::time_point start) {
  return std::chrono::duration<double>(PipelineClock::now() - start).count();
}

// The component `name` of `dir`; a duet::Error naming the folder and variant otherwise.
const ModelComponent& require_component(const ModelDir& dir, std::string_view name);

// A seed drawn from std::random_device, below 2^63 so it fits int64 for tags and JSON readers.
uint64_t random_seed();

}  // namespace duet
