#pragma once
// Where duet-tiny's flow-matching loss should look, from the scene's ground truth. The main
// object is a few pixels of a 16x16-pixel latent cell and an impact a few of 157 audio latents:
// a plain mean of the error is almost all background and silence, which the model learns first
// and then rests on (measured: the second recipe's samples were the right backgrounds with no
// objects in them, and silent). The fusion stage weights its loss by these maps.
#include <ATen/ATen.h>

#include <cstdint>
#include <utility>

#include "tiny_data.h"

namespace duet::train {

struct LossFocus {
  at::Tensor track;   // [F', 2] main object's centre per latent frame (x, y), in latent cells
  at::Tensor onsets;  // [L] 1 at the audio latents where an impact starts, else 0
};

// The focus of one clip whose latents are `latent_frames` x (h, w) video and `audio_latents`
// audio steps (Wan2.2 VAE: 16x spatial, 4x temporal after the first frame; MMAudio 16 kHz:
// 512 samples per latent).
LossFocus loss_focus(const TinyClip& clip, int64_t latent_frames, int64_t audio_latents);

struct FocusWeights {
  at::Tensor video;  // [B, 1, F', h, w]
  at::Tensor audio;  // [B, 1, L]
};

// 1 everywhere, plus `object_weight` under a Gaussian (0.75 cells) around the object's centre,
// plus `impact_weight` within 2 latents (64 ms) of an onset. track [B, F', 2], onsets [B, L].
FocusWeights focus_weights(const at::Tensor& track, const at::Tensor& onsets, int64_t h, int64_t w,
                           double object_weight, double impact_weight);

// Mean of squared errors weighted by `weight` (broadcast to out's shape) and normalised by the
// weights' sum, so the loss keeps the plain mean's scale.
at::Tensor weighted_mse(const at::Tensor& out, const at::Tensor& target, const at::Tensor& weight);

}  // namespace duet::train
