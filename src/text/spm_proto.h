#pragma once
// SentencePiece ModelProto (src/sentencepiece_model.proto of google/sentencepiece) in protobuf
// wire format, read and written by hand: the Debian libsentencepiece ships no generated
// protobuf headers. Two uses:
//  - patch_normalizer(): variants of a model with a different NormalizerSpec (Umt5Tokenizer
//    runs one processor for normalisation and one for segmentation);
//  - spm_model_from_tokenizer_json(): the ModelProto that a Hugging Face tokenizer.json of the
//    umT5 kind (Unigram + Precompiled charsmap + Metaspace) was converted from, so a folder
//    without spiece.model goes through the same libsentencepiece code.
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace duet {

// ModelProto.SentencePiece.Type.
enum class SpmPieceType : int { kNormal = 1, kUnknown = 2, kControl = 3, kUserDefined = 4 };

// `model` with `extra` (serialized NormalizerSpec fields) appended to its normalizer_spec:
// for scalar and string fields the last occurrence wins, so appended values override the
// model's. `what` names the model in errors.
std::string patch_normalizer(const std::string& model, const std::string& extra,
                             const std::string& what);

// Serialized NormalizerSpec fields (1 name, 2 precompiled_charsmap, 3 add_dummy_prefix,
// 4 remove_extra_whitespaces, 5 escape_whitespaces).
std::string spm_bool_field(int field, bool v);
std::string spm_string_field(int field, std::string_view v);

struct TokenizerJsonModel {
  std::string spm_proto;  // serialized ModelProto of the SentencePiece part of the vocabulary
  // Vocabulary entries after the SentencePiece pieces: umT5's <extra_id_N> sentinels.
  int64_t extra_ids = 0;
  // Every added token (content, id), matched on the raw text before normalisation.
  std::vector<std::pair<std::string, int64_t>> added_tokens;
};

// Parses the text of a tokenizer.json (`source` names it in errors). Supported: what
// transformers' T5 converter writes for umT5 and what tokenizers re-saves it as — a Unigram
// model, normalizer Sequence[Precompiled, Replace(" {2,}" -> " ")], Metaspace("▁", prepend
// always, split), post-processor "$A </s>", added tokens without strip/normalise options.
// Anything else is a one-line duet::Error naming the file and the field.
TokenizerJsonModel spm_model_from_tokenizer_json(std::string_view text, const std::string& source);

}  // namespace duet
