#include "models/ovi/ovi_config.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <set>

#include "core/error.h"
#include "io/json_util.h"

namespace duet::ovi {

namespace {

bool json_bool(const nlohmann::json& obj, const char* key, const std::string& source,
               bool fallback) {
  const auto it = obj.find(key);
  if (it == obj.end()) return fallback;
  DUET_CHECK(it->is_boolean(), "'{}': field '{}' must be true or false", source, key);
  return it->get<bool>();
}

std::vector<int64_t> json_ints(const nlohmann::json& obj, const char* key,
                               const std::string& source, std::vector<int64_t> fallback) {
  const auto it = obj.find(key);
  if (it == obj.end()) return fallback;
  DUET_CHECK(it->is_array(), "'{}': field '{}' must be a list of integers", source, key);
  std::vector<int64_t> out;
  for (const auto& v : *it) {
    DUET_CHECK(v.is_number_integer(), "'{}': field '{}' must be a list of integers", source, key);
    out.push_back(v.get<int64_t>());
  }
  return out;
}

// Ovi's ConvMLP(dim, 4 * dim, multiple_of=256): hidden = int(2 * 4 * dim / 3), rounded up.
int64_t ovi_conv_mlp_dim(int64_t dim) {
  const int64_t hidden = 2 * 4 * dim / 3;
  return 256 * ((hidden + 255) / 256);
}

const std::vector<int64_t>& shape_of(WeightStore& store, const std::string& name) {
  const auto key = store.file_key(name);
  DUET_CHECK(key && store.contains(name), "missing tensor '{}' in {}", name,
             fmt::join(store.files(), ", "));
  return store.record(*key).shape;
}

int64_t count_blocks(WeightStore& store, const std::string& tower) {
  std::set<int64_t> seen;
  const std::string head = tower + "blocks.";
  for (const auto& name : store.names()) {
    if (!name.starts_with(head)) continue;
    seen.insert(std::stoll(name.substr(head.size())));
  }
  DUET_CHECK(!seen.empty(), "no tensors '{}*' in {}", head, fmt::join(store.files(), ", "));
  DUET_CHECK(*seen.rbegin() + 1 == static_cast<int64_t>(seen.size()),
             "'{}*': block indices are not 0..{}", head, seen.size() - 1);
  return static_cast<int64_t>(seen.size());
}

void tower_from_weights(OviTowerConfig& c, WeightStore& store, const std::string& tower) {
  constexpr int64_t kHeadDim = 128;
  const auto& embed = shape_of(
      store, tower + (c.is_audio() ? "patch_embedding.0.weight" : "patch_embedding.weight"));
  DUET_CHECK(embed.size() == (c.is_audio() ? 3u : 5u), "tensor '{}patch_embedding' has shape {}",
             tower, shape_to_string(embed));
  c.dim = embed[0];
  c.in_dim = embed[1];
  if (c.is_audio()) {
    c.patch_embedding_mlp_dim = shape_of(store, tower + "patch_embedding.2.w1.weight")[0];
  } else {
    c.patch_size = {embed[2], embed[3], embed[4]};
  }
  c.num_heads = c.dim / kHeadDim;
  c.text_dim = shape_of(store, tower + "text_embedding.0.weight")[1];
  c.freq_dim = shape_of(store, tower + "time_embedding.0.weight")[1];
  c.ffn_dim = shape_of(store, tower + "blocks.0.ffn.0.weight")[0];
  c.out_dim = shape_of(store, tower + "head.head.weight")[0] / c.patch_volume();
  c.num_layers = count_blocks(store, tower);
  c.qk_norm = store.contains(tower + "blocks.0.self_attn.norm_q.weight");
  c.cross_attn_norm = store.contains(tower + "blocks.0.norm3.weight");
}

}  // namespace

int64_t OviTowerConfig::patch_volume() const {
  int64_t v = 1;
  for (int64_t p : patch_size) v *= p;
  return v;
}

int64_t OviTowerConfig::conv_mlp_dim() const {
  return patch_embedding_mlp_dim > 0 ? patch_embedding_mlp_dim : ovi_conv_mlp_dim(dim);
}

wan::WanBlockConfig OviTowerConfig::block() const {
  return {.dim = dim,
          .ffn_dim = ffn_dim,
          .num_heads = num_heads,
          .qk_norm = qk_norm,
          .cross_attn_norm = cross_attn_norm,
          .eps = eps};
}

OviTowerConfig OviTowerConfig::from_json(const nlohmann::json& j, const std::string& src) {
  DUET_CHECK(j.is_object(), "'{}': an Ovi tower config must be a JSON object", src);
  OviTowerConfig c;
  c.model_type = json_string(j, "model_type", src);
  c.patch_size = json_ints(j, "patch_size", src,
                           c.is_audio() ? std::vector<int64_t>{1} : std::vector<int64_t>{1, 2, 2});
  c.text_len = json_int(j, "text_len", src, c.text_len);
  c.in_dim = json_int(j, "in_dim", src);
  c.dim = json_int(j, "dim", src);
  c.ffn_dim = json_int(j, "ffn_dim", src);
  c.freq_dim = json_int(j, "freq_dim", src, c.freq_dim);
  c.text_dim = json_int(j, "text_dim", src, c.text_dim);
  c.out_dim = json_int(j, "out_dim", src);
  c.num_heads = json_int(j, "num_heads", src);
  c.num_layers = json_int(j, "num_layers", src);
  c.qk_norm = json_bool(j, "qk_norm", src, c.qk_norm);
  c.cross_attn_norm = json_bool(j, "cross_attn_norm", src, c.cross_attn_norm);
  c.eps = json_number(j, "eps", src, c.eps);
  c.temporal_rope_scaling_factor =
      json_number(j, "temporal_rope_scaling_factor", src, c.temporal_rope_scaling_factor);
  c.patch_embedding_mlp_dim = json_int(j, "patch_embedding_mlp_dim", src, 0);
  const auto window = json_ints(j, "window_size", src, {-1, -1});
  DUET_CHECK(window == (std::vector<int64_t>{-1, -1}),
             "'{}': field 'window_size' must be [-1, -1]: local attention is not supported", src);
  try {
    c.validate();
  } catch (const Error& e) {
    DUET_FAIL("'{}': {}", src, e.what());
  }
  return c;
}

void OviTowerConfig::validate() const {
  DUET_CHECK(model_type == "ti2v" || model_type == "t2v" || model_type == "t2a",
             "Ovi tower config: field 'model_type' is '{}', supported: ti2v, t2v (video), t2a "
             "(audio)",
             model_type);
  const std::pair<const char*, int64_t> positive[] = {
      {"dim", dim},           {"ffn_dim", ffn_dim},       {"freq_dim", freq_dim},
      {"in_dim", in_dim},     {"out_dim", out_dim},       {"num_heads", num_heads},
      {"text_dim", text_dim}, {"num_layers", num_layers}, {"text_len", text_len}};
  for (const auto& [name, value] : positive) {
    DUET_CHECK(value > 0, "Ovi tower config: field '{}' must be positive, got {}", name, value);
  }
  DUET_CHECK(
      patch_size.size() == (is_audio() ? 1u : 3u),
      "Ovi tower config: field 'patch_size' must hold {} sizes for model_type '{}', got [{}]",
      is_audio() ? 1 : 3, model_type, fmt::join(patch_size, ", "));
  DUET_CHECK(!is_audio() || patch_size[0] == 1,
             "Ovi tower config: the audio tower does not patchify: 'patch_size' must be [1]");
  for (int64_t p : patch_size) {
    DUET_CHECK(p > 0, "Ovi tower config: field 'patch_size' must hold positive sizes");
  }
  DUET_CHECK(dim % num_heads == 0 && head_dim() % 2 == 0 && head_dim() >= 6,
             "Ovi tower config: fields 'dim' ({}) / 'num_heads' ({}) must give an even head dim "
             ">= 6",
             dim, num_heads);
  DUET_CHECK(freq_dim % 2 == 0, "Ovi tower config: field 'freq_dim' must be even, got {}",
             freq_dim);
  DUET_CHECK(eps > 0, "Ovi tower config: field 'eps' must be positive, got {}", eps);
  DUET_CHECK(temporal_rope_scaling_factor > 0,
             "Ovi tower config: field 'temporal_rope_scaling_factor' must be positive, got {}",
             temporal_rope_scaling_factor);
}

OviFusionConfig OviFusionConfig::ovi_defaults() {
  OviFusionConfig c;
  c.audio.model_type = "t2a";
  c.audio.patch_size = {1};
  c.audio.in_dim = 20;
  c.audio.out_dim = 20;
  c.audio.temporal_rope_scaling_factor = 0.19676;
  return c;
}

OviFusionConfig OviFusionConfig::from_json(const nlohmann::json& json, const std::string& source) {
  DUET_CHECK(json.is_object() && json.contains("video") && json.contains("audio"),
             "'{}': an Ovi fusion config must be an object with 'video' and 'audio'", source);
  OviFusionConfig c;
  c.video = OviTowerConfig::from_json(json.at("video"), source + " (video)");
  c.audio = OviTowerConfig::from_json(json.at("audio"), source + " (audio)");
  try {
    c.validate();
  } catch (const Error& e) {
    DUET_FAIL("'{}': {}", source, e.what());
  }
  return c;
}

OviFusionConfig OviFusionConfig::from_weights(WeightStore& store, const std::string& prefix) {
  OviFusionConfig c = ovi_defaults();
  tower_from_weights(c.video, store, prefix + "video_model.");
  tower_from_weights(c.audio, store, prefix + "audio_model.");
  c.validate();
  return c;
}

void OviFusionConfig::validate() const {
  video.validate();
  audio.validate();
  DUET_CHECK(!video.is_audio() && audio.is_audio(),
             "Ovi fusion config: the video tower must be a video model_type and the audio tower "
             "'t2a', got '{}' and '{}'",
             video.model_type, audio.model_type);
  DUET_CHECK(video.num_layers == audio.num_layers,
             "Ovi fusion config: the towers must have as many blocks (fused pairwise), got {} "
             "(video) and {} (audio)",
             video.num_layers, audio.num_layers);
  DUET_CHECK(video.dim == audio.dim && video.num_heads == audio.num_heads,
             "Ovi fusion config: fused cross-attention needs equal dim and num_heads, got {}/{} "
             "(video) and {}/{} (audio)",
             video.dim, video.num_heads, audio.dim, audio.num_heads);
}

}  // namespace duet::ovi
