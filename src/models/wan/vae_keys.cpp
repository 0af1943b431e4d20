// Original Wan VAE names -> diffusers AutoencoderKLWan names.
//
// Checked against diffusers' convert_wan_vae_to_diffusers (loaders/single_file_utils.py) for
// 2.1 and against AutoencoderKLWan(is_residual=True).state_dict() names for 2.2; the tiny
// wan-diffusers/vae folder of tools/make_tiny_model.py is loaded through this table in the
// tests. Renames are per component, so the table stays short:
//   conv1 / conv2                        quant_conv / post_quant_conv
//   {encoder,decoder}.conv1              .conv_in
//   {encoder,decoder}.head.0 / head.2    .norm_out / .conv_out
//   *.middle.0 / .2                      *.mid_block.resnets.0 / .1
//   *.middle.1                           *.mid_block.attentions.0
//   2.1 encoder.downsamples.k            encoder.down_blocks.k            (flat, as the original)
//   2.1 decoder.upsamples.k              decoder.up_blocks.{k/(n+2)}.resnets.{k%(n+2)} or
//   .upsamplers.0 2.2 encoder.downsamples.i.downsamples.j   encoder.down_blocks.i.resnets.j or
//   .downsampler 2.2 decoder.upsamples.i.upsamples.j       decoder.up_blocks.i.resnets.j or
//   .upsampler residual block: residual.0 / .2 / .3 / .6, shortcut   norm1 / conv1 / norm2 / conv2,
//   conv_shortcut
#include <array>
#include <cctype>
#include <optional>
#include <string>
#include <utility>

#include "models/wan/vae.h"

namespace duet::wan {

namespace {

constexpr std::array<std::pair<const char*, const char*>, 6> kFixed{{
    {"conv1.", "quant_conv."},
    {"conv2.", "post_quant_conv."},
    {"conv1.", "conv_in."},  // under encoder. / decoder.
    {"head.0.", "norm_out."},
    {"head.2.", "conv_out."},
    {"middle.1.", "mid_block.attentions.0."},
}};

constexpr std::array<std::pair<const char*, const char*>, 5> kResidual{{
    {"residual.0.", "norm1."},
    {"residual.2.", "conv1."},
    {"residual.3.", "norm2."},
    {"residual.6.", "conv2."},
    {"shortcut.", "conv_shortcut."},
}};

bool starts_with(const std::string& s, const std::string& prefix) {
  return s.compare(0, prefix.size(), prefix) == 0;
}

// "<int>.<rest>" -> (int, rest)
std::optional<std::pair<int, std::string>> split_index(const std::string& s) {
  size_t n = 0;
  while (n < s.size() && std::isdigit(static_cast<unsigned char>(s[n]))) ++n;
  if (n == 0 || n >= s.size() || s[n] != '.') return std::nullopt;
  return std::make_pair(std::stoi(s.substr(0, n)), s.substr(n + 1));
}

std::optional<std::string> residual_suffix(const std::string& rest) {
  for (const auto& [from, to] : kResidual) {
    if (starts_with(rest, from)) return std::string(to) + rest.substr(std::string(from).size());
  }
  return std::nullopt;
}

// A block of a level: residual block j < n_res, otherwise the resampler `sampler`.
std::optional<std::string> level_block(const std::string& base, int j, int n_res,
                                       const std::string& sampler, const std::string& rest) {
  if (j < n_res) {
    auto r = residual_suffix(rest);
    return r ? std::optional(base + "resnets." + std::to_string(j) + "." + *r) : std::nullopt;
  }
  if (j == n_res) return base + sampler + "." + rest;
  return std::nullopt;
}

std::optional<std::string> map_side(const std::string& side, const std::string& key,
                                    const WanVaeConfig& c) {
  const std::string pre = side + ".";
  if (starts_with(key, "conv1.")) return pre + "conv_in." + key.substr(6);
  for (size_t i = 3; i < kFixed.size(); ++i) {
    const std::string from = kFixed[i].first;
    if (starts_with(key, from)) return pre + kFixed[i].second + key.substr(from.size());
  }
  for (int m : {0, 2}) {
    const std::string from = "middle." + std::to_string(m) + ".";
    if (!starts_with(key, from)) continue;
    auto r = residual_suffix(key.substr(from.size()));
    if (!r) return std::nullopt;
    return pre + "mid_block.resnets." + std::to_string(m / 2) + "." + *r;
  }
  const bool enc = side == "encoder";
  const std::string list = enc ? "downsamples." : "upsamples.";
  if (!starts_with(key, list)) return std::nullopt;
  auto outer = split_index(key.substr(list.size()));
  if (!outer) return std::nullopt;
  const auto [i, rest] = *outer;
  const int n = static_cast<int>(c.num_res_blocks) + (enc ? 0 : 1);  // residual blocks per level
  if (c.version == WanVaeVersion::k21) {
    if (enc) {  // diffusers keeps the flat encoder list
      auto r = residual_suffix(rest);
      return pre + "down_blocks." + std::to_string(i) + "." + (r ? *r : rest);
    }
    const std::string base = pre + "up_blocks." + std::to_string(i / (n + 1)) + ".";
    return level_block(base, i % (n + 1), n, "upsamplers.0", rest);
  }
  const std::string inner_list = list;  // downsamples.i.downsamples.j / upsamples.i.upsamples.j
  if (!starts_with(rest, inner_list)) return std::nullopt;
  auto inner = split_index(rest.substr(inner_list.size()));
  if (!inner) return std::nullopt;
  const std::string base = pre + (enc ? "down_blocks." : "up_blocks.") + std::to_string(i) + ".";
  return level_block(base, inner->first, n, enc ? "downsampler" : "upsampler", inner->second);
}

}  // namespace

KeyMap wan_vae_diffusers_key_map(const WanVaeConfig& config) {
  return [config](const std::string& key) -> std::optional<std::string> {
    for (size_t i = 0; i < 2; ++i) {
      if (starts_with(key, kFixed[i].first)) {
        return std::string(kFixed[i].second) + key.substr(std::string(kFixed[i].first).size());
      }
    }
    for (const char* side : {"encoder", "decoder"}) {
      const std::string pre = std::string(side) + ".";
      if (starts_with(key, pre)) return map_side(side, key.substr(pre.size()), config);
    }
    return std::nullopt;
  };
}

}  // namespace duet::wan
