#pragma once
// One generation as users spell it, on the command line or as an item of a batch file: the
// prompt, the per-clip options and the output name. `duet generate` fills it from flags,
// `duet batch` from JSON objects whose field names are the long flag names with '_' for '-'
// ({"prompt": "...", "negative_prompt": "...", "size": "832x480", "steps": 30, "seed": 7,
// "output": "cat.mp4"}); configs/batch.schema.json describes the same fields.
#include <nlohmann/json_fwd.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "duet/duet.h"
#include "pipeline/ovi_t2av.h"
#include "pipeline/wan_t2v.h"

namespace duet {

// The public GenerateRequest (include/duet/duet.h) with its JSON spelling.
struct GenerateSpec : GenerateRequest {
  GenerateSpec() = default;
  GenerateSpec(const GenerateRequest& r) : GenerateRequest(r) {}  // NOLINT: same fields

  // Strict: unknown fields and wrong types are errors naming `source` and the field.
  static GenerateSpec from_json(const nlohmann::json& item, const std::string& source);
  nlohmann::json to_json() const;
  // Fields set here win over those set in `defaults` (batch-wide flags).
  GenerateSpec merged_over(const GenerateSpec& defaults) const;
};

// The field names from_json accepts, in the order configs/batch.schema.json lists them.
const std::vector<std::string>& generate_spec_fields();

// A prompt style: text around the prompt and extra negatives (configs/styles.json).
struct PromptStyle {
  std::string name, description, prefix, suffix, negative;
};
std::vector<PromptStyle> load_styles(const std::string& path);
std::vector<PromptStyle> load_styles();  // configs/styles.json
const PromptStyle& find_style(const std::vector<PromptStyle>& styles, const std::string& name);

// The request a spec asks for: size parsed, duration turned into the nearest valid frame
// count at the clip's fps (`default_fps` when the spec sets none), the style applied to the
// prompt and appended to the negative prompt (`default_negative` when the spec gives none).
WanT2VRequest make_wan_request(const GenerateSpec& spec, double default_fps,
                               const std::string& default_negative,
                               const std::vector<PromptStyle>& styles);

// The same for Ovi: the style's negative joins the video negative; a duration becomes the
// frame count at 24 fps (or the spec's fps), which picks the fusion checkpoint.
OviRequest make_ovi_request(const GenerateSpec& spec, double default_fps,
                            const std::string& default_negative,
                            const std::vector<PromptStyle>& styles);

}  // namespace duet
