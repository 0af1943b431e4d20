#pragma once
// Model presets (configs/<name>.json): the reference defaults of one public model — size,
// frames, fps, steps, shift, guidance, sampler, negative prompt — and the sizes it was
// trained at. A model folder picks its preset from the variant model_dir.h recognised
// ("Wan2.1 T2V 1.3B"); `--model NAME` resolves a preset name to a folder through the
// environment variable the preset names.
//
//   Preset p = find_preset_for_variant(dir.variant, "wan");
//   int64_t w = request.width.value_or(p.width);
#include <nlohmann/json_fwd.hpp>

#include <array>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace duet {

struct Preset {
  std::string name;         // file stem: "wan2.1-t2v-1.3b"
  std::string family;       // "wan", "ovi"
  std::string description;
  std::string source;       // the file it was read from, for messages
  std::vector<std::string> variants;      // model_dir variants it is made for
  std::vector<std::string> fallback_for;  // variant prefixes it serves when nothing matches
  std::string model_env;    // environment variable naming the model folder

  int64_t width = 832;
  int64_t height = 480;
  int64_t frames = 81;
  double fps = 16.0;
  int64_t steps = 50;
  double shift = 5.0;
  double guidance = 5.0;
  std::optional<double> guidance_high_noise;  // two-expert models: scale above the boundary
  std::optional<double> boundary;             // two-expert models: switch at boundary * 1000
  std::string sampler = "unipc";
  std::string negative_prompt;
  // Joint audio-video models (Ovi): the audio branch's guidance and negative prompt, and the
  // fused block skipped on the unconditional pass (skip-layer guidance; unset: none).
  std::optional<double> audio_guidance;
  std::string audio_negative_prompt;
  std::optional<int64_t> slg_layer;
  std::vector<std::array<int64_t, 2>> trained_sizes;  // {width, height}

  static Preset from_json(const nlohmann::json& json, const std::string& source);
};

// Every configs/*.json preset (configs/styles.json and schemas are not presets), sorted by name.
std::vector<Preset> load_presets(const std::filesystem::path& dir);
std::vector<Preset> load_presets();  // from config_dir()

// The preset named `name`; an error listing the names otherwise.
Preset find_preset(const std::vector<Preset>& presets, std::string_view name);
// The preset of `family` listing `variant`, else the one whose fallback_for prefixes it (with
// `exact` false); an error when none applies.
Preset find_preset_for_variant(const std::vector<Preset>& presets, std::string_view variant,
                               std::string_view family, bool* exact = nullptr);

// "1280x720", "1280*720" (Wan's spelling) -> {1280, 720}; an error naming `field` otherwise.
std::array<int64_t, 2> parse_size(std::string_view text, std::string_view field);

}  // namespace duet
