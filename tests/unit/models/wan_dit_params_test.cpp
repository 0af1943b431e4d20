// The real Wan models have exactly the parameter counts diffusers reports for the same configs.
// The loaders run on a WeightStore::meta() store, so the structure comes from the loader code
// itself and a 14B model costs no memory. Counts: tests/data/golden/wan_dit/param_counts.json,
// written by tools/fixtures/make_wan_param_counts.py from diffusers.
#include <gtest/gtest.h>

#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>

#include "core/error.h"
#include "io/json_util.h"
#include "io/weight_store.h"
#include "models/wan/vae.h"
#include "models/wan/wan_dit.h"
#include "support/test_support.h"

namespace duet::wan {
namespace {

using nlohmann::json;

const json& counts() {
  static const json j =
      read_json_file((test::data_dir() / "golden/wan_dit/param_counts.json").string());
  return j;
}

int64_t numel_of(const WeightStore& store) {
  int64_t total = 0;
  for (const auto& [key, shape] : store.meta_shapes()) {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    total += n;
  }
  return total;
}

int64_t dit_parameters(const WanDiTConfig& config) {
  WeightStore store = WeightStore::meta({.dtype = at::kBFloat16});
  const WanDiT dit = WanDiT::load(config, store);
  EXPECT_EQ(dit.dtype(), at::kBFloat16);
  EXPECT_TRUE(dit.blocks().front().modulation.is_meta());
  return numel_of(store);
}

// The published original config.json files (Wan-AI/<name>/config.json). WanModel does not save
// text_dim; the loader reads it from text_embedding.0.weight, which a meta store cannot answer,
// so it is set to WanModel's 4096 here.
struct RealDiT {
  const char* name;
  const char* config_json;
};

const RealDiT kRealDiTs[] = {
    {"Wan2.1-T2V-1.3B",
     R"({"_class_name": "WanModel", "_diffusers_version": "0.30.0", "dim": 1536, "eps": 1e-06,
         "ffn_dim": 8960, "freq_dim": 256, "in_dim": 16, "model_type": "t2v", "num_heads": 12,
         "num_layers": 30, "out_dim": 16, "text_len": 512})"},
    {"Wan2.1-T2V-14B",
     R"({"_class_name": "WanModel", "_diffusers_version": "0.30.0", "dim": 5120, "eps": 1e-06,
         "ffn_dim": 13824, "freq_dim": 256, "in_dim": 16, "model_type": "t2v", "num_heads": 40,
         "num_layers": 40, "out_dim": 16, "text_len": 512})"},
    {"Wan2.2-TI2V-5B",
     R"({"_class_name": "WanModel", "_diffusers_version": "0.33.0", "dim": 3072, "eps": 1e-06,
         "ffn_dim": 14336, "freq_dim": 256, "in_dim": 48, "model_type": "ti2v", "num_heads": 24,
         "num_layers": 30, "out_dim": 48, "text_len": 512})"},
};

class WanDiTParams : public ::testing::TestWithParam<RealDiT> {};

TEST_P(WanDiTParams, OriginalConfigMatchesDiffusersCount) {
  const RealDiT& m = GetParam();
  const json& entry = counts().at("transformer").at(m.name);
  WanDiTConfig config = WanDiTConfig::from_json(json::parse(m.config_json), "config.json");
  config.text_dim = 4096;
  const int64_t n = dit_parameters(config);
  std::printf("  %s: %lld parameters (diffusers %lld)\n", m.name, static_cast<long long>(n),
              static_cast<long long>(entry.at("parameters").get<int64_t>()));
  EXPECT_EQ(n, entry.at("parameters").get<int64_t>());
}

TEST_P(WanDiTParams, DiffusersConfigMatchesDiffusersCount) {
  const json& entry = counts().at("transformer").at(GetParam().name);
  const WanDiTConfig config =
      WanDiTConfig::from_json(entry.at("config"), "transformer/config.json");
  EXPECT_EQ(dit_parameters(config), entry.at("parameters").get<int64_t>());
}

INSTANTIATE_TEST_SUITE_P(Real, WanDiTParams, ::testing::ValuesIn(kRealDiTs), [](const auto& info) {
  std::string s = info.param.name;
  for (char& c : s) {
    if (c == '.' || c == '-') c = '_';
  }
  return s;
});

class WanVaeParams : public ::testing::TestWithParam<std::string> {};

TEST_P(WanVaeParams, RealConfigMatchesDiffusersCount) {
  const json& entry = counts().at("vae").at(GetParam());
  const WanVaeConfig config = WanVaeConfig::from_json(entry.at("config"), "vae/config.json");
  // The original checkpoints carry no config; their defaults must be the same model.
  const WanVaeConfig defaults = WanVaeConfig::defaults(config.version);
  EXPECT_EQ(config.dim, defaults.dim);
  EXPECT_EQ(config.dec_dim, defaults.dec_dim);
  EXPECT_EQ(config.z_dim, defaults.z_dim);
  WeightStore store = WeightStore::meta();
  const auto vae = make_wan_vae(store, config);
  const int64_t n = numel_of(store);
  std::printf("  VAE %s: %lld parameters (diffusers %lld)\n", GetParam().c_str(),
              static_cast<long long>(n),
              static_cast<long long>(entry.at("parameters").get<int64_t>()));
  EXPECT_EQ(n, entry.at("parameters").get<int64_t>());
}

INSTANTIATE_TEST_SUITE_P(Real, WanVaeParams, ::testing::Values("Wan2.1", "Wan2.2"),
                         [](const auto& info) {
                           return info.param == "Wan2.1" ? std::string("Wan21")
                                                         : std::string("Wan22");
                         });

TEST(WeightStoreMeta, AnswersOnlyGetAndRecordsShapes) {
  WeightStore store = WeightStore::meta();
  WeightScope scope = store.scope("a.");
  const at::Tensor w = scope.get("w", {3, 4});
  EXPECT_TRUE(w.is_meta());
  EXPECT_EQ(w.sizes(), (std::vector<int64_t>{3, 4}));
  EXPECT_EQ(w.scalar_type(), at::kFloat);
  EXPECT_FALSE(scope.contains("w"));
  EXPECT_FALSE(scope.get_optional("b", {4}).has_value());
  EXPECT_THROW(scope.get_any_shape("w"), Error);
  EXPECT_NO_THROW(scope.get("w", {3, 4}));  // the same tensor again is counted once
  EXPECT_THROW(scope.get("w", {4, 3}), Error);
  EXPECT_NO_THROW(store.scope("").finish());
  ASSERT_EQ(store.meta_shapes().size(), 1u);
  EXPECT_EQ(store.meta_shapes().at("a.w"), (std::vector<int64_t>{3, 4}));
  EXPECT_EQ(numel_of(store), 12);
}

}  // namespace
}  // namespace duet::wan
