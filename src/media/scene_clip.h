#pragma once
// A procedural scene (src/scenes) written as an MP4 with its sound: duet_scenes' dataset clips
// and duet_eval_tiny's oracle round trip share this one writer.
#include <optional>
#include <string>

#include "scenes/scene.h"

namespace duet::media {

// H.264 + AAC at the scene's size, rate and sample rate, the caption as the prompt metadata;
// `crf` overrides the writer's default quality.
void write_scene_clip(const scenes::Scene& scene, const std::string& path,
                      const std::string& caption, std::optional<int> crf = std::nullopt);

}  // namespace duet::media
