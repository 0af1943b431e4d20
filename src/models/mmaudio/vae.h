#pragma once
// MMAudio's mel VAE (MMAudio's ext/autoencoder/vae.py; Ovi's audio VAE): a 1D EDM2
// magnitude-preserving convolutional VAE over log-mel spectrograms. 16 kHz (v1-16.pth): 80 mel
// bins <-> 20 latent channels at half the mel frame rate; 44.1 kHz (v1-44.pth): 128 <-> 40.
//
//   auto vae = load_mmaudio_vae("MMAudio/ext_weights/v1-16.pth", {.device = dev});
//   at::Tensor mel = vae->decode(z);      // z: [B, 20, L] -> log10-mel [B, 80, 2L]
//   at::Tensor mu = vae->encode(mel);     // mel: [B, 80, T] -> latent mean [B, 20, T / 2]
//
// Latents are the raw posterior mean, as Ovi's wrapped_encode returns and wrapped_decode takes
// them: no latent normalisation. The mel side is de-normalised (decode) and normalised (encode)
// with the checkpoint's data_mean / data_std buffers (MMAudio's DATA_MEAN_80D / DATA_STD_80D).
//
// v1-16.pth is the plain state dict of MMAudio's VAE (no prefix, no wrapper dict):
//   data_mean, data_std                [1, 80, 1]
//   encoder.learnable_gain, decoder.learnable_gain   scalars
//   encoder.conv_in / down.{i}.block.{j} / down.0.downsample / mid.{block_1,attn_1,block_2} /
//   conv_out, decoder.conv_in / mid.* / up.{i}.block.{j} / up.1.upsample / conv_out
// with MPConv1D weights only ("<name>.weight", raw: the weight norm is applied at load).
#include <ATen/ATen.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "io/weight_store.h"
#include "models/mmaudio/vae_blocks.h"

namespace duet::mmaudio {

struct MMAudioVaeConfig {
  int64_t data_dim = 80;     // mel bins (44k: 128)
  int64_t embed_dim = 20;    // latent channels (44k: 40)
  int64_t hidden_dim = 384;  // base width (44k: 512)
  std::vector<int64_t> ch_mult{1, 2, 4};
  int64_t num_res_blocks = 2;
  std::vector<int64_t> attn_layers{3};  // levels with attention after each block (none of 0..2)
  std::vector<int64_t> down_layers{0};  // levels followed by a 2x downsample
  int64_t kernel_size = 3;
  double clip_act = 256.0;  // activations are clamped to +-clip_act after each stage

  // The checkpoints carry no config: widths from conv shapes, the rest as VAE_16k / VAE_44k.
  static MMAudioVaeConfig from_weights(WeightStore& store);
  void validate() const;
  bool has_attention(int64_t level) const;
  bool downsamples_after(int64_t level) const;  // encoder level
  // Mel frames per latent step (2 for both released models).
  int64_t temporal_stride() const { return int64_t{1} << down_layers.size(); }
};

// Encoder1D: mel (normalised) -> moments [B, 2 * embed, T / stride].
struct MMAudioEncoder {
  struct Level {
    std::vector<ResnetBlock1D> block;
    std::vector<AttnBlock1D> attn;  // one per block, or empty
    std::optional<Downsample1D> downsample;
  };
  MPConv1d conv_in;
  std::vector<Level> down;
  ResnetBlock1D mid_block_1;
  AttnBlock1D mid_attn_1;
  ResnetBlock1D mid_block_2;
  MPConv1d conv_out;  // learnable_gain + 1 folded in
  double clip_act = 256.0;
  void load(WeightScope scope, const MMAudioVaeConfig& config, at::ScalarType dtype);
  // x: [B, data_dim, T] -> [B, 2 * embed_dim, T / stride]
  at::Tensor forward(const at::Tensor& x) const;
};

// Decoder1D: latent -> normalised mel. up[i] is level i; levels run from the deepest one up.
struct MMAudioDecoder {
  struct Level {
    std::vector<ResnetBlock1D> block;  // num_res_blocks + 1
    std::vector<AttnBlock1D> attn;
    std::optional<Upsample1D> upsample;
  };
  MPConv1d conv_in;
  ResnetBlock1D mid_block_1;
  AttnBlock1D mid_attn_1;
  ResnetBlock1D mid_block_2;
  std::vector<Level> up;
  MPConv1d conv_out;  // learnable_gain + 1 folded in
  double clip_act = 256.0;
  void load(WeightScope scope, const MMAudioVaeConfig& config, at::ScalarType dtype);
  // z: [B, embed_dim, L] -> [B, data_dim, L * stride]
  at::Tensor forward(const at::Tensor& z) const;
};

// The posterior N(mean, std^2) of MMAudio's DiagonalGaussianDistribution (logvar clamped to
// [-30, 20]).
struct MMAudioPosterior {
  at::Tensor mean;  // [B, embed_dim, T / stride]
  at::Tensor std;
};

class MMAudioVae {
 public:
  // Reads every tensor of `store` (throws naming a missing or mis-shaped key, or one the model
  // does not use). Weights are baked in fp32 and cast to `dtype` (default: fp32); open the store
  // without a dtype conversion so the baking sees the stored fp32 values.
  MMAudioVae(WeightStore& store, MMAudioVaeConfig config,
             std::optional<at::ScalarType> dtype = std::nullopt);
  const MMAudioVaeConfig& config() const { return config_; }
  at::ScalarType dtype() const { return data_mean_.scalar_type(); }

  // z: [B, embed_dim, L] raw latent -> log-mel [B, data_dim, stride * L]
  at::Tensor decode(const at::Tensor& z) const;
  // mel: [B, data_dim, T], T >= stride -> latent mean [B, embed_dim, T / stride]
  at::Tensor encode(const at::Tensor& mel) const;
  MMAudioPosterior encode_posterior(const at::Tensor& mel) const;

 private:
  // Checks shape, dtype and device of a decode / encode input; casts it to the model's dtype.
  at::Tensor prepare(const at::Tensor& x, bool encoding) const;
  MMAudioVaeConfig config_;
  at::Tensor data_mean_;  // [1, data_dim, 1]
  at::Tensor data_std_;   // [1, data_dim, 1]
  MMAudioEncoder encoder_;
  MMAudioDecoder decoder_;
};

// Loads v1-16.pth / v1-44.pth (or a .safetensors with the same keys). options.dtype is the
// compute dtype (the weight norm is baked in fp32 first, as the reference does).
std::unique_ptr<MMAudioVae> load_mmaudio_vae(const std::string& path, WeightOptions options = {});

}  // namespace duet::mmaudio
