#include "text/tokenizer.h"

#include <sentencepiece_processor.h>
#include <spdlog/spdlog.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/error.h"
#include "io/json_util.h"
#include "text/spm_proto.h"

namespace duet {
namespace fs = std::filesystem;

namespace {

// NormalizerSpec fields 3 add_dummy_prefix, 4 remove_extra_whitespaces, 5 escape_whitespaces:
// the HF pipeline's whitespace handling is done in encode_segment(), not by SentencePiece.
std::string whitespace_off() {
  return spm_bool_field(3, false) + spm_bool_field(4, false) + spm_bool_field(5, false);
}

std::unique_ptr<sentencepiece::SentencePieceProcessor> load_processor(const std::string& proto,
                                                                      const std::string& what) {
  auto sp = std::make_unique<sentencepiece::SentencePieceProcessor>();
  const auto status = sp->LoadFromSerializedProto(proto);
  DUET_CHECK(status.ok(), "{}: not a usable SentencePiece model ({})", what, status.ToString());
  return sp;
}

std::string read_bytes(const fs::path& path) {
  return read_file_bytes(path.string(), "tokenizer model");
}

constexpr const char* kMetaspace = "\xE2\x96\x81";  // U+2581, SentencePiece's space

}  // namespace

void TokenizerConfig::validate() const {
  DUET_CHECK(text_len >= 1, "tokenizer text_len must be >= 1, got {}", text_len);
  DUET_CHECK(extra_ids >= 0, "tokenizer extra_ids must be >= 0, got {}", extra_ids);
}

Umt5Tokenizer::Umt5Tokenizer(TokenizerConfig config) : config_(config) { config_.validate(); }

Umt5Tokenizer::Umt5Tokenizer(const fs::path& spiece_model, TokenizerConfig config)
    : Umt5Tokenizer(config) {
  const std::string what = spiece_model.string();
  DUET_CHECK(fs::is_regular_file(spiece_model), "tokenizer model '{}' not found", what);
  load(read_bytes(spiece_model), what, nullptr);
}

Umt5Tokenizer Umt5Tokenizer::from_tokenizer_json(const fs::path& file, TokenizerConfig config) {
  const std::string what = file.string();
  DUET_CHECK(fs::is_regular_file(file), "tokenizer file '{}' not found", what);
  const TokenizerJsonModel m = spm_model_from_tokenizer_json(read_bytes(file), what);
  config.extra_ids = m.extra_ids;
  Umt5Tokenizer tok(config);
  tok.load(m.spm_proto, what, &m.added_tokens);
  return tok;
}

void Umt5Tokenizer::load(const std::string& model, const std::string& what,
                         const AddedTokens* added) {
  // Normalisation only: the model's own charsmap, spaces kept as they are.
  normalizer_ = load_processor(patch_normalizer(model, whitespace_off(), what), what);
  // Segmentation only: identity normaliser (empty charsmap), Unigram as trained.
  segmenter_ = load_processor(
      patch_normalizer(model,
                       spm_string_field(1, "identity") + spm_string_field(2, "") + whitespace_off(),
                       what),
      what);

  pad_id_ = segmenter_->pad_id();
  eos_id_ = segmenter_->eos_id();
  unk_id_ = segmenter_->unk_id();
  DUET_CHECK(eos_id_ >= 0, "{}: SentencePiece model defines no </s> (eos) piece", what);
  const int n = segmenter_->GetPieceSize();
  for (int id : {pad_id_, eos_id_, unk_id_, static_cast<int64_t>(segmenter_->bos_id())})
    if (id >= 0) special_[segmenter_->IdToPiece(id)] = id;
  if (added != nullptr) {
    for (const auto& [piece, id] : *added) special_[piece] = id;
    return;
  }
  // umT5 appends <extra_id_N> in reverse: <extra_id_0> is the last id.
  for (int64_t i = 0; i < config_.extra_ids; ++i)
    special_["<extra_id_" + std::to_string(config_.extra_ids - 1 - i) + ">"] = n + i;
}

Umt5Tokenizer::~Umt5Tokenizer() = default;
Umt5Tokenizer::Umt5Tokenizer(Umt5Tokenizer&&) noexcept = default;
Umt5Tokenizer& Umt5Tokenizer::operator=(Umt5Tokenizer&&) noexcept = default;

Umt5Tokenizer Umt5Tokenizer::from_dir(const fs::path& dir, TokenizerConfig config) {
  if (fs::is_regular_file(dir)) {
    if (dir.extension() == ".json") return from_tokenizer_json(dir, config);
    return Umt5Tokenizer(dir, config);
  }
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
  if (fs::is_regular_file(dir / "tokenizer.json"))
    return from_tokenizer_json(dir / "tokenizer.json", config);
  DUET_FAIL("tokenizer folder '{}' has no spiece.model (nor tokenizer.json)", dir.string());
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
