#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <set>

#include "core/error.h"
#include "io/weight_store.h"
#include "models/wan/wan_keys.h"
#include "support/test_support.h"

namespace duet::wan {
namespace {

TEST(WanDiTKeys, ExplicitEntries) {
  const std::vector<std::pair<std::string, std::string>> pairs = {
      {"patch_embedding.weight", "patch_embedding.weight"},
      {"text_embedding.0.bias", "condition_embedder.text_embedder.linear_1.bias"},
      {"text_embedding.2.weight", "condition_embedder.text_embedder.linear_2.weight"},
      {"time_embedding.0.weight", "condition_embedder.time_embedder.linear_1.weight"},
      {"time_embedding.2.bias", "condition_embedder.time_embedder.linear_2.bias"},
      {"time_projection.1.weight", "condition_embedder.time_proj.weight"},
      {"head.head.bias", "proj_out.bias"},
      {"head.modulation", "scale_shift_table"},
      {"blocks.0.modulation", "blocks.0.scale_shift_table"},
      {"blocks.12.self_attn.q.weight", "blocks.12.attn1.to_q.weight"},
      {"blocks.3.self_attn.o.bias", "blocks.3.attn1.to_out.0.bias"},
      {"blocks.3.cross_attn.k.weight", "blocks.3.attn2.to_k.weight"},
      {"blocks.3.cross_attn.norm_q.weight", "blocks.3.attn2.norm_q.weight"},
      {"blocks.29.norm3.bias", "blocks.29.norm2.bias"},
      {"blocks.1.ffn.0.weight", "blocks.1.ffn.net.0.proj.weight"},
      {"blocks.1.ffn.2.bias", "blocks.1.ffn.net.2.bias"},
  };
  for (const auto& [orig, hf] : pairs) {
    EXPECT_EQ(wan_dit_diffusers_key(orig).value_or("(none)"), hf);
    EXPECT_EQ(wan_dit_original_key(hf).value_or("(none)"), orig);
  }
  for (const std::string bad :
       {"blocks.0.norm2.weight", "img_emb.proj.0.weight", "blocks.x.ffn.0.weight",
        "blocks.0.cross_attn.k_img.weight", "head.head", "blocks.0.ffn.0.weight.x", "freqs",
        "blocks.01.ffn.0.weight"}) {
    EXPECT_FALSE(wan_dit_diffusers_key(bad).has_value()) << bad;
  }
  EXPECT_FALSE(wan_dit_original_key("blocks.0.norm3.weight").has_value());
  EXPECT_FALSE(wan_dit_original_key("condition_embedder.image_embedder.norm1.weight").has_value());
  EXPECT_THROW(wan_dit_key_map("ovi_fusion"), Error);
  EXPECT_FALSE(static_cast<bool>(wan_dit_key_map("wan")));
}

// The tiny wan-diffusers folder holds the wan21 tensors under diffusers' names (written by
// tools/make_tiny_model.py, itself checked against diffusers' conversion): the table must be a
// bijection between the two files, mapping each tensor onto an equal one.
TEST(WanDiTKeys, BijectionBetweenTinyLayouts) {
  WeightStore orig({(test::tiny_dir() / "wan21/diffusion_pytorch_model.safetensors").string()});
  WeightStore hf(
      {(test::tiny_dir() / "wan-diffusers/transformer/diffusion_pytorch_model.safetensors")
           .string()});
  const auto hf_names = hf.names();
  const std::set<std::string> hf_set(hf_names.begin(), hf_names.end());
  std::set<std::string> hit;
  for (const auto& name : orig.names()) {
    const auto key = wan_dit_diffusers_key(name);
    ASSERT_TRUE(key.has_value()) << name;
    ASSERT_TRUE(hf_set.count(*key)) << name << " -> " << *key;
    EXPECT_EQ(wan_dit_original_key(*key).value_or(""), name);
    EXPECT_TRUE(at::equal(orig.load(name), hf.load(*key))) << name;
    hit.insert(*key);
  }
  EXPECT_EQ(hit.size(), hf_set.size());
}

}  // namespace
}  // namespace duet::wan
