#include "models/wan/vae21.h"

#include <fmt/format.h>

namespace duet::wan {

Wan21Vae::Wan21Vae(WeightStore& store, WanVaeConfig config) : WanVae(std::move(config)) {
  WeightScope root = store.scope("");
  load_encoder(root.sub("encoder."));
  load_quant_convs(root);
  load_decoder(root.sub("decoder."));
}

void Wan21Vae::load_encoder(WeightScope scope) {
  const auto& c = config_;
  std::vector<int64_t> dims{c.dim};
  for (int64_t m : c.dim_mult) dims.push_back(c.dim * m);
  enc_conv1_.load(scope, "conv1", 3, dims[0], {3, 3, 3}, {1, 1, 1}, {1, 1, 1});
  const size_t levels = c.dim_mult.size();
  int64_t k = 0;
  for (size_t i = 0; i < levels; ++i) {
    int64_t in = dims[i];
    const int64_t out = dims[i + 1];
    for (int64_t j = 0; j < c.num_res_blocks; ++j, ++k) {
      Vae21Layer layer;
      layer.res.load(scope.sub(fmt::format("downsamples.{}.", k)), in, out);
      enc_downsamples_.push_back(std::move(layer));
      in = out;
    }
    if (i + 1 != levels) {
      Vae21Layer layer;
      layer.is_resample = true;
      const auto mode =
          c.temperal_downsample[i] ? ResampleMode::kDownsample3d : ResampleMode::kDownsample2d;
      layer.resample.load(scope.sub(fmt::format("downsamples.{}.", k++)), out, mode, out);
      enc_downsamples_.push_back(std::move(layer));
    }
  }
  enc_middle_.load(scope.sub("middle."), dims.back());
  enc_head_.load(scope.sub("head."), dims.back(), 2 * c.z_dim);
}

void Wan21Vae::load_decoder(WeightScope scope) {
  const auto& c = config_;
  // Widths from the deepest level up: [4d, 4d, 4d, 2d, d] for dim_mult [1, 2, 4, 4].
  std::vector<int64_t> dims{c.dec_dim * c.dim_mult.back()};
  for (auto it = c.dim_mult.rbegin(); it != c.dim_mult.rend(); ++it)
    dims.push_back(c.dec_dim * *it);
  dec_conv1_.load(scope, "conv1", c.z_dim, dims[0], {3, 3, 3}, {1, 1, 1}, {1, 1, 1});
  dec_middle_.load(scope.sub("middle."), dims[0]);
  const size_t levels = c.dim_mult.size();
  int64_t k = 0;
  for (size_t i = 0; i < levels; ++i) {
    // Wan2.1's upsampling convolution halves the width, so later levels start at half.
    int64_t in = i == 0 ? dims[i] : dims[i] / 2;
    const int64_t out = dims[i + 1];
    for (int64_t j = 0; j <= c.num_res_blocks; ++j, ++k) {
      Vae21Layer layer;
      layer.res.load(scope.sub(fmt::format("upsamples.{}.", k)), in, out);
      dec_upsamples_.push_back(std::move(layer));
      in = out;
    }
    if (i + 1 != levels) {
      Vae21Layer layer;
      layer.is_resample = true;
      const bool up_t = c.temperal_downsample[levels - 2 - i];  // temperal_upsample = reversed
      const auto mode = up_t ? ResampleMode::kUpsample3d : ResampleMode::kUpsample2d;
      layer.resample.load(scope.sub(fmt::format("upsamples.{}.", k++)), out, mode, out / 2);
      dec_upsamples_.push_back(std::move(layer));
    }
  }
  dec_head_.load(scope.sub("head."), dims.back(), 3);
}

at::Tensor Wan21Vae::decode_chunk(const at::Tensor& x, FeatureCache& cache, bool) const {
  at::Tensor y = dec_conv1_.forward(x, cache.next());
  y = dec_middle_.forward(y, cache);
  for (const auto& layer : dec_upsamples_) y = layer.forward(y, cache);
  return dec_head_.forward(y, cache);
}

at::Tensor Wan21Vae::encode_chunk(const at::Tensor& x, FeatureCache& cache) const {
  at::Tensor y = enc_conv1_.forward(x, cache.next());
  for (const auto& layer : enc_downsamples_) y = layer.forward(y, cache);
  y = enc_middle_.forward(y, cache);
  return enc_head_.forward(y, cache);
}

}  // namespace duet::wan
