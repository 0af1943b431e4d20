#pragma once
// Blocks of the MMAudio 1D VAE (MMAudio's ext/autoencoder/vae_modules.py) under the
// checkpoint's key names. All convolutions are MPConv1d (weight norm baked, no biases).
#include <ATen/ATen.h>

#include <string>

#include "io/weight_store.h"
#include "models/mmaudio/edm2.h"

namespace duet::mmaudio {

// Pixel norm, mp_silu, conv1, mp_silu, conv2; nin_shortcut (1x1) when the width changes;
// mp_sum(shortcut, h, 0.3). The shortcut takes the pixel-normalised input.
struct ResnetBlock1D {
  MPConv1d conv1;         // conv1: in -> out, k
  MPConv1d conv2;         // conv2: out -> out, k
  MPConv1d nin_shortcut;  // undefined weight when in == out
  void load(WeightScope scope, int64_t in, int64_t out, int64_t kernel, at::ScalarType dtype);
  // x: [B, in, L] -> [B, out, L]
  at::Tensor forward(const at::Tensor& x) const;
};

// Single-head self-attention over time with cosine-normalised q, k, v (no norm before qkv):
// qkv channels are interleaved as (c, 3), i.e. channel 3c + j is q / k / v (j = 0 / 1 / 2) of c.
struct AttnBlock1D {
  MPConv1d qkv;       // qkv: C -> 3C, 1x1
  MPConv1d proj_out;  // proj_out: C -> C, 1x1
  int64_t num_heads = 1;
  void load(WeightScope scope, int64_t channels, at::ScalarType dtype);
  // x: [B, C, L] -> [B, C, L]
  at::Tensor forward(const at::Tensor& x) const;
};

// 2x nearest ("nearest-exact", i.e. each step repeated) then conv (k 3).
struct Upsample1D {
  MPConv1d conv;
  void load(WeightScope scope, int64_t channels, at::ScalarType dtype);
  // x: [B, C, L] -> [B, C, 2L]
  at::Tensor forward(const at::Tensor& x) const;
};

// conv1 (1x1), average pool 2 (an odd last step is dropped), conv2 (1x1).
struct Downsample1D {
  MPConv1d conv1;
  MPConv1d conv2;
  void load(WeightScope scope, int64_t channels, at::ScalarType dtype);
  // x: [B, C, L] -> [B, C, L / 2]
  at::Tensor forward(const at::Tensor& x) const;
};

}  // namespace duet::mmaudio
