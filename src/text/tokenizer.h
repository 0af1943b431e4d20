#pragma once
// umT5 tokenizer: google/umt5-xxl's SentencePiece model driven the way Wan drives the Hugging
// Face tokenizer (wan/modules/tokenizers.py HuggingfaceTokenizer, clean='whitespace', padding
// to max_length 512, truncation, "$A </s>").
//
//   Umt5Tokenizer tok = Umt5Tokenizer::from_dir("Wan2.1-T2V-1.3B/google/umt5-xxl");
//   TokenizedText t = tok.encode(wan_clean(prompt));   // ids end with </s>, at most 512
//
// The ids equal those of the tokenizer.json pipeline that transformers' T5TokenizerFast runs
// (tokenizers: added-token split, Precompiled charsmap + " {2,}" -> " ", Metaspace with a
// prepended "▁" and a split before every "▁", Unigram per word with unknowns fused). We get
// there with libsentencepiece: one processor carries the model's own charsmap with the
// whitespace handling switched off (normalisation only), a second one runs the same Unigram
// Viterbi on each word with an identity normaliser.
//
// transformers 5.x's T5Tokenizer differs in one place: it hard-codes unk_id=2 (<s>), so an
// unknown character there gets id 2 instead of umT5's <unk> 3. Wan was released against
// transformers 4.x, whose T5TokenizerFast loads tokenizer.json (unk_id 3); we follow that.
//
// A folder with only tokenizer.json works too: its Unigram vocabulary, charsmap and added
// tokens are turned back into the SentencePiece model the converter read (text/spm_proto.h),
// and that goes through the same two processors. spiece.model is preferred when both exist.
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace sentencepiece {
class SentencePieceProcessor;
}

namespace duet {

struct TokenizerConfig {
  int64_t text_len = 512;  // Wan's text_len: ids are truncated to it, </s> kept last
  // Number of <extra_id_N> sentinels after the SentencePiece pieces (umT5: 300). Read from
  // tokenizer_config.json "extra_ids" when the folder has one.
  int64_t extra_ids = 300;
  bool clean = true;  // apply wan_clean() before tokenizing, as Wan's T5EncoderModel does

  void validate() const;
};

struct TokenizedText {
  std::vector<int64_t> ids;  // real tokens, </s> last; size() <= text_len
};

class Umt5Tokenizer {
 public:
  // `spiece_model`: path of spiece.model (or duet's tokenizer.model).
  explicit Umt5Tokenizer(const std::filesystem::path& spiece_model, TokenizerConfig config = {});
  ~Umt5Tokenizer();
  Umt5Tokenizer(Umt5Tokenizer&&) noexcept;
  Umt5Tokenizer& operator=(Umt5Tokenizer&&) noexcept;

  // A google/umt5-xxl folder (Wan original), a diffusers tokenizer/ folder, or the file itself
  // (spiece.model, tokenizer.model or tokenizer.json).
  static Umt5Tokenizer from_dir(const std::filesystem::path& dir, TokenizerConfig config = {});
  // A Hugging Face tokenizer.json of the umT5 kind; config.extra_ids is taken from it.
  static Umt5Tokenizer from_tokenizer_json(const std::filesystem::path& file,
                                           TokenizerConfig config = {});

  // Cleans (when config.clean), splits, truncates, appends </s>. No padding.
  TokenizedText encode(const std::string& text) const;

  const TokenizerConfig& config() const { return config_; }
  int64_t pad_id() const { return pad_id_; }
  int64_t eos_id() const { return eos_id_; }
  int64_t unk_id() const { return unk_id_; }
  // SentencePiece pieces plus the extra ids.
  int64_t vocab_size() const;

 private:
  using AddedTokens = std::vector<std::pair<std::string, int64_t>>;
  explicit Umt5Tokenizer(TokenizerConfig config);
  // Builds both processors from a serialized ModelProto. `added`: the tokens matched on the
  // raw text besides the model's control pieces; null means <extra_id_N> after the pieces.
  void load(const std::string& model, const std::string& what, const AddedTokens* added);
  // One added-token-free stretch of text -> ids (normalise, Metaspace, Unigram per word).
  void encode_segment(const std::string& text, std::vector<int64_t>& out) const;

  TokenizerConfig config_;
  std::unique_ptr<sentencepiece::SentencePieceProcessor> normalizer_;
  std::unique_ptr<sentencepiece::SentencePieceProcessor> segmenter_;
  std::map<std::string, int64_t> special_;  // added tokens matched on the raw text
  int64_t pad_id_ = 0, eos_id_ = 1, unk_id_ = 3;
};

// Wan's clean='whitespace': whitespace_clean(basic_clean(text)), where basic_clean is
// ftfy.fix_text, html.unescape twice and strip. Of ftfy we apply the fixes that change
// ordinary text: curly quotes to straight ones and removal of the control characters ftfy
// drops; NFC, ligatures and full-width forms are left to the tokenizer's NFKC charsmap, which
// maps them the same way. Skipped: ftfy's mojibake repair (text decoded with the wrong codec,
// e.g. "cafÃ©"), which needs its codec tables; such prompts keep their garbled characters.
// HTML: numeric references and the common named entities (see tokenizer.cpp).
std::string wan_clean(const std::string& text);

}  // namespace duet
