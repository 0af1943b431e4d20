// Token ids against the tokenizer.json pipeline of transformers' T5TokenizerFast and Wan's
// prompt cleaning, on prompts with CJK, accents, emoji, > 512 tokens, HTML entities, curly
// quotes, added tokens and odd whitespace. Fixture: tools/fixtures/make_golden_text.py.
#include <gtest/gtest.h>

#include <cstdio>
#include <nlohmann/json.hpp>

#include "io/json_util.h"
#include "support/test_support.h"
#include "text/tokenizer.h"

namespace duet {
namespace {

const nlohmann::json& golden() {
  static const nlohmann::json j =
      read_json_file((test::data_dir() / "golden/text/tokenizer.json").string());
  return j;
}

std::vector<int64_t> ids_of(const nlohmann::json& c, const char* key) {
  return c.at(key).get<std::vector<int64_t>>();
}

Umt5Tokenizer fixture_tokenizer(bool clean) {
  TokenizerConfig cfg;
  cfg.clean = clean;
  return Umt5Tokenizer(test::data_dir() / "golden/text/spiece.model", cfg);
}

// ftfy's NFC, full-width and ligature fixes are left to the tokenizer's NFKC charsmap, so the
// cleaned strings may differ there, but then they must tokenize identically.
TEST(TokenizerGolden, WanCleanMatchesReference) {
  const auto tok = fixture_tokenizer(/*clean=*/false);
  int exact = 0, via_nfkc = 0;
  for (const auto& c : golden().at("cases")) {
    const auto text = c.at("text").get<std::string>();
    const auto ours = wan_clean(text), ref = c.at("clean").get<std::string>();
    if (ours == ref) {
      ++exact;
      continue;
    }
    ++via_nfkc;
    EXPECT_EQ(tok.encode(ours).ids, tok.encode(ref).ids) << "prompt: " << text.substr(0, 80);
  }
  EXPECT_LE(via_nfkc, 2) << "more cleaned strings differ than the NFC and full-width cases";
  std::printf("wan_clean: %d of %d prompts identical, %d equal after NFKC\n", exact,
              exact + via_nfkc, via_nfkc);
}

TEST(TokenizerGolden, IdsAfterCleanMatchTransformers) {
  const auto tok = fixture_tokenizer(/*clean=*/true);
  for (const auto& c : golden().at("cases")) {
    const auto text = c.at("text").get<std::string>();
    const auto ids = tok.encode(text).ids;
    EXPECT_EQ(ids, ids_of(c, "ids")) << "prompt: " << text.substr(0, 80);
    EXPECT_LE(ids.size(), 512u);
    EXPECT_EQ(ids.back(), 1);  // </s> survives truncation
  }
}

// Without Wan's clean the whitespace, added-token and truncation handling is all ours.
TEST(TokenizerGolden, RawIdsMatchTransformers) {
  const auto tok = fixture_tokenizer(/*clean=*/false);
  for (const auto& c : golden().at("cases")) {
    const auto text = c.at("text").get<std::string>();
    EXPECT_EQ(tok.encode(text).ids, ids_of(c, "raw_ids")) << "prompt: " << text.substr(0, 80);
  }
}

TEST(TokenizerGolden, LongPromptIsTruncatedTo512) {
  const auto tok = fixture_tokenizer(true);
  size_t long_cases = 0;
  for (const auto& c : golden().at("cases")) {
    if (ids_of(c, "ids").size() != 512) continue;
    ++long_cases;
    EXPECT_EQ(tok.encode(c.at("text").get<std::string>()).ids.size(), 512u);
  }
  EXPECT_GE(long_cases, 2u);
}

// The folder users have (google/umt5-xxl with tokenizer_config.json) gives the same ids.
TEST(TokenizerGolden, WanFolderMatchesFixtureModel) {
  const auto dir = test::tiny_dir() / "wan21/google/umt5-xxl";
  if (!std::filesystem::exists(dir)) GTEST_SKIP() << "tiny models not generated: " << dir;
  const auto tok = Umt5Tokenizer::from_dir(dir);
  EXPECT_EQ(tok.config().extra_ids, 300);
  for (const auto& c : golden().at("cases"))
    EXPECT_EQ(tok.encode(c.at("text").get<std::string>()).ids, ids_of(c, "ids"));
  const auto diffusers = Umt5Tokenizer::from_dir(test::tiny_dir() / "wan-diffusers/tokenizer");
  EXPECT_EQ(diffusers.encode("A cat <extra_id_0>").ids, tok.encode("A cat <extra_id_0>").ids);
}

}  // namespace
}  // namespace duet
