#include "media/xmp_embed.h"

extern "C" {
#include <libavutil/crc.h>
}

#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>

#include "core/error.h"

namespace duet::media {

namespace fs = std::filesystem;

namespace {

void put_be32(std::vector<uint8_t>& out, uint32_t v) {
  for (int shift : {24, 16, 8, 0}) out.push_back(static_cast<uint8_t>(v >> shift));
}
void put_le32(std::vector<uint8_t>& out, uint32_t v) {
  for (int shift : {0, 8, 16, 24}) out.push_back(static_cast<uint8_t>(v >> shift));
}
void set_le32(std::vector<uint8_t>& buf, size_t at, uint32_t v) {
  for (int i = 0; i < 4; ++i) buf[at + i] = static_cast<uint8_t>(v >> (8 * i));
}
uint32_t get_be32(const std::vector<uint8_t>& buf, size_t at) {
  return static_cast<uint32_t>(buf[at]) << 24 | buf[at + 1] << 16 | buf[at + 2] << 8 | buf[at + 3];
}
void append_bytes(std::vector<uint8_t>& out, const void* data, size_t size) {
  const auto* p = static_cast<const uint8_t*>(data);
  out.insert(out.end(), p, p + size);
}

std::vector<uint8_t> read_all(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  DUET_CHECK(in, "cannot reopen '{}' to add its XMP metadata", file.string());
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void write_all(const fs::path& file, const std::vector<uint8_t>& bytes) {
  std::ofstream out(file, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(bytes.data()),
            static_cast<std::streamsize>(bytes.size()));
  DUET_CHECK(out.good(), "cannot write the XMP metadata into '{}' (disk full?)", file.string());
}

void append_to_file(const fs::path& file, const std::vector<uint8_t>& bytes) {
  std::ofstream out(file, std::ios::binary | std::ios::app);
  out.write(reinterpret_cast<const char*>(bytes.data()),
            static_cast<std::streamsize>(bytes.size()));
  DUET_CHECK(out.good(), "cannot append the XMP metadata to '{}' (disk full?)", file.string());
}

}  // namespace

void append_mp4_xmp(const fs::path& file, const std::string& xmp) {
  std::vector<uint8_t> box;
  put_be32(box, static_cast<uint32_t>(8 + 16 + xmp.size()));
  append_bytes(box, "uuid", 4);
  append_bytes(box, kXmpUuid, 16);
  append_bytes(box, xmp.data(), xmp.size());
  append_to_file(file, box);
}

void append_wav_xmp(const fs::path& file, const std::string& xmp) {
  std::vector<uint8_t> bytes = read_all(file);
  DUET_CHECK(bytes.size() >= 12 && std::memcmp(bytes.data(), "RIFF", 4) == 0,
             "'{}' is not a RIFF/WAV file; cannot add XMP", file.string());
  append_bytes(bytes, "_PMX", 4);
  put_le32(bytes, static_cast<uint32_t>(xmp.size()));
  append_bytes(bytes, xmp.data(), xmp.size());
  if (xmp.size() % 2) bytes.push_back(0);  // RIFF chunks are word aligned
  set_le32(bytes, 4, static_cast<uint32_t>(bytes.size() - 8));
  write_all(file, bytes);
}

void insert_gif_xmp(const fs::path& file, const std::string& xmp) {
  std::vector<uint8_t> bytes = read_all(file);
  DUET_CHECK(bytes.size() > 13 && std::memcmp(bytes.data(), "GIF8", 4) == 0 && bytes.back() == 0x3B,
             "'{}' is not a complete GIF; cannot add XMP", file.string());
  std::vector<uint8_t> ext = {0x21, 0xFF, 0x0B};
  append_bytes(ext, "XMP DataXMP", 11);
  append_bytes(ext, xmp.data(), xmp.size());
  // The "magic trailer" lets GIF readers skip the raw XMP as if it were sub-blocks (XMP spec
  // part 3, 1.1.2): 0x01, 0xFF down to 0x00, then the block terminator.
  ext.push_back(0x01);
  for (int v = 0xFF; v >= 0; --v) ext.push_back(static_cast<uint8_t>(v));
  ext.push_back(0x00);
  bytes.insert(bytes.end() - 1, ext.begin(), ext.end());
  write_all(file, bytes);
}

void add_webp_xmp(const fs::path& file, const std::string& xmp, int width, int height) {
  std::vector<uint8_t> bytes = read_all(file);
  DUET_CHECK(bytes.size() >= 20 && std::memcmp(bytes.data(), "RIFF", 4) == 0 &&
                 std::memcmp(bytes.data() + 8, "WEBP", 4) == 0,
             "'{}' is not a WebP file; cannot add XMP", file.string());
  constexpr uint8_t kXmpFlag = 0x04;
  if (std::memcmp(bytes.data() + 12, "VP8X", 4) == 0) {
    bytes[20] |= kXmpFlag;
  } else {
    // A simple (single image) file: extended format needs a VP8X chunk in front.
    std::vector<uint8_t> vp8x;
    append_bytes(vp8x, "VP8X", 4);
    put_le32(vp8x, 10);
    vp8x.push_back(kXmpFlag);
    vp8x.insert(vp8x.end(), 3, 0);
    for (int v : {width - 1, height - 1}) {
      for (int i = 0; i < 3; ++i) vp8x.push_back(static_cast<uint8_t>(v >> (8 * i)));
    }
    bytes.insert(bytes.begin() + 12, vp8x.begin(), vp8x.end());
  }
  append_bytes(bytes, "XMP ", 4);
  put_le32(bytes, static_cast<uint32_t>(xmp.size()));
  append_bytes(bytes, xmp.data(), xmp.size());
  if (xmp.size() % 2) bytes.push_back(0);
  set_le32(bytes, 4, static_cast<uint32_t>(bytes.size() - 8));
  write_all(file, bytes);
}

std::vector<uint8_t> add_png_text(const std::vector<uint8_t>& png, const Metadata& tags,
                                  const std::string& xmp) {
  static const uint8_t kSignature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
  DUET_CHECK(png.size() >= 8 + 12 && std::memcmp(png.data(), kSignature, 8) == 0,
             "PNG encoder output is not a PNG stream");
  // Find IEND by walking the chunks (its 12 bytes normally end the stream).
  size_t pos = 8, iend = 0;
  while (pos + 12 <= png.size()) {
    uint32_t length = get_be32(png, pos);
    if (std::memcmp(png.data() + pos + 4, "IEND", 4) == 0) {
      iend = pos;
      break;
    }
    pos += 12 + static_cast<size_t>(length);
  }
  DUET_CHECK(iend > 0, "PNG encoder output has no IEND chunk");

  const AVCRC* crc_table = av_crc_get_table(AV_CRC_32_IEEE_LE);
  std::vector<uint8_t> chunks;
  auto add_itxt = [&](std::string keyword, const std::string& text) {
    // Keywords are 1-79 Latin-1 characters; iTXt keeps the UTF-8 text itself.
    if (keyword.size() > 79) keyword.resize(79);
    std::vector<uint8_t> body;
    append_bytes(body, "iTXt", 4);
    append_bytes(body, keyword.data(), keyword.size());
    body.insert(body.end(), {0, 0, 0, 0, 0});  // NUL, uncompressed, method, no lang, no key
    append_bytes(body, text.data(), text.size());
    put_be32(chunks, static_cast<uint32_t>(body.size() - 4));
    chunks.insert(chunks.end(), body.begin(), body.end());
    uint32_t crc = av_crc(crc_table, 0xFFFFFFFFu, body.data(), body.size()) ^ 0xFFFFFFFFu;
    put_be32(chunks, crc);
  };
  for (const auto& [key, value] : tags) add_itxt(key, value);
  if (!xmp.empty()) add_itxt("XML:com.adobe.xmp", xmp);

  std::vector<uint8_t> out(png.begin(), png.begin() + static_cast<std::ptrdiff_t>(iend));
  out.insert(out.end(), chunks.begin(), chunks.end());
  out.insert(out.end(), png.begin() + static_cast<std::ptrdiff_t>(iend), png.end());
  return out;
}

}  // namespace duet::media
