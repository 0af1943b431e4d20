#pragma once
// EDM2 magnitude-preserving primitives of the MMAudio VAE (MMAudio's ext/autoencoder/
// edm2_utils.py, from Karras et al., "Analyzing and Improving the Training Dynamics of
// Diffusion Models"), as they run at inference: after remove_weight_norm().
//
//   MPConv1d conv;  conv.load(scope, "conv1", 384, 768, 3, at::kFloat);  // conv1.weight
//   auto y = conv.forward(x);                                            // [B, 384, L] -> [B, 768,
//   L]
#include <ATen/ATen.h>

#include <optional>
#include <string>

#include "io/weight_store.h"

namespace duet::mmaudio {

// EDM2 normalize(): x / (eps + ||x||_dim * sqrt(n_dim / n_all)), the norm in fp32 and cast back,
// i.e. a unit-RMS normalisation along `dim` (pixel norm for dim = 1).
at::Tensor mp_normalize(const at::Tensor& x, int64_t dim, double eps = 1e-4);

// mp_silu = silu(x) / 0.596, the SiLU rescaled to unit output magnitude for unit-normal input.
at::Tensor mp_silu(const at::Tensor& x);

// mp_sum = lerp(a, b, t) / sqrt((1 - t)^2 + t^2).
at::Tensor mp_sum(const at::Tensor& a, const at::Tensor& b, double t);

// MPConv1D with its forced weight normalisation baked in once at load, as the reference's
// remove_weight_norm() does: w <- normalize(w) / sqrt(fan_in), computed in fp32 from the stored
// weights and cast to `dtype` afterwards (Ovi bakes in fp32, then casts the module to bf16).
// Padding is kernel / 2, no bias.
struct MPConv1d {
  at::Tensor weight;  // [out, in, kernel], baked
  void load(WeightScope scope, const std::string& name, int64_t in, int64_t out, int64_t kernel,
            at::ScalarType dtype);
  // Folds the forward's `gain` argument into the weight (conv_out: learnable_gain + 1).
  void scale_by(const at::Tensor& gain);
  // x: [B, in, L] -> [B, out, L]
  at::Tensor forward(const at::Tensor& x) const;
};

}  // namespace duet::mmaudio
