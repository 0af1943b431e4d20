#include "io/model_dir.h"

#include <algorithm>
#include <filesystem>

#include "core/error.h"
#include "io/json_util.h"

namespace duet {
namespace fs = std::filesystem;

std::string_view model_layout_name(ModelLayout layout) {
  switch (layout) {
    case ModelLayout::kDuetPackage: return "duet package";
    case ModelLayout::kOviCheckpoint: return "Ovi checkpoint folder";
    case ModelLayout::kWanOriginal: return "Wan original";
    case ModelLayout::kWanDiffusers: return "Wan diffusers";
  }
  return "?";
}

std::vector<const ModelComponent*> ModelDir::missing() const {
  std::vector<const ModelComponent*> out;
  for (const auto& c : components) {
    if (!c.present) out.push_back(&c);
  }
  return out;
}

const ModelComponent* ModelDir::find(std::string_view name) const {
  for (const auto& c : components) {
    if (c.name == name) return &c;
  }
  return nullptr;
}

namespace {

bool is_file(const fs::path& p) {
  std::error_code ec;
  return fs::is_regular_file(p, ec);
}

bool is_dir(const fs::path& p) {
  std::error_code ec;
  return fs::is_directory(p, ec);
}

std::vector<fs::path> list_files(const fs::path& dir) {
  std::vector<fs::path> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    if (e.is_regular_file(ec)) out.push_back(e.path());
  }
  std::sort(out.begin(), out.end());
  return out;
}


// A weights component in `dir` named by `stem`: prefers the sharded index, then a single
// safetensors file, then the PyTorch .bin of older diffusers exports.
std::optional<fs::path> find_weights(const fs::path& dir, std::string_view stem) {
  const std::string s(stem);
  for (const auto& name : {s + ".safetensors.index.json", s + ".safetensors", s + ".bin"}) {
    if (is_file(dir / name)) return dir / name;
  }
  return std::nullopt;
}

ModelComponent component(std::string name, std::string role, std::string key_layout,
                         const std::optional<fs::path>& file, std::string expected) {
  ModelComponent c;
  c.name = std::move(name);
  c.role = std::move(role);
  c.key_layout = std::move(key_layout);
  c.present = file.has_value();
  if (file) c.files.push_back(file->string());
  c.expected = std::move(expected);
  return c;
}

std::optional<fs::path> existing(const fs::path& p) {
  if (is_file(p)) return p;
  return std::nullopt;
}

// google/umt5-xxl tokenizer folder: SentencePiece model or a tokenizer.json.
ModelComponent tokenizer_component(const fs::path& dir, std::string expected) {
  ModelComponent c;
  c.name = "tokenizer";
  c.role = "tokenizer";
  c.has_weights = false;
  c.expected = std::move(expected);
  if (is_file(dir / "spiece.model")) {
    c.key_layout = "sentencepiece";
  } else if (is_file(dir / "tokenizer.json")) {
    c.key_layout = "tokenizer.json";
  } else {
    c.present = false;
    return c;
  }
  // The model file first, so listings name what matters.
  const fs::path primary = dir / (c.key_layout == "sentencepiece" ? "spiece.model" : "tokenizer.json");
  c.files.push_back(primary.string());
  for (const auto& f : list_files(dir)) {
    if (f != primary) c.files.push_back(f.string());
  }
  return c;
}

// ---- duet package ----------------------------------------------------------------------

ModelDir detect_duet_package(const fs::path& root) {
  const std::string manifest_path = (root / "duet.json").string();
  return parse_duet_manifest(read_json_file(manifest_path), root.string(), manifest_path);
}

// ---- Ovi checkpoint folder -------------------------------------------------------------

// Ovi ships one fusion checkpoint per spec; the file name says which. The community fp8 file
// (model_fp8_e4m3fn.safetensors) is the 720x720_5s model (Ovi loads fp8 for that spec only).
std::string ovi_spec_of(const std::string& filename) {
  if (filename == "model.safetensors") return "720x720_5s";
  if (filename == "model_960x960.safetensors") return "960x960_5s";
  if (filename == "model_960x960_10s.safetensors") return "960x960_10s";
  std::string stem = filename.substr(0, filename.size() - std::string(".safetensors").size());
  if (stem.find("fp8") != std::string::npos && stem.find("960") == std::string::npos) {
    return "720x720_5s";
  }
  return stem.starts_with("model_") ? stem.substr(6) : stem;
}

ModelDir detect_ovi(const fs::path& root) {
  ModelDir dir;
  dir.path = root.string();
  dir.family = "ovi";
  dir.layout = ModelLayout::kOviCheckpoint;
  std::vector<std::string> specs;
  for (const auto& f : list_files(root / "Ovi")) {
    const std::string name = f.filename().string();
    if (!name.starts_with("model") || !name.ends_with(".safetensors")) continue;
    const std::string spec = ovi_spec_of(name);
    specs.push_back(spec);
    const std::string stem = name.substr(0, name.size() - std::string(".safetensors").size());
    auto c = component(specs.size() == 1 ? "fusion" : "fusion_" + (stem == "model" ? spec : stem.substr(stem.find('_') + 1)),
                       "denoiser", "ovi", f, f.string());
    c.config = {{"spec", spec}};
    if (name.find("fp8") != std::string::npos) c.config["weights"] = "fp8_e4m3fn";
    dir.components.push_back(std::move(c));
  }
  dir.variant = "Ovi " + (specs.empty() ? std::string("?") : specs.front());
  const fs::path wan = root / "Wan2.2-TI2V-5B";
  dir.components.push_back(component("video_vae", "video_vae", "wan_vae22",
                                     existing(wan / "Wan2.2_VAE.pth"),
                                     (wan / "Wan2.2_VAE.pth").string()));
  dir.components.push_back(component("text_encoder", "text_encoder", "wan_t5",
                                     existing(wan / "models_t5_umt5-xxl-enc-bf16.pth"),
                                     (wan / "models_t5_umt5-xxl-enc-bf16.pth").string()));
  dir.components.push_back(tokenizer_component(wan / "google" / "umt5-xxl",
                                               (wan / "google/umt5-xxl/spiece.model").string()));
  const fs::path mm = root / "MMAudio" / "ext_weights";
  dir.components.push_back(component("audio_vae", "audio_vae", "mmaudio_vae",
                                     existing(mm / "v1-16.pth"), (mm / "v1-16.pth").string()));
  auto vocoder = component("vocoder", "vocoder", "bigvgan", existing(mm / "best_netG.pt"),
                           (mm / "best_netG.pt").string());
  vocoder.key_prefix = "generator.";  // best_netG.pt is {"generator": state_dict, ...}
  dir.components.push_back(std::move(vocoder));
  return dir;
}

// ---- Wan original ----------------------------------------------------------------------

std::string wan_variant(const nlohmann::json& config, bool two_experts, const std::string& source) {
  const std::string type = json_string(config, "model_type", source, "t2v");
  const int64_t dim = json_int(config, "dim", source, 0);
  const int64_t in_dim = json_int(config, "in_dim", source, 0);
  std::string upper = type;
  std::transform(upper.begin(), upper.end(), upper.begin(), ::toupper);
  if (two_experts) return "Wan2.2 " + upper + " A14B";
  if (type == "ti2v" || in_dim == 48) return "Wan2.2 " + upper + " 5B";
  const std::string size = dim == 1536 ? "1.3B" : dim == 5120 ? "14B" : fmt::format("dim {}", dim);
  return "Wan2.1 " + upper + " " + size;
}

ModelComponent wan_transformer(const fs::path& dir, std::string name) {
  auto weights = find_weights(dir, "diffusion_pytorch_model");
  auto c = component(std::move(name), "denoiser", "wan", weights,
                     (dir / "diffusion_pytorch_model*.safetensors").string());
  if (is_file(dir / "config.json")) c.config = read_json_file((dir / "config.json").string());
  return c;
}

ModelDir detect_wan_original(const fs::path& root) {
  ModelDir dir;
  dir.path = root.string();
  dir.family = "wan";
  dir.layout = ModelLayout::kWanOriginal;
  const bool two_experts = is_dir(root / "high_noise_model") && is_dir(root / "low_noise_model");
  if (two_experts) {
    dir.components.push_back(wan_transformer(root / "high_noise_model", "transformer_high_noise"));
    dir.components.push_back(wan_transformer(root / "low_noise_model", "transformer_low_noise"));
  } else {
    dir.components.push_back(wan_transformer(root, "transformer"));
  }
  const auto& config = dir.components.front().config;
  const std::string config_path = (root / (two_experts ? "high_noise_model/config.json" : "config.json")).string();
  dir.variant = wan_variant(config, two_experts, config_path);
  const bool vae22 = json_int(config, "in_dim", config_path, 16) == 48;
  const std::string vae_file = vae22 ? "Wan2.2_VAE.pth" : "Wan2.1_VAE.pth";
  dir.components.push_back(component("vae", "video_vae", vae22 ? "wan_vae22" : "wan_vae21",
                                     existing(root / vae_file), (root / vae_file).string()));
  dir.components.push_back(component("text_encoder", "text_encoder", "wan_t5",
                                     existing(root / "models_t5_umt5-xxl-enc-bf16.pth"),
                                     (root / "models_t5_umt5-xxl-enc-bf16.pth").string()));
  dir.components.push_back(tokenizer_component(root / "google" / "umt5-xxl",
                                               (root / "google/umt5-xxl/spiece.model").string()));
  return dir;
}

// ---- Wan diffusers ---------------------------------------------------------------------

ModelComponent diffusers_component(const fs::path& root, const std::string& name,
                                   const std::string& cls) {
  const fs::path sub = root / name;
  if (name == "tokenizer") return tokenizer_component(sub, (sub / "spiece.model").string());
  if (name == "scheduler") {
    ModelComponent c;
    c.name = name;
    c.role = "scheduler";
    c.key_layout = cls;
    c.has_weights = false;
    c.expected = (sub / "scheduler_config.json").string();
    c.present = is_file(sub / "scheduler_config.json");
    if (c.present) {
      c.files.push_back(c.expected);
      c.config = read_json_file(c.expected);
    }
    return c;
  }
  std::string role = "other", layout = cls, stem = "diffusion_pytorch_model";
  if (name.starts_with("transformer")) {
    role = "denoiser";
    layout = "wan_diffusers";
  } else if (name == "vae") {
    role = "video_vae";
    layout = "diffusers_wan_vae";
  } else if (name == "text_encoder") {
    role = "text_encoder";
    layout = "hf_umt5";
    stem = "model";
  }
  auto c = component(name, role, layout, find_weights(sub, stem),
                     (sub / (stem + ".safetensors")).string());
  if (is_file(sub / "config.json")) c.config = read_json_file((sub / "config.json").string());
  return c;
}

ModelDir detect_wan_diffusers(const fs::path& root) {
  const std::string index_path = (root / "model_index.json").string();
  return parse_diffusers_index(read_json_file(index_path), root.string(), index_path);
}

}  // namespace

namespace {

// Roles of the component names duet packages use, for manifests that do not spell them out.
std::string default_role(const std::string& name) {
  if (name == "fusion" || name.starts_with("transformer")) return "denoiser";
  return name;  // video_vae, audio_vae, vocoder, text_encoder, tokenizer name their role
}

}  // namespace

ModelDir parse_duet_manifest(const nlohmann::json& manifest, const std::string& root_path,
                             const std::string& source) {
  const fs::path root(root_path);
  DUET_CHECK(json_string(manifest, "format", source) == "duet-package",
             "'{}': field 'format' must be \"duet-package\"", source);
  DUET_CHECK(json_int(manifest, "format_version", source) == 1,
             "'{}': field 'format_version' must be 1 (this duet reads version 1 packages)", source);
  ModelDir dir;
  dir.path = root.string();
  dir.layout = ModelLayout::kDuetPackage;
  dir.family = json_string(manifest, "family", source);
  dir.variant = json_string(manifest, "name", source, root.filename().string());
  DUET_CHECK(dir.family == "ovi" || dir.family == "wan",
             "'{}': field 'family' must be \"ovi\" or \"wan\", found \"{}\"", source, dir.family);
  const auto& comps = json_object(manifest, "components", source);
  DUET_CHECK(!comps.empty(), "'{}': field 'components' must not be empty", source);
  for (const auto& [name, spec] : comps.items()) {
    DUET_CHECK(spec.is_object(), "'{}': components.{} must be an object", source, name);
    const std::string file = json_string(spec, "file", source + ": components." + name);
    DUET_CHECK(!file.empty() && file.find("..") == std::string::npos && file[0] != '/',
               "'{}': components.{}.file must be a path inside the package", source, name);
    const std::string layout = json_string(spec, "layout", source + ": components." + name, "");
    const bool weights = layout != "sentencepiece" && layout != "tokenizer.json";
    auto c = component(name, json_string(spec, "role", source + ": components." + name, default_role(name)),
                       layout, existing(root / file), (root / file).string());
    c.has_weights = weights;
    if (spec.contains("config")) c.config = json_object(spec, "config", source + ": components." + name);
    dir.components.push_back(std::move(c));
  }
  return dir;
}

ModelDir parse_diffusers_index(const nlohmann::json& index, const std::string& root_path,
                               const std::string& source) {
  const fs::path root(root_path);
  const std::string pipeline = json_string(index, "_class_name", source);
  DUET_CHECK(pipeline.starts_with("Wan"),
             "'{}': pipeline '{}' is not a Wan pipeline (duet reads WanPipeline and "
             "WanImageToVideoPipeline diffusers folders)", source, pipeline);
  ModelDir dir;
  dir.path = root.string();
  dir.family = "wan";
  dir.layout = ModelLayout::kWanDiffusers;
  for (const auto& [name, value] : index.items()) {
    if (name.starts_with("_") || !value.is_array() || value.size() != 2) continue;
    if (value[0].is_null() || value[1].is_null()) continue;  // optional component left out
    DUET_CHECK(value[1].is_string() && name.find('/') == std::string::npos && name != "..",
               "'{}': component '{}' must be [library, class name]", source, name);
    dir.components.push_back(diffusers_component(root, name, value[1].get<std::string>()));
  }
  const auto* transformer = dir.find("transformer");
  DUET_CHECK(transformer != nullptr, "'{}': no 'transformer' component listed", source);
  const nlohmann::json& config = transformer->config;
  const std::string config_source = (root / "transformer/config.json").string();
  // diffusers names: in_channels, num_attention_heads * attention_head_dim instead of in_dim, dim.
  const nlohmann::json wan_like = {
      {"model_type", pipeline.find("ImageToVideo") != std::string::npos ? "i2v" : "t2v"},
      {"dim", config.is_object() ? json_int(config, "num_attention_heads", config_source, 0) *
                                       json_int(config, "attention_head_dim", config_source, 0)
                                 : 0},
      {"in_dim", config.is_object() ? json_int(config, "in_channels", config_source, 16) : 16}};
  dir.variant = wan_variant(wan_like, dir.find("transformer_2") != nullptr, source);
  return dir;
}

ModelDir detect_model_dir(const std::string& path) {
  const fs::path root(path);
  DUET_CHECK(is_dir(root), "model folder '{}' does not exist or is not a folder", path);
  if (is_file(root / "duet.json")) return detect_duet_package(root);
  if (is_file(root / "model_index.json")) return detect_wan_diffusers(root);
  if (is_dir(root / "Ovi")) {
    ModelDir dir = detect_ovi(root);
    if (dir.find("fusion") != nullptr) return dir;
  }
  const bool wan_single = is_file(root / "config.json") &&
                          find_weights(root, "diffusion_pytorch_model").has_value();
  const bool wan_experts = is_file(root / "high_noise_model" / "config.json") &&
                           is_file(root / "low_noise_model" / "config.json");
  if (wan_single || wan_experts) return detect_wan_original(root);
  DUET_FAIL("'{}' is not a model folder duet recognises; looked for duet.json (duet package), "
            "model_index.json (diffusers), Ovi/model*.safetensors (Ovi checkpoint folder), "
            "config.json with diffusion_pytorch_model*.safetensors or high_noise_model/ and "
            "low_noise_model/ (Wan original)", path);
}

}  // namespace duet
