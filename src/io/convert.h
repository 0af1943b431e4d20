#pragma once
// Checkpoint conversion (`duet convert`): any readable checkpoint (.pth, safetensors, sharded)
// to one safetensors file, optionally casting floating tensors and selecting a key prefix.
#include <optional>
#include <string>

#include <ATen/ATen.h>

namespace duet {

struct ConvertOptions {
  std::optional<at::ScalarType> dtype;  // cast floating tensors; integers are kept
  std::string prefix;                   // keep only keys under this prefix, stripped
  bool overwrite = false;
};

struct ConvertResult {
  int64_t tensors = 0;
  int64_t parameters = 0;
  uint64_t bytes_written = 0;
};

ConvertResult convert_checkpoint(const std::string& input, const std::string& output,
                                 const ConvertOptions& options);

}  // namespace duet
