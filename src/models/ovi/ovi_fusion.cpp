#include "models/ovi/ovi_fusion.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include <tuple>
#include <utility>

#include "core/error.h"

namespace duet::ovi {

OviFusionModel OviFusionModel::load(const OviFusionConfig& config, WeightStore& store,
                                    const std::string& prefix) {
  config.validate();
  OviFusionModel m;
  m.config_ = config;
  m.video_model_ = OviTower::load(config.video, store.scope(prefix + "video_model."));
  m.audio_model_ = OviTower::load(config.audio, store.scope(prefix + "audio_model."));
  store.scope(prefix).finish();
  spdlog::debug("Ovi fusion: dim {}, {} heads, {} fused blocks, video in {}, audio in {}, {}",
                config.video.dim, config.video.num_heads, config.video.num_layers,
                config.video.in_dim, config.audio.in_dim, c10::toString(m.dtype()));
  return m;
}

OviFusionModel OviFusionModel::load_file(const std::string& path, const WeightOptions& options) {
  WeightStore store({path}, options);
  return load(OviFusionConfig::from_weights(store), store);
}

std::array<at::Tensor, 2> OviFusionModel::forward_block(
    int64_t index, const at::Tensor& vid, const at::Tensor& audio, const OviStream& video_stream,
    const OviStream& audio_stream, const nn::AttentionOptions& attention) const {
  // vid: [B, Lv, D], audio: [B, La, D] -> {[B, Lv, D], [B, La, D]}
  DUET_CHECK(index >= 0 && index < config_.video.num_layers,
             "Ovi fusion: block {} does not exist ({} blocks)", index, config_.video.num_layers);
  const auto& vb = video_model_.blocks()[static_cast<size_t>(index)];
  const auto& ab = audio_model_.blocks()[static_cast<size_t>(index)];
  const auto audio_e = ab.modulate(audio_stream.e0);
  auto a = ab.self_attention_step(audio, audio_e, audio_stream, attention);
  const auto video_e = vb.modulate(video_stream.e0);
  auto v = vb.self_attention_step(vid, video_e, video_stream, attention);
  const auto og_audio = a;  // the video cross-attention sees audio before its cross-attention
  a = ab.cross_attention_ffn_step(a, audio_e, audio_stream, v, video_stream, attention);
  v = vb.cross_attention_ffn_step(v, video_e, video_stream, og_audio, audio_stream, attention);
  return {v, a};
}

namespace {

// WanModel.prepare_transformer_block_kwargs for one tower: embedded and padded stream, its
// state for the blocks, and e for the head.
struct Prepared {
  at::Tensor x;  // [B, seq_len, D]
  at::Tensor e;  // [B, 1 or seq_len, D]
  OviStream stream;
};

Prepared prepare(const OviTower& tower, const at::Tensor& x, const at::Tensor& t,
                 const at::Tensor& context, int64_t seq_len) {
  Prepared p;
  p.x = tower.embed(x);  // [B, tokens, D]
  const int64_t batch = p.x.size(0);
  const int64_t tokens = p.x.size(1);
  if (tokens < seq_len) {
    p.x = at::constant_pad_nd(p.x, {0, 0, 0, seq_len - tokens});
    p.stream.k_lens = at::full({batch}, tokens, at::TensorOptions().dtype(at::kLong));
  }
  auto [e, e0] = tower.embed_time(t);
  p.e = e;
  p.stream.tower = &tower;
  p.stream.e0 = e0;
  p.stream.grids.assign(static_cast<size_t>(batch), tower.grid_of(x));
  p.stream.context = tower.embed_text(context);
  return p;
}

}  // namespace

void OviFusionModel::check_inputs(const OviInputs& in) const {
  const auto& v = config_.video;
  const auto& a = config_.audio;
  DUET_CHECK(in.x_video.defined() && in.x_video.dim() == 5 && in.x_video.size(1) == v.in_dim,
             "Ovi: x_video must be [B, {}, F, H, W], got [{}]", v.in_dim,
             in.x_video.defined() ? fmt::format("{}", fmt::join(in.x_video.sizes(), ", ")) : "");
  for (int i = 0; i < 3; ++i) {
    DUET_CHECK(in.x_video.size(2 + i) > 0 && in.x_video.size(2 + i) % v.patch_size[i] == 0,
               "Ovi: x_video [{}] has {} {}, which is not a positive multiple of the patch size {}",
               fmt::join(in.x_video.sizes(), ", "), std::array{"frames", "rows", "columns"}[i],
               in.x_video.size(2 + i), v.patch_size[i]);
  }
  const int64_t batch = in.x_video.size(0);
  DUET_CHECK(in.x_audio.defined() && in.x_audio.dim() == 3 && in.x_audio.size(0) == batch &&
                 in.x_audio.size(1) == a.in_dim && in.x_audio.size(2) > 0,
             "Ovi: x_audio must be [{}, {}, L] (batch, channels, latents), got [{}]", batch,
             a.in_dim,
             in.x_audio.defined() ? fmt::format("{}", fmt::join(in.x_audio.sizes(), ", ")) : "");
  const int64_t video_tokens = in.x_video.size(2) / v.patch_size[0] *
                               (in.x_video.size(3) / v.patch_size[1]) *
                               (in.x_video.size(4) / v.patch_size[2]);
  const int64_t audio_tokens = in.x_audio.size(2);
  const std::array<std::tuple<const char*, int64_t, int64_t>, 2> lens{
      std::tuple{"video", in.seq_len_video, video_tokens},
      std::tuple{"audio", in.seq_len_audio, audio_tokens}};
  for (const auto& [name, seq_len, tokens] : lens) {
    DUET_CHECK(seq_len >= tokens, "Ovi: seq_len_{} {} is shorter than the {} tokens of x_{}", name,
               seq_len, tokens, name);
    // Ovi's RoPE tables hold 1024 positions per axis.
    DUET_CHECK(std::string(name) == "video" || tokens <= nn::kRopeMaxPositions,
               "Ovi: {} audio latents exceed the {} RoPE positions", tokens, nn::kRopeMaxPositions);
  }
  const std::array<std::tuple<const char*, const at::Tensor*, int64_t>, 2> ts{
      std::tuple{"t_video", &in.t_video, in.seq_len_video},
      std::tuple{"t_audio", &in.t_audio, in.seq_len_audio}};
  for (const auto& [name, t, seq_len] : ts) {
    DUET_CHECK(t->defined() && ((t->dim() == 1 && t->size(0) == batch) ||
                                (t->dim() == 2 && t->size(0) == batch && t->size(1) == seq_len)),
               "Ovi: {} must be [B] = [{}] or per token [B, seq_len] = [{}, {}], got [{}]", name,
               batch, batch, seq_len,
               t->defined() ? fmt::format("{}", fmt::join(t->sizes(), ", ")) : "");
  }
  const std::array<std::tuple<const char*, const at::Tensor*, const OviTowerConfig*>, 2> ctxs{
      std::tuple{"context_video", &in.context_video, &v},
      std::tuple{"context_audio", &in.context_audio, &a}};
  for (const auto& [name, c, cfg] : ctxs) {
    DUET_CHECK(c->defined() && c->dim() == 3 && c->size(0) == batch &&
                   c->size(2) == cfg->text_dim && c->size(1) > 0 && c->size(1) <= cfg->text_len,
               "Ovi: {} must be [{}, <= {}, {}] (batch, text_len, text_dim), got [{}]", name, batch,
               cfg->text_len, cfg->text_dim,
               c->defined() ? fmt::format("{}", fmt::join(c->sizes(), ", ")) : "");
  }
}

std::array<at::Tensor, 2> OviFusionModel::forward(const OviInputs& in,
                                                  const OviForwardOptions& opts) const {
  // x_video: [B, 48, F, H, W], x_audio: [B, 20, L] -> {[B, 48, F, H, W], [B, 20, L]} fp32
  check_inputs(in);
  if (opts.skip_block) {
    DUET_CHECK(*opts.skip_block >= 0 && *opts.skip_block < config_.video.num_layers,
               "Ovi: skip_block {} does not exist ({} fused blocks)", *opts.skip_block,
               config_.video.num_layers);
  }
  auto v = prepare(video_model_, in.x_video, in.t_video, in.context_video, in.seq_len_video);
  auto a = prepare(audio_model_, in.x_audio, in.t_audio, in.context_audio, in.seq_len_audio);
  for (int64_t i = 0; i < config_.video.num_layers; ++i) {
    if (opts.skip_block == i) continue;
    auto [nv, na] = forward_block(i, v.x, a.x, v.stream, a.stream, opts.attention);
    v.x = std::move(nv);
    a.x = std::move(na);
  }
  const auto out_v =
      video_model_.unpatchify(video_model_.apply_head(v.x, v.e), v.stream.grids.front());
  const auto out_a =
      audio_model_.unpatchify(audio_model_.apply_head(a.x, a.e), a.stream.grids.front());
  return {out_v.to(at::kFloat), out_a.to(at::kFloat)};
}

}  // namespace duet::ovi
