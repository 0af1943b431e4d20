#include "text/umt5.h"

#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "io/json_util.h"

namespace duet {

// ---- config ----

Umt5Config Umt5Config::from_json(const nlohmann::json& j, const std::string& source) {
  Umt5Config c;
  c.vocab_size = json_int(j, "vocab_size", source, c.vocab_size);
  c.dim = json_int(j, "d_model", source, c.dim);
  c.dim_ffn = json_int(j, "d_ff", source, c.dim_ffn);
  c.num_heads = json_int(j, "num_heads", source, c.num_heads);
  c.num_layers = json_int(j, "num_layers", source, c.num_layers);
  c.num_buckets = json_int(j, "relative_attention_num_buckets", source, c.num_buckets);
  c.max_distance = json_int(j, "relative_attention_max_distance", source, c.max_distance);
  c.eps = json_number(j, "layer_norm_epsilon", source, c.eps);
  c.dim_attn = json_int(j, "d_kv", source, c.dim_attn / c.num_heads) * c.num_heads;
  const auto proj = json_string(j, "feed_forward_proj", source, "gated-gelu");
  DUET_CHECK(proj == "gated-gelu", "{}: field 'feed_forward_proj' is '{}', umT5 needs 'gated-gelu'",
             source, proj);
  c.validate();
  return c;
}

Umt5Config Umt5Config::from_weights(WeightStore& store) {
  Umt5Config c;
  auto shape = [&](const std::string& name) {
    DUET_CHECK(store.contains(name), "text encoder weights lack '{}'", name);
    return store.record(*store.file_key(name)).shape;
  };
  const auto emb = shape("token_embedding.weight");
  DUET_CHECK(emb.size() == 2, "text encoder tensor 'token_embedding.weight' must be 2-D");
  c.vocab_size = emb[0];
  c.dim = emb[1];
  c.dim_attn = shape("blocks.0.attn.q.weight").at(0);
  c.dim_ffn = shape("blocks.0.ffn.fc1.weight").at(0);
  const auto rel = shape("blocks.0.pos_embedding.embedding.weight");
  DUET_CHECK(rel.size() == 2,
             "text encoder tensor 'blocks.0.pos_embedding.embedding.weight' must be 2-D");
  c.num_buckets = rel[0];
  c.num_heads = rel[1];
  c.num_layers = 0;
  while (store.contains("blocks." + std::to_string(c.num_layers) + ".norm1.weight")) ++c.num_layers;
  c.validate();
  return c;
}

void Umt5Config::validate() const {
  DUET_CHECK(vocab_size > 0 && dim > 0 && dim_ffn > 0,
             "text encoder config: vocab_size, dim, dim_ffn must be > 0");
  DUET_CHECK(num_heads > 0 && dim_attn % num_heads == 0,
             "text encoder config: dim_attn {} is not a multiple of num_heads {}", dim_attn,
             num_heads);
  DUET_CHECK(num_layers > 0, "text encoder config: num_layers must be > 0");
  DUET_CHECK(num_buckets >= 4 && num_buckets % 2 == 0,
             "text encoder config: num_buckets must be even and >= 4, got {}", num_buckets);
  DUET_CHECK(max_distance > num_buckets / 4, "text encoder config: max_distance {} too small",
             max_distance);
}

// ---- layers ----

void Umt5Attention::load(WeightScope scope, const Umt5Config& cfg) {
  num_heads = cfg.num_heads;
  q.load(scope, "q", cfg.dim, cfg.dim_attn, /*has_bias=*/false);
  k.load(scope, "k", cfg.dim, cfg.dim_attn, false);
  v.load(scope, "v", cfg.dim, cfg.dim_attn, false);
  o.load(scope, "o", cfg.dim_attn, cfg.dim, false);
}

at::Tensor Umt5Attention::forward(const at::Tensor& x, const at::Tensor& bias) const {
  // x: [B, L, dim], bias: [B|1, N, L, L] -> [B, L, dim]
  const int64_t b = x.size(0), l = x.size(1);
  auto heads = [&](const at::Tensor& t) { return t.view({b, l, num_heads, -1}).transpose(1, 2); };
  const auto qh = heads(q.forward(x)), kh = heads(k.forward(x)),
             vh = heads(v.forward(x));  // [B, N, L, C]
  // T5 folds the 1/sqrt(d) scale into its weights; softmax in fp32 as the references do.
  const auto scores = at::matmul(qh, kh.transpose(-1, -2)) + bias;
  const auto attn = at::softmax(scores.to(at::kFloat), -1).to(scores.scalar_type());
  const auto out = at::matmul(attn, vh).transpose(1, 2).reshape({b, l, -1});  // [B, L, N*C]
  return o.forward(out);
}

void Umt5FeedForward::load(WeightScope scope, const Umt5Config& cfg) {
  gate_0.load(scope, "gate.0", cfg.dim, cfg.dim_ffn, false);
  fc1.load(scope, "fc1", cfg.dim, cfg.dim_ffn, false);
  fc2.load(scope, "fc2", cfg.dim_ffn, cfg.dim, false);
}

at::Tensor Umt5FeedForward::forward(const at::Tensor& x) const {
  // x: [B, L, dim] -> [B, L, dim]
  // gate.1 is GELU(tanh), written op by op like Wan's GELU and transformers' gelu_new so
  // that half-precision runs round at the same places.
  const auto g = gate_0.forward(x);
  const auto gelu =
      0.5 * g * (1.0 + at::tanh(std::sqrt(2.0 / M_PI) * (g + 0.044715 * at::pow(g, 3.0))));
  return fc2.forward(fc1.forward(x) * gelu);
}

void Umt5Block::load(WeightScope scope, const Umt5Config& cfg) {
  norm1.load(scope, "norm1", cfg.dim, cfg.eps);
  attn.load(scope.sub("attn."), cfg);
  norm2.load(scope, "norm2", cfg.dim, cfg.eps);
  ffn.load(scope.sub("ffn."), cfg);
  pos_embedding_embedding = scope.get(
      "pos_embedding.embedding.weight", {cfg.num_buckets, cfg.num_heads},
      fmt::format("(config num_buckets={} num_heads={})", cfg.num_buckets, cfg.num_heads));
}

at::Tensor Umt5Block::forward(const at::Tensor& x, const at::Tensor& buckets,
                              const at::Tensor& mask) const {
  // x: [B, L, dim], buckets: [L, L], mask: [B, L] or undefined -> [B, L, dim]
  auto bias = at::embedding(pos_embedding_embedding, buckets)
                  .permute({2, 0, 1})
                  .unsqueeze(0);  // [1, N, L, L]
  bias = bias.to(x.scalar_type());
  if (mask.defined()) {
    const double lowest = x.scalar_type() == at::kBFloat16 ? -3.3895313892515355e38
                          : x.scalar_type() == at::kHalf   ? -65504.0
                          : x.scalar_type() == at::kDouble ? std::numeric_limits<double>::lowest()
                                                           : std::numeric_limits<float>::lowest();
    bias = bias.expand({x.size(0), -1, -1, -1})
               .masked_fill(mask.eq(0).view({x.size(0), 1, 1, -1}), lowest);
  }
  auto h = x + attn.forward(norm1.forward(x), bias);
  return h + ffn.forward(norm2.forward(h));
}

// ---- encoder ----

at::Tensor t5_relative_buckets(int64_t lq, int64_t lk, int64_t num_buckets, int64_t max_distance,
                               at::Device device) {
  // [lq, lk]: rel = key - query; half the buckets for keys after the query, log-spaced
  // beyond max_exact up to max_distance, as T5's _relative_position_bucket (bidirectional).
  const auto opts = at::TensorOptions().dtype(at::kLong).device(device);
  auto rel = at::arange(lk, opts).unsqueeze(0) - at::arange(lq, opts).unsqueeze(1);
  const int64_t half = num_buckets / 2, max_exact = half / 2;
  auto buckets = rel.gt(0).to(at::kLong) * half;
  rel = rel.abs();
  auto large =
      max_exact + (at::log(rel.to(at::kFloat) / static_cast<double>(max_exact)) /
                   std::log(static_cast<double>(max_distance) / max_exact) * (half - max_exact))
                      .to(at::kLong);
  large = at::minimum(large, at::full_like(large, half - 1));
  return buckets + at::where(rel.lt(max_exact), rel, large);
}

Umt5Encoder::Umt5Encoder(const Umt5Config& config, WeightStore& store) : config_(config) {
  config_.validate();
  WeightScope root = store.scope("");
  token_embedding =
      root.get("token_embedding.weight", {config_.vocab_size, config_.dim},
               fmt::format("(config vocab_size={} dim={})", config_.vocab_size, config_.dim));
  blocks.resize(config_.num_layers);
  for (int64_t i = 0; i < config_.num_layers; ++i)
    blocks[i].load(root.sub(fmt::format("blocks.{}.", i)), config_);
  norm.load(root, "norm", config_.dim, config_.eps);
  // Strictness: every tensor in the files must have been asked for.
  for (const auto& name : store.names()) {
    if (store.used().count(name) || umt5_is_tied_duplicate(name)) continue;
    DUET_FAIL("text encoder file holds unexpected tensor '{}' (config num_layers={})", name,
              config_.num_layers);
  }
}

at::Tensor Umt5Encoder::forward(const at::Tensor& ids, const at::Tensor& mask) const {
  // ids: [B, L] -> [B, L, dim]
  DUET_CHECK(ids.dim() == 2, "text encoder expects ids [B, L], got {} dims", ids.dim());
  const auto dev = device();
  const auto ids_d = ids.to(dev, at::kLong);
  const auto mask_d = mask.defined() ? mask.to(dev) : at::Tensor();
  const int64_t l = ids.size(1);
  const auto buckets = t5_relative_buckets(l, l, config_.num_buckets, config_.max_distance, dev);
  auto x = at::embedding(token_embedding, ids_d);
  for (const auto& block : blocks) x = block.forward(x, buckets, mask_d);
  return norm.forward(x);
}

}  // namespace duet
