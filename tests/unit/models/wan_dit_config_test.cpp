#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "io/json_util.h"
#include "models/wan/wan_dit.h"
#include "support/test_support.h"

namespace duet::wan {
namespace {

using nlohmann::json;

// Wan-AI/Wan2.1-T2V-1.3B/config.json and Wan-AI/Wan2.2-TI2V-5B/config.json as published.
const json kWan21T2V13B = json::parse(R"({
  "_class_name": "WanModel", "_diffusers_version": "0.30.0", "dim": 1536, "eps": 1e-06,
  "ffn_dim": 8960, "freq_dim": 256, "in_dim": 16, "model_type": "t2v", "num_heads": 12,
  "num_layers": 30, "out_dim": 16, "text_len": 512})");
const json kWan22TI2V5B = json::parse(R"({
  "_class_name": "WanModel", "_diffusers_version": "0.33.0", "dim": 3072, "eps": 1e-06,
  "ffn_dim": 14336, "freq_dim": 256, "in_dim": 48, "model_type": "ti2v", "num_heads": 24,
  "num_layers": 30, "out_dim": 48, "text_len": 512})");
// Wan-AI/Wan2.2-TI2V-5B-Diffusers/transformer/config.json
const json kDiffusersTI2V5B = json::parse(R"({
  "_class_name": "WanTransformer3DModel", "_diffusers_version": "0.35.0.dev0",
  "added_kv_proj_dim": null, "attention_head_dim": 128, "cross_attn_norm": true, "eps": 1e-06,
  "ffn_dim": 14336, "freq_dim": 256, "image_dim": null, "in_channels": 48,
  "num_attention_heads": 24, "num_layers": 30, "out_channels": 48, "patch_size": [1, 2, 2],
  "pos_embed_seq_len": null, "qk_norm": "rms_norm_across_heads", "rope_max_seq_len": 1024,
  "text_dim": 4096})");

std::string error_of(const json& j) {
  try {
    WanDiTConfig::from_json(j, "config.json");
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(WanDiTConfig, ReadsOriginalConfigs) {
  const auto c = WanDiTConfig::from_json(kWan21T2V13B, "config.json");
  EXPECT_EQ(c.model_type, "t2v");
  EXPECT_EQ(c.dim, 1536);
  EXPECT_EQ(c.num_heads, 12);
  EXPECT_EQ(c.head_dim(), 128);
  EXPECT_EQ(c.ffn_dim, 8960);
  EXPECT_EQ(c.num_layers, 30);
  EXPECT_EQ(c.text_dim, 0);  // not in the file: read from text_embedding.0.weight at load
  EXPECT_EQ(c.patch_size, (std::array<int64_t, 3>{1, 2, 2}));
  EXPECT_TRUE(c.qk_norm);
  EXPECT_TRUE(c.cross_attn_norm);
  EXPECT_DOUBLE_EQ(c.eps, 1e-6);
  const auto t = WanDiTConfig::from_json(kWan22TI2V5B, "config.json");
  EXPECT_EQ(t.model_type, "ti2v");
  EXPECT_EQ(t.in_dim, 48);
  EXPECT_EQ(t.out_dim, 48);
  EXPECT_EQ(t.dim, 3072);
}

TEST(WanDiTConfig, ReadsDiffusersConfigs) {
  const auto c = WanDiTConfig::from_json(kDiffusersTI2V5B, "transformer/config.json");
  EXPECT_EQ(c.dim, 3072);
  EXPECT_EQ(c.num_heads, 24);
  EXPECT_EQ(c.in_dim, 48);
  EXPECT_EQ(c.out_dim, 48);
  EXPECT_EQ(c.text_dim, 4096);
  EXPECT_EQ(c.model_type, "ti2v");
  EXPECT_TRUE(c.qk_norm);
  EXPECT_EQ(c.rope_max_seq_len, 1024);
  auto j = kDiffusersTI2V5B;
  j["qk_norm"] = nullptr;
  j["out_channels"] = nullptr;
  j["in_channels"] = 16;
  const auto d = WanDiTConfig::from_json(j, "transformer/config.json");
  EXPECT_FALSE(d.qk_norm);
  EXPECT_EQ(d.out_dim, 16);
  EXPECT_EQ(d.model_type, "t2v");
}

TEST(WanDiTConfig, ReadsTinyFolders) {
  const auto orig = WanDiTConfig::from_json(
      read_json_file((test::tiny_dir() / "wan22-ti2v/config.json").string()), "config.json");
  EXPECT_EQ(orig.model_type, "ti2v");
  EXPECT_EQ(orig.dim, 256);
  EXPECT_EQ(orig.num_heads, 2);
  const auto hf = WanDiTConfig::from_json(
      read_json_file((test::tiny_dir() / "wan-diffusers/transformer/config.json").string()),
      "transformer/config.json");
  EXPECT_EQ(hf.dim, 256);
  EXPECT_EQ(hf.text_dim, 64);
  EXPECT_EQ(hf.num_layers, 2);
  EXPECT_EQ(hf.ffn_dim, 512);
}

TEST(WanDiTConfig, ErrorsNameTheField) {
  const auto with = [](json j, const std::string& key, json value) {
    if (value.is_discarded())
      j.erase(key);
    else
      j[key] = value;
    return j;
  };
  const json drop = json(json::value_t::discarded);
  struct Expect {
    json config;
    std::string needle;
  };
  const std::vector<Expect> cases = {
      {with(kWan21T2V13B, "dim", drop), "field 'dim' is missing"},
      {with(kWan21T2V13B, "dim", "big"), "field 'dim' must be an integer"},
      {with(kWan21T2V13B, "dim", 1000), "field 'dim' (1000) is not divisible by num_heads (12)"},
      {with(kWan21T2V13B, "num_heads", 0), "field 'num_heads' must be positive"},
      {with(kWan21T2V13B, "num_layers", -1), "field 'num_layers' must be positive"},
      {with(kWan21T2V13B, "model_type", "flf2v"), "field 'model_type' is 'flf2v'"},
      {with(kWan21T2V13B, "model_type", 3), "field 'model_type' must be a string"},
      {with(kWan21T2V13B, "eps", -1.0), "field 'eps' must be positive"},
      {with(kWan21T2V13B, "freq_dim", 255), "field 'freq_dim' must be even"},
      {with(kWan21T2V13B, "patch_size", json::array({1, 2})), "field 'patch_size' must be a list"},
      {with(kWan21T2V13B, "patch_size", json::array({1, 0, 2})),
       "field 'patch_size' must hold positive"},
      {with(kWan21T2V13B, "qk_norm", "yes"), "field 'qk_norm' must be true or false"},
      {with(kWan21T2V13B, "window_size", json::array({16, 16})), "field 'window_size'"},
      {with(kWan21T2V13B, "num_heads", 512), "head dim 3"},
      {with(kDiffusersTI2V5B, "qk_norm", "rms_norm"),
       "field 'qk_norm' must be \"rms_norm_across_heads\""},
      {with(kDiffusersTI2V5B, "image_dim", 1280), "field 'image_dim' is set"},
      {with(kDiffusersTI2V5B, "attention_head_dim", drop), "field 'attention_head_dim' is missing"},
      {with(kDiffusersTI2V5B, "text_dim", drop), "field 'text_dim' is missing"},
  };
  for (const auto& c : cases) {
    const auto msg = error_of(c.config);
    EXPECT_NE(msg.find(c.needle), std::string::npos) << "expected '" << c.needle << "' in: " << msg;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
    EXPECT_NE(msg.find("config.json"), std::string::npos) << msg;
  }
  EXPECT_NE(error_of(json::array()).find("must be a JSON object"), std::string::npos);
}

TEST(WanDiTConfig, ValidateCatchesHandMadeConfigs) {
  WanDiTConfig c;
  EXPECT_NO_THROW(c.validate());
  c.dim = 100;
  EXPECT_THROW(c.validate(), Error);
  c = WanDiTConfig{};
  c.text_dim = -5;
  EXPECT_THROW(c.validate(), Error);
}

}  // namespace
}  // namespace duet::wan
