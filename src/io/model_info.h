#pragma once
// What `duet info` reports: per component, the tensors, parameters, dtypes, bytes on disk
// and the memory its weights take in bf16; for the whole model, the peak weight memory of a
// run (the text encoder is freed before denoising, so it never sits beside the denoiser).
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "io/checkpoint.h"
#include "io/model_dir.h"

namespace duet {

struct TensorStats {
  int64_t tensors = 0;
  int64_t parameters = 0;
  uint64_t bytes_on_disk = 0;
  uint64_t bf16_bytes = 0;                   // floating tensors at 2 bytes, others as stored
  std::map<std::string, int64_t> dtype_counts;  // "BF16" -> number of tensors
  std::map<std::string, int64_t> part_parameters;  // first key segment -> parameters
};

// Stats over the tensors whose names start with `prefix` (all when empty).
TensorStats tensor_stats(const TensorMap& tensors, const std::string& prefix = "");

struct ComponentInfo {
  ModelComponent component;
  std::string format;  // checkpoint format, empty for components without weights
  TensorStats stats;
};

struct ModelInfo {
  ModelDir dir;
  std::vector<ComponentInfo> components;
  uint64_t text_encoder_bf16_bytes = 0;
  uint64_t denoise_bf16_bytes = 0;  // denoiser(s) in use + decoders
  uint64_t peak_bf16_bytes = 0;
};

ModelInfo describe_model(const std::string& folder);
nlohmann::json to_json(const ModelInfo& info);
nlohmann::json to_json(const TensorStats& stats);

}  // namespace duet
