#include "models/ovi/ovi_tower.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "core/error.h"
#include "models/wan/wan_dit.h"
#include "nn/fused_norm.h"

namespace duet::ovi {

OviTower OviTower::load(const OviTowerConfig& config, WeightScope scope) {
  config.validate();
  const int64_t d = config.dim;
  OviTower m;
  m.config_ = config;
  const std::string hint = fmt::format("(config dim={}, in_dim={}, patch_size=[{}])", d,
                                       config.in_dim, fmt::join(config.patch_size, ", "));
  if (config.is_audio()) {
    const int64_t h = config.conv_mlp_dim();
    const std::string mlp_hint = fmt::format("(config dim={}, ConvMLP width {})", d, h);
    m.patch_embedding_weight_ = scope.get("patch_embedding.0.weight", {d, config.in_dim, 7}, hint);
    m.patch_embedding_bias_ = scope.get("patch_embedding.0.bias", {d}, hint);
    m.mlp_w1_ = scope.get("patch_embedding.2.w1.weight", {h, d, 7}, mlp_hint);
    m.mlp_w2_ = scope.get("patch_embedding.2.w2.weight", {d, h, 7}, mlp_hint);
    m.mlp_w3_ = scope.get("patch_embedding.2.w3.weight", {h, d, 7}, mlp_hint);
  } else {
    const auto& p = config.patch_size;
    m.patch_embedding_weight_ =
        scope.get("patch_embedding.weight", {d, config.in_dim, p[0], p[1], p[2]}, hint);
    m.patch_embedding_bias_ = scope.get("patch_embedding.bias", {d}, hint);
  }
  m.text_embedding_0_.load(scope, "text_embedding.0", config.text_dim, d);
  m.text_embedding_2_.load(scope, "text_embedding.2", d, d);
  m.time_embedding_0_.load(scope, "time_embedding.0", config.freq_dim, d);
  m.time_embedding_2_.load(scope, "time_embedding.2", d, d);
  m.time_projection_1_.load(scope, "time_projection.1", d, 6 * d);
  m.blocks_.resize(static_cast<size_t>(config.num_layers));
  for (int64_t i = 0; i < config.num_layers; ++i) {
    m.blocks_[static_cast<size_t>(i)].load(scope.sub(fmt::format("blocks.{}.", i)), config.block());
  }
  m.head_norm_.init_plain(d, config.eps);
  m.head_head_.load(scope, "head.head", d, config.patch_volume() * config.out_dim);
  m.head_modulation_ = scope.get("head.modulation", {1, 2, d}, fmt::format("(config dim={})", d));

  const auto device = m.patch_embedding_weight_.device();
  const int64_t hd = config.head_dim();
  // Ovi's set_rope_params: video the 3D split of Wan; audio rope_params(1024, d - 4*(d//6),
  // freqs_scaling) on the temporal pairs only.
  if (config.is_audio()) {
    m.audio_rope_ =
        nn::SequenceRope::make(hd, nn::video_rope_pairs(hd)[0], config.temporal_rope_scaling_factor)
            .to(device);
  } else {
    m.video_rope_ = nn::VideoRope::make(hd).to(device);
  }
  return m;
}

nn::VideoGrid OviTower::grid_of(const at::Tensor& x) const {
  const auto& p = config_.patch_size;
  if (config_.is_audio()) return {x.size(2), 1, 1};
  return {x.size(2) / p[0], x.size(3) / p[1], x.size(4) / p[2]};
}

at::Tensor OviTower::embed(const at::Tensor& x) const {
  // video [B, in, F, H, W] -> [B, f*h*w, D]; audio [B, in, L] -> [B, L, D]
  const auto xd = x.to(device(), dtype());
  if (!config_.is_audio()) {
    const auto& p = config_.patch_size;
    return at::conv3d(xd, patch_embedding_weight_, patch_embedding_bias_, {p[0], p[1], p[2]})
        .flatten(2)
        .transpose(1, 2)
        .contiguous();
  }
  // Ovi's ChannelLastConv1d permutes [B, L, C] around nn.Conv1d; x is already [B, C, L].
  const auto conv = [](const at::Tensor& in, const at::Tensor& w, const at::Tensor& b) {
    return at::conv1d(in, w, b, /*stride=*/1, /*padding=*/3);
  };
  const auto h = at::silu(conv(xd, patch_embedding_weight_, patch_embedding_bias_));  // [B, D, L]
  const auto y = conv(at::silu(conv(h, mlp_w1_, {})) * conv(h, mlp_w3_, {}), mlp_w2_, {});
  return y.transpose(1, 2).contiguous();
}

std::array<at::Tensor, 2> OviTower::embed_time(const at::Tensor& t) const {
  // t: [B] or [B, L] -> e: [B, 1 or L, D], e0: [B, 1 or L, 6, D]
  const int64_t batch = t.size(0);
  const int64_t per_sample = t.dim() == 2 ? t.size(1) : 1;
  // float64 sinusoid, then Ovi's .bfloat16(): the MLP runs in the compute dtype.
  const auto freq =
      wan::wan_sinusoidal_embedding(config_.freq_dim, t.reshape({-1}).to(device())).to(dtype());
  auto e = time_embedding_2_.forward(at::silu(time_embedding_0_.forward(freq)));
  auto e0 = time_projection_1_.forward(at::silu(e));
  return {e.view({batch, per_sample, config_.dim}), e0.view({batch, per_sample, 6, config_.dim})};
}

at::Tensor OviTower::embed_text(const at::Tensor& context) const {
  // context: [B, Lc, text_dim] -> [B, text_len, D]
  auto ctx = context.to(device(), dtype());
  if (ctx.size(1) < config_.text_len)
    ctx = at::constant_pad_nd(ctx, {0, 0, 0, config_.text_len - ctx.size(1)});
  return text_embedding_2_.forward(at::gelu(text_embedding_0_.forward(ctx), "tanh"));
}

at::Tensor OviTower::rotate(const at::Tensor& x, const std::vector<nn::VideoGrid>& grids) const {
  // x: [B, L, H, hd] -> [B, L, H, hd]; rotation in fp32, result in x's dtype
  if (!config_.is_audio()) return video_rope_.apply(x, grids).to(x.scalar_type());
  std::vector<int64_t> lens;
  for (const auto& g : grids) lens.push_back(g[0]);
  return audio_rope_.apply(x, lens).to(x.scalar_type());
}

nn::QkRope OviTower::qk_rope(const std::vector<nn::VideoGrid>& grids) const {
  // grids as rotate() takes them: video (F, H, W); audio (L, 1, 1)
  if (!config_.is_audio()) return nn::QkRope::of_video(video_rope_, grids);
  std::vector<int64_t> lens;
  for (const auto& g : grids) lens.push_back(g[0]);
  return nn::QkRope::of_sequence(audio_rope_, lens);
}

at::Tensor OviTower::apply_head(const at::Tensor& x, const at::Tensor& e) const {
  // x: [B, L, D], e: [B, 1 or L, D] -> [B, L, prod(patch) * out_dim]
  const auto m = head_modulation_.to(e.scalar_type()) + e.unsqueeze(2);  // [B, 1 or L, 2, D]
  return head_head_.forward(head_norm_.forward(x) * (1 + m.select(2, 1)) + m.select(2, 0));
}

at::Tensor OviTower::unpatchify(const at::Tensor& x, const nn::VideoGrid& grid) const {
  // video [B, L, pt*ph*pw*c] -> [B, c, F, H, W]; audio [B, L, c] -> [B, c, grid L]
  if (config_.is_audio()) return x.narrow(1, 0, grid[0]).transpose(1, 2);
  const auto& p = config_.patch_size;
  return wan::unpatchify(x, grid, {p[0], p[1], p[2]}, config_.out_dim);
}

}  // namespace duet::ovi
