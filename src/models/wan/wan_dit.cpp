#include "models/wan/wan_dit.h"

#include <spdlog/spdlog.h>

#include "core/error.h"
#include "io/json_util.h"

namespace duet::wan {

namespace {

const nlohmann::json* find_field(const nlohmann::json& obj, std::string_view key) {
  if (!obj.is_object()) return nullptr;
  const auto it = obj.find(std::string(key));
  return it == obj.end() ? nullptr : &*it;
}

bool json_bool(const nlohmann::json& obj, std::string_view key, const std::string& source,
               bool fallback) {
  const auto* f = find_field(obj, key);
  if (f == nullptr) return fallback;
  DUET_CHECK(f->is_boolean(), "'{}': field '{}' must be true or false", source, key);
  return f->get<bool>();
}

std::array<int64_t, 3> json_patch(const nlohmann::json& obj, const std::string& source) {
  const auto* f = find_field(obj, "patch_size");
  if (f == nullptr) return {1, 2, 2};  // WanModel's default; the real config.json omits it
  DUET_CHECK(f->is_array() && f->size() == 3,
             "'{}': field 'patch_size' must be a list of 3 integers (t, h, w)", source);
  std::array<int64_t, 3> out{};
  for (size_t i = 0; i < 3; ++i) {
    DUET_CHECK((*f)[i].is_number_integer(),
               "'{}': field 'patch_size' must be a list of 3 integers (t, h, w)", source);
    out[i] = (*f)[i].get<int64_t>();
  }
  return out;
}

// Fields whose non-default values select features duet does not implement.
void reject_unsupported(const nlohmann::json& obj, const std::string& source) {
  for (const char* key : {"image_dim", "added_kv_proj_dim", "pos_embed_seq_len"}) {
    const auto* f = find_field(obj, key);
    DUET_CHECK(f == nullptr || f->is_null(),
               "'{}': field '{}' is set: Wan image (CLIP) conditioning is not supported", source,
               key);
  }
  if (const auto* w = find_field(obj, "window_size"); w != nullptr) {
    DUET_CHECK(*w == nlohmann::json::array({-1, -1}),
               "'{}': field 'window_size' must be [-1, -1]: local attention is not supported",
               source);
  }
}

WanDiTConfig original_from_json(const nlohmann::json& j, const std::string& src) {
  WanDiTConfig c;
  c.model_type = json_string(j, "model_type", src, c.model_type);
  c.patch_size = json_patch(j, src);
  c.text_len = json_int(j, "text_len", src, c.text_len);
  c.in_dim = json_int(j, "in_dim", src);
  c.dim = json_int(j, "dim", src);
  c.ffn_dim = json_int(j, "ffn_dim", src);
  c.freq_dim = json_int(j, "freq_dim", src, c.freq_dim);
  c.text_dim = json_int(j, "text_dim", src, 0);  // WanModel never saves it
  c.out_dim = json_int(j, "out_dim", src);
  c.num_heads = json_int(j, "num_heads", src);
  c.num_layers = json_int(j, "num_layers", src);
  c.qk_norm = json_bool(j, "qk_norm", src, c.qk_norm);
  c.cross_attn_norm = json_bool(j, "cross_attn_norm", src, c.cross_attn_norm);
  c.eps = json_number(j, "eps", src, c.eps);
  return c;
}

WanDiTConfig diffusers_from_json(const nlohmann::json& j, const std::string& src) {
  WanDiTConfig c;
  c.patch_size = json_patch(j, src);
  c.num_heads = json_int(j, "num_attention_heads", src);
  c.dim = c.num_heads * json_int(j, "attention_head_dim", src);
  c.in_dim = json_int(j, "in_channels", src);
  const auto* out = find_field(j, "out_channels");
  c.out_dim = out == nullptr || out->is_null() ? c.in_dim : json_int(j, "out_channels", src);
  c.text_dim = json_int(j, "text_dim", src);
  c.freq_dim = json_int(j, "freq_dim", src, c.freq_dim);
  c.ffn_dim = json_int(j, "ffn_dim", src);
  c.num_layers = json_int(j, "num_layers", src);
  c.cross_attn_norm = json_bool(j, "cross_attn_norm", src, c.cross_attn_norm);
  if (const auto* qk = find_field(j, "qk_norm"); qk != nullptr) {
    DUET_CHECK(
        qk->is_null() || (qk->is_string() && qk->get<std::string>() == "rms_norm_across_heads"),
        "'{}': field 'qk_norm' must be \"rms_norm_across_heads\" or null", src);
    c.qk_norm = !qk->is_null();
  }
  c.eps = json_number(j, "eps", src, c.eps);
  c.rope_max_seq_len = json_int(j, "rope_max_seq_len", src, c.rope_max_seq_len);
  // diffusers has no model_type; the channel counts tell the published variants apart.
  c.model_type = c.in_dim == 36 ? "i2v" : (c.in_dim == 48 && c.out_dim == 48 ? "ti2v" : "t2v");
  return c;
}

}  // namespace

WanDiTConfig WanDiTConfig::from_json(const nlohmann::json& json, const std::string& source) {
  DUET_CHECK(json.is_object(), "'{}': a Wan transformer config must be a JSON object", source);
  reject_unsupported(json, source);
  const bool diffusers = find_field(json, "num_attention_heads") != nullptr;
  auto config = diffusers ? diffusers_from_json(json, source) : original_from_json(json, source);
  try {
    config.validate();
  } catch (const Error& e) {
    DUET_FAIL("'{}': {}", source, e.what());
  }
  return config;
}

void WanDiTConfig::validate() const {
  DUET_CHECK(model_type == "t2v" || model_type == "i2v" || model_type == "ti2v",
             "Wan DiT config: field 'model_type' is '{}', supported: t2v, i2v, ti2v", model_type);
  const std::pair<const char*, int64_t> positive[] = {{"dim", dim},
                                                      {"ffn_dim", ffn_dim},
                                                      {"freq_dim", freq_dim},
                                                      {"in_dim", in_dim},
                                                      {"out_dim", out_dim},
                                                      {"num_heads", num_heads},
                                                      {"num_layers", num_layers},
                                                      {"text_len", text_len},
                                                      {"rope_max_seq_len", rope_max_seq_len}};
  for (const auto& [name, value] : positive) {
    DUET_CHECK(value > 0, "Wan DiT config: field '{}' must be positive, got {}", name, value);
  }
  DUET_CHECK(text_dim >= 0, "Wan DiT config: field 'text_dim' must be positive, got {}", text_dim);
  for (int64_t p : patch_size) {
    DUET_CHECK(p > 0, "Wan DiT config: field 'patch_size' must hold positive sizes, got [{}]",
               fmt::join(patch_size, ", "));
  }
  DUET_CHECK(dim % num_heads == 0,
             "Wan DiT config: field 'dim' ({}) is not divisible by num_heads ({})", dim, num_heads);
  DUET_CHECK(
      head_dim() % 2 == 0 && head_dim() >= 6,
      "Wan DiT config: fields 'dim'/'num_heads' give head dim {}, which must be even and >= 6 "
      "for the 3D RoPE",
      head_dim());
  DUET_CHECK(freq_dim % 2 == 0, "Wan DiT config: field 'freq_dim' must be even, got {}", freq_dim);
  DUET_CHECK(eps > 0, "Wan DiT config: field 'eps' must be positive, got {}", eps);
}

WanBlockConfig WanDiTConfig::block() const {
  return {.dim = dim,
          .ffn_dim = ffn_dim,
          .num_heads = num_heads,
          .qk_norm = qk_norm,
          .cross_attn_norm = cross_attn_norm,
          .eps = eps};
}

at::Tensor wan_sinusoidal_embedding(int64_t dim, const at::Tensor& positions) {
  // positions: [N] -> [N, dim] float64
  DUET_CHECK(dim % 2 == 0, "sinusoidal embedding dim must be even, got {}", dim);
  const int64_t half = dim / 2;
  const auto pos = positions.to(at::kDouble);
  const auto exponent = at::arange(half, pos.options()) / static_cast<double>(half);
  const auto sinusoid = at::outer(pos, at::pow(10000.0, -exponent));
  return at::cat({at::cos(sinusoid), at::sin(sinusoid)}, 1);
}

namespace {

// Wan2.1 I2V/FLF2V condition on CLIP image features through img_emb and k_img/v_img; this
// model implements the text-only cross-attention of T2V, Wan2.2 I2V and TI2V.
void reject_clip_checkpoint(const WeightScope& scope) {
  DUET_CHECK(!scope.contains("img_emb.proj.0.weight") &&
                 !scope.contains("blocks.0.cross_attn.k_img.weight"),
             "checkpoint '{}' is a Wan2.1 image-to-video model with CLIP image conditioning "
             "(img_emb, k_img), which is not supported",
             scope.prefix() + "img_emb");
}

int64_t text_dim_from_weights(WeightStore& store, const std::string& prefix) {
  const std::string name = prefix + "text_embedding.0.weight";
  const auto key = store.file_key(name);
  DUET_CHECK(key && store.contains(name), "missing tensor '{}' (needed for text_dim) in {}", name,
             fmt::join(store.files(), ", "));
  const auto& shape = store.record(*key).shape;
  DUET_CHECK(shape.size() == 2, "tensor '{}' has shape {}, expected [dim, text_dim]", *key,
             shape_to_string(shape));
  return shape[1];
}

}  // namespace

WanDiT WanDiT::load(WanDiTConfig config, WeightStore& store, const std::string& prefix) {
  WeightScope scope = store.scope(prefix);
  reject_clip_checkpoint(scope);
  if (config.text_dim == 0) config.text_dim = text_dim_from_weights(store, prefix);
  config.validate();
  const int64_t d = config.dim;
  const auto [pt, ph, pw] = config.patch_size;

  WanDiT m;
  m.config_ = config;
  const std::string hint = fmt::format("(config dim={}, in_dim={}, patch_size=[{}, {}, {}])", d,
                                       config.in_dim, pt, ph, pw);
  m.patch_embedding_weight_ =
      scope.get("patch_embedding.weight", {d, config.in_dim, pt, ph, pw}, hint);
  m.patch_embedding_bias_ = scope.get("patch_embedding.bias", {d}, hint);
  m.text_embedding_0_.load(scope, "text_embedding.0", config.text_dim, d);
  m.text_embedding_2_.load(scope, "text_embedding.2", d, d);
  m.time_embedding_0_.load(scope, "time_embedding.0", config.freq_dim, d);
  m.time_embedding_2_.load(scope, "time_embedding.2", d, d);
  m.time_projection_1_.load(scope, "time_projection.1", d, 6 * d);
  m.blocks_.resize(static_cast<size_t>(config.num_layers));
  for (int64_t i = 0; i < config.num_layers; ++i) {
    m.blocks_[static_cast<size_t>(i)].load(scope.sub(fmt::format("blocks.{}.", i)), config.block());
  }
  m.head_.norm.init_plain(d, config.eps);
  m.head_.head.load(scope, "head.head", d, config.patch_volume() * config.out_dim);
  m.head_.modulation = scope.get("head.modulation", {1, 2, d}, fmt::format("(config dim={})", d));
  scope.finish();
  m.rope_ = nn::VideoRope::make(config.head_dim(), config.rope_max_seq_len)
                .to(m.patch_embedding_weight_.device());
  spdlog::debug("Wan DiT {}: dim {}, {} heads, {} layers, in {}, out {}, text_dim {}, {}",
                config.model_type, d, config.num_heads, config.num_layers, config.in_dim,
                config.out_dim, config.text_dim, c10::toString(m.dtype()));
  return m;
}

at::Tensor WanDiT::embed_patches(const at::Tensor& x) const {
  // x: [B, in_dim, F, H, W] -> [B, f*h*w, D]
  const auto& p = config_.patch_size;
  const auto y =
      at::conv3d(x.to(dtype()), patch_embedding_weight_, patch_embedding_bias_, {p[0], p[1], p[2]});
  return y.flatten(2).transpose(1, 2).contiguous();
}

std::array<at::Tensor, 2> WanDiT::embed_time(const at::Tensor& t) const {
  // t: [B] or [B, L] -> e: [B, 1 or L, D], e0: [B, 1 or L, 6, D], fp32
  const int64_t batch = t.size(0);
  const int64_t per_sample = t.dim() == 2 ? t.size(1) : 1;
  const auto f32 = [](const nn::Linear& l, const at::Tensor& x) {
    // The reference runs these under autocast(float32): fp32 math whatever the weights' dtype.
    return at::linear(x, l.weight.to(at::kFloat), l.bias.to(at::kFloat));
  };
  const auto freq = wan_sinusoidal_embedding(config_.freq_dim,
                                             t.reshape({-1}).to(patch_embedding_weight_.device()))
                        .to(at::kFloat);
  auto e = f32(time_embedding_2_, at::silu(f32(time_embedding_0_, freq)));
  auto e0 = f32(time_projection_1_, at::silu(e));
  e = e.view({batch, per_sample, config_.dim});
  e0 = e0.view({batch, per_sample, 6, config_.dim});
  return {e, e0};
}

at::Tensor WanDiT::embed_text(const at::Tensor& context) const {
  // context: [B, Lc, text_dim] -> [B, Lc, D]
  const auto h = text_embedding_0_.forward(context.to(dtype()));
  return text_embedding_2_.forward(at::gelu(h, "tanh"));
}

at::Tensor WanDiT::apply_head(const at::Tensor& x, const at::Tensor& e) const {
  // x: [B, L, D] fp32, e: [B, 1 or L, D] fp32 -> [B, L, prod(patch) * out_dim] fp32
  const auto m = head_.modulation.to(at::kFloat) + e.unsqueeze(2);  // [B, 1 or L, 2, D]
  const auto shift = m.select(2, 0);
  const auto scale = m.select(2, 1);
  // Wan runs the whole head under autocast(float32).
  const auto h = head_.norm.forward(x.to(at::kFloat)) * (1 + scale) + shift;
  return at::linear(h, head_.head.weight.to(at::kFloat), head_.head.bias.to(at::kFloat));
}

at::Tensor WanDiT::unpatchify(const at::Tensor& x, const nn::VideoGrid& grid) const {
  return wan::unpatchify(x, grid, config_.patch_size, config_.out_dim);
}

at::Tensor unpatchify(const at::Tensor& x, const nn::VideoGrid& grid,
                      const std::array<int64_t, 3>& patch_size, int64_t out_dim) {
  // x: [B, L, prod(patch) * c] -> [B, c, f*pt, h*ph, w*pw]
  const auto [f, h, w] = grid;
  const auto [pt, ph, pw] = patch_size;
  const int64_t c = out_dim;
  const auto u = x.narrow(1, 0, f * h * w).reshape({x.size(0), f, h, w, pt, ph, pw, c});
  // Wan's einsum 'fhwpqrc->cfphqwr' with the batch in front.
  return u.permute({0, 7, 1, 4, 2, 5, 3, 6}).reshape({x.size(0), c, f * pt, h * ph, w * pw});
}

void WanDiT::check_inputs(const at::Tensor& x, const at::Tensor& t, const at::Tensor& context,
                          int64_t seq_len) const {
  const auto& c = config_;
  DUET_CHECK(x.dim() == 5 && x.size(1) == c.in_dim, "Wan DiT: x must be [B, {}, F, H, W], got [{}]",
             c.in_dim, fmt::join(x.sizes(), ", "));
  for (int i = 0; i < 3; ++i) {
    DUET_CHECK(x.size(2 + i) > 0 && x.size(2 + i) % c.patch_size[i] == 0,
               "Wan DiT: x [{}] has {} {}, which is not a positive multiple of the patch size {}",
               fmt::join(x.sizes(), ", "), std::array{"frames", "rows", "columns"}[i],
               x.size(2 + i), c.patch_size[i]);
  }
  const int64_t batch = x.size(0);
  DUET_CHECK((t.dim() == 1 && t.size(0) == batch) ||
                 (t.dim() == 2 && t.size(0) == batch && t.size(1) == seq_len),
             "Wan DiT: t must be [B] = [{}] or per token [B, seq_len] = [{}, {}], got [{}]", batch,
             batch, seq_len, fmt::join(t.sizes(), ", "));
  DUET_CHECK(context.dim() == 3 && context.size(0) == batch && context.size(2) == c.text_dim &&
                 context.size(1) > 0 && context.size(1) <= c.text_len,
             "Wan DiT: context must be [{}, <= {}, {}] (batch, text_len, text_dim), got [{}]",
             batch, c.text_len, c.text_dim, fmt::join(context.sizes(), ", "));
  const int64_t tokens =
      x.size(2) / c.patch_size[0] * (x.size(3) / c.patch_size[1]) * (x.size(4) / c.patch_size[2]);
  DUET_CHECK(seq_len >= tokens, "Wan DiT: seq_len {} is shorter than the {} patch tokens of x [{}]",
             seq_len, tokens, fmt::join(x.sizes(), ", "));
}

at::Tensor WanDiT::forward(const at::Tensor& x, const at::Tensor& t, const at::Tensor& context,
                           int64_t seq_len, const nn::AttentionOptions& attention) const {
  // x: [B, in_dim, F, H, W], t: [B] or [B, seq_len], context: [B, Lc, text_dim]
  //   -> [B, out_dim, F, H, W] fp32
  check_inputs(x, t, context, seq_len);
  const auto device = patch_embedding_weight_.device();
  const int64_t batch = x.size(0);
  const nn::VideoGrid grid{x.size(2) / config_.patch_size[0], x.size(3) / config_.patch_size[1],
                           x.size(4) / config_.patch_size[2]};
  const int64_t tokens = grid[0] * grid[1] * grid[2];

  // The residual stream is fp32 throughout: under Wan's autocast it becomes fp32 at the first
  // gated residual add, which runs in float32.
  auto h = embed_patches(x.to(device)).to(at::kFloat);  // [B, tokens, D]
  if (tokens < seq_len) h = at::constant_pad_nd(h, {0, 0, 0, seq_len - tokens});
  std::optional<at::Tensor> k_lens;  // padded tokens are never attended to
  if (tokens < seq_len) k_lens = at::full({batch}, tokens, at::TensorOptions().dtype(at::kLong));

  const auto [e, e0] = embed_time(t);
  // Wan pads the text to text_len with zero rows before text_embedding, and cross-attention
  // attends over all of them.
  auto ctx = context.to(device);
  if (ctx.size(1) < config_.text_len)
    ctx = at::constant_pad_nd(ctx, {0, 0, 0, config_.text_len - ctx.size(1)});
  ctx = embed_text(ctx);

  const std::vector<nn::VideoGrid> grids(static_cast<size_t>(batch), grid);
  for (const auto& block : blocks_) h = block.forward(h, e0, k_lens, grids, rope_, ctx, attention);
  return unpatchify(apply_head(h, e), grid);
}

}  // namespace duet::wan
