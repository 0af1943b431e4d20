#include "text/spm_proto.h"

#include <cstring>
#include <map>
#include <nlohmann/json.hpp>
#include <unordered_map>

#include "core/error.h"
#include "io/json_util.h"

namespace duet {

namespace {

// ---- protobuf wire format ----

void put_varint(std::string& out, uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<char>((v & 0x7F) | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
}

void put_tag(std::string& out, int field, int wire) {
  put_varint(out, (static_cast<uint64_t>(field) << 3) | static_cast<uint64_t>(wire));
}

// int32 fields: negative values are sign-extended to ten bytes, as protobuf does.
void put_int(std::string& out, int field, int64_t v) {
  put_tag(out, field, 0);
  put_varint(out, static_cast<uint64_t>(v));
}

void put_bytes(std::string& out, int field, std::string_view v) {
  put_tag(out, field, 2);
  put_varint(out, v.size());
  out.append(v);
}

void put_float(std::string& out, int field, float v) {
  put_tag(out, field, 5);
  uint32_t bits;
  std::memcpy(&bits, &v, sizeof bits);
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((bits >> (8 * i)) & 0xFF));
}

uint64_t get_varint(const std::string& buf, size_t& i, const std::string& what) {
  uint64_t result = 0;
  for (int shift = 0; shift < 64; shift += 7) {
    DUET_CHECK(i < buf.size(), "{}: truncated SentencePiece model", what);
    const auto byte = static_cast<uint8_t>(buf[i++]);
    result |= static_cast<uint64_t>(byte & 0x7F) << shift;
    if (!(byte & 0x80)) return result;
  }
  DUET_FAIL("{}: malformed SentencePiece model (bad varint)", what);
}

// ---- strict access to tokenizer.json, errors naming the field by its dotted path ----

constexpr const char* kSupported =
    "duet reads umT5-style tokenizer.json files (Unigram model, normalizer Sequence[Precompiled, "
    "Replace \" {2,}\" -> \" \"], Metaspace pre-tokenizer, post-processor \"$A </s>\"); "
    "spiece.model works for any SentencePiece model";

struct Field {
  const nlohmann::json& j;
  std::string path;
  const std::string& source;

  [[noreturn]] void fail(std::string_view problem) const {
    DUET_FAIL("'{}': field '{}' {}", source, path, problem);
  }
  [[noreturn]] void unsupported(std::string_view problem) const {
    DUET_FAIL("'{}': field '{}' {}; {}", source, path, problem, kSupported);
  }
  Field child(std::string_view key) const {
    if (!j.is_object()) fail("must be an object");
    const auto it = j.find(std::string(key));
    const std::string sub = path.empty() ? std::string(key) : path + "." + std::string(key);
    if (it == j.end()) DUET_FAIL("'{}': field '{}' is missing", source, sub);
    return {*it, sub, source};
  }
  bool has(std::string_view key) const {
    return j.is_object() && j.contains(std::string(key)) && !j.at(std::string(key)).is_null();
  }
  Field operator[](size_t i) const {
    if (!j.is_array() || i >= j.size()) fail(fmt::format("must be an array of more than {}", i));
    return {j[i], path + "[" + std::to_string(i) + "]", source};
  }
  size_t array_size() const {
    if (!j.is_array()) fail("must be an array");
    return j.size();
  }
  std::string str() const {
    if (!j.is_string()) fail("must be a string");
    return j.get<std::string>();
  }
  int64_t integer() const {
    if (!j.is_number_integer()) fail("must be an integer");
    return j.get<int64_t>();
  }
  double number() const {
    if (!j.is_number()) fail("must be a number");
    return j.get<double>();
  }
  bool boolean() const {
    if (!j.is_boolean()) fail("must be true or false");
    return j.get<bool>();
  }
  // `key` is absent, null or `want`; anything else changes the tokenisation.
  void expect_flag(std::string_view key, bool want) const {
    if (has(key) && child(key).boolean() != want)
      child(key).unsupported(fmt::format("must be {}", want));
  }
  void expect_type(std::string_view want) const {
    const auto type = child("type").str();
    if (type != want) child("type").unsupported(fmt::format("is '{}', expected '{}'", type, want));
  }
};

std::string decode_base64(const Field& f) {
  const std::string in = f.str();
  auto value = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
  };
  if (in.size() % 4 != 0) f.fail("is not valid base64 (length not a multiple of 4)");
  std::string out;
  out.reserve(in.size() / 4 * 3);
  for (size_t i = 0; i < in.size(); i += 4) {
    const bool last = i + 4 == in.size();
    const int pad = last ? (in[i + 3] == '=') + (in[i + 2] == '=' && in[i + 3] == '=') : 0;
    uint32_t group = 0;
    for (int k = 0; k < 4; ++k) {
      const int v = k >= 4 - pad ? 0 : value(in[i + k]);
      if (v < 0) f.fail(fmt::format("is not valid base64 (character {})", i + k));
      group = (group << 6) | static_cast<uint32_t>(v);
    }
    for (int k = 0; k < 3 - pad; ++k)
      out.push_back(static_cast<char>((group >> (16 - 8 * k)) & 0xFF));
  }
  return out;
}

// normalizer: Sequence[Precompiled, Replace(" {2,}", " ")] (transformers' T5 converter).
// Returns the charsmap.
std::string read_normalizer(const Field& root) {
  const Field norm = root.child("normalizer");
  if (norm.j.is_null()) norm.unsupported("is null");
  norm.expect_type("Sequence");
  const Field list = norm.child("normalizers");
  if (list.array_size() != 2)
    list.unsupported(fmt::format("has {} entries, expected 2", list.array_size()));
  const Field pre = list[0], rep = list[1];
  pre.expect_type("Precompiled");
  const Field blob = pre.child("precompiled_charsmap");
  const std::string charsmap = decode_base64(blob);
  // SentencePiece's layout: uint32 trie size (little endian), the Darts trie, the strings.
  if (!charsmap.empty()) {
    uint32_t trie = 0;
    if (charsmap.size() > 4) std::memcpy(&trie, charsmap.data(), 4);  // little-endian hosts
    if (charsmap.size() <= 4 || trie % 4 != 0 || trie > charsmap.size() - 4)
      blob.fail("is not a SentencePiece precompiled charsmap");
  }
  rep.expect_type("Replace");
  const Field pattern = rep.child("pattern");
  if (!pattern.has("Regex") || pattern.child("Regex").str() != " {2,}")
    pattern.unsupported("must be {\"Regex\": \" {2,}\"}");
  if (rep.child("content").str() != " ") rep.child("content").unsupported("must be \" \"");
  return charsmap;
}

// pre_tokenizer: Metaspace("▁"), a "▁" prepended to every segment, split before each "▁".
// Older tokenizers wrote add_prefix_space, newer prepend_scheme/split; both mean the same here.
void read_pre_tokenizer(const Field& root) {
  const Field pre = root.child("pre_tokenizer");
  if (pre.j.is_null()) pre.unsupported("is null");
  pre.expect_type("Metaspace");
  if (pre.child("replacement").str() != "\xE2\x96\x81")
    pre.child("replacement").unsupported("must be \"\\u2581\"");
  pre.expect_flag("add_prefix_space", true);
  if (pre.has("prepend_scheme") && pre.child("prepend_scheme").str() != "always")
    pre.child("prepend_scheme").unsupported("must be \"always\"");
  pre.expect_flag("split", true);
}

// post_processor: TemplateProcessing "$A </s>". Returns the appended token (the eos piece).
std::string read_post_processor(const Field& root) {
  const Field post = root.child("post_processor");
  if (post.j.is_null()) post.unsupported("is null");
  post.expect_type("TemplateProcessing");
  const Field single = post.child("single");
  if (single.array_size() != 2 || !single[0].has("Sequence") || !single[1].has("SpecialToken"))
    single.unsupported("must be [$A, SpecialToken]");
  if (single[0].child("Sequence").child("id").str() != "A")
    single[0].child("Sequence").child("id").unsupported("must be \"A\"");
  return single[1].child("SpecialToken").child("id").str();
}

struct Vocab {
  std::vector<std::string> pieces;
  std::vector<float> scores;
  std::unordered_map<std::string, int64_t> ids;
};

Vocab read_vocab(const Field& model) {
  const Field list = model.child("vocab");
  const size_t n = list.array_size();
  if (n == 0) list.fail("is empty");
  Vocab v;
  v.pieces.reserve(n);
  v.scores.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    const Field entry = list[i];
    if (!entry.j.is_array() || entry.j.size() != 2) entry.fail("must be [piece, score]");
    std::string piece = entry[0].str();
    if (piece.empty()) entry[0].fail("is an empty piece");
    // Scores are float32 log probabilities printed as float64: the cast is exact.
    const double score = entry[1].number();
    const auto [it, fresh] = v.ids.emplace(piece, static_cast<int64_t>(i));
    if (!fresh) entry[0].fail(fmt::format("repeats the piece of model.vocab[{}]", it->second));
    v.pieces.push_back(std::move(piece));
    v.scores.push_back(static_cast<float>(score));
  }
  return v;
}

// Added tokens as (content, id, special), each checked against the vocabulary.
struct Added {
  std::string content;
  int64_t id;
  bool special;
};

std::vector<Added> read_added_tokens(const Field& root, const Vocab& vocab) {
  std::vector<Added> out;
  if (!root.has("added_tokens")) return out;
  const Field list = root.child("added_tokens");
  std::map<std::string, int64_t> seen;
  for (size_t i = 0; i < list.array_size(); ++i) {
    const Field tok = list[i];
    Added a{tok.child("content").str(), tok.child("id").integer(), false};
    if (tok.has("special")) a.special = tok.child("special").boolean();
    for (const char* flag : {"single_word", "lstrip", "rstrip", "normalized"})
      tok.expect_flag(flag, false);
    if (a.id < 0 || a.id >= static_cast<int64_t>(vocab.pieces.size()))
      tok.child("id").unsupported(
          fmt::format("is {}, outside model.vocab (size {})", a.id, vocab.pieces.size()));
    if (vocab.pieces[a.id] != a.content)
      tok.child("content").fail(
          fmt::format("is '{}' but model.vocab[{}] is '{}'", a.content, a.id, vocab.pieces[a.id]));
    if (!seen.emplace(a.content, a.id).second) tok.child("content").fail("repeats an added token");
    out.push_back(std::move(a));
  }
  return out;
}

std::string normalizer_spec(const std::string& charsmap) {
  // The flags say what the tokenizer.json pipeline does (Metaspace prepends and escapes,
  // Replace squeezes spaces); Umt5Tokenizer switches them off and does that part itself.
  std::string s;
  put_bytes(s, 1, "precompiled");
  put_bytes(s, 2, charsmap);
  put_int(s, 3, 1);
  put_int(s, 4, 1);
  put_int(s, 5, 1);
  return s;
}

std::string trainer_spec(const Vocab& v, const std::vector<SpmPieceType>& types, int64_t unk_id,
                         int64_t eos_id) {
  auto control_id = [&](const char* piece) -> int64_t {
    const auto it = v.ids.find(piece);
    return it != v.ids.end() && it->second < static_cast<int64_t>(types.size()) &&
                   types[it->second] == SpmPieceType::kControl
               ? it->second
               : -1;
  };
  std::string s;
  put_int(s, 3, 1);  // model_type UNIGRAM
  put_int(s, 4, static_cast<int64_t>(types.size()));
  put_int(s, 35, 0);  // byte_fallback
  put_int(s, 40, unk_id);
  put_int(s, 41, control_id("<s>"));
  put_int(s, 42, eos_id);
  put_int(s, 43, control_id("<pad>"));
  put_bytes(s, 45, v.pieces[unk_id]);
  put_bytes(s, 47, v.pieces[eos_id]);
  return s;
}

}  // namespace

std::string spm_bool_field(int field, bool v) {
  std::string s;
  put_int(s, field, v ? 1 : 0);
  return s;
}

std::string spm_string_field(int field, std::string_view v) {
  std::string s;
  put_bytes(s, field, v);
  return s;
}

std::string patch_normalizer(const std::string& model, const std::string& extra,
                             const std::string& what) {
  std::string out;
  bool patched = false;
  size_t i = 0;
  while (i < model.size()) {
    const size_t start = i;
    const uint64_t tag = get_varint(model, i, what);
    const uint64_t field = tag >> 3, wire = tag & 7;
    size_t end = i;
    if (wire == 0) {
      get_varint(model, end, what);
    } else if (wire == 1) {
      end += 8;
    } else if (wire == 5) {
      end += 4;
    } else if (wire == 2) {
      const uint64_t n = get_varint(model, end, what);
      DUET_CHECK(n <= model.size() - end, "{}: truncated SentencePiece model", what);
      if (field == 3) {
        std::string spec = model.substr(end, n) + extra;
        put_tag(out, 3, 2);
        put_varint(out, spec.size());
        out += spec;
        i = end + n;
        patched = true;
        continue;
      }
      end += n;
    } else {
      DUET_FAIL("{}: malformed SentencePiece model (wire type {})", what, wire);
    }
    DUET_CHECK(end <= model.size(), "{}: truncated SentencePiece model", what);
    out.append(model, start, end - start);
    i = end;
  }
  DUET_CHECK(patched, "{}: SentencePiece model has no normalizer_spec", what);
  return out;
}

TokenizerJsonModel spm_model_from_tokenizer_json(std::string_view text, const std::string& source) {
  const nlohmann::json j = parse_json(text, source);
  const Field root{j, "", source};
  if (!j.is_object()) DUET_FAIL("'{}': expected a JSON object; {}", source, kSupported);

  const Field model = root.child("model");
  model.expect_type("Unigram");
  model.expect_flag("byte_fallback", false);
  const Vocab vocab = read_vocab(model);
  const auto n = static_cast<int64_t>(vocab.pieces.size());
  const Field unk = model.child("unk_id");
  if (unk.j.is_null()) unk.unsupported("is null (SentencePiece needs an unknown piece)");
  const int64_t unk_id = unk.integer();
  if (unk_id < 0 || unk_id >= n)
    unk.fail(fmt::format("is {}, outside model.vocab (size {})", unk_id, n));

  const std::string charsmap = read_normalizer(root);
  read_pre_tokenizer(root);
  const std::string eos = read_post_processor(root);
  const auto added = read_added_tokens(root, vocab);

  // The SentencePiece pieces come first; added tokens at the end of the vocabulary are the
  // converter's extra ids (T5: <extra_id_N>), which SentencePiece never produces.
  std::vector<const Added*> by_id(n, nullptr);
  for (const auto& a : added) by_id[a.id] = &a;
  int64_t n_spm = n;
  while (n_spm > 0 && by_id[n_spm - 1] != nullptr) --n_spm;
  DUET_CHECK(unk_id < n_spm, "'{}': field 'model.unk_id' is {}, an added token", source, unk_id);
  const auto eos_it = vocab.ids.find(eos);
  DUET_CHECK(eos_it != vocab.ids.end() && eos_it->second < n_spm && eos_it->second != unk_id,
             "'{}': field 'post_processor.single[1].SpecialToken.id' is '{}', not a control "
             "piece of model.vocab",
             source, eos);
  const int64_t eos_id = eos_it->second;

  TokenizerJsonModel out;
  out.extra_ids = n - n_spm;
  for (const auto& a : added) out.added_tokens.emplace_back(a.content, a.id);
  std::vector<SpmPieceType> types(n_spm, SpmPieceType::kNormal);
  for (int64_t i = 0; i < n_spm; ++i) {
    if (i == unk_id)
      types[i] = SpmPieceType::kUnknown;
    else if (i == eos_id || (by_id[i] != nullptr && by_id[i]->special))
      types[i] = SpmPieceType::kControl;
    else if (by_id[i] != nullptr)
      types[i] = SpmPieceType::kUserDefined;
  }
  std::string& proto = out.spm_proto;
  proto.reserve(static_cast<size_t>(n_spm) * 24 + charsmap.size() + 256);
  for (int64_t i = 0; i < n_spm; ++i) {
    std::string piece;
    put_bytes(piece, 1, vocab.pieces[i]);
    put_float(piece, 2, vocab.scores[i]);
    put_int(piece, 3, static_cast<int>(types[i]));
    put_bytes(proto, 1, piece);
  }
  put_bytes(proto, 2, trainer_spec(vocab, types, unk_id, eos_id));
  put_bytes(proto, 3, normalizer_spec(charsmap));
  return out;
}

}  // namespace duet
