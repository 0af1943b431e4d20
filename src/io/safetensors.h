#pragma once
// safetensors reader and writer (https://github.com/huggingface/safetensors format):
// 8-byte little-endian header length N, N bytes of JSON header, then the data buffer.
// Records point into the memory map (zero copy). Sharded checkpoints are described by a
// `*.safetensors.index.json` whose "weight_map" names the shard of every tensor.
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "io/mapped_file.h"
#include "io/tensor_record.h"

namespace duet {

struct SafetensorsFile {
  std::string path;
  TensorMap tensors;
  std::map<std::string, std::string> metadata;  // the "__metadata__" object (string values)
};

// Validates everything before returning: header length within the file, JSON well formed
// (duplicate keys are an error), known dtypes, shapes that match byte ranges, offsets inside
// the data buffer and not overlapping. Errors are duet::Error naming the file and the
// offending key. Unknown fields inside a tensor entry, holes between tensors and bytes after
// the last tensor are accepted (the reference reader is stricter on the last two).
SafetensorsFile read_safetensors(const std::string& path);
SafetensorsFile parse_safetensors(std::shared_ptr<const MappedFile> file);

struct SafetensorsIndex {
  std::string path;
  std::map<std::string, std::string> weight_map;  // tensor name -> shard path (resolved)
  std::map<std::string, std::string> metadata;
};
// Shard names may not contain "/", a backslash or ".."; they resolve beside the index file.
// Metadata values that are not strings (e.g. "total_size": 123) are kept as their JSON text.
SafetensorsIndex read_safetensors_index(const std::string& path);
// The same from JSON text already in memory; `path` locates the shards and names errors.
SafetensorsIndex parse_safetensors_index(std::string_view json_text, const std::string& path);
// Opens every shard of an index once and merges the tensors. Every tensor of the weight_map
// must be in its shard, and every tensor of a shard must be mapped to that shard (so a name
// found in two shards is an error). The result carries the index's path and metadata.
SafetensorsFile read_sharded_safetensors(const std::string& index_path);

struct TensorToWrite {
  std::string name;
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
  const void* data = nullptr;  // contiguous, nbytes = numel * dtype_size
  size_t nbytes = 0;
};
// Writes to "<path>.tmp-<pid>-<random>" beside the target, then renames it over the target,
// so readers never see a half-written file. Tensors are stored in name order with no gaps
// (the format forbids holes); the JSON header is padded with spaces to a multiple of 8 bytes
// so the data buffer starts 8-aligned, as the reference writer does. "__metadata__" is
// written only when `metadata` is not empty. Errors are duet::Error naming `path`.
void write_safetensors(const std::string& path, const std::vector<TensorToWrite>& tensors,
                       const std::map<std::string, std::string>& metadata = {});

}  // namespace duet
