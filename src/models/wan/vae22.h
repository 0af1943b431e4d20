#pragma once
// Wan 2.2 video VAE (WanVAE_ of wan/modules/vae2_2.py, Wan2.2_VAE.pth): z48, 4x16x16 as a 2x2
// patchify (12 channels) around a 4x8x8 network whose levels carry parameter-free shortcuts
// (AvgDown3D / DupUp3D) around their residual blocks and resampler.
#include <optional>
#include <vector>

#include "models/wan/vae.h"
#include "models/wan/vae_blocks.h"

namespace duet::wan {

// encoder.downsamples.{i}: downsamples.{0..nres-1} residual blocks, downsamples.{nres} resampler.
struct Vae22DownLevel {
  std::vector<ResidualBlock> blocks;
  std::optional<Resample> resample;
  int64_t out_dim = 0, factor_t = 1, factor_s = 1;
  // x: [B, in, T, H, W] -> [B, out, T / ft, H / fs, W / fs]
  at::Tensor forward(const at::Tensor& x, FeatureCache& cache) const;
};

// decoder.upsamples.{i}: upsamples.{0..nres} residual blocks, upsamples.{nres+1} resampler.
struct Vae22UpLevel {
  std::vector<ResidualBlock> blocks;
  std::optional<Resample> resample;
  int64_t out_dim = 0, factor_t = 1, factor_s = 1;
  // x: [B, in, T, H, W] -> [B, out, T * ft (first chunk: T), H * fs, W * fs]
  at::Tensor forward(const at::Tensor& x, FeatureCache& cache, bool first_chunk) const;
};

class Wan22Vae : public WanVae {
 public:
  Wan22Vae(WeightStore& store, WanVaeConfig config);

 protected:
  // x: [B, z, 1, h, w] -> [B, 12, 1 or 4, 8h, 8w] (patchified frames)
  at::Tensor decode_chunk(const at::Tensor& x, FeatureCache& cache,
                          bool first_chunk) const override;
  // x: [B, 12, 1 or 4, H/2, W/2] -> [B, 2z, 1, H/16, W/16]
  at::Tensor encode_chunk(const at::Tensor& x, FeatureCache& cache) const override;

 private:
  void load_encoder(WeightScope scope);
  void load_decoder(WeightScope scope);

  CausalConv3d enc_conv1_;
  std::vector<Vae22DownLevel> enc_levels_;
  MiddleBlock enc_middle_;
  HeadBlock enc_head_;
  CausalConv3d dec_conv1_;
  MiddleBlock dec_middle_;
  std::vector<Vae22UpLevel> dec_levels_;
  HeadBlock dec_head_;
};

}  // namespace duet::wan
