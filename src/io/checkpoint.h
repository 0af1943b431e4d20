#pragma once
// One door to every checkpoint file format: safetensors, sharded safetensors (index.json) and
// PyTorch zip pickles. Detection is by content (magic bytes), with the file name as a hint,
// so a renamed file still loads and a wrong file gets a clear error.
#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include "io/tensor_record.h"

namespace duet {

enum class CheckpointFormat { kSafetensors, kSafetensorsIndex, kPth };
std::string_view checkpoint_format_name(CheckpointFormat format);

struct Checkpoint {
  std::string path;
  CheckpointFormat format = CheckpointFormat::kSafetensors;
  TensorMap tensors;
  std::map<std::string, std::string> metadata;
  uint64_t bytes_on_disk = 0;  // all shards together for an index
};

// Reads the file's magic bytes and name. Throws duet::Error naming the file when it is no
// checkpoint format duet knows (listing the formats it looked for).
CheckpointFormat detect_checkpoint_format(const std::string& path);
Checkpoint open_checkpoint(const std::string& path);

}  // namespace duet
