// Token ids against the tokenizer.json pipeline of transformers' T5TokenizerFast and Wan's
// prompt cleaning, on prompts with CJK, accents, emoji, > 512 tokens, HTML entities, curly
// quotes, added tokens and odd whitespace. Fixture: tools/fixtures/make_golden_text.py.
// Folders holding only tokenizer.json (the tiny models' copy of what transformers' T5
// converter writes) must give the same ids as spiece.model, on the prompts and on random text.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <random>

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

// ---- tokenizer.json without spiece.model ----

std::filesystem::path tiny_umt5_dir() { return test::tiny_dir() / "wan21/google/umt5-xxl"; }

// A folder like the tiny umT5 one, without spiece.model.
void copy_json_only(const test::TempDir& dir) {
  for (const char* name : {"tokenizer.json", "tokenizer_config.json"})
    std::filesystem::copy_file(tiny_umt5_dir() / name, dir / name);
}

#define SKIP_WITHOUT_TINY_MODELS()                                          \
  if (!std::filesystem::exists(tiny_umt5_dir() / "tokenizer.json"))         \
    GTEST_SKIP() << "tiny models not generated: " << tiny_umt5_dir();       \
  ASSERT_EQ(test::read_file(tiny_umt5_dir() / "spiece.model"),              \
            test::read_file(test::data_dir() / "golden/text/spiece.model")) \
      << "the tiny models' spiece.model is no longer the golden fixture's"

TEST(TokenizerGolden, TokenizerJsonOnlyFolderMatchesTransformers) {
  SKIP_WITHOUT_TINY_MODELS();
  test::TempDir dir;
  copy_json_only(dir);
  TokenizerConfig raw_cfg;
  raw_cfg.clean = false;
  const auto tok = Umt5Tokenizer::from_dir(dir.path());
  const auto raw = Umt5Tokenizer::from_dir(dir.path(), raw_cfg);
  const auto spiece = fixture_tokenizer(/*clean=*/true);
  EXPECT_EQ(tok.config().extra_ids, 300);
  EXPECT_EQ(tok.vocab_size(), spiece.vocab_size());
  EXPECT_EQ(tok.pad_id(), spiece.pad_id());
  EXPECT_EQ(tok.eos_id(), spiece.eos_id());
  EXPECT_EQ(tok.unk_id(), spiece.unk_id());
  for (const auto& c : golden().at("cases")) {
    const auto text = c.at("text").get<std::string>();
    const auto ids = tok.encode(text).ids;
    EXPECT_EQ(ids, ids_of(c, "ids")) << "prompt: " << text.substr(0, 80);
    EXPECT_EQ(ids, spiece.encode(text).ids) << "prompt: " << text.substr(0, 80);
    EXPECT_EQ(raw.encode(text).ids, ids_of(c, "raw_ids")) << "prompt: " << text.substr(0, 80);
  }
  // The file itself, as from_dir takes spiece.model.
  EXPECT_EQ(Umt5Tokenizer::from_dir(dir / "tokenizer.json").encode("A cat <extra_id_0>").ids,
            spiece.encode("A cat <extra_id_0>").ids);
}

// Seeded random text from several scripts, whitespace runs, emoji, full-width forms,
// combining marks and added tokens.
std::string random_text(std::mt19937& rng) {
  struct Range {
    char32_t lo, hi;
  };
  static const Range kRanges[] = {
      {U'a', U'z'},     {U'A', U'Z'},       {U'0', U'9'},     {U'!', U'/'},
      {0x00C0, 0x017F}, {0x0300, 0x036F},   {0x0400, 0x04FF}, {0x0600, 0x06FF},
      {0x0900, 0x097F}, {0x3040, 0x30FF},   {0x4E00, 0x9FFF}, {0xAC00, 0xD7A3},
      {0xFF01, 0xFF5E}, {0x1F300, 0x1FAFF}, {0x2000, 0x206F}, {0xFB00, 0xFB06},
  };
  static const char* kWhitespace[] = {" ",    "  ",       "   ",          "\t",  "\n",
                                      "\r\n", "\xC2\xA0", "\xE3\x80\x80", " \t "};
  static const char* kTokens[] = {"</s>",         "<pad>",         "<unk>",          "<s>",
                                  "<extra_id_0>", "<extra_id_17>", "<extra_id_299>", "<extra_id_",
                                  "\xE2\x96\x81"};
  auto utf8 = [](char32_t c) {
    std::string s;
    if (c < 0x80) {
      s += static_cast<char>(c);
    } else if (c < 0x800) {
      s += static_cast<char>(0xC0 | (c >> 6));
      s += static_cast<char>(0x80 | (c & 0x3F));
    } else if (c < 0x10000) {
      s += static_cast<char>(0xE0 | (c >> 12));
      s += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
      s += static_cast<char>(0x80 | (c & 0x3F));
    } else {
      s += static_cast<char>(0xF0 | (c >> 18));
      s += static_cast<char>(0x80 | ((c >> 12) & 0x3F));
      s += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
      s += static_cast<char>(0x80 | (c & 0x3F));
    }
    return s;
  };
  std::string s;
  const int words = std::uniform_int_distribution<int>(0, 40)(rng);
  for (int w = 0; w < words; ++w) {
    const int kind = std::uniform_int_distribution<int>(0, 9)(rng);
    if (kind == 0) {
      s += kTokens[rng() % std::size(kTokens)];
    } else if (kind <= 2) {
      s += kWhitespace[rng() % std::size(kWhitespace)];
    } else {
      const Range r = kRanges[rng() % std::size(kRanges)];
      const int len = std::uniform_int_distribution<int>(1, 8)(rng);
      for (int i = 0; i < len; ++i)
        s += utf8(std::uniform_int_distribution<uint32_t>(r.lo, r.hi)(rng));
      if (rng() % 2) s += ' ';
    }
  }
  return s;
}

TEST(TokenizerGolden, TokenizerJsonEqualsSpieceOnRandomText) {
  SKIP_WITHOUT_TINY_MODELS();
  test::TempDir dir;
  copy_json_only(dir);
  for (bool clean : {false, true}) {
    TokenizerConfig cfg;
    cfg.clean = clean;
    const auto from_json = Umt5Tokenizer::from_dir(dir.path(), cfg);
    const auto from_spiece = Umt5Tokenizer::from_dir(tiny_umt5_dir(), cfg);
    std::mt19937 rng(clean ? 2024 : 7);
    for (int i = 0; i < 1000; ++i) {
      const std::string text = random_text(rng);
      ASSERT_EQ(from_json.encode(text).ids, from_spiece.encode(text).ids)
          << "case " << i << " (clean=" << clean << "): " << text;
    }
  }
}

}  // namespace
}  // namespace duet
