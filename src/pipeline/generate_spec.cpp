#include "pipeline/generate_spec.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "core/paths.h"
#include "io/json_util.h"

namespace duet {
namespace {

// Edit distance, for "did you mean" in unknown-field messages.
size_t distance(const std::string& a, const std::string& b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diag = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] != b[j - 1])});
      diag = up;
    }
  }
  return row[b.size()];
}

std::string closest_field(const std::string& name) {
  std::string best;
  size_t best_d = 3;  // suggest only close spellings
  for (const auto& f : generate_spec_fields()) {
    const size_t d = distance(name, f);
    if (d < best_d) best = f, best_d = d;
  }
  return best;
}

template <typename T>
void read_opt(const nlohmann::json& j, const char* key, const std::string& source,
              std::optional<T>& out) {
  if (!j.contains(key) || j.at(key).is_null()) return;
  const auto& v = j.at(key);
  if constexpr (std::is_same_v<T, std::string>) {
    DUET_CHECK(v.is_string(), "{}: field '{}' must be a string", source, key);
    out = v.get<std::string>();
  } else if constexpr (std::is_same_v<T, double>) {
    DUET_CHECK(v.is_number() && std::isfinite(v.get<double>()), "{}: field '{}' must be a number",
               source, key);
    out = v.get<double>();
  } else if constexpr (std::is_same_v<T, uint64_t>) {
    DUET_CHECK(v.is_number_unsigned() || (v.is_number_integer() && v.get<int64_t>() >= 0),
               "{}: field '{}' must be a non-negative integer", source, key);
    out = v.get<uint64_t>();
  } else {
    DUET_CHECK(v.is_number_integer(), "{}: field '{}' must be an integer", source, key);
    out = v.get<T>();
  }
}

template <typename T>
void write_opt(nlohmann::json& j, const char* key, const std::optional<T>& v) {
  if (v) j[key] = *v;
}

template <typename T>
void merge(std::optional<T>& field, const std::optional<T>& fallback) {
  if (!field) field = fallback;
}

}  // namespace

const std::vector<std::string>& generate_spec_fields() {
  static const std::vector<std::string> fields = {
      "prompt", "negative_prompt", "audio_negative_prompt", "style", "size", "width", "height",
      "frames", "duration", "fps", "steps", "shift", "guidance", "audio_guidance",
      "guidance_high_noise", "slg_layer", "sampler", "seed", "image", "output", "watermark",
      "crf"};
  return fields;
}

GenerateSpec GenerateSpec::from_json(const nlohmann::json& j, const std::string& source) {
  DUET_CHECK(j.is_object(), "{}: must be an object with at least a \"prompt\"", source);
  for (const auto& [key, value] : j.items()) {
    const auto& known = generate_spec_fields();
    if (std::find(known.begin(), known.end(), key) != known.end()) continue;
    const std::string hint = closest_field(key);
    DUET_FAIL("{}: unknown field '{}'{}", source, key,
              hint.empty() ? "" : fmt::format(" (did you mean '{}'?)", hint));
  }
  GenerateSpec s;
  std::optional<std::string> prompt;
  read_opt(j, "prompt", source, prompt);
  DUET_CHECK(prompt && !prompt->empty(), "{}: field 'prompt' is missing or empty", source);
  s.prompt = *prompt;
  read_opt(j, "negative_prompt", source, s.negative_prompt);
  read_opt(j, "audio_negative_prompt", source, s.audio_negative_prompt);
  read_opt(j, "style", source, s.style);
  read_opt(j, "size", source, s.size);
  read_opt(j, "width", source, s.width);
  read_opt(j, "height", source, s.height);
  read_opt(j, "frames", source, s.frames);
  read_opt(j, "duration", source, s.duration);
  read_opt(j, "fps", source, s.fps);
  read_opt(j, "steps", source, s.steps);
  read_opt(j, "shift", source, s.shift);
  read_opt(j, "guidance", source, s.guidance);
  read_opt(j, "audio_guidance", source, s.audio_guidance);
  read_opt(j, "guidance_high_noise", source, s.guidance_high_noise);
  read_opt(j, "slg_layer", source, s.slg_layer);
  read_opt(j, "sampler", source, s.sampler);
  read_opt(j, "seed", source, s.seed);
  read_opt(j, "image", source, s.image);
  read_opt(j, "output", source, s.output);
  read_opt(j, "watermark", source, s.watermark);
  std::optional<int64_t> crf;
  read_opt(j, "crf", source, crf);
  if (crf) {
    DUET_CHECK(*crf >= 0 && *crf <= 63, "{}: field 'crf' must be in 0..63", source);
    s.crf = static_cast<int>(*crf);
  }
  if (s.size) parse_size(*s.size, source + ": field 'size'");
  DUET_CHECK(!s.slg_layer || *s.slg_layer >= 0, "{}: field 'slg_layer' must be >= 0", source);
  DUET_CHECK(!s.image || !s.image->empty(), "{}: field 'image' must name a file", source);
  DUET_CHECK(!(s.frames && s.duration), "{}: give either 'frames' or 'duration', not both",
             source);
  DUET_CHECK(!s.duration || *s.duration > 0, "{}: field 'duration' must be positive", source);
  DUET_CHECK(!(s.size && (s.width || s.height)),
             "{}: give either 'size' or 'width'/'height', not both", source);
  return s;
}

nlohmann::json GenerateSpec::to_json() const {
  nlohmann::json j = {{"prompt", prompt}};
  write_opt(j, "negative_prompt", negative_prompt);
  write_opt(j, "audio_negative_prompt", audio_negative_prompt);
  write_opt(j, "style", style);
  write_opt(j, "size", size);
  write_opt(j, "width", width);
  write_opt(j, "height", height);
  write_opt(j, "frames", frames);
  write_opt(j, "duration", duration);
  write_opt(j, "fps", fps);
  write_opt(j, "steps", steps);
  write_opt(j, "shift", shift);
  write_opt(j, "guidance", guidance);
  write_opt(j, "audio_guidance", audio_guidance);
  write_opt(j, "guidance_high_noise", guidance_high_noise);
  write_opt(j, "slg_layer", slg_layer);
  write_opt(j, "sampler", sampler);
  write_opt(j, "seed", seed);
  write_opt(j, "image", image);
  write_opt(j, "output", output);
  write_opt(j, "watermark", watermark);
  write_opt(j, "crf", crf);
  return j;
}

GenerateSpec GenerateSpec::merged_over(const GenerateSpec& d) const {
  GenerateSpec s = *this;
  if (s.prompt.empty()) s.prompt = d.prompt;
  merge(s.negative_prompt, d.negative_prompt);
  merge(s.audio_negative_prompt, d.audio_negative_prompt);
  merge(s.style, d.style);
  if (!s.width && !s.height) merge(s.size, d.size);
  if (!s.size) {
    merge(s.width, d.width);
    merge(s.height, d.height);
  }
  if (!s.duration) merge(s.frames, d.frames);
  if (!s.frames) merge(s.duration, d.duration);
  merge(s.fps, d.fps);
  merge(s.steps, d.steps);
  merge(s.shift, d.shift);
  merge(s.guidance, d.guidance);
  merge(s.audio_guidance, d.audio_guidance);
  merge(s.guidance_high_noise, d.guidance_high_noise);
  merge(s.slg_layer, d.slg_layer);
  merge(s.sampler, d.sampler);
  merge(s.seed, d.seed);
  merge(s.image, d.image);
  merge(s.output, d.output);
  merge(s.watermark, d.watermark);
  merge(s.crf, d.crf);
  return s;
}

std::vector<PromptStyle> load_styles(const std::string& path) {
  const nlohmann::json j = read_json_file(path);
  const auto& styles = json_object(j, "styles", path);
  std::vector<PromptStyle> out;
  for (const auto& [name, s] : styles.items()) {
    const std::string src = path + ": styles." + name;
    DUET_CHECK(s.is_object(), "{} must be an object", src);
    out.push_back({name, json_string(s, "description", src, ""), json_string(s, "prefix", src, ""),
                   json_string(s, "suffix", src, ""), json_string(s, "negative", src, "")});
  }
  return out;
}

std::vector<PromptStyle> load_styles() { return load_styles((config_dir() / "styles.json").string()); }

const PromptStyle& find_style(const std::vector<PromptStyle>& styles, const std::string& name) {
  std::string names;
  for (const auto& s : styles) {
    if (s.name == name) return s;
    names += (names.empty() ? "" : ", ") + s.name;
  }
  DUET_FAIL("unknown style '{}'; styles: {}", name, names);
}

namespace {

// The prompt and video negative with the style applied.
std::pair<std::string, std::optional<std::string>> styled_prompt(
    const GenerateSpec& spec, const std::string& default_negative,
    const std::vector<PromptStyle>& styles) {
  std::pair<std::string, std::optional<std::string>> out{spec.prompt, spec.negative_prompt};
  if (spec.style) {
    const PromptStyle& st = find_style(styles, *spec.style);
    out.first = st.prefix + spec.prompt + st.suffix;
    if (!st.negative.empty()) {
      const std::string base = spec.negative_prompt.value_or(default_negative);
      out.second = base.empty() ? st.negative : base + ", " + st.negative;
    }
  }
  return out;
}

std::pair<std::optional<int64_t>, std::optional<int64_t>> spec_size(const GenerateSpec& spec) {
  if (spec.size) {
    const auto wh = parse_size(*spec.size, "size");
    return {wh[0], wh[1]};
  }
  return {spec.width, spec.height};
}

}  // namespace

WanT2VRequest make_wan_request(const GenerateSpec& spec, double default_fps,
                               const std::string& default_negative,
                               const std::vector<PromptStyle>& styles) {
  const char* ovi_only = spec.audio_negative_prompt ? "audio_negative_prompt"
                         : spec.audio_guidance      ? "audio_guidance"
                         : spec.slg_layer           ? "slg_layer"
                         : spec.image               ? "image"
                                                    : nullptr;
  DUET_CHECK(ovi_only == nullptr, "'{}' applies to joint audio-video models (Ovi); this Wan "
             "model makes silent text-to-video", ovi_only ? ovi_only : "");
  WanT2VRequest r;
  std::tie(r.prompt, r.negative_prompt) = styled_prompt(spec, default_negative, styles);
  std::tie(r.width, r.height) = spec_size(spec);
  r.fps = spec.fps;
  r.frames = spec.frames;
  if (spec.duration) {
    r.frames = nearest_wan_frame_count(std::llround(*spec.duration * spec.fps.value_or(default_fps)));
  }
  r.steps = spec.steps;
  r.shift = spec.shift;
  r.guidance = spec.guidance;
  r.guidance_high_noise = spec.guidance_high_noise;
  r.sampler = spec.sampler;
  r.seed = spec.seed;
  return r;
}

OviRequest make_ovi_request(const GenerateSpec& spec, double default_fps,
                            const std::string& default_negative,
                            const std::vector<PromptStyle>& styles) {
  DUET_CHECK(!spec.guidance_high_noise, "'guidance_high_noise' applies to two-expert Wan2.2 "
             "models; Ovi has one fusion model (use 'guidance' and 'audio_guidance')");
  OviRequest r;
  std::tie(r.prompt, r.video_negative_prompt) = styled_prompt(spec, default_negative, styles);
  r.audio_negative_prompt = spec.audio_negative_prompt;
  std::tie(r.width, r.height) = spec_size(spec);
  r.fps = spec.fps;
  r.frames = spec.frames;
  // The clip length is the checkpoint's; a duration picks the checkpoint (4k + 1 frames at
  // the model's frame rate, whatever fps the file is written at).
  if (spec.duration) r.frames = nearest_wan_frame_count(std::llround(*spec.duration * default_fps));
  r.steps = spec.steps;
  r.shift = spec.shift;
  r.video_guidance = spec.guidance;
  r.audio_guidance = spec.audio_guidance;
  r.slg_layer = spec.slg_layer;
  r.sampler = spec.sampler;
  r.seed = spec.seed;
  r.image = spec.image;
  return r;
}

}  // namespace duet
