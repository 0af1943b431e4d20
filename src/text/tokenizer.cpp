#include "text/tokenizer.h"

#include <sentencepiece_processor.h>
#include <spdlog/spdlog.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/error.h"

namespace duet {
namespace fs = std::filesystem;

namespace {

// ---- minimal protobuf surgery on ModelProto.normalizer_spec (sentencepiece_model.proto) ----
// The Debian package ships no generated protobuf headers, so the two normaliser variants are
// made by appending fields to the serialized NormalizerSpec: for scalar and string fields the
// last occurrence wins, so appended values override the model's.

void put_varint(std::string& out, uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<char>((v & 0x7F) | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
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

// Returns the model with `extra` appended to its normalizer_spec (field 3).
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
      if (field == 3) {
        DUET_CHECK(end + n <= model.size(), "{}: truncated SentencePiece model", what);
        std::string spec = model.substr(end, n) + extra;
        put_varint(out, tag);
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

std::string bool_field(int field, bool v) {
  std::string s;
  put_varint(s, static_cast<uint64_t>(field) << 3);
  put_varint(s, v ? 1 : 0);
  return s;
}

std::string string_field(int field, const std::string& v) {
  std::string s;
  put_varint(s, (static_cast<uint64_t>(field) << 3) | 2);
  put_varint(s, v.size());
  return s + v;
}

// NormalizerSpec fields: 1 name, 2 precompiled_charsmap, 3 add_dummy_prefix,
// 4 remove_extra_whitespaces, 5 escape_whitespaces.
std::string whitespace_off() {
  return bool_field(3, false) + bool_field(4, false) + bool_field(5, false);
}

std::unique_ptr<sentencepiece::SentencePieceProcessor> load_processor(const std::string& proto,
                                                                      const std::string& what) {
  auto sp = std::make_unique<sentencepiece::SentencePieceProcessor>();
  const auto status = sp->LoadFromSerializedProto(proto);
  DUET_CHECK(status.ok(), "{}: not a SentencePiece model ({})", what, status.ToString());
  return sp;
}

std::string read_bytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  DUET_CHECK(in.good(), "cannot read tokenizer model '{}'", path.string());
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

constexpr const char* kMetaspace = "\xE2\x96\x81";  // U+2581, SentencePiece's space

}  // namespace

void TokenizerConfig::validate() const {
  DUET_CHECK(text_len >= 1, "tokenizer text_len must be >= 1, got {}", text_len);
  DUET_CHECK(extra_ids >= 0, "tokenizer extra_ids must be >= 0, got {}", extra_ids);
}

Umt5Tokenizer::Umt5Tokenizer(const fs::path& spiece_model, TokenizerConfig config)
    : config_(config) {
  config_.validate();
  const std::string what = spiece_model.string();
  DUET_CHECK(fs::is_regular_file(spiece_model), "tokenizer model '{}' not found", what);
  const std::string model = read_bytes(spiece_model);
  // Normalisation only: the model's own charsmap, spaces kept as they are.
  normalizer_ = load_processor(patch_normalizer(model, whitespace_off(), what), what);
  // Segmentation only: identity normaliser (empty charsmap), Unigram as trained.
  segmenter_ = load_processor(
      patch_normalizer(model, string_field(1, "identity") + string_field(2, "") + whitespace_off(),
                       what),
      what);

  pad_id_ = segmenter_->pad_id();
  eos_id_ = segmenter_->eos_id();
  unk_id_ = segmenter_->unk_id();
  DUET_CHECK(eos_id_ >= 0, "{}: SentencePiece model defines no </s> (eos) piece", what);
  const int n = segmenter_->GetPieceSize();
  for (int id : {pad_id_, eos_id_, unk_id_, static_cast<int64_t>(segmenter_->bos_id())})
    if (id >= 0) special_[segmenter_->IdToPiece(id)] = id;
  // umT5 appends <extra_id_N> in reverse: <extra_id_0> is the last id.
  for (int64_t i = 0; i < config_.extra_ids; ++i)
    special_["<extra_id_" + std::to_string(config_.extra_ids - 1 - i) + ">"] = n + i;
}

Umt5Tokenizer::~Umt5Tokenizer() = default;
Umt5Tokenizer::Umt5Tokenizer(Umt5Tokenizer&&) noexcept = default;
Umt5Tokenizer& Umt5Tokenizer::operator=(Umt5Tokenizer&&) noexcept = default;

Umt5Tokenizer Umt5Tokenizer::from_dir(const fs::path& dir, TokenizerConfig config) {
  if (fs::is_regular_file(dir)) return Umt5Tokenizer(dir, config);
  DUET_CHECK(fs::is_directory(dir), "tokenizer folder '{}' not found", dir.string());
  const auto cfg_path = dir / "tokenizer_config.json";
  if (fs::is_regular_file(cfg_path)) {
    const auto j = nlohmann::json::parse(read_bytes(cfg_path), nullptr, /*allow_exceptions=*/false);
    DUET_CHECK(!j.is_discarded(), "'{}' is not valid JSON", cfg_path.string());
    if (j.contains("extra_ids") && j["extra_ids"].is_number_integer())
      config.extra_ids = j["extra_ids"].get<int64_t>();
  }
  for (const char* name : {"spiece.model", "tokenizer.model"})
    if (fs::is_regular_file(dir / name)) return Umt5Tokenizer(dir / name, config);
  DUET_CHECK(
      !fs::is_regular_file(dir / "tokenizer.json"),
      "tokenizer folder '{}' has tokenizer.json but no spiece.model: duet needs spiece.model "
      "(its normaliser is SentencePiece's precompiled charsmap); copy spiece.model from "
      "google/umt5-xxl",
      dir.string());
  DUET_FAIL("tokenizer folder '{}' has no spiece.model", dir.string());
}

int64_t Umt5Tokenizer::vocab_size() const { return segmenter_->GetPieceSize() + config_.extra_ids; }

void Umt5Tokenizer::encode_segment(const std::string& text, std::vector<int64_t>& out) const {
  // Precompiled charsmap: the normalised text is the concatenation of the pieces.
  std::vector<std::string> pieces;
  const auto status = normalizer_->Encode(text, &pieces);
  DUET_CHECK(status.ok(), "tokenizer failed: {}", status.ToString());
  std::string normalized;
  for (const auto& p : pieces) normalized += p;
  // Replace(" {2,}", " "), then Metaspace: spaces become "▁", "▁" prepended unless present.
  std::string meta;
  bool prev_space = false;
  for (char c : normalized) {
    if (c == ' ') {
      if (!prev_space) meta += kMetaspace;
      prev_space = true;
    } else {
      meta += c;
      prev_space = false;
    }
  }
  if (meta.empty()) return;
  if (meta.rfind(kMetaspace, 0) != 0) meta = kMetaspace + meta;
  // Split before every "▁" and run the Unigram on each word on its own.
  size_t begin = 0;
  while (begin < meta.size()) {
    size_t next = meta.find(kMetaspace, begin + 3);
    if (next == std::string::npos) next = meta.size();
    std::vector<int> ids;
    const auto st = segmenter_->Encode(std::string_view(meta).substr(begin, next - begin), &ids);
    DUET_CHECK(st.ok(), "tokenizer failed: {}", st.ToString());
    out.insert(out.end(), ids.begin(), ids.end());
    begin = next;
  }
}

TokenizedText Umt5Tokenizer::encode(const std::string& raw) const {
  const std::string text = config_.clean ? wan_clean(raw) : raw;
  TokenizedText result;
  // Added tokens are matched on the raw text, leftmost and longest first, never normalised.
  size_t seg_begin = 0, i = 0;
  while (i < text.size()) {
    if (text[i] == '<') {
      size_t best_len = 0;
      int64_t best_id = -1;
      for (const auto& [piece, id] : special_)
        if (piece.size() > best_len && text.compare(i, piece.size(), piece) == 0) {
          best_len = piece.size();
          best_id = id;
        }
      if (best_len > 0) {
        encode_segment(text.substr(seg_begin, i - seg_begin), result.ids);
        result.ids.push_back(best_id);
        i += best_len;
        seg_begin = i;
        continue;
      }
    }
    ++i;
  }
  encode_segment(text.substr(seg_begin), result.ids);
  // truncation=True, max_length=text_len: "$A </s>" keeps text_len - 1 tokens of A.
  if (static_cast<int64_t>(result.ids.size()) > config_.text_len - 1)
    result.ids.resize(config_.text_len - 1);
  result.ids.push_back(eos_id_);
  return result;
}

}  // namespace duet
