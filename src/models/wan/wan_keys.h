#pragma once
// Key layouts of Wan DiT checkpoints. duet's modules ask for original Wan names
// (wan/modules/model.py: "blocks.0.self_attn.q.weight"); diffusers' WanTransformer3DModel
// stores the same tensors under other names ("blocks.0.attn1.to_q.weight"). The translation is
// an explicit table (wan_keys.cpp), checked entry by entry against diffusers'
// convert_wan_transformer_to_diffusers and tools/make_tiny_model.py's wan-diffusers writer.
//
//   WeightStore store({dir + "/transformer/diffusion_pytorch_model.safetensors"}, {},
//                     wan::wan_dit_key_map("wan_diffusers"));
#include <optional>
#include <string>
#include <string_view>

#include "io/weight_store.h"

namespace duet::wan {

// Original name -> diffusers name; std::nullopt for names diffusers does not hold.
std::optional<std::string> wan_dit_diffusers_key(const std::string& original);
// Diffusers name -> original name; std::nullopt for names the original layout does not hold.
std::optional<std::string> wan_dit_original_key(const std::string& diffusers);

// KeyMap for a component key layout as model_dir.h names it: "wan" (original; an empty map,
// names pass through) or "wan_diffusers". Other layouts are an error naming the layout.
KeyMap wan_dit_key_map(std::string_view layout);

}  // namespace duet::wan
