#include "io/model_info.h"

#include <algorithm>

#include "core/error.h"

namespace duet {

TensorStats tensor_stats(const TensorMap& tensors, const std::string& prefix) {
  TensorStats s;
  for (const auto& [name, rec] : tensors) {
    if (name.compare(0, prefix.size(), prefix) != 0) continue;
    const int64_t n = rec.numel();
    s.tensors += 1;
    s.parameters += n;
    s.bf16_bytes += static_cast<uint64_t>(n) * (dtype_is_float(rec.dtype) ? 2 : dtype_size(rec.dtype));
    s.dtype_counts[std::string(dtype_name(rec.dtype))] += 1;
    const std::string rest = name.substr(prefix.size());
    s.part_parameters[rest.substr(0, rest.find('.'))] += n;
  }
  return s;
}

namespace {

ComponentInfo describe_component(const ModelComponent& component) {
  ComponentInfo info;
  info.component = component;
  if (!component.has_weights || !component.present) return info;
  const Checkpoint ckpt = open_checkpoint(component.files.front());
  info.format = std::string(checkpoint_format_name(ckpt.format));
  info.stats = tensor_stats(ckpt.tensors, component.key_prefix);
  info.stats.bytes_on_disk = ckpt.bytes_on_disk;
  DUET_CHECK(info.stats.tensors > 0, "'{}' holds no tensors{} for component '{}'", ckpt.path,
             component.key_prefix.empty() ? "" : " under '" + component.key_prefix + "'",
             component.name);
  return info;
}

}  // namespace

ModelInfo describe_model(const std::string& folder) {
  ModelInfo info;
  info.dir = detect_model_dir(folder);
  uint64_t largest_denoiser = 0;
  for (const auto& c : info.dir.components) {
    info.components.push_back(describe_component(c));
    const uint64_t bytes = info.components.back().stats.bf16_bytes;
    if (c.role == "text_encoder") {
      info.text_encoder_bf16_bytes += bytes;
    } else if (c.role == "denoiser") {
      // Two-expert models (Wan2.2 A14B) and multi-spec Ovi folders hold one denoiser at a time.
      largest_denoiser = std::max(largest_denoiser, bytes);
    } else {
      info.denoise_bf16_bytes += bytes;
    }
  }
  info.denoise_bf16_bytes += largest_denoiser;
  info.peak_bf16_bytes = std::max(info.text_encoder_bf16_bytes, info.denoise_bf16_bytes);
  return info;
}

nlohmann::json to_json(const TensorStats& s) {
  return {{"tensors", s.tensors},       {"parameters", s.parameters},
          {"bytes_on_disk", s.bytes_on_disk}, {"bf16_bytes", s.bf16_bytes},
          {"dtypes", s.dtype_counts},   {"parts", s.part_parameters}};
}

nlohmann::json to_json(const ModelInfo& info) {
  nlohmann::json comps = nlohmann::json::array();
  for (const auto& c : info.components) {
    nlohmann::json j = {{"name", c.component.name},
                        {"role", c.component.role},
                        {"key_layout", c.component.key_layout},
                        {"present", c.component.present},
                        {"files", c.component.files}};
    if (!c.component.present) j["expected"] = c.component.expected;
    if (!c.format.empty()) {
      j["format"] = c.format;
      j["stats"] = to_json(c.stats);
    }
    comps.push_back(std::move(j));
  }
  return {{"path", info.dir.path},
          {"family", info.dir.family},
          {"layout", std::string(model_layout_name(info.dir.layout))},
          {"variant", info.dir.variant},
          {"components", comps},
          {"memory_bf16",
           {{"text_encoder_bytes", info.text_encoder_bf16_bytes},
            {"denoise_bytes", info.denoise_bf16_bytes},
            {"peak_bytes", info.peak_bf16_bytes}}}};
}

}  // namespace duet
