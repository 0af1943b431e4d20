#pragma once
// Read-only memory map of a whole file. Tensors loaded from checkpoints point straight into
// the map (zero copy) and hold a shared_ptr to it, so the map lives as long as any view.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

namespace duet {

class MappedFile {
 public:
  // Throws duet::Error naming the path when the file cannot be opened or mapped.
  static std::shared_ptr<const MappedFile> open(const std::string& path);
  // An in-memory "file" (tests, fuzzing, decompressed data); `name` is used in messages.
  static std::shared_ptr<const MappedFile> from_bytes(std::string name, std::vector<uint8_t> bytes);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const std::string& path() const { return path_; }
  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  std::span<const uint8_t> bytes() const { return {data_, size_}; }

 private:
  MappedFile(std::string path, const uint8_t* data, size_t size);
  std::string path_;
  std::vector<uint8_t> owned_;  // backing store for from_bytes(); empty for real maps
  const uint8_t* data_;
  size_t size_;
};

}  // namespace duet
