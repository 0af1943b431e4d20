// Error paths and small invariants of src/text/: missing or foreign tokenizer files, wrong
// tensor shapes named by key, unexpected tensors, config fields, T5 position buckets, and
// Wan's prompt cleaning on hand-written cases.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <functional>
#include <nlohmann/json.hpp>

#include "core/device.h"
#include "core/error.h"
#include "io/safetensors.h"
#include "support/test_support.h"
#include "text/text_encoder.h"
#include "text/tokenizer.h"
#include "text/umt5.h"

namespace duet {
namespace {

using test::TempDir;
namespace fs = std::filesystem;

std::string error_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(TokenizerErrors, MissingSpieceModel) {
  TempDir dir;
  EXPECT_NE(error_of([&] { Umt5Tokenizer::from_dir(dir.path()); }).find("has no spiece.model"),
            std::string::npos);
  EXPECT_NE(error_of([&] { Umt5Tokenizer(dir / "spiece.model"); }).find("not found"),
            std::string::npos);
  EXPECT_NE(error_of([&] { Umt5Tokenizer::from_dir(dir / "absent"); }).find("not found"),
            std::string::npos);
}

// A tokenizer.json-only folder is read (tokenizer_json_test.cpp); an empty one names the field.
TEST(TokenizerErrors, TokenizerJsonOnlyWithoutModelNamesTheField) {
  TempDir dir;
  test::write_file(dir / "tokenizer.json", "{}");
  const auto msg = error_of([&] { Umt5Tokenizer::from_dir(dir.path()); });
  EXPECT_NE(msg.find("field 'model' is missing"), std::string::npos) << msg;
}

TEST(TokenizerErrors, NotASentencePieceModel) {
  TempDir dir;
  test::write_file(dir / "spiece.model", "this is not a protobuf");
  const auto msg = error_of([&] { Umt5Tokenizer::from_dir(dir.path()); });
  EXPECT_NE(msg.find("spiece.model"), std::string::npos) << msg;
}

TEST(TokenizerBasics, PaddingFreeIdsEndWithEos) {
  const Umt5Tokenizer tok(test::data_dir() / "golden/text/spiece.model");
  EXPECT_EQ(tok.encode("").ids, (std::vector<int64_t>{1}));
  EXPECT_EQ(tok.encode("<extra_id_0>").ids, (std::vector<int64_t>{tok.vocab_size() - 1, 1}));
  TokenizerConfig short_cfg;
  short_cfg.text_len = 4;
  const Umt5Tokenizer tok4(test::data_dir() / "golden/text/spiece.model", short_cfg);
  const auto ids = tok4.encode("a young woman walks slowly").ids;
  ASSERT_EQ(ids.size(), 4u);
  EXPECT_EQ(ids.back(), 1);
}

TEST(WanClean, HandWrittenCases) {
  EXPECT_EQ(wan_clean("  a \t b\n\nc  "), "a b c");
  EXPECT_EQ(wan_clean("\u201cquoted\u201d \u2018single\u2019"), "\"quoted\" 'single'");
  EXPECT_EQ(wan_clean("&amp;amp;amp; &#65;&#x42;"), "& AB");     // three levels without '<'
  EXPECT_EQ(wan_clean("<b>&amp;amp;amp;</b>"), "<b>&amp;</b>");  // ftfy leaves HTML alone
  const std::string bom = "\xEF\xBB\xBF";
  EXPECT_EQ(wan_clean("bell\x07 " + bom + "bom"), "bell bom");
  EXPECT_EQ(wan_clean("\x1b[31mred\x1b[0m"), "red");
}

TEST(Umt5Buckets, MatchT5Formula) {
  // Bidirectional, 32 buckets, max distance 128: keys before the query use 0..15, after 16..31.
  const auto b = t5_relative_buckets(1, 301, 32, 128, at::Device(at::kCPU));  // rel = 0..300
  EXPECT_EQ(b[0][0].item<int64_t>(), 0);
  EXPECT_EQ(b[0][1].item<int64_t>(), 17);
  EXPECT_EQ(b[0][7].item<int64_t>(), 23);
  EXPECT_EQ(b[0][8].item<int64_t>(), 24);
  EXPECT_EQ(b[0][12].item<int64_t>(), 25);  // 8 + int(log(1.5)/log(16)*8) = 9
  EXPECT_EQ(b[0][300].item<int64_t>(), 31);
  const auto n = t5_relative_buckets(301, 1, 32, 128, at::Device(at::kCPU));  // rel = 0..-300
  EXPECT_EQ(n[1][0].item<int64_t>(), 1);
  EXPECT_EQ(n[12][0].item<int64_t>(), 9);
  EXPECT_EQ(n[100][0].item<int64_t>(), 15);
}

// A tiny Wan-layout encoder written to a temp file, with one tensor replaced or added.
struct TinyWeights {
  std::map<std::string, at::Tensor> tensors;
  TinyWeights() {
    auto gen = at::make_generator<at::CPUGeneratorImpl>(7);
    auto r = [&](std::vector<int64_t> s) { return at::randn(s, gen); };
    tensors["token_embedding.weight"] = r({40, 16});
    for (int i = 0; i < 2; ++i) {
      const std::string p = "blocks." + std::to_string(i) + ".";
      tensors[p + "norm1.weight"] = r({16});
      tensors[p + "norm2.weight"] = r({16});
      for (const char* n : {"q", "k", "v", "o"}) tensors[p + "attn." + n + ".weight"] = r({16, 16});
      tensors[p + "ffn.gate.0.weight"] = r({32, 16});
      tensors[p + "ffn.fc1.weight"] = r({32, 16});
      tensors[p + "ffn.fc2.weight"] = r({16, 32});
      tensors[p + "pos_embedding.embedding.weight"] = r({32, 2});
    }
    tensors["norm.weight"] = r({16});
  }
  std::string write(const TempDir& dir) const {
    std::vector<TensorToWrite> out;
    for (const auto& [name, t] : tensors)
      out.push_back(
          {name, from_scalar_type(t.scalar_type()), t.sizes().vec(), t.data_ptr(), t.nbytes()});
    const auto path = (dir / "t5.safetensors").string();
    write_safetensors(path, out);
    return path;
  }
};

TEST(Umt5Errors, ConfigFromShapes) {
  TempDir dir;
  WeightStore store({TinyWeights().write(dir)});
  const auto cfg = Umt5Config::from_weights(store);
  EXPECT_EQ(cfg.dim, 16);
  EXPECT_EQ(cfg.dim_ffn, 32);
  EXPECT_EQ(cfg.num_heads, 2);
  EXPECT_EQ(cfg.num_layers, 2);
  EXPECT_EQ(cfg.vocab_size, 40);
  const Umt5Encoder enc(cfg, store);
  const auto y = enc.forward(at::arange(5, at::kLong).unsqueeze(0));
  EXPECT_EQ(y.sizes(), (std::vector<int64_t>{1, 5, 16}));
  EXPECT_TRUE(y.isfinite().all().item<bool>());
}

TEST(Umt5Errors, WrongShapeNamesKey) {
  TempDir dir;
  TinyWeights w;
  w.tensors["blocks.1.ffn.fc2.weight"] = at::zeros({16, 31});
  WeightStore store({w.write(dir)});
  const auto msg = error_of([&] { Umt5Encoder(Umt5Config::from_weights(store), store); });
  EXPECT_NE(msg.find("blocks.1.ffn.fc2.weight"), std::string::npos) << msg;
}

TEST(Umt5Errors, WrongRelativeBiasShapeNamesKey) {
  TempDir dir;
  TinyWeights w;
  w.tensors["blocks.1.pos_embedding.embedding.weight"] = at::zeros({32, 3});
  WeightStore store({w.write(dir)});
  const auto msg = error_of([&] { Umt5Encoder(Umt5Config::from_weights(store), store); });
  EXPECT_NE(msg.find("blocks.1.pos_embedding.embedding.weight"), std::string::npos) << msg;
}

TEST(Umt5Errors, UnexpectedTensorIsNamed) {
  TempDir dir;
  TinyWeights w;
  w.tensors["blocks.2.attn.q.weight"] = at::zeros({16, 16});
  WeightStore store({w.write(dir)});
  const auto msg = error_of([&] { Umt5Encoder(Umt5Config::from_weights(store), store); });
  EXPECT_NE(msg.find("blocks.2.attn.q.weight"), std::string::npos) << msg;
}

TEST(Umt5Errors, MissingTensorIsNamed) {
  TempDir dir;
  TinyWeights w;
  w.tensors.erase("blocks.0.norm2.weight");
  WeightStore store({w.write(dir)});
  const auto msg = error_of([&] { Umt5Encoder(Umt5Config::from_weights(store), store); });
  EXPECT_NE(msg.find("blocks.0.norm2.weight"), std::string::npos) << msg;
}

TEST(Umt5Errors, UnknownLayout) {
  const auto msg = error_of([] { detect_umt5_layout({"foo.weight"}); });
  EXPECT_NE(msg.find("shared.weight"), std::string::npos) << msg;
}

TEST(Umt5Errors, TransformersKeyTable) {
  const auto map = umt5_transformers_key_map();
  EXPECT_EQ(map("token_embedding.weight"), "shared.weight");
  EXPECT_EQ(map("blocks.13.ffn.gate.0.weight"),
            "encoder.block.13.layer.1.DenseReluDense.wi_0.weight");
  EXPECT_EQ(map("blocks.3.pos_embedding.embedding.weight"),
            "encoder.block.3.layer.0.SelfAttention.relative_attention_bias.weight");
  EXPECT_EQ(map("norm.weight"), "encoder.final_layer_norm.weight");
  EXPECT_FALSE(map("blocks.x").has_value());
}

TEST(Umt5Errors, ConfigJsonFields) {
  const auto cfg = Umt5Config::from_json(nlohmann::json{{"d_model", 64},
                                                        {"d_kv", 16},
                                                        {"num_heads", 4},
                                                        {"d_ff", 128},
                                                        {"num_layers", 2},
                                                        {"vocab_size", 640},
                                                        {"feed_forward_proj", "gated-gelu"}},
                                         "config.json");
  EXPECT_EQ(cfg.dim_attn, 64);
  EXPECT_NE(error_of([] {
              Umt5Config::from_json(nlohmann::json{{"feed_forward_proj", "relu"}}, "config.json");
            }).find("feed_forward_proj"),
            std::string::npos);
  EXPECT_NE(error_of([] {
              Umt5Config::from_json(nlohmann::json{{"num_heads", "x"}}, "config.json");
            }).find("num_heads"),
            std::string::npos);
}

}  // namespace
}  // namespace duet
