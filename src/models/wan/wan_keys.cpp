#include "models/wan/wan_keys.h"

#include <array>

#include "core/error.h"

namespace duet::wan {

namespace {

struct KeyPair {
  std::string_view original;
  std::string_view diffusers;
  bool module;  // true: a module whose ".weight"/".bias" follow; false: a parameter itself
};

// Top-level names (diffusers loaders/single_file_utils.py TRANSFORMER_KEYS_RENAME_DICT).
constexpr std::array<KeyPair, 8> kTopLevel{{
    {"patch_embedding", "patch_embedding", true},
    {"text_embedding.0", "condition_embedder.text_embedder.linear_1", true},
    {"text_embedding.2", "condition_embedder.text_embedder.linear_2", true},
    {"time_embedding.0", "condition_embedder.time_embedder.linear_1", true},
    {"time_embedding.2", "condition_embedder.time_embedder.linear_2", true},
    {"time_projection.1", "condition_embedder.time_proj", true},
    {"head.head", "proj_out", true},
    {"head.modulation", "scale_shift_table", false},  // top level in diffusers
}};

// Names inside "blocks.<i>.". norm1/norm2 of the original carry no weights; its affine norm3
// (before cross-attention) is diffusers' norm2.
constexpr std::array<KeyPair, 16> kBlock{{
    {"modulation", "scale_shift_table", false},
    {"self_attn.q", "attn1.to_q", true},
    {"self_attn.k", "attn1.to_k", true},
    {"self_attn.v", "attn1.to_v", true},
    {"self_attn.o", "attn1.to_out.0", true},
    {"self_attn.norm_q", "attn1.norm_q", true},
    {"self_attn.norm_k", "attn1.norm_k", true},
    {"cross_attn.q", "attn2.to_q", true},
    {"cross_attn.k", "attn2.to_k", true},
    {"cross_attn.v", "attn2.to_v", true},
    {"cross_attn.o", "attn2.to_out.0", true},
    {"cross_attn.norm_q", "attn2.norm_q", true},
    {"cross_attn.norm_k", "attn2.norm_k", true},
    {"norm3", "norm2", true},
    {"ffn.0", "ffn.net.0.proj", true},
    {"ffn.2", "ffn.net.2", true},
}};

enum class Direction { kToDiffusers, kToOriginal };

template <size_t N>
std::optional<std::string> translate(const std::array<KeyPair, N>& table, std::string_view name,
                                     Direction dir) {
  for (const auto& pair : table) {
    const auto from = dir == Direction::kToDiffusers ? pair.original : pair.diffusers;
    const auto to = dir == Direction::kToDiffusers ? pair.diffusers : pair.original;
    if (!pair.module) {
      if (name == from) return std::string(to);
      continue;
    }
    if (name.size() <= from.size() || name.substr(0, from.size()) != from) continue;
    const auto suffix = name.substr(from.size());
    if (suffix == ".weight" || suffix == ".bias") return std::string(to) + std::string(suffix);
  }
  return std::nullopt;
}

// "blocks.<i>.<rest>" -> ("blocks.<i>.", rest); nullopt for other names.
std::optional<std::pair<std::string, std::string_view>> split_block(std::string_view name) {
  constexpr std::string_view kBlocks = "blocks.";
  if (name.substr(0, kBlocks.size()) != kBlocks) return std::nullopt;
  size_t end = kBlocks.size();
  while (end < name.size() && name[end] >= '0' && name[end] <= '9') ++end;
  if (end == kBlocks.size() || end >= name.size() || name[end] != '.') return std::nullopt;
  if (name[kBlocks.size()] == '0' && end > kBlocks.size() + 1) return std::nullopt;  // "blocks.01"
  return std::make_pair(std::string(name.substr(0, end + 1)), name.substr(end + 1));
}

std::optional<std::string> convert(const std::string& name, Direction dir) {
  if (auto block = split_block(name)) {
    auto rest = translate(kBlock, block->second, dir);
    if (!rest) return std::nullopt;
    return block->first + *rest;
  }
  return translate(kTopLevel, name, dir);
}

}  // namespace

std::optional<std::string> wan_dit_diffusers_key(const std::string& original) {
  return convert(original, Direction::kToDiffusers);
}

std::optional<std::string> wan_dit_original_key(const std::string& diffusers) {
  return convert(diffusers, Direction::kToOriginal);
}

KeyMap wan_dit_key_map(std::string_view layout) {
  if (layout == "wan") return {};
  if (layout == "wan_diffusers")
    return [](const std::string& name) { return wan_dit_diffusers_key(name); };
  DUET_FAIL("unknown Wan DiT key layout '{}' (expected 'wan' or 'wan_diffusers')", layout);
}

}  // namespace duet::wan
