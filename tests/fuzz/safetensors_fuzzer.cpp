// Feeds arbitrary bytes to the safetensors header parser and, as JSON text, to the index
// parser. Rejecting input with duet::Error is the expected outcome; any other exception,
// crash, sanitizer report or out-of-range record is a bug.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>
#include <vector>

#include "core/error.h"
#include "io/mapped_file.h"
#include "io/safetensors.h"

namespace {

// Touches the first and last byte of every record so ASan sees any pointer outside the file.
void check_records(const duet::SafetensorsFile& result, const duet::MappedFile& file) {
  const uint8_t* begin = file.data();
  const uint8_t* end = file.data() + file.size();
  volatile uint8_t sink = 0;
  for (const auto& [name, record] : result.tensors) {
    if (record.data < begin || record.data + record.storage_bytes > end) std::abort();
    if (record.storage_bytes != record.nbytes()) std::abort();
    if (!record.is_contiguous()) std::abort();
    if (record.storage_bytes > 0) {
      sink = sink + record.data[0] + record.data[record.storage_bytes - 1];
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    auto file =
        duet::MappedFile::from_bytes("fuzz.safetensors", std::vector<uint8_t>(data, data + size));
    check_records(duet::parse_safetensors(file), *file);
  } catch (const duet::Error&) {
  }
  try {
    std::string_view text(reinterpret_cast<const char*>(data), size);
    duet::parse_safetensors_index(text, "fuzz/model.safetensors.index.json");
  } catch (const duet::Error&) {
  }
  return 0;
}
