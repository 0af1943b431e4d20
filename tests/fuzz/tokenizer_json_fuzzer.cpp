// Fuzzes the reading of Hugging Face tokenizer.json files (src/text/spm_proto.h): parsing,
// field checks and the synthesised SentencePiece ModelProto, which must be well-formed
// protobuf (patch_normalizer walks all of it). Every failure must be a duet::Error.
// spm_proto.cpp is torch-free and lives in duet_base, which fuzz targets link.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "core/error.h"
#include "text/spm_proto.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  try {
    const auto m = duet::spm_model_from_tokenizer_json(text, "fuzz/tokenizer.json");
    duet::patch_normalizer(m.spm_proto, duet::spm_bool_field(3, false), "fuzz");
  } catch (const duet::Error&) {
  }
  return 0;
}
