#pragma once
// Read-only ZIP reader over a MappedFile, just enough for torch.save archives: stored
// (uncompressed) entries, ZIP64 records, no encryption, one disk. We do not use libtorch's
// PyTorchStreamReader because we want zero-copy views into the map, a parser that builds
// without torch (so it can be fuzzed), and our own one-line errors.
//
//   ZipArchive zip(MappedFile::open("model.pth"));
//   if (const ZipEntry* e = zip.find("model/data.pkl")) use(e->data, e->size);
//
// CRCs are not checked: that would read every byte of a multi-GB checkpoint up front, and the
// tensor layer validates sizes anyway.
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "io/mapped_file.h"

namespace duet {

struct ZipEntry {
  std::string name;
  const uint8_t* data = nullptr;  // inside the mapped file; nullptr unless stored (method 0)
  uint64_t size = 0;              // uncompressed size
  uint16_t method = 0;            // 0 = stored; anything else is compressed
};

class ZipArchive {
 public:
  // Parses the central directory and every local header. Throws duet::Error naming the file
  // when anything is out of bounds or inconsistent, or an entry is encrypted. Compressed
  // entries are listed (so callers can still recognise the archive) but cannot be read.
  explicit ZipArchive(std::shared_ptr<const MappedFile> file);

  const std::shared_ptr<const MappedFile>& file() const { return file_; }
  const std::string& path() const { return file_->path(); }
  // In central directory order, compressed entries included.
  const std::vector<ZipEntry>& entries() const { return entries_; }
  // nullptr when the archive has no entry of that name. Throws duet::Error naming the entry
  // when it is compressed, so a non-null result always has readable data.
  const ZipEntry* find(std::string_view name) const;

 private:
  std::shared_ptr<const MappedFile> file_;
  std::vector<ZipEntry> entries_;
  std::map<std::string, size_t, std::less<>> index_;
};

}  // namespace duet
