#pragma once
// umT5 encoder (google/umt5-xxl, encoder only) as Wan runs it: wan/modules/t5.py T5Encoder with
// shared_pos=False, i.e. every block owns its relative position bias table.
//
//   WeightStore store({"models_t5_umt5-xxl-enc-bf16.pth"}, {.dtype = at::kBFloat16});
//   Umt5Encoder enc(Umt5Config::from_weights(store), store);
//   auto y = enc.forward(ids, mask);   // ids, mask: [B, L] -> [B, L, dim]
//
// Module members carry Wan's key names (token_embedding, blocks.N.{norm1, attn.{q,k,v,o},
// norm2, ffn.{gate.0, fc1, fc2}, pos_embedding.embedding}, norm). transformers'
// UMT5EncoderModel layout (diffusers text_encoder/) is read through the table in umt5_keys.cpp.
#include <ATen/ATen.h>

#include <nlohmann/json_fwd.hpp>
#include <string>
#include <vector>

#include "io/weight_store.h"
#include "nn/layers.h"

namespace duet {

struct Umt5Config {
  int64_t vocab_size = 256384;
  int64_t dim = 4096;
  int64_t dim_attn = 4096;  // heads * head_dim (d_kv * num_heads in transformers)
  int64_t dim_ffn = 10240;
  int64_t num_heads = 64;
  int64_t num_layers = 24;
  int64_t num_buckets = 32;
  int64_t max_distance = 128;
  double eps = 1e-6;

  // transformers' config.json (UMT5Config field names).
  static Umt5Config from_json(const nlohmann::json& j, const std::string& source);
  // Wan's .pth has no config: everything follows from the tensor shapes (heads from the
  // relative bias table [buckets, heads], layers by counting blocks).
  static Umt5Config from_weights(WeightStore& store);
  void validate() const;
};

enum class Umt5Layout { kWan, kTransformers };
// Recognises the layout from the tensor names; error when it is neither.
Umt5Layout detect_umt5_layout(const std::vector<std::string>& names);
// Wan name -> transformers UMT5EncoderModel name (umt5_keys.cpp).
KeyMap umt5_transformers_key_map();
// transformers files may also hold encoder.embed_tokens.weight, a tied copy of shared.weight.
bool umt5_is_tied_duplicate(const std::string& file_key);

// T5 attention: no scaling, additive relative position bias, padded keys masked.
struct Umt5Attention {
  nn::Linear q, k, v, o;
  int64_t num_heads = 0;
  void load(WeightScope scope, const Umt5Config& cfg);
  // x: [B, L, dim], bias: [B|1, heads, L, L] -> [B, L, dim]
  at::Tensor forward(const at::Tensor& x, const at::Tensor& bias) const;
};

// Gated GELU: fc2(fc1(x) * gelu_tanh(gate.0(x))); gate.1 is the GELU and holds no weights.
struct Umt5FeedForward {
  nn::Linear gate_0, fc1, fc2;
  void load(WeightScope scope, const Umt5Config& cfg);
  // x: [B, L, dim] -> [B, L, dim]
  at::Tensor forward(const at::Tensor& x) const;
};

struct Umt5Block {
  nn::RMSNorm norm1, norm2;  // T5LayerNorm: variance in fp32, no mean, no bias
  Umt5Attention attn;
  Umt5FeedForward ffn;
  at::Tensor pos_embedding_embedding;  // pos_embedding.embedding.weight [buckets, heads]
  void load(WeightScope scope, const Umt5Config& cfg);
  // x: [B, L, dim], buckets: [L, L] int64, mask_bias: [B, 1, 1, L] -> [B, L, dim]
  at::Tensor forward(const at::Tensor& x, const at::Tensor& buckets,
                     const at::Tensor& mask_bias) const;
};

class Umt5Encoder {
 public:
  // Loads every tensor from `store` (strict: unknown tensors are an error).
  Umt5Encoder(const Umt5Config& config, WeightStore& store);

  // ids: [B, L] int64, mask: [B, L] (1 = token, 0 = padding) or undefined -> [B, L, dim]
  at::Tensor forward(const at::Tensor& ids, const at::Tensor& mask = {}) const;

  const Umt5Config& config() const { return config_; }
  at::Device device() const { return token_embedding.device(); }
  at::ScalarType dtype() const { return token_embedding.scalar_type(); }

  at::Tensor token_embedding;  // [vocab, dim]
  std::vector<Umt5Block> blocks;
  nn::RMSNorm norm;

 private:
  Umt5Config config_;
};

// T5's bidirectional relative position buckets for query i, key j (rel = j - i).
// [lq, lk] int64 on `device`.
at::Tensor t5_relative_buckets(int64_t lq, int64_t lk, int64_t num_buckets, int64_t max_distance,
                               at::Device device);

}  // namespace duet
