#pragma once
// A tensor as found in a checkpoint file: name, dtype, shape, strides and a pointer into the
// mapped file. Torch-free on purpose: parsers produce records, io/weight_store turns them into
// torch tensors only when a component asks for them (lazy loading).
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "io/mapped_file.h"

namespace duet {

struct TensorRecord {
  std::string name;
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
  std::vector<int64_t> strides;  // in elements; safetensors is always contiguous
  int64_t storage_offset = 0;    // in elements, from `data`
  const uint8_t* data = nullptr;  // start of the storage inside `file`
  size_t storage_bytes = 0;       // bytes available from `data`
  std::shared_ptr<const MappedFile> file;

  int64_t numel() const;
  size_t nbytes() const { return static_cast<size_t>(numel()) * dtype_size(dtype); }
  bool is_contiguous() const;
};

std::vector<int64_t> contiguous_strides(const std::vector<int64_t>& shape);
std::string shape_to_string(const std::vector<int64_t>& shape);

// Name -> record, ordered so listings and error messages are stable.
using TensorMap = std::map<std::string, TensorRecord>;

}  // namespace duet
