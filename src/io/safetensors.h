#pragma once
// safetensors reader and writer (https://github.com/huggingface/safetensors format):
// 8-byte little-endian header length N, N bytes of JSON header, then the data buffer.
// Records point into the memory map (zero copy). Sharded checkpoints are described by a
// `*.safetensors.index.json` whose "weight_map" names the shard of every tensor.
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "io/mapped_file.h"
#include "io/tensor_record.h"

namespace duet {

struct SafetensorsFile {
  std::string path;
  TensorMap tensors;
  std::map<std::string, std::string> metadata;  // the "__metadata__" object (string values)
};

// Validates everything before returning: header length within the file, JSON well formed,
// known dtypes, shapes that match byte ranges, offsets inside the data buffer and not
// overlapping. Errors are duet::Error naming the file and the offending key.
SafetensorsFile read_safetensors(const std::string& path);
SafetensorsFile parse_safetensors(std::shared_ptr<const MappedFile> file);

struct SafetensorsIndex {
  std::string path;
  std::map<std::string, std::string> weight_map;  // tensor name -> shard path (resolved)
  std::map<std::string, std::string> metadata;
};
SafetensorsIndex read_safetensors_index(const std::string& path);
// Opens every shard of an index and merges the tensors (a name found twice is an error).
SafetensorsFile read_sharded_safetensors(const std::string& index_path);

struct TensorToWrite {
  std::string name;
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
  const void* data = nullptr;  // contiguous, nbytes = numel * dtype_size
  size_t nbytes = 0;
};
// Writes to "<path>.tmp-XXXX" beside the target, then renames. Tensors are stored in name
// order, each data offset aligned to 8 bytes relative to the buffer start... (see .cpp).
void write_safetensors(const std::string& path, const std::vector<TensorToWrite>& tensors,
                       const std::map<std::string, std::string>& metadata = {});

}  // namespace duet
