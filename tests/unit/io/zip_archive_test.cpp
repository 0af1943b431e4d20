#include "io/zip_archive.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "core/error.h"
#include "support/test_support.h"

namespace duet {
namespace {

using ::testing::HasSubstr;

void put16(std::string& s, uint64_t v) {
  for (int i = 0; i < 2; ++i) s += static_cast<char>((v >> (8 * i)) & 0xff);
}
void put32(std::string& s, uint64_t v) {
  for (int i = 0; i < 4; ++i) s += static_cast<char>((v >> (8 * i)) & 0xff);
}
void put64(std::string& s, uint64_t v) {
  for (int i = 0; i < 8; ++i) s += static_cast<char>((v >> (8 * i)) & 0xff);
}

struct TestEntry {
  std::string name;
  std::string data;
  uint16_t method = 0;
  uint16_t flags = 0;
};

struct ZipOptions {
  bool zip64 = false;  // ZIP64 extra fields in every header and ZIP64 end records
  std::string comment;
};

// Writes archives by hand (CRCs left zero: the reader does not check them) so tests can
// produce layouts no library would.
std::string build_zip(const std::vector<TestEntry>& entries, const ZipOptions& opt = {}) {
  std::string out, central;
  for (const TestEntry& e : entries) {
    const uint64_t offset = out.size();
    const uint64_t size32 = opt.zip64 ? 0xFFFFFFFF : e.data.size();
    put32(out, 0x04034b50);
    put16(out, 45), put16(out, e.flags), put16(out, e.method), put32(out, 0), put32(out, 0);
    put32(out, size32), put32(out, size32), put16(out, e.name.size()), put16(out, 0);
    out += e.name + e.data;

    std::string extra;
    if (opt.zip64) {
      put16(extra, 1), put16(extra, 24);
      put64(extra, e.data.size()), put64(extra, e.data.size()), put64(extra, offset);
    }
    put32(central, 0x02014b50);
    put16(central, 45), put16(central, 45), put16(central, e.flags), put16(central, e.method);
    put32(central, 0), put32(central, 0), put32(central, size32), put32(central, size32);
    put16(central, e.name.size()), put16(central, extra.size()), put16(central, 0);
    put16(central, 0), put16(central, 0), put32(central, 0);
    put32(central, opt.zip64 ? 0xFFFFFFFF : offset);
    central += e.name + extra;
  }
  const uint64_t cd_offset = out.size();
  out += central;
  if (opt.zip64) {
    const uint64_t z64 = out.size();
    put32(out, 0x06064b50), put64(out, 44), put16(out, 45), put16(out, 45);
    put32(out, 0), put32(out, 0), put64(out, entries.size()), put64(out, entries.size());
    put64(out, central.size()), put64(out, cd_offset);
    put32(out, 0x07064b50), put32(out, 0), put64(out, z64), put32(out, 1);
  }
  put32(out, 0x06054b50), put16(out, 0), put16(out, 0);
  put16(out, opt.zip64 ? 0xFFFF : entries.size()), put16(out, opt.zip64 ? 0xFFFF : entries.size());
  put32(out, opt.zip64 ? 0xFFFFFFFF : central.size());
  put32(out, opt.zip64 ? 0xFFFFFFFF : cd_offset);
  put16(out, opt.comment.size());
  return out + opt.comment;
}

std::shared_ptr<const MappedFile> as_file(const std::string& bytes) {
  return MappedFile::from_bytes("test.zip", std::vector<uint8_t>(bytes.begin(), bytes.end()));
}

std::string content(const ZipEntry& e) {
  return std::string(reinterpret_cast<const char*>(e.data), e.size);
}

template <typename F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "<no duet::Error>";
}

const std::vector<TestEntry> kEntries = {
    {"arch/data.pkl", "pickle bytes"}, {"arch/data/0", std::string(24, 'x')}, {"arch/empty", ""}};

void expect_entries(const ZipArchive& zip) {
  ASSERT_EQ(zip.entries().size(), 3u);
  for (size_t i = 0; i < kEntries.size(); ++i) {
    EXPECT_EQ(zip.entries()[i].name, kEntries[i].name);
    const ZipEntry* e = zip.find(kEntries[i].name);
    ASSERT_NE(e, nullptr) << kEntries[i].name;
    EXPECT_EQ(content(*e), kEntries[i].data);
  }
  EXPECT_EQ(zip.find("arch/missing"), nullptr);
  EXPECT_EQ(zip.find("arch"), nullptr);
}

TEST(ZipArchive, StoredEntriesAreViewsIntoTheFile) {
  auto file = as_file(build_zip(kEntries));
  ZipArchive zip(file);
  expect_entries(zip);
  const ZipEntry* e = zip.find("arch/data/0");
  EXPECT_GE(e->data, file->data());
  EXPECT_LE(e->data + e->size, file->data() + file->size());
}

TEST(ZipArchive, Zip64RecordsAndExtraFields) {
  ZipArchive zip(as_file(build_zip(kEntries, {.zip64 = true})));
  expect_entries(zip);
}

TEST(ZipArchive, CommentUpTo64KiBEvenWhenItContainsTheSignature) {
  std::string comment(0xFFFF, 'c');
  const std::string fake = std::string("PK\x05\x06", 4) + std::string(16, '\0') + "\x01";
  comment.replace(100, fake.size(), fake);
  comment.replace(comment.size() - fake.size() - 2, fake.size(), fake);
  ZipArchive zip(as_file(build_zip(kEntries, {.comment = comment})));
  expect_entries(zip);
  ZipArchive zip64(as_file(build_zip(kEntries, {.zip64 = true, .comment = comment})));
  expect_entries(zip64);
}

TEST(ZipArchive, TrailingBytesAfterTheEndRecordAreTolerated) {
  ZipArchive zip(as_file(build_zip(kEntries) + "junk"));
  expect_entries(zip);
}

TEST(ZipArchive, EmptyArchive) {
  ZipArchive zip(as_file(build_zip({})));
  EXPECT_TRUE(zip.entries().empty());
}

TEST(ZipArchive, CompressedEntryIsListedButNotReadable) {
  auto entries = kEntries;
  entries[1].method = 8;
  ZipArchive zip(as_file(build_zip(entries)));
  EXPECT_EQ(zip.entries()[1].method, 8);
  EXPECT_EQ(zip.entries()[1].data, nullptr);
  EXPECT_NE(zip.find("arch/data.pkl"), nullptr);
  const std::string msg = error_of([&] { zip.find("arch/data/0"); });
  EXPECT_THAT(msg, HasSubstr("test.zip: ZIP entry 'arch/data/0' is compressed (method 8)"));
  EXPECT_THAT(msg, HasSubstr("re-save the checkpoint with torch.save"));
}

TEST(ZipArchive, EncryptedEntryIsRejected) {
  auto entries = kEntries;
  entries[0].flags = 1;
  EXPECT_THAT(error_of([&] { ZipArchive zip(as_file(build_zip(entries))); }),
              HasSubstr("'arch/data.pkl' is encrypted"));
}

TEST(ZipArchive, DuplicateNamesAreRejected) {
  auto entries = kEntries;
  entries[2].name = entries[0].name;
  EXPECT_THAT(error_of([&] { ZipArchive zip(as_file(build_zip(entries))); }),
              HasSubstr("appears twice"));
}

TEST(ZipArchive, NotAZipFile) {
  EXPECT_THAT(error_of([] { ZipArchive zip(as_file("")); }), HasSubstr("too short"));
  EXPECT_THAT(error_of([] { ZipArchive zip(as_file(std::string(100, 'z'))); }),
              HasSubstr("no end of central directory"));
}

TEST(ZipArchive, EveryTruncationIsAnError) {
  for (const bool zip64 : {false, true}) {
    const std::string bytes = build_zip(kEntries, {.zip64 = zip64});
    for (size_t n = 0; n < bytes.size(); ++n) {
      EXPECT_THROW(ZipArchive zip(as_file(bytes.substr(0, n))), Error) << n;
    }
  }
}

size_t first_central(const std::string& bytes) { return bytes.find(std::string("PK\x01\x02", 4)); }

void set32(std::string& s, size_t pos, uint32_t v) {
  for (int i = 0; i < 4; ++i) s[pos + i] = static_cast<char>((v >> (8 * i)) & 0xff);
}
void set16(std::string& s, size_t pos, uint16_t v) {
  for (int i = 0; i < 2; ++i) s[pos + i] = static_cast<char>((v >> (8 * i)) & 0xff);
}

TEST(ZipArchive, OutOfRangeFieldsAreErrors) {
  const std::string good = build_zip(kEntries);
  const size_t eocd = good.size() - 22;
  const size_t cd = first_central(good);
  struct Case {
    const char* what;
    size_t pos;
    int width;
    uint32_t value;
    const char* message;
  };
  const Case cases[] = {
      {"cd offset", eocd + 16, 4, 0xFFFFFFF0, "central directory"},
      {"cd size", eocd + 12, 4, 0x7FFFFFFF, "runs past the end"},
      {"entry count", eocd + 10, 2, 0xFFFE, "claims 65534 entries"},
      {"disk number", eocd + 4, 2, 1, "multi-disk"},
      {"name length", cd + 28, 2, 0xFFFF, "runs past the directory"},
      {"data size", cd + 24, 4, 0x7FFFFFFF, "compressed size"},
      {"both sizes", cd + 20, 8, 0x7FFFFFFF, "runs past the end of the file"},
      {"local offset", cd + 42, 4, 0x7FFFFFFF, "local header"},
      {"local offset into data", cd + 42, 4, 5, "local header"},
      {"signature", cd, 4, 0x12345678, "central directory entry 0"},
      {"zip64 marker without locator", eocd + 16, 4, 0xFFFFFFFF, "ZIP64"},
  };
  for (const Case& c : cases) {
    std::string bad = good;
    if (c.width == 2) set16(bad, c.pos, c.value);
    if (c.width == 4) set32(bad, c.pos, c.value);
    if (c.width == 8) set32(bad, c.pos, c.value), set32(bad, c.pos + 4, c.value);
    const std::string msg = error_of([&] { ZipArchive zip(as_file(bad)); });
    EXPECT_THAT(msg, HasSubstr("test.zip: ")) << c.what;
    EXPECT_THAT(msg, HasSubstr(c.message)) << c.what;
  }
}

TEST(ZipArchive, SizesPastTheFileAreErrorsInZip64Too) {
  const std::string good = build_zip(kEntries, {.zip64 = true});
  const size_t cd = first_central(good);
  const size_t extra = cd + 46 + kEntries[0].name.size() + 4;
  for (const size_t field : {extra, extra + 8, extra + 16}) {
    std::string bad = good;
    for (int i = 0; i < 8; ++i) bad[field + i] = '\xff';
    EXPECT_THROW(ZipArchive zip(as_file(bad)), Error) << field - extra;
  }
  std::string no_extra = good;
  set16(no_extra, cd + 30, 0);  // extra length 0, yet sizes are 0xFFFFFFFF
  EXPECT_THROW(ZipArchive zip(as_file(no_extra)), Error);
}

TEST(ZipArchive, ReadsTheZip64Fixture) {
  ZipArchive zip(MappedFile::open((test::data_dir() / "pth" / "zip64.pth").string()));
  ASSERT_NE(zip.find("any_name/data.pkl"), nullptr);
  ASSERT_NE(zip.find("any_name/byteorder"), nullptr);
  EXPECT_EQ(content(*zip.find("any_name/byteorder")), "little");
  // The fixture pads local headers so storages are 64-byte aligned, as torch does.
  const ZipEntry* storage = zip.find("any_name/data/0");
  ASSERT_NE(storage, nullptr);
  EXPECT_EQ((storage->data - zip.file()->data()) % 64, 0);
}

}  // namespace
}  // namespace duet
