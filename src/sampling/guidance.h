#pragma once
// Classifier-free guidance (Ho & Salimans 2022), applied per modality with its own scale:
//
//   guided = uncond + scale * (cond - uncond)
//
// where cond is the prediction under the prompt and uncond the one under the negative prompt
// (Wan: one negative; Ovi: separate video and audio negatives, plus skip-layer guidance in the
// uncond pass, which is the denoiser's business). Scale 1 makes guided == cond, so the
// pipeline can skip the uncond pass entirely:
//
//   bool uncond = needs_uncond_pass(scale);
//   at::Tensor v = apply_cfg(cond, uncond ? run_negative() : at::Tensor(), scale);
//
// Skipping it differs from the reference, which always runs both passes, only by the rounding
// of uncond + 1 * (cond - uncond); when uncond is given the reference expression is used.
#include <ATen/ATen.h>

#include <string_view>

namespace duet {

// finite and >= 0; otherwise a duet::Error naming `field` (e.g. "video_guidance_scale").
void check_guidance_scale(double scale, std::string_view field);

// True unless scale == 1.
bool needs_uncond_pass(double scale);

// uncond + scale * (cond - uncond) in the inputs' dtype, operation for operation as the
// reference writes it. `uncond` may be undefined only when scale == 1 (then cond is returned).
// cond, uncond: [...] (same shape) -> [...]
at::Tensor apply_cfg(const at::Tensor& cond, const at::Tensor& uncond, double scale);

}  // namespace duet
