#include "pipeline/preset.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <charconv>

#include "core/error.h"
#include "core/paths.h"
#include "io/json_util.h"

namespace duet {
namespace fs = std::filesystem;
namespace {

std::vector<std::string> string_list(const nlohmann::json& j, std::string_view key,
                                     const std::string& source) {
  std::vector<std::string> out;
  if (!j.contains(key)) return out;
  const auto& list = j.at(std::string(key));
  DUET_CHECK(list.is_array(), "{}: field '{}' must be an array of strings", source, key);
  for (const auto& item : list) {
    DUET_CHECK(item.is_string(), "{}: field '{}' must be an array of strings", source, key);
    out.push_back(item.get<std::string>());
  }
  return out;
}

std::optional<double> optional_number(const nlohmann::json& j, std::string_view key,
                                      const std::string& source) {
  if (!j.contains(key)) return std::nullopt;
  return json_number(j, key, source);
}

void validate(const Preset& p) {
  const auto& s = p.source;
  DUET_CHECK(p.width > 0 && p.height > 0, "{}: defaults.width and height must be positive", s);
  DUET_CHECK(p.frames > 0, "{}: defaults.frames must be positive", s);
  DUET_CHECK(p.fps > 0 && p.fps <= 240, "{}: defaults.fps must be in (0, 240]", s);
  DUET_CHECK(p.steps > 0 && p.steps <= 1000, "{}: defaults.steps must be in 1..1000", s);
  DUET_CHECK(p.shift > 0, "{}: defaults.shift must be positive", s);
  DUET_CHECK(p.guidance >= 0, "{}: defaults.guidance must be >= 0", s);
  DUET_CHECK(p.boundary.has_value() == p.guidance_high_noise.has_value(),
             "{}: defaults.boundary and defaults.guidance_high_noise go together", s);
  DUET_CHECK(!p.boundary || (*p.boundary > 0 && *p.boundary < 1),
             "{}: defaults.boundary must be in (0, 1)", s);
  DUET_CHECK(!p.audio_guidance || *p.audio_guidance >= 0, "{}: defaults.audio_guidance must be >= 0",
             s);
  DUET_CHECK(!p.slg_layer || *p.slg_layer >= 0, "{}: defaults.slg_layer must be >= 0", s);
}

}  // namespace

std::array<int64_t, 2> parse_size(std::string_view text, std::string_view field) {
  const size_t sep = text.find_first_of("x*X");
  int64_t w = 0, h = 0;
  bool ok = sep != std::string_view::npos;
  if (ok) {
    const auto a = text.substr(0, sep), b = text.substr(sep + 1);
    ok = std::from_chars(a.data(), a.data() + a.size(), w).ptr == a.data() + a.size() &&
         std::from_chars(b.data(), b.data() + b.size(), h).ptr == b.data() + b.size() &&
         !a.empty() && !b.empty() && w > 0 && h > 0;
  }
  DUET_CHECK(ok, "{} '{}' is not a size; expected WIDTHxHEIGHT such as 832x480", field, text);
  return {w, h};
}

Preset Preset::from_json(const nlohmann::json& j, const std::string& source) {
  DUET_CHECK(j.is_object(), "{}: a preset must be a JSON object", source);
  Preset p;
  p.source = source;
  p.name = json_string(j, "name", source);
  p.family = json_string(j, "family", source);
  p.description = json_string(j, "description", source, "");
  p.variants = string_list(j, "variants", source);
  p.fallback_for = string_list(j, "fallback_for", source);
  p.model_env = json_string(j, "model_env", source, "");
  const std::string d = source + ": defaults";
  const auto& defaults = json_object(j, "defaults", source);
  p.width = json_int(defaults, "width", d);
  p.height = json_int(defaults, "height", d);
  p.frames = json_int(defaults, "frames", d);
  p.fps = json_number(defaults, "fps", d);
  p.steps = json_int(defaults, "steps", d);
  p.shift = json_number(defaults, "shift", d);
  p.guidance = json_number(defaults, "guidance", d);
  p.guidance_high_noise = optional_number(defaults, "guidance_high_noise", d);
  p.boundary = optional_number(defaults, "boundary", d);
  p.sampler = json_string(defaults, "sampler", d, "unipc");
  p.negative_prompt = json_string(defaults, "negative_prompt", d, "");
  p.audio_guidance = optional_number(defaults, "audio_guidance", d);
  p.audio_negative_prompt = json_string(defaults, "audio_negative_prompt", d, "");
  if (defaults.contains("slg_layer")) p.slg_layer = json_int(defaults, "slg_layer", d);
  for (const auto& size : string_list(j, "trained_sizes", source)) {
    p.trained_sizes.push_back(parse_size(size, source + ": trained_sizes entry"));
  }
  validate(p);
  return p;
}

std::vector<Preset> load_presets(const fs::path& dir) {
  std::vector<Preset> presets;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    const fs::path& path = entry.path();
    if (path.extension() != ".json" || !entry.is_regular_file()) continue;
    const nlohmann::json j = read_json_file(path.string());
    if (!j.is_object() || !j.contains("defaults")) continue;  // styles, schemas
    presets.push_back(Preset::from_json(j, path.string()));
    DUET_CHECK(presets.back().name == path.stem().string(),
               "{}: field 'name' is '{}' but presets are named after their file ('{}')",
               path.string(), presets.back().name, path.stem().string());
  }
  DUET_CHECK(!ec, "cannot list presets in '{}': {}", dir.string(), ec.message());
  std::sort(presets.begin(), presets.end(),
            [](const Preset& a, const Preset& b) { return a.name < b.name; });
  return presets;
}

std::vector<Preset> load_presets() { return load_presets(config_dir()); }

Preset find_preset(const std::vector<Preset>& presets, std::string_view name) {
  std::string names;
  for (const auto& p : presets) {
    if (p.name == name) return p;
    names += (names.empty() ? "" : ", ") + p.name;
  }
  DUET_FAIL("unknown preset '{}'; presets: {}", name, names.empty() ? "none found" : names);
}

Preset find_preset_for_variant(const std::vector<Preset>& presets, std::string_view variant,
                               std::string_view family, bool* exact) {
  for (const auto& p : presets) {
    if (p.family != family) continue;
    if (std::find(p.variants.begin(), p.variants.end(), variant) != p.variants.end()) {
      if (exact) *exact = true;
      return p;
    }
  }
  for (const auto& p : presets) {
    if (p.family != family) continue;
    for (const auto& prefix : p.fallback_for) {
      if (variant.starts_with(prefix)) {
        if (exact) *exact = false;
        return p;
      }
    }
  }
  DUET_FAIL("no preset in configs/ applies to the {} model '{}'", family, variant);
}

}  // namespace duet
