#include "io/zip_archive.h"

#include <algorithm>
#include <limits>

#include "core/error.h"

namespace duet {
namespace {

// Record layouts from PKWARE's APPNOTE.TXT (sections 4.3.7, 4.3.12, 4.3.14-16).
constexpr uint32_t kLocalHeaderSig = 0x04034b50;
constexpr uint32_t kCentralHeaderSig = 0x02014b50;
constexpr uint32_t kEocdSig = 0x06054b50;
constexpr uint32_t kZip64EocdSig = 0x06064b50;
constexpr uint32_t kZip64LocatorSig = 0x07064b50;
constexpr uint64_t kLocalHeaderSize = 30;
constexpr uint64_t kCentralHeaderSize = 46;
constexpr uint64_t kEocdSize = 22;
constexpr uint64_t kZip64EocdSize = 56;
constexpr uint64_t kZip64LocatorSize = 20;
constexpr uint64_t kMaxCommentSize = 0xFFFF;
constexpr uint16_t kZip64ExtraId = 0x0001;
constexpr uint32_t kZip64Marker32 = 0xFFFFFFFF;
constexpr uint16_t kZip64Marker16 = 0xFFFF;

uint16_t le16(const uint8_t* p) { return static_cast<uint16_t>(p[0] | (p[1] << 8)); }
uint32_t le32(const uint8_t* p) { return le16(p) | (static_cast<uint32_t>(le16(p + 2)) << 16); }
uint64_t le64(const uint8_t* p) { return le32(p) | (static_cast<uint64_t>(le32(p + 4)) << 32); }

// True when [offset, offset + length) lies inside [0, limit); written so nothing overflows.
bool fits(uint64_t offset, uint64_t length, uint64_t limit) {
  return offset <= limit && length <= limit - offset;
}

// Where the central directory is, from the (ZIP64) end of central directory record.
struct Directory {
  uint64_t entries = 0;
  uint64_t offset = 0;
  uint64_t size = 0;
};

// Fields of one central directory header that we use.
struct CentralEntry {
  std::string name;
  uint16_t flags = 0;
  uint16_t method = 0;
  uint64_t compressed_size = 0;
  uint64_t size = 0;
  uint64_t local_offset = 0;
};

class Parser {
 public:
  explicit Parser(const MappedFile& file) : file_(file), data_(file.data()), size_(file.size()) {}

  std::vector<ZipEntry> parse() {
    const uint64_t eocd = find_eocd();
    const Directory dir = read_directory(eocd);
    std::vector<ZipEntry> entries;
    uint64_t pos = dir.offset;
    const uint64_t end = dir.offset + dir.size;  // checked by read_directory
    for (uint64_t i = 0; i < dir.entries; ++i) {
      CentralEntry central = read_central(pos, end, i);
      entries.push_back(to_entry(central));
    }
    return entries;
  }

 private:
  [[noreturn]] void fail(std::string_view why) const {
    DUET_FAIL("{}: damaged ZIP archive: {}", file_.path(), why);
  }

  // The EOCD record ends the file, followed only by a comment of up to 64 KiB. A comment may
  // itself contain the signature, so first look for a record whose comment ends exactly at
  // the end of the file, then accept one followed by trailing bytes (as zipfile does).
  uint64_t find_eocd() const {
    if (size_ < kEocdSize) fail("file is too short to hold an end of central directory record");
    const uint64_t last = size_ - kEocdSize;
    const uint64_t first = last > kMaxCommentSize ? last - kMaxCommentSize : 0;
    for (const bool exact : {true, false}) {
      for (uint64_t pos = last + 1; pos-- > first;) {
        if (le32(data_ + pos) != kEocdSig) continue;
        const uint64_t comment = le16(data_ + pos + 20);
        if (exact ? pos + kEocdSize + comment == size_ : fits(pos + kEocdSize, comment, size_)) {
          return pos;
        }
      }
    }
    fail("no end of central directory record (not a ZIP file, or truncated)");
  }

  Directory read_directory(uint64_t eocd) const {
    const uint8_t* p = data_ + eocd;
    if (le16(p + 4) != 0 || le16(p + 6) != 0) fail("multi-disk archives are not supported");
    Directory dir{le16(p + 10), le32(p + 16), le32(p + 12)};
    // torch.save always writes ZIP64 records; others add them only when a field overflows.
    const bool has_locator =
        eocd >= kZip64LocatorSize && le32(data_ + eocd - kZip64LocatorSize) == kZip64LocatorSig;
    if (has_locator) {
      dir = read_zip64_directory(eocd - kZip64LocatorSize);
    } else if (dir.entries == kZip64Marker16 || dir.offset == kZip64Marker32 ||
               dir.size == kZip64Marker32) {
      fail("end of central directory needs ZIP64 fields but has no ZIP64 locator");
    }
    if (!fits(dir.offset, dir.size, size_)) {
      fail(
          fmt::format("central directory ({} bytes at offset {}) runs past the end of the file "
                      "({} bytes)",
                      dir.size, dir.offset, size_));
    }
    // Every header is at least 46 bytes, which bounds the count before we allocate anything.
    if (dir.entries > dir.size / kCentralHeaderSize) {
      fail(fmt::format("central directory claims {} entries but holds only {} bytes", dir.entries,
                       dir.size));
    }
    return dir;
  }

  Directory read_zip64_directory(uint64_t locator) const {
    const uint8_t* l = data_ + locator;
    if (le32(l + 4) != 0 || le32(l + 16) > 1) fail("multi-disk archives are not supported");
    const uint64_t offset = le64(l + 8);
    if (!fits(offset, kZip64EocdSize, size_) || le32(data_ + offset) != kZip64EocdSig) {
      fail(fmt::format("ZIP64 end of central directory record at offset {} is missing", offset));
    }
    const uint8_t* p = data_ + offset;
    if (le32(p + 16) != 0 || le32(p + 20) != 0) fail("multi-disk archives are not supported");
    if (le64(p + 24) != le64(p + 32)) fail("multi-disk archives are not supported");
    return Directory{le64(p + 32), le64(p + 48), le64(p + 40)};
  }

  CentralEntry read_central(uint64_t& pos, uint64_t end, uint64_t index) const {
    if (!fits(pos, kCentralHeaderSize, end) || le32(data_ + pos) != kCentralHeaderSig) {
      fail(fmt::format("central directory entry {} at offset {} is invalid", index, pos));
    }
    const uint8_t* p = data_ + pos;
    const uint64_t name_len = le16(p + 28), extra_len = le16(p + 30), comment_len = le16(p + 32);
    const uint64_t record = kCentralHeaderSize + name_len + extra_len + comment_len;
    if (!fits(pos, record, end)) {
      fail(fmt::format("central directory entry {} runs past the directory's end", index));
    }
    CentralEntry e;
    e.name.assign(reinterpret_cast<const char*>(p + kCentralHeaderSize), name_len);
    e.flags = le16(p + 8);
    e.method = le16(p + 10);
    e.compressed_size = le32(p + 20);
    e.size = le32(p + 24);
    e.local_offset = le32(p + 42);
    const bool needs_disk = le16(p + 34) == kZip64Marker16;
    if (!needs_disk && le16(p + 34) != 0) fail("multi-disk archives are not supported");
    apply_zip64_extra(e, p + kCentralHeaderSize + name_len, extra_len, needs_disk);
    pos += record;
    return e;
  }

  // Fields that overflowed 32 bits are 0xFFFFFFFF in the header and appear, in this fixed
  // order, in the ZIP64 extended information extra field (APPNOTE 4.5.3).
  void apply_zip64_extra(CentralEntry& e, const uint8_t* extra, uint64_t len,
                         bool needs_disk) const {
    const bool need_size = e.size == kZip64Marker32;
    const bool need_csize = e.compressed_size == kZip64Marker32;
    const bool need_offset = e.local_offset == kZip64Marker32;
    if (!need_size && !need_csize && !need_offset && !needs_disk) return;
    for (uint64_t pos = 0; pos + 4 <= len;) {
      const uint16_t id = le16(extra + pos);
      const uint64_t field_len = le16(extra + pos + 2);
      if (!fits(pos + 4, field_len, len)) break;
      if (id == kZip64ExtraId) {
        const uint8_t* f = extra + pos + 4;
        uint64_t used = 0;
        auto take = [&](uint64_t& out) {
          if (used + 8 > field_len) fail(fmt::format("ZIP64 field of '{}' is too short", e.name));
          out = le64(f + used);
          used += 8;
        };
        if (need_size) take(e.size);
        if (need_csize) take(e.compressed_size);
        if (need_offset) take(e.local_offset);
        if (needs_disk && (used + 4 > field_len || le32(f + used) != 0)) {
          fail("multi-disk archives are not supported");
        }
        return;
      }
      pos += 4 + field_len;
    }
    fail(fmt::format("entry '{}' needs a ZIP64 extra field but has none", e.name));
  }

  ZipEntry to_entry(const CentralEntry& e) const {
    if (e.flags & 1) DUET_FAIL("{}: ZIP entry '{}' is encrypted", file_.path(), e.name);
    if (e.method == 0 && e.compressed_size != e.size) {
      fail(fmt::format("stored entry '{}' has compressed size {} != size {}", e.name,
                       e.compressed_size, e.size));
    }
    const uint64_t data_offset = local_data_offset(e);
    if (!fits(data_offset, e.compressed_size, size_)) {
      fail(
          fmt::format("entry '{}' ({} bytes at offset {}) runs past the end of the file "
                      "({} bytes)",
                      e.name, e.compressed_size, data_offset, size_));
    }
    return ZipEntry{e.name, e.method == 0 ? data_ + data_offset : nullptr, e.size, e.method};
  }

  // The local header repeats the name and has its own extra field (torch pads it to align
  // tensor data), so the data offset is only known after reading it.
  uint64_t local_data_offset(const CentralEntry& e) const {
    const uint64_t off = e.local_offset;
    if (!fits(off, kLocalHeaderSize, size_) || le32(data_ + off) != kLocalHeaderSig) {
      fail(fmt::format("local header of '{}' at offset {} is invalid", e.name, off));
    }
    const uint8_t* p = data_ + off;
    const uint64_t name_len = le16(p + 26), extra_len = le16(p + 28);
    const uint64_t data_offset = off + kLocalHeaderSize + name_len + extra_len;
    if (!fits(off + kLocalHeaderSize, name_len, size_) ||
        std::string_view(reinterpret_cast<const char*>(p + kLocalHeaderSize), name_len) != e.name) {
      fail(fmt::format("local header at offset {} does not match entry '{}'", off, e.name));
    }
    return data_offset;
  }

  const MappedFile& file_;
  const uint8_t* data_;
  uint64_t size_;
};

}  // namespace

ZipArchive::ZipArchive(std::shared_ptr<const MappedFile> file) : file_(std::move(file)) {
  DUET_CHECK(file_ != nullptr, "ZipArchive: no file");
  entries_ = Parser(*file_).parse();
  for (size_t i = 0; i < entries_.size(); ++i) {
    const bool inserted = index_.emplace(entries_[i].name, i).second;
    DUET_CHECK(inserted, "{}: damaged ZIP archive: entry '{}' appears twice", file_->path(),
               entries_[i].name);
  }
}

const ZipEntry* ZipArchive::find(std::string_view name) const {
  auto it = index_.find(name);
  if (it == index_.end()) return nullptr;
  const ZipEntry& e = entries_[it->second];
  // torch.save never compresses; a compressed entry means someone re-zipped the file.
  DUET_CHECK(e.method == 0,
             "{}: ZIP entry '{}' is compressed (method {}); duet reads only the uncompressed "
             "archives torch.save writes, so re-save the checkpoint with torch.save",
             file_->path(), e.name, e.method);
  return &e;
}

}  // namespace duet
