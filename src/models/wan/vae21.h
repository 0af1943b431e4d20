#pragma once
// Wan 2.1 video VAE (WanVAE_ of wan/modules/vae.py, Wan2.1_VAE.pth): z16, 4x8x8, flat
// encoder.downsamples / decoder.upsamples lists of residual blocks and resamplers.
#include <vector>

#include "models/wan/vae.h"
#include "models/wan/vae_blocks.h"

namespace duet::wan {

// One entry of a flat downsamples / upsamples list: a residual block or a resampler.
struct Vae21Layer {
  bool is_resample = false;
  ResidualBlock res;
  Resample resample;
  at::Tensor forward(const at::Tensor& x, FeatureCache& cache) const {
    return is_resample ? resample.forward(x, cache) : res.forward(x, cache);
  }
};

class Wan21Vae : public WanVae {
 public:
  Wan21Vae(WeightStore& store, WanVaeConfig config);

 protected:
  // x: [B, z, 1, h, w] -> [B, 3, 1 or 4, 8h, 8w]
  at::Tensor decode_chunk(const at::Tensor& x, FeatureCache& cache,
                          bool first_chunk) const override;
  // x: [B, 3, 1 or 4, H, W] -> [B, 2z, 1, H/8, W/8]
  at::Tensor encode_chunk(const at::Tensor& x, FeatureCache& cache) const override;

 private:
  void load_encoder(WeightScope scope);
  void load_decoder(WeightScope scope);

  CausalConv3d enc_conv1_;  // encoder.conv1
  std::vector<Vae21Layer> enc_downsamples_;
  MiddleBlock enc_middle_;
  HeadBlock enc_head_;
  CausalConv3d dec_conv1_;  // decoder.conv1
  MiddleBlock dec_middle_;
  std::vector<Vae21Layer> dec_upsamples_;
  HeadBlock dec_head_;
};

}  // namespace duet::wan
