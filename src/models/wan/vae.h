#pragma once
// Wan video VAEs, 2.1 (z16, 4x8x8) and 2.2 (z48, 4x16x16 through a 2x2 patchify), as one
// interface. The decoder runs one latent frame at a time with the causal feature cache, as the
// reference does, and hands out frames chunk by chunk (1, then 4 per latent frame), so a video
// writer can consume them while peak memory stays independent of the number of frames.
//
//   auto vae = load_wan_vae("Wan2.2-TI2V-5B/Wan2.2_VAE.pth", {.dtype = at::kFloat, .device = dev});
//   vae->decode_stream(latents, [&](const at::Tensor& frames) { writer.add(frames); });
//   at::Tensor video = vae->decode(latents);        // [B, 3, 1 + 4 (T - 1), H, W] in [-1, 1]
//   at::Tensor z = vae->encode(video);               // normalised latent mean
//
// Latents are normalised as the pipelines hand them over: z_n = (mu - mean) / std per channel.
#include <ATen/ATen.h>

#include <functional>
#include <memory>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <vector>

#include "io/weight_store.h"
#include "nn/causal_conv3d.h"

namespace duet::wan {

enum class WanVaeVersion { k21, k22 };

struct WanVaeConfig {
  WanVaeVersion version = WanVaeVersion::k21;
  int64_t dim = 96;      // encoder base width (2.2: 160)
  int64_t dec_dim = 96;  // decoder base width (2.2: 256)
  int64_t z_dim = 16;    // 2.2: 48
  std::vector<int64_t> dim_mult{1, 2, 4, 4};
  int64_t num_res_blocks = 2;
  std::vector<bool> temperal_downsample{false, true, true};  // reference spelling
  std::vector<float> latents_mean;  // [z_dim]; empty = the published table for the version
  std::vector<float> latents_std;

  // diffusers AutoencoderKLWan vae/config.json.
  static WanVaeConfig from_json(const nlohmann::json& j, const std::string& source);
  // Original checkpoints carry no config: version from the encoder input width (3 or 12),
  // widths from conv shapes, statistics from the published tables.
  static WanVaeConfig from_weights(WeightStore& store);
  static WanVaeConfig defaults(WanVaeVersion version);
  void validate() const;

  int64_t patch_size() const { return version == WanVaeVersion::k22 ? 2 : 1; }
  int64_t io_channels() const { return 3 * patch_size() * patch_size(); }
  int64_t spatial_stride() const { return 8 * patch_size(); }
  int64_t temporal_stride() const { return 4; }
};

// The published latent statistics (Wan's vae.py / vae2_2.py tables, also in
// shared/reference/constants.json): 16 values for 2.1, 48 for 2.2.
const std::vector<float>& wan_vae_latents_mean(WanVaeVersion version);
const std::vector<float>& wan_vae_latents_std(WanVaeVersion version);

// Spatial tiling as diffusers' AutoencoderKLWan.enable_tiling: tiles of min_height x min_width
// output pixels every stride pixels, overlaps blended linearly. Used when the latent is larger
// than one tile. Encoding follows diffusers' tiled_encode, which measures tiles on the
// patchified input: for Wan2.2 (2x2 patches) an encode tile spans 2 min_height x 2 min_width
// frame pixels and the frame is tiled only when it is larger than that.
struct WanVaeTiling {
  bool enabled = false;
  int64_t min_height = 256;
  int64_t min_width = 256;
  int64_t stride_height = 192;
  int64_t stride_width = 192;
  void validate(int64_t spatial_stride, int64_t patch) const;
};

// Receives decoded frames in order: [B, 3, n, H, W] in [-1, 1], n = 1 for the first latent
// frame and 4 for every later one.
using VideoChunkSink = std::function<void(const at::Tensor& frames)>;

class WanVae {
 public:
  explicit WanVae(WanVaeConfig config);
  virtual ~WanVae() = default;
  const WanVaeConfig& config() const { return config_; }

  // latents: [B, z, T, h, w] normalised -> sink gets 1 + 4 (T - 1) frames of [B, 3, ., 8h or 16h,
  // .]
  void decode_stream(const at::Tensor& latents, const VideoChunkSink& sink,
                     const WanVaeTiling& tiling = {}) const;
  // latents: [B, z, T, h, w] -> [B, 3, 1 + 4 (T - 1), H, W]
  at::Tensor decode(const at::Tensor& latents, const WanVaeTiling& tiling = {}) const;
  // video: [B, 3, 1 + 4k, H, W] in [-1, 1] -> normalised latent mean [B, z, 1 + k, H/s, W/s]
  at::Tensor encode(const at::Tensor& video, const WanVaeTiling& tiling = {}) const;

 protected:
  // Loads the top-level conv1 / conv2 (quant convolutions); subclasses load their own halves.
  void load_quant_convs(WeightScope scope);
  // One latent frame (after conv2) -> its frames in the decoder's output space (12 channels
  // for 2.2, before unpatchify). x: [B, z, 1, h, w] -> [B, C, 1 or 4, ., .]
  virtual at::Tensor decode_chunk(const at::Tensor& x, nn::FeatureCache& cache,
                                  bool first_chunk) const = 0;
  // One chunk of 1 or 4 (patchified) frames -> encoder output [B, 2z, 1, ., .]
  virtual at::Tensor encode_chunk(const at::Tensor& x, nn::FeatureCache& cache) const = 0;

  WanVaeConfig config_;
  nn::CausalConv3d conv1_;  // "conv1": quant conv, 2z -> 2z
  nn::CausalConv3d conv2_;  // "conv2": post-quant conv, z -> z

 private:
  at::Tensor denormalise(const at::Tensor& latents) const;
  at::Tensor finish_frames(const at::Tensor& x) const;  // unpatchify + clamp
  void decode_tiled(const at::Tensor& z, const VideoChunkSink& sink, const WanVaeTiling& t) const;
  // video: [B, 3, 1 + 4k, H, W] -> latent mean [B, z, 1 + k, H/s, W/s], not yet normalised
  at::Tensor encode_mean(const at::Tensor& video) const;
  at::Tensor encode_tiled(const at::Tensor& video, const WanVaeTiling& t) const;
  at::Tensor inv_std_;  // [z], 1 / std in fp32 as the reference's scale[1]
  at::Tensor mean_;     // [z]
};

// Builds the module for an already opened store (original names; a diffusers store carries its
// key map). Throws naming the first missing or mis-shaped key.
std::unique_ptr<WanVae> make_wan_vae(WeightStore& store, const WanVaeConfig& config);

// Loads Wan2.1_VAE.pth / Wan2.2_VAE.pth (or a .safetensors with the same keys), or a diffusers
// vae/ folder (config.json + diffusion_pytorch_model.safetensors).
std::unique_ptr<WanVae> load_wan_vae(const std::string& path, WeightOptions options = {});

// Original-layout name -> diffusers AutoencoderKLWan name for this config (vae_keys.cpp).
KeyMap wan_vae_diffusers_key_map(const WanVaeConfig& config);

}  // namespace duet::wan
