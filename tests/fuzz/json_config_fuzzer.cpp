// Fuzzes the JSON files users hand us: parsing (depth limits, malformed text) and the
// interpretation of duet.json manifests and diffusers model_index.json files. Every failure
// must be a duet::Error; any other exception or crash is a bug.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "core/error.h"
#include "io/json_util.h"
#include "io/model_dir.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  try {
    const nlohmann::json j = duet::parse_json(text, "fuzz.json");
    // A root that does not exist: every referenced file is "missing", parsing still runs.
    try {
      duet::parse_duet_manifest(j, "/nonexistent-duet-fuzz", "fuzz.json");
    } catch (const duet::Error&) {
    }
    try {
      duet::parse_diffusers_index(j, "/nonexistent-duet-fuzz", "fuzz.json");
    } catch (const duet::Error&) {
    }
  } catch (const duet::Error&) {
  }
  return 0;
}
