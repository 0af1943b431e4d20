#pragma once
// The fusion stage's training data: every training clip encoded once by the trained VAEs, with
// the latent cells that show an object, cached in <work>/fusion/latents.safetensors.
#include <ATen/ATen.h>

#include <cstdint>
#include <string>
#include <vector>

#include "tiny_stages.h"

namespace duet::train {

struct LatentSet {
  std::vector<at::Tensor> video;    // [48, F', h, w] normalised
  std::vector<at::Tensor> audio;    // [20, L]
  std::vector<at::Tensor> objects;  // [F', h, w] fp32 in {0, 1}: latent cells showing an object
  std::vector<std::string> captions;
};

// Encodes `count` training clips with the trained VAEs and finds their object cells, cached in
// <dir>/latents.safetensors. The VAEs' small convolutions gain nothing from intra-op threads
// (2.9 s per 121-frame clip on one thread or two), so clips are spread over single-threaded
// workers instead. The clip seeds are successive draws of one generator, so a cache of fewer
// clips is the start of a larger set: its clips are kept and only the rest encoded. A cached
// clip without object cells (kept before they were) gets them by rendering its scene again.
LatentSet encode_latents(const TrainContext& ctx, const std::string& dir, int64_t count);

}  // namespace duet::train
