#pragma once
// What an Ovi fusion checkpoint was trained for, and the prompt and size conventions that go
// with it (character-ai/Ovi ovi/ovi_fusion_engine.py NAME_TO_MODEL_SPECS_MAP and
// ovi/utils/processing_utils.py). Torch-free, so the rules can be tested on their own.
//
//   OviSpec spec = ovi_spec_named("720x720_5s");        // area 720*720, 31 / 157 latents
//   std::string p = format_ovi_prompt(prompt, spec);    // "Audio: ..." -> <AUDCAP>...<ENDAUDCAP>
//   auto [h, w] = snap_ovi_size(480, 832, spec.area);   // Ovi's t2v size rule
#include <nlohmann/json_fwd.hpp>

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace duet {

// How a checkpoint expects the audio caption to be written.
enum class OviCaptionFormat {
  kAudcapTags,   // "<AUDCAP>rain on a tin roof<ENDAUDCAP>" (720x720_5s, model.safetensors)
  kAudioPrefix,  // "Audio: rain on a tin roof" (960x960 models, Ovi 1.1)
};

struct OviSpec {
  std::string name;                  // "720x720_5s", "960x960_10s", or a package's own name
  int64_t area = 720 * 720;          // pixels the model was trained at (t2v sizes snap to it)
  int64_t video_latent_frames = 31;  // 1 + 4 (frames - 1) / 4 frames
  int64_t audio_latents = 157;       // MMAudio latents (31.25 per second at 16 kHz)
  double fps = 24.0;
  OviCaptionFormat caption = OviCaptionFormat::kAudcapTags;

  int64_t frames() const { return 4 * (video_latent_frames - 1) + 1; }
  // MMAudio: 2 mel frames per latent, 256 samples per mel frame.
  int64_t audio_samples() const { return audio_latents * 512; }

  // A duet package's "spec" object: {"name", "area" or "width"/"height", "video_latent_frames",
  // "audio_latents", "fps", "caption": "audcap" | "audio_prefix"}.
  static OviSpec from_json(const nlohmann::json& j, const std::string& source);
};

// Ovi's released specs: "720x720_5s", "960x960_5s", "960x960_10s"; an error listing them
// otherwise.
OviSpec ovi_spec_named(std::string_view name);
const std::vector<std::string>& ovi_spec_names();

// The prompt in the caption format `spec` expects. Ovi's own rewrite: for <AUDCAP> models
// everything after "Audio:" becomes the tagged caption; for "Audio:" models every
// <AUDCAP>...<ENDAUDCAP> becomes "Audio: ...". Speech (<S>...<E>) is kept as written.
std::string format_ovi_prompt(const std::string& prompt, const OviSpec& spec);

// Whether the prompt carries an audio caption in either format, and whether its speech tags
// pair up (every <S> closed by an <E>); for warnings, the model runs either way.
bool has_audio_caption(const std::string& prompt);
bool speech_tags_balanced(const std::string& prompt);

// Ovi's t2v size rule (snap_hw_to_multiple_of_32): scale (h, w) to `area` keeping the aspect
// ratio, then round each side to the nearest multiple of 32 (at least 32). Python's round()
// rounds halves to even, and so does this: 720x720 becomes 704x704.
std::array<int64_t, 2> snap_ovi_size(int64_t height, int64_t width, int64_t area);

// Ovi's image-conditioned size rule (preprocess_image_tensor's _best_hw_for_area): the
// multiple-of-32 size nearest to `area` with the image's aspect ratio -> {height, width}.
std::array<int64_t, 2> ovi_image_size(int64_t height, int64_t width, int64_t area);

}  // namespace duet
