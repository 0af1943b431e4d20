#pragma once
// Model folder recognition: from the files in a folder, tell which family (Ovi, Wan) and
// which layout (Ovi checkpoint folder, Wan original, Wan diffusers, duet package) it is, and
// where each component's files are. The recognised layout is what `duet info` prints and what
// pipelines load from. Torch-free: it only reads names and small JSON files.
#include <nlohmann/json.hpp>

#include <string>
#include <string_view>
#include <vector>

namespace duet {

enum class ModelLayout { kDuetPackage, kOviCheckpoint, kWanOriginal, kWanDiffusers };
std::string_view model_layout_name(ModelLayout layout);

struct ModelComponent {
  std::string name;        // "fusion", "transformer", "vae", "text_encoder", "tokenizer", ...
  std::string role;        // "denoiser", "video_vae", "text_encoder", "tokenizer", "audio_vae", "vocoder", "scheduler"
  std::string key_layout;  // key naming inside the files: "ovi", "wan", "wan_diffusers", ...
  std::string key_prefix;  // prefix of this component's keys inside its file ("generator.")
  std::vector<std::string> files;  // weights: one checkpoint (file or index.json); else all files
  nlohmann::json config;           // the component's config where the layout ships one
  bool has_weights = true;
  bool present = true;  // false: the layout needs it but the file is missing (see `expected`)
  std::string expected; // what was looked for, for messages about missing components
};

struct ModelDir {
  std::string path;
  std::string family;   // "ovi" or "wan"
  ModelLayout layout = ModelLayout::kDuetPackage;
  std::string variant;  // e.g. "Wan2.1 T2V 1.3B", "Ovi 720x720_5s", "duet-tiny"
  std::vector<ModelComponent> components;

  std::vector<const ModelComponent*> missing() const;
  const ModelComponent* find(std::string_view name) const;
};

// Throws duet::Error when the folder matches no layout, listing what was looked for.
ModelDir detect_model_dir(const std::string& path);

// The JSON-driven parts of detection, separated so they can be fuzzed: files named by the
// JSON are looked up under `root` (missing ones are marked, not fatal).
ModelDir parse_duet_manifest(const nlohmann::json& manifest, const std::string& root,
                             const std::string& source);
ModelDir parse_diffusers_index(const nlohmann::json& index, const std::string& root,
                               const std::string& source);

}  // namespace duet
