#pragma once
// Training clips for duet-tiny: procedural scenes (src/scenes) of the training split, as the
// tensors the models see.
#include <ATen/ATen.h>

#include <cstdint>
#include <string>
#include <vector>

#include "scenes/scene.h"

namespace duet::train {

struct TinyClip {
  uint64_t seed = 0;
  std::string caption;
  at::Tensor video;             // [3, F, H, W] fp32 in [-1, 1]
  at::Tensor backdrop;          // [3, H, W] fp32 in [-1, 1]: the frame without objects
  at::Tensor audio;             // [S] fp32 mono
  std::vector<double> impacts;  // seconds
  bool still = false;
  std::vector<std::pair<double, double>> centre;  // main object per frame, pixels (x, y down)
};

// The first training-split scene at or after `seed` (held-out captions skipped), rendered with
// `frames` frames (a shorter render is the same motion cut early: the physics steps per frame).
TinyClip training_clip(uint64_t seed, const scenes::SceneOptions& options, int frames = -1);

// `count` distinct training seeds drawn from `gen`.
std::vector<uint64_t> draw_seeds(at::Generator& gen, int64_t count);

// A uniform integer in [0, n) from `gen`.
int64_t draw_index(at::Generator& gen, int64_t n);

}  // namespace duet::train
