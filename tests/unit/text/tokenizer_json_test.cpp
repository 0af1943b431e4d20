// tokenizer.json -> SentencePiece ModelProto (src/text/spm_proto.h): a small hand-written
// umT5-style file loads and tokenizes; every malformed or unsupported field is a one-line
// duet::Error naming the file and the field.
#include <gtest/gtest.h>

#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "core/error.h"
#include "support/test_support.h"
#include "text/spm_proto.h"
#include "text/tokenizer.h"

namespace duet {
namespace {

using nlohmann::json;
using test::TempDir;

json added(int id, const std::string& content) {
  return {{"id", id},        {"content", content},  {"single_word", false}, {"lstrip", false},
          {"rstrip", false}, {"normalized", false}, {"special", true}};
}

// The shape transformers' T5 converter writes, over a seven-piece vocabulary and one extra id.
// An empty charsmap is SentencePiece's identity normaliser.
json small_tokenizer_json() {
  // Built entry by entry: a braced list of [string, number] pairs would become an object.
  json vocab = json::array();
  for (const auto& [piece, score] :
       std::vector<std::pair<std::string, double>>{{"<pad>", 0.0},
                                                   {"</s>", 0.0},
                                                   {"<unk>", 0.0},
                                                   {"\u2581", -2.0},
                                                   {"a", -3.0},
                                                   {"\u2581a", -1.5},
                                                   {"b", -3.0},
                                                   {"<extra_id_0>", 0.0}})
    vocab.push_back(json::array({piece, score}));
  return {
      {"version", "1.0"},
      {"truncation", nullptr},
      {"padding", nullptr},
      {"added_tokens",
       {added(0, "<pad>"), added(1, "</s>"), added(2, "<unk>"), added(7, "<extra_id_0>")}},
      {"normalizer",
       {{"type", "Sequence"},
        {"normalizers",
         {{{"type", "Precompiled"}, {"precompiled_charsmap", ""}},
          {{"type", "Replace"}, {"pattern", {{"Regex", " {2,}"}}}, {"content", " "}}}}}},
      {"pre_tokenizer",
       {{"type", "Metaspace"}, {"replacement", "\u2581"}, {"add_prefix_space", true}}},
      {"post_processor",
       {{"type", "TemplateProcessing"},
        {"single",
         {{{"Sequence", {{"id", "A"}, {"type_id", 0}}}},
          {{"SpecialToken", {{"id", "</s>"}, {"type_id", 0}}}}}}}},
      {"decoder", {{"type", "Metaspace"}, {"replacement", "\u2581"}, {"add_prefix_space", true}}},
      {"model", {{"type", "Unigram"}, {"unk_id", 2}, {"vocab", vocab}}},
  };
}

Umt5Tokenizer load(const TempDir& dir, const json& j) {
  test::write_file(dir / "tokenizer.json", j.dump());
  return Umt5Tokenizer::from_dir(dir.path());
}

std::string error_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(TokenizerJson, SmallFileLoadsAndTokenizes) {
  TempDir dir;
  const auto tok = load(dir, small_tokenizer_json());
  EXPECT_EQ(tok.config().extra_ids, 1);
  EXPECT_EQ(tok.vocab_size(), 8);
  EXPECT_EQ(tok.pad_id(), 0);
  EXPECT_EQ(tok.eos_id(), 1);
  EXPECT_EQ(tok.unk_id(), 2);
  // "▁a" is a piece; "▁b" is "▁" + "b"; "c" is unknown; added tokens split the raw text.
  EXPECT_EQ(tok.encode("a  b").ids, (std::vector<int64_t>{5, 3, 6, 1}));
  EXPECT_EQ(tok.encode("a c").ids, (std::vector<int64_t>{5, 3, 2, 1}));
  EXPECT_EQ(tok.encode("a<extra_id_0></s>").ids, (std::vector<int64_t>{5, 7, 1, 1}));
  EXPECT_EQ(tok.encode("").ids, (std::vector<int64_t>{1}));
}

// tokenizers >= 0.19 re-saves Metaspace as prepend_scheme/split; same tokenisation.
TEST(TokenizerJson, NewerMetaspaceFieldsAreAccepted) {
  TempDir dir;
  auto j = small_tokenizer_json();
  j["pre_tokenizer"] = {{"type", "Metaspace"},
                        {"replacement", "\u2581"},
                        {"prepend_scheme", "always"},
                        {"split", true}};
  EXPECT_EQ(load(dir, j).encode("a  b").ids, (std::vector<int64_t>{5, 3, 6, 1}));
}

struct BadCase {
  const char* name;
  std::function<void(json&)> edit;
  const char* expected;  // substring of the message
};

TEST(TokenizerJson, MalformedFieldsAreNamed) {
  const BadCase cases[] = {
      {"no model", [](json& j) { j.erase("model"); }, "field 'model' is missing"},
      {"BPE", [](json& j) { j["model"]["type"] = "BPE"; }, "field 'model.type' is 'BPE'"},
      {"type number", [](json& j) { j["model"]["type"] = 3; },
       "field 'model.type' must be a string"},
      {"byte fallback", [](json& j) { j["model"]["byte_fallback"] = true; },
       "field 'model.byte_fallback' must be false"},
      {"vocab object", [](json& j) { j["model"]["vocab"] = json::object(); },
       "field 'model.vocab' must be an array"},
      {"vocab empty", [](json& j) { j["model"]["vocab"] = json::array(); },
       "field 'model.vocab' is empty"},
      {"entry not pair", [](json& j) { j["model"]["vocab"][3] = "x"; },
       "field 'model.vocab[3]' must be [piece, score]"},
      {"piece number", [](json& j) { j["model"]["vocab"][4][0] = 4; },
       "field 'model.vocab[4][0]' must be a string"},
      {"score string", [](json& j) { j["model"]["vocab"][4][1] = "-3"; },
       "field 'model.vocab[4][1]' must be a number"},
      {"empty piece", [](json& j) { j["model"]["vocab"][4][0] = ""; },
       "field 'model.vocab[4][0]' is an empty piece"},
      {"repeated piece", [](json& j) { j["model"]["vocab"][6][0] = "a"; },
       "field 'model.vocab[6][0]' repeats the piece of model.vocab[4]"},
      {"unk string", [](json& j) { j["model"]["unk_id"] = "2"; },
       "field 'model.unk_id' must be an integer"},
      {"unk null", [](json& j) { j["model"]["unk_id"] = nullptr; }, "field 'model.unk_id' is null"},
      {"unk range", [](json& j) { j["model"]["unk_id"] = 99; }, "field 'model.unk_id' is 99"},
      {"unk extra id", [](json& j) { j["model"]["unk_id"] = 7; }, "field 'model.unk_id' is 7"},
      {"no normalizer", [](json& j) { j.erase("normalizer"); }, "field 'normalizer' is missing"},
      {"null normalizer", [](json& j) { j["normalizer"] = nullptr; }, "field 'normalizer' is null"},
      {"NFKC",
       [](json& j) {
         j["normalizer"] = {{"type", "NFKC"}};
       },
       "field 'normalizer.type' is 'NFKC'"},
      {"one normalizer", [](json& j) { j["normalizer"]["normalizers"].erase(1); },
       "field 'normalizer.normalizers' has 1 entries"},
      {"bad base64",
       [](json& j) { j["normalizer"]["normalizers"][0]["precompiled_charsmap"] = "@@@@"; },
       "field 'normalizer.normalizers[0].precompiled_charsmap' is not valid base64"},
      {"short base64",
       [](json& j) { j["normalizer"]["normalizers"][0]["precompiled_charsmap"] = "QUJD="; },
       "field 'normalizer.normalizers[0].precompiled_charsmap' is not valid base64"},
      {"charsmap number",
       [](json& j) { j["normalizer"]["normalizers"][0]["precompiled_charsmap"] = 1; },
       "field 'normalizer.normalizers[0].precompiled_charsmap' must be a string"},
      {"other regex", [](json& j) { j["normalizer"]["normalizers"][1]["pattern"]["Regex"] = " +"; },
       "field 'normalizer.normalizers[1].pattern' must be"},
      {"other content", [](json& j) { j["normalizer"]["normalizers"][1]["content"] = "_"; },
       "field 'normalizer.normalizers[1].content' must be"},
      {"ByteLevel", [](json& j) { j["pre_tokenizer"]["type"] = "ByteLevel"; },
       "field 'pre_tokenizer.type' is 'ByteLevel'"},
      {"replacement", [](json& j) { j["pre_tokenizer"]["replacement"] = "_"; },
       "field 'pre_tokenizer.replacement' must be"},
      {"no prefix", [](json& j) { j["pre_tokenizer"]["add_prefix_space"] = false; },
       "field 'pre_tokenizer.add_prefix_space' must be true"},
      {"prepend first", [](json& j) { j["pre_tokenizer"]["prepend_scheme"] = "first"; },
       "field 'pre_tokenizer.prepend_scheme' must be \"always\""},
      {"no split", [](json& j) { j["pre_tokenizer"]["split"] = false; },
       "field 'pre_tokenizer.split' must be true"},
      {"no post", [](json& j) { j["post_processor"] = nullptr; }, "field 'post_processor' is null"},
      {"post single", [](json& j) { j["post_processor"]["single"] = json::array(); },
       "field 'post_processor.single' must be [$A, SpecialToken]"},
      {"post B", [](json& j) { j["post_processor"]["single"][0]["Sequence"]["id"] = "B"; },
       "field 'post_processor.single[0].Sequence.id' must be \"A\""},
      {"eos unknown",
       [](json& j) { j["post_processor"]["single"][1]["SpecialToken"]["id"] = "<eos>"; },
       "field 'post_processor.single[1].SpecialToken.id' is '<eos>'"},
      {"added object", [](json& j) { j["added_tokens"] = json::object(); },
       "field 'added_tokens' must be an array"},
      {"added lstrip", [](json& j) { j["added_tokens"][0]["lstrip"] = true; },
       "field 'added_tokens[0].lstrip' must be false"},
      {"added normalized", [](json& j) { j["added_tokens"][3]["normalized"] = true; },
       "field 'added_tokens[3].normalized' must be false"},
      {"added id", [](json& j) { j["added_tokens"][3]["id"] = 8; },
       "field 'added_tokens[3].id' is 8"},
      {"added id string", [](json& j) { j["added_tokens"][3]["id"] = "7"; },
       "field 'added_tokens[3].id' must be an integer"},
      {"added content", [](json& j) { j["added_tokens"][1]["content"] = "<eos>"; },
       "field 'added_tokens[1].content' is '<eos>' but model.vocab[1] is '</s>'"},
      {"added twice", [](json& j) { j["added_tokens"].push_back(added(1, "</s>")); },
       "field 'added_tokens[4].content' repeats"},
      {"added no content", [](json& j) { j["added_tokens"][0].erase("content"); },
       "field 'added_tokens[0].content' is missing"},
  };
  for (const auto& c : cases) {
    TempDir dir;
    auto j = small_tokenizer_json();
    c.edit(j);
    const auto msg = error_of([&] { load(dir, j); });
    EXPECT_NE(msg.find(c.expected), std::string::npos) << c.name << ": " << msg;
    EXPECT_NE(msg.find((dir / "tokenizer.json").string()), std::string::npos)
        << c.name << ": " << msg;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << c.name << ": " << msg;
  }
}

TEST(TokenizerJson, UnsupportedKindsSayWhatIsSupported) {
  TempDir dir;
  auto j = small_tokenizer_json();
  j["model"]["type"] = "WordPiece";
  const auto msg = error_of([&] { load(dir, j); });
  EXPECT_NE(msg.find("umT5-style tokenizer.json"), std::string::npos) << msg;
  EXPECT_NE(msg.find("spiece.model"), std::string::npos) << msg;
}

TEST(TokenizerJson, NotJsonOrNotAnObject) {
  TempDir dir;
  test::write_file(dir / "tokenizer.json", "{\"model\": ");
  EXPECT_NE(error_of([&] { Umt5Tokenizer::from_dir(dir.path()); }).find("is not valid JSON"),
            std::string::npos);
  test::write_file(dir / "tokenizer.json", "[1, 2]");
  EXPECT_NE(error_of([&] { Umt5Tokenizer::from_dir(dir.path()); }).find("expected a JSON object"),
            std::string::npos);
  EXPECT_NE(
      error_of([&] { Umt5Tokenizer::from_tokenizer_json(dir / "absent.json"); }).find("not found"),
      std::string::npos);
}

// Every prefix of a valid file and single-byte corruptions: errors, never crashes.
TEST(TokenizerJson, TruncatedAndCorruptedTextOnlyThrowsDuetErrors) {
  const std::string text = small_tokenizer_json().dump();
  auto parse = [](const std::string& t) {
    try {
      spm_model_from_tokenizer_json(t, "tokenizer.json");
    } catch (const Error&) {
    }
  };
  for (size_t n = 0; n < text.size(); n += 3) parse(text.substr(0, n));
  for (size_t i = 0; i < text.size(); ++i) {
    std::string t = text;
    t[i] = static_cast<char>(t[i] ^ 0x20);
    parse(t);
  }
}

}  // namespace
}  // namespace duet
