#include "models/wan/vae22.h"

#include <fmt/format.h>

namespace duet::wan {

at::Tensor Vae22DownLevel::forward(const at::Tensor& x, FeatureCache& cache) const {
  at::Tensor y = x;
  for (const auto& block : blocks) y = block.forward(y, cache);
  if (resample) y = resample->forward(y, cache);
  return y + avg_down_3d(x, out_dim, factor_t, factor_s);
}

at::Tensor Vae22UpLevel::forward(const at::Tensor& x, FeatureCache& cache, bool first_chunk) const {
  at::Tensor y = x;
  for (const auto& block : blocks) y = block.forward(y, cache);
  if (!resample) return y;  // the last level has no shortcut either
  y = resample->forward(y, cache);
  return y + dup_up_3d(x, out_dim, factor_t, factor_s, first_chunk);
}

Wan22Vae::Wan22Vae(WeightStore& store, WanVaeConfig config) : WanVae(std::move(config)) {
  WeightScope root = store.scope("");
  load_encoder(root.sub("encoder."));
  load_quant_convs(root);
  load_decoder(root.sub("decoder."));
}

void Wan22Vae::load_encoder(WeightScope scope) {
  const auto& c = config_;
  std::vector<int64_t> dims{c.dim};
  for (int64_t m : c.dim_mult) dims.push_back(c.dim * m);
  enc_conv1_.load(scope, "conv1", c.io_channels(), dims[0], {3, 3, 3}, {1, 1, 1}, {1, 1, 1});
  const size_t levels = c.dim_mult.size();
  for (size_t i = 0; i < levels; ++i) {
    const WeightScope s = scope.sub(fmt::format("downsamples.{}.downsamples.", i));
    Vae22DownLevel level;
    int64_t in = dims[i];
    const int64_t out = dims[i + 1];
    const bool down = i + 1 != levels;
    const bool down_t = i < c.temperal_downsample.size() && c.temperal_downsample[i];
    for (int64_t j = 0; j < c.num_res_blocks; ++j) {
      level.blocks.emplace_back().load(s.sub(fmt::format("{}.", j)), in, out);
      in = out;
    }
    if (down) {
      level.resample.emplace().load(
          s.sub(fmt::format("{}.", c.num_res_blocks)), out,
          down_t ? ResampleMode::kDownsample3d : ResampleMode::kDownsample2d, out);
    }
    level.out_dim = out;
    level.factor_t = down_t ? 2 : 1;
    level.factor_s = down ? 2 : 1;
    enc_levels_.push_back(std::move(level));
  }
  enc_middle_.load(scope.sub("middle."), dims.back());
  enc_head_.load(scope.sub("head."), dims.back(), 2 * c.z_dim);
}

void Wan22Vae::load_decoder(WeightScope scope) {
  const auto& c = config_;
  std::vector<int64_t> dims{c.dec_dim * c.dim_mult.back()};
  for (auto it = c.dim_mult.rbegin(); it != c.dim_mult.rend(); ++it)
    dims.push_back(c.dec_dim * *it);
  dec_conv1_.load(scope, "conv1", c.z_dim, dims[0], {3, 3, 3}, {1, 1, 1}, {1, 1, 1});
  dec_middle_.load(scope.sub("middle."), dims[0]);
  const size_t levels = c.dim_mult.size();
  for (size_t i = 0; i < levels; ++i) {
    const WeightScope s = scope.sub(fmt::format("upsamples.{}.upsamples.", i));
    Vae22UpLevel level;
    int64_t in = dims[i];
    const int64_t out = dims[i + 1];
    const bool up = i + 1 != levels;
    // temperal_upsample = reversed temperal_downsample; missing entries mean no.
    const size_t nt = c.temperal_downsample.size();
    const bool up_t = i < nt && c.temperal_downsample[nt - 1 - i];
    for (int64_t j = 0; j <= c.num_res_blocks; ++j) {
      level.blocks.emplace_back().load(s.sub(fmt::format("{}.", j)), in, out);
      in = out;
    }
    if (up) {
      level.resample.emplace().load(s.sub(fmt::format("{}.", c.num_res_blocks + 1)), out,
                                    up_t ? ResampleMode::kUpsample3d : ResampleMode::kUpsample2d,
                                    out);
    }
    level.out_dim = out;
    level.factor_t = up_t ? 2 : 1;
    level.factor_s = up ? 2 : 1;
    dec_levels_.push_back(std::move(level));
  }
  dec_head_.load(scope.sub("head."), dims.back(), c.io_channels());
}

at::Tensor Wan22Vae::decode_chunk(const at::Tensor& x, FeatureCache& cache,
                                  bool first_chunk) const {
  at::Tensor y = dec_conv1_.forward(x, cache.next());
  y = dec_middle_.forward(y, cache);
  for (const auto& level : dec_levels_) y = level.forward(y, cache, first_chunk);
  return dec_head_.forward(y, cache);
}

at::Tensor Wan22Vae::encode_chunk(const at::Tensor& x, FeatureCache& cache) const {
  at::Tensor y = enc_conv1_.forward(x, cache.next());
  for (const auto& level : enc_levels_) y = level.forward(y, cache);
  y = enc_middle_.forward(y, cache);
  return enc_head_.forward(y, cache);
}

}  // namespace duet::wan
