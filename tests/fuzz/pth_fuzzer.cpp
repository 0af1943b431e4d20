// Feeds arbitrary bytes to the .pth reader (ZIP container, restricted unpickler, flattening)
// and, on its own, to the unpickler, since most of parse_pth's input is a pickle. Rejecting
// input with duet::Error is the expected outcome; any other exception, crash, sanitizer report
// or record reaching outside its storage is a bug.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>
#include <vector>

#include "core/error.h"
#include "io/mapped_file.h"
#include "io/pickle.h"
#include "io/pth.h"

namespace {

// Touches the first and last element every record can reach, so ASan sees any view that
// leaves the file, and checks the view stays inside its storage.
void check_records(const duet::PthFile& result, const duet::MappedFile& file) {
  const uint8_t* begin = file.data();
  const uint8_t* end = file.data() + file.size();
  volatile uint8_t sink = 0;
  for (const auto& [name, r] : result.tensors) {
    if (r.data < begin || r.storage_bytes > static_cast<size_t>(end - r.data)) std::abort();
    if (r.shape.size() != r.strides.size()) std::abort();
    const size_t elem = duet::dtype_size(r.dtype);
    if (r.numel() == 0) continue;
    int64_t last = r.storage_offset;
    for (size_t i = 0; i < r.shape.size(); ++i) last += (r.shape[i] - 1) * r.strides[i];
    if ((static_cast<size_t>(last) + 1) * elem > r.storage_bytes) std::abort();
    sink = sink + r.data[r.storage_offset * elem] + r.data[(last + 1) * elem - 1];
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    auto file = duet::MappedFile::from_bytes("fuzz.pth", std::vector<uint8_t>(data, data + size));
    check_records(duet::parse_pth(file), *file);
  } catch (const duet::Error&) {
  }
  try {
    duet::PickleLimits limits;
    limits.max_values = 1 << 16;  // keep each run fast; the limits themselves are tested
    duet::unpickle(std::span<const uint8_t>(data, size), "fuzz.pkl", limits);
  } catch (const duet::Error&) {
  }
  return 0;
}
