// Key table: Wan's T5Encoder names (what Umt5Encoder asks for) -> transformers'
// UMT5EncoderModel names (diffusers text_encoder/). Read from transformers'
// models/umt5/modeling_umt5.py: layer.0 is the self-attention sublayer, layer.1 the
// feed-forward one, and every block has its own relative_attention_bias (umT5, unlike T5).
#include <array>
#include <string>
#include <string_view>
#include <utility>

#include "core/error.h"
#include "text/umt5.h"

namespace duet {
namespace {

// Block-local suffixes: Wan name after "blocks.N." -> transformers name after
// "encoder.block.N.".
constexpr std::array<std::pair<std::string_view, std::string_view>, 10> kBlockKeys{{
    {"norm1.weight", "layer.0.layer_norm.weight"},
    {"attn.q.weight", "layer.0.SelfAttention.q.weight"},
    {"attn.k.weight", "layer.0.SelfAttention.k.weight"},
    {"attn.v.weight", "layer.0.SelfAttention.v.weight"},
    {"attn.o.weight", "layer.0.SelfAttention.o.weight"},
    {"pos_embedding.embedding.weight", "layer.0.SelfAttention.relative_attention_bias.weight"},
    {"norm2.weight", "layer.1.layer_norm.weight"},
    {"ffn.gate.0.weight", "layer.1.DenseReluDense.wi_0.weight"},  // GELU branch
    {"ffn.fc1.weight", "layer.1.DenseReluDense.wi_1.weight"},     // linear branch
    {"ffn.fc2.weight", "layer.1.DenseReluDense.wo.weight"},
}};

constexpr std::array<std::pair<std::string_view, std::string_view>, 2> kTopKeys{{
    {"token_embedding.weight", "shared.weight"},
    {"norm.weight", "encoder.final_layer_norm.weight"},
}};

std::optional<std::string> to_transformers(const std::string& name) {
  for (const auto& [wan, hf] : kTopKeys)
    if (name == wan) return std::string(hf);
  constexpr std::string_view kBlocks = "blocks.";
  if (name.rfind(kBlocks, 0) != 0) return std::nullopt;
  const size_t dot = name.find('.', kBlocks.size());
  if (dot == std::string::npos) return std::nullopt;
  const std::string index = name.substr(kBlocks.size(), dot - kBlocks.size());
  const std::string_view rest = std::string_view(name).substr(dot + 1);
  for (const auto& [wan, hf] : kBlockKeys)
    if (rest == wan) return "encoder.block." + index + "." + std::string(hf);
  return std::nullopt;
}

}  // namespace

KeyMap umt5_transformers_key_map() { return to_transformers; }

bool umt5_is_tied_duplicate(const std::string& file_key) {
  return file_key == "encoder.embed_tokens.weight";
}

Umt5Layout detect_umt5_layout(const std::vector<std::string>& names) {
  bool wan = false, hf = false;
  for (const auto& n : names) {
    wan = wan || n == "token_embedding.weight";
    hf = hf || n == "shared.weight" || n == "encoder.embed_tokens.weight";
  }
  DUET_CHECK(
      wan != hf,
      "text encoder weights are neither Wan's T5 layout (token_embedding.weight) nor transformers' "
      "UMT5EncoderModel layout (shared.weight)");
  return wan ? Umt5Layout::kWan : Umt5Layout::kTransformers;
}

}  // namespace duet
