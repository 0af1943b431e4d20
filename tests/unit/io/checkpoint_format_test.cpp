// Format detection by content: a safetensors header length whose low byte is 0x80 must not be
// taken for the pickle protocol byte of a legacy torch.save file.
#include <gtest/gtest.h>

#include <cstdint>
#include <string>

#include "io/checkpoint.h"
#include "io/weight_store.h"
#include "support/test_support.h"

namespace duet {
namespace {

// A one-byte U8 tensor "x" = 7 behind a header padded with spaces to `header_len` bytes.
std::string safetensors_bytes(uint64_t header_len) {
  std::string header = R"({"x":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}})";
  header.resize(header_len, ' ');
  std::string out;
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((header_len >> (8 * i)) & 0xff));
  return out + header + std::string(1, '\x07');
}

TEST(CheckpointFormat, SafetensorsWhoseHeaderLengthStartsWith0x80) {
  test::TempDir dir;
  for (uint64_t len : {128, 384, 640}) {
    for (const std::string name : {"w.safetensors", "w.bin"}) {
      const auto path = dir / name;
      test::write_file(path, safetensors_bytes(len));
      EXPECT_EQ(detect_checkpoint_format(path.string()), CheckpointFormat::kSafetensors)
          << name << " header " << len;
      WeightStore store({path.string()});
      EXPECT_EQ(store.load("x").item<uint8_t>(), 7);
    }
  }
}

}  // namespace
}  // namespace duet
