#include "pipeline/pipeline_util.h"

#include <random>

#include "core/error.h"

namespace duet {

const ModelComponent& require_component(const ModelDir& dir, std::string_view name) {
  const ModelComponent* c = dir.find(name);
  DUET_CHECK(c != nullptr, "'{}' ({}) has no '{}' component", dir.path, dir.variant, name);
  return *c;
}

uint64_t random_seed() {
  std::random_device rd;
  const uint64_t seed = (static_cast<uint64_t>(rd()) << 32) ^ rd();
  return seed & 0x7fffffffffffffffULL;
}

}  // namespace duet
