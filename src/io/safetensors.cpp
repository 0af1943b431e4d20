#include "io/safetensors.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <limits>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <tuple>
#include <utility>

#include "core/dtype.h"
#include "core/error.h"

namespace duet {
namespace {

using json = nlohmann::json;

// The reference reader refuses headers above 100 MB; a real header is a few hundred KB.
constexpr uint64_t kMaxHeaderBytes = 100'000'000;
// A valid header nests three levels (root, entry, shape); an index a few more. Deeper input
// is hostile and would only cost memory.
constexpr int kMaxJsonDepth = 16;
constexpr size_t kMaxShownChars = 160;

// Keys and parser messages come from untrusted files: keep error messages on one line and
// short by escaping control bytes and cutting long text.
std::string printable(std::string_view text) {
  std::string out;
  for (unsigned char c : text.substr(0, kMaxShownChars)) {
    if (c < 0x20 || c == 0x7f) {
      out += fmt::format("\\x{:02x}", c);
    } else {
      out += static_cast<char>(c);
    }
  }
  if (text.size() > kMaxShownChars) out += "...";
  return out;
}

std::string known_dtypes() {
  std::string names;
  for (DType d : kAllDTypes) {
    if (!names.empty()) names += ", ";
    names += dtype_name(d);
  }
  return names;
}

// nlohmann keeps the last of duplicate keys without a word; a checkpoint whose header names a
// tensor twice is ambiguous, so the parser callback tracks the keys of every open object.
json parse_json_strict(std::string_view text, const std::string& path, const char* what) {
  std::vector<std::set<std::string>> open_objects;
  auto callback = [&](int depth, json::parse_event_t event, json& parsed) {
    switch (event) {
      case json::parse_event_t::object_start:
      case json::parse_event_t::array_start:
        DUET_CHECK(depth < kMaxJsonDepth, "{}: {} nests deeper than {} levels", path, what,
                   kMaxJsonDepth);
        if (event == json::parse_event_t::object_start) open_objects.emplace_back();
        break;
      case json::parse_event_t::key: {
        const auto& key = parsed.get_ref<const std::string&>();
        DUET_CHECK(open_objects.back().insert(key).second, "{}: {} has duplicate key '{}'", path,
                   what, printable(key));
        break;
      }
      case json::parse_event_t::object_end:
        open_objects.pop_back();
        break;
      default:
        break;
    }
    return true;
  };
  try {
    return json::parse(text.begin(), text.end(), callback);
  } catch (const json::exception& e) {
    DUET_FAIL("{}: {} is not valid JSON: {}", path, what, printable(e.what()));
  }
}

// ---- reading -------------------------------------------------------------------------------

struct Range {
  uint64_t begin;
  uint64_t end;
  const std::string* name;
};

class HeaderParser {
 public:
  HeaderParser(const std::shared_ptr<const MappedFile>& file, const uint8_t* buffer,
               uint64_t buffer_size)
      : file_(file), path_(file->path()), buffer_(buffer), buffer_size_(buffer_size) {}

  TensorRecord parse_entry(const std::string& key, const json& entry, Range* range) const {
    const std::string name = printable(key);
    DUET_CHECK(entry.is_object(), "{}: tensor '{}' must be a JSON object, got {}", path_, name,
               entry.type_name());
    TensorRecord record;
    record.name = key;
    record.dtype = parse_dtype(name, field(name, entry, "dtype"));
    record.shape = parse_shape(name, field(name, entry, "shape"));
    const auto [begin, end] = parse_offsets(name, field(name, entry, "data_offsets"));
    const uint64_t needed = byte_size(name, record.shape, record.dtype);
    DUET_CHECK(end - begin == needed,
               "{}: tensor '{}' data_offsets [{}, {}] hold {} bytes but shape {} of {} needs {}",
               path_, name, begin, end, end - begin, shape_to_string(record.shape),
               dtype_name(record.dtype), needed);
    record.strides = contiguous_strides(record.shape);
    record.storage_offset = 0;
    record.data = buffer_ + begin;
    record.storage_bytes = static_cast<size_t>(needed);
    record.file = file_;
    *range = Range{begin, end, &key};
    return record;
  }

 private:
  const json& field(const std::string& name, const json& entry, const char* field) const {
    auto it = entry.find(field);
    DUET_CHECK(it != entry.end(), "{}: tensor '{}' has no \"{}\"", path_, name, field);
    return *it;
  }

  DType parse_dtype(const std::string& name, const json& value) const {
    DUET_CHECK(value.is_string(), "{}: tensor '{}' \"dtype\" must be a string, got {}", path_, name,
               value.type_name());
    const auto& text = value.get_ref<const std::string&>();
    auto dtype = dtype_from_safetensors(text);
    DUET_CHECK(dtype.has_value(), "{}: tensor '{}' has unknown dtype '{}' (known: {})", path_, name,
               printable(text), known_dtypes());
    return *dtype;
  }

  std::vector<int64_t> parse_shape(const std::string& name, const json& value) const {
    DUET_CHECK(value.is_array(), "{}: tensor '{}' \"shape\" must be an array of integers, got {}",
               path_, name, value.type_name());
    std::vector<int64_t> shape;
    shape.reserve(value.size());
    for (const json& dim : value) {
      DUET_CHECK(!dim.is_number_integer() || dim.is_number_unsigned(),
                 "{}: tensor '{}' has negative dimension {} in \"shape\"", path_, name,
                 dim.is_number_integer() ? dim.get<int64_t>() : 0);
      DUET_CHECK(dim.is_number_unsigned(),
                 "{}: tensor '{}' \"shape\" must hold non-negative integers, got a {}", path_, name,
                 dim.type_name());
      const auto d = dim.get<uint64_t>();
      DUET_CHECK(d <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max()),
                 "{}: tensor '{}' dimension {} does not fit in int64", path_, name, d);
      shape.push_back(static_cast<int64_t>(d));
    }
    return shape;
  }

  std::pair<uint64_t, uint64_t> parse_offsets(const std::string& name, const json& value) const {
    DUET_CHECK(value.is_array() && value.size() == 2 && value[0].is_number_unsigned() &&
                   value[1].is_number_unsigned(),
               "{}: tensor '{}' \"data_offsets\" must be [begin, end] of non-negative integers",
               path_, name);
    const auto begin = value[0].get<uint64_t>();
    const auto end = value[1].get<uint64_t>();
    DUET_CHECK(begin <= end, "{}: tensor '{}' data_offsets [{}, {}] begin after they end", path_,
               name, begin, end);
    DUET_CHECK(end <= buffer_size_,
               "{}: tensor '{}' data_offsets [{}, {}] run past the end of the {}-byte data buffer",
               path_, name, begin, end, buffer_size_);
    return {begin, end};
  }

  // Every partial product of the dims (numel, contiguous strides) must fit in int64, so the
  // product of the non-zero dims is checked even when a zero dim makes the tensor empty.
  uint64_t byte_size(const std::string& name, const std::vector<int64_t>& shape,
                     DType dtype) const {
    int64_t product = 1;
    bool empty = false;
    for (int64_t d : shape) {
      if (d == 0) {
        empty = true;
        continue;
      }
      DUET_CHECK(!__builtin_mul_overflow(product, d, &product),
                 "{}: tensor '{}' shape {} has more elements than fit in int64", path_, name,
                 shape_to_string(shape));
    }
    if (empty) return 0;
    uint64_t bytes = 0;
    DUET_CHECK(!__builtin_mul_overflow(static_cast<uint64_t>(product), dtype_size(dtype), &bytes),
               "{}: tensor '{}' shape {} of {} has a byte size that does not fit in 64 bits", path_,
               name, shape_to_string(shape), dtype_name(dtype));
    return bytes;
  }

  const std::shared_ptr<const MappedFile>& file_;
  const std::string& path_;
  const uint8_t* buffer_;
  uint64_t buffer_size_;
};

std::map<std::string, std::string> parse_metadata(const json& value, const std::string& path) {
  std::map<std::string, std::string> metadata;
  if (value.is_null()) return metadata;  // the reference reader treats null as absent
  DUET_CHECK(value.is_object(), "{}: \"__metadata__\" must be an object of strings, got {}", path,
             value.type_name());
  for (const auto& [key, item] : value.items()) {
    DUET_CHECK(item.is_string(), "{}: \"__metadata__\" value of '{}' must be a string, got {}",
               path, printable(key), item.type_name());
    metadata.emplace(key, item.get<std::string>());
  }
  return metadata;
}

void check_no_overlap(std::vector<Range>& ranges, const std::string& path) {
  // Empty tensors hold no bytes, so they may sit anywhere, even inside another tensor's range.
  std::erase_if(ranges, [](const Range& r) { return r.begin == r.end; });
  std::sort(ranges.begin(), ranges.end(), [](const Range& a, const Range& b) {
    return std::tie(a.begin, a.end) < std::tie(b.begin, b.end);
  });
  for (size_t i = 1; i < ranges.size(); ++i) {
    const Range& a = ranges[i - 1];
    const Range& b = ranges[i];
    DUET_CHECK(b.begin >= a.end, "{}: tensors '{}' [{}, {}] and '{}' [{}, {}] overlap", path,
               printable(*a.name), a.begin, a.end, printable(*b.name), b.begin, b.end);
  }
}

// ---- writing -------------------------------------------------------------------------------

std::string random_suffix() {
  std::random_device rd;
  return fmt::format("{}-{:08x}", ::getpid(), rd());
}

// A temp file beside the target that removes itself unless committed by rename.
class TempFile {
 public:
  explicit TempFile(const std::string& target) : target_(target) {
    path_ = target + ".tmp-" + random_suffix();
    fd_ = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    DUET_CHECK(fd_ >= 0, "cannot write '{}': cannot create '{}': {}", target_, path_,
               std::strerror(errno));
  }
  ~TempFile() {
    if (fd_ >= 0) ::close(fd_);
    if (!committed_) ::unlink(path_.c_str());
  }
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;

  void write(const void* data, size_t size) {
    const auto* p = static_cast<const uint8_t*>(data);
    while (size > 0) {
      const size_t chunk = std::min<size_t>(size, size_t{1} << 30);
      const ssize_t n = ::write(fd_, p, chunk);
      if (n < 0 && errno == EINTR) continue;
      DUET_CHECK(n > 0, "cannot write '{}': {}", target_, std::strerror(n < 0 ? errno : EIO));
      p += n;
      size -= static_cast<size_t>(n);
    }
  }

  // fsync before rename: otherwise a crash can leave the new name pointing at empty blocks.
  void commit() {
    DUET_CHECK(::fsync(fd_) == 0, "cannot write '{}': {}", target_, std::strerror(errno));
    const int rc = ::close(fd_);
    fd_ = -1;
    DUET_CHECK(rc == 0, "cannot write '{}': {}", target_, std::strerror(errno));
    DUET_CHECK(::rename(path_.c_str(), target_.c_str()) == 0,
               "cannot write '{}': rename from '{}' failed: {}", target_, path_,
               std::strerror(errno));
    committed_ = true;
  }

 private:
  std::string target_;
  std::string path_;
  int fd_ = -1;
  bool committed_ = false;
};

uint64_t checked_nbytes(const TensorToWrite& t, const std::string& path) {
  DUET_CHECK(static_cast<size_t>(t.dtype) < std::size(kAllDTypes),
             "cannot write '{}': tensor '{}' has an invalid dtype ({})", path, t.name,
             static_cast<int>(t.dtype));
  uint64_t numel = 1;
  for (int64_t d : t.shape) {
    DUET_CHECK(d >= 0, "cannot write '{}': tensor '{}' shape {} has a negative dimension", path,
               t.name, shape_to_string(t.shape));
    DUET_CHECK(!__builtin_mul_overflow(numel, static_cast<uint64_t>(d), &numel),
               "cannot write '{}': tensor '{}' shape {} overflows", path, t.name,
               shape_to_string(t.shape));
  }
  uint64_t bytes = 0;
  DUET_CHECK(!__builtin_mul_overflow(numel, dtype_size(t.dtype), &bytes) &&
                 numel <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max()),
             "cannot write '{}': tensor '{}' shape {} overflows", path, t.name,
             shape_to_string(t.shape));
  DUET_CHECK(bytes == t.nbytes,
             "cannot write '{}': tensor '{}' has {} bytes but shape {} of {} needs {}", path,
             t.name, t.nbytes, shape_to_string(t.shape), dtype_name(t.dtype), bytes);
  DUET_CHECK(t.data != nullptr || bytes == 0, "cannot write '{}': tensor '{}' has no data", path,
             t.name);
  return bytes;
}

// Returns the header (length prefix included) and the tensors in the order they are written.
std::pair<std::string, std::vector<const TensorToWrite*>> build_header(
    const std::string& path, const std::vector<TensorToWrite>& tensors,
    const std::map<std::string, std::string>& metadata) {
  std::vector<const TensorToWrite*> order;
  for (const auto& t : tensors) order.push_back(&t);
  std::sort(order.begin(), order.end(),
            [](const TensorToWrite* a, const TensorToWrite* b) { return a->name < b->name; });
  json header = json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  uint64_t offset = 0;
  for (size_t i = 0; i < order.size(); ++i) {
    const TensorToWrite& t = *order[i];
    DUET_CHECK(t.name != "__metadata__", "cannot write '{}': '__metadata__' is not a tensor name",
               path);
    DUET_CHECK(i == 0 || order[i - 1]->name != t.name,
               "cannot write '{}': tensor name '{}' appears twice", path, t.name);
    const uint64_t bytes = checked_nbytes(t, path);
    header[t.name] = json{{"dtype", std::string(dtype_name(t.dtype))},
                          {"shape", t.shape},
                          {"data_offsets", json::array({offset, offset + bytes})}};
    offset += bytes;
  }
  std::string text;
  try {
    text = header.dump();
  } catch (const json::exception&) {
    DUET_FAIL("cannot write '{}': a tensor name or metadata text is not valid UTF-8", path);
  }
  text.append((8 - text.size() % 8) % 8, ' ');
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((uint64_t{text.size()} >> (8 * i)) & 0xff);
  out += text;
  return {std::move(out), std::move(order)};
}

bool is_safe_shard_name(const std::string& name) {
  return !name.empty() && name.find('/') == std::string::npos &&
         name.find('\\') == std::string::npos && name.find("..") == std::string::npos &&
         name.find('\0') == std::string::npos && name != ".";
}

}  // namespace

SafetensorsFile parse_safetensors(std::shared_ptr<const MappedFile> file) {
  DUET_CHECK(file != nullptr, "parse_safetensors: no file");
  const std::string& path = file->path();
  const uint8_t* bytes = file->data();
  const uint64_t size = file->size();
  DUET_CHECK(size >= 8, "{}: file has {} bytes, too short for a safetensors header (8 or more)",
             path, size);
  uint64_t header_size = 0;
  for (int i = 0; i < 8; ++i) header_size |= uint64_t{bytes[i]} << (8 * i);
  DUET_CHECK(header_size <= size - 8,
             "{}: header length {} runs past the end of the file ({} bytes); not a safetensors "
             "file or truncated",
             path, header_size, size);
  DUET_CHECK(header_size <= kMaxHeaderBytes, "{}: header length {} is over the {}-byte limit", path,
             header_size, kMaxHeaderBytes);
  const std::string_view text(reinterpret_cast<const char*>(bytes + 8), header_size);
  const json header = parse_json_strict(text, path, "header");
  DUET_CHECK(header.is_object(), "{}: header must be a JSON object, got {}", path,
             header.type_name());

  SafetensorsFile result;
  result.path = path;
  const uint64_t buffer_start = 8 + header_size;
  const HeaderParser parser(file, bytes + buffer_start, size - buffer_start);
  std::vector<Range> ranges;
  ranges.reserve(header.size());
  for (const auto& [key, entry] : header.items()) {
    if (key == "__metadata__") {
      result.metadata = parse_metadata(entry, path);
      continue;
    }
    Range range{};
    TensorRecord record = parser.parse_entry(key, entry, &range);
    auto [it, inserted] = result.tensors.emplace(key, std::move(record));
    ranges.push_back(Range{range.begin, range.end, &it->first});
  }
  check_no_overlap(ranges, path);
  return result;
}

SafetensorsFile read_safetensors(const std::string& path) {
  return parse_safetensors(MappedFile::open(path));
}

SafetensorsIndex parse_safetensors_index(std::string_view json_text, const std::string& path) {
  const json root = parse_json_strict(json_text, path, "index");
  DUET_CHECK(root.is_object(), "{}: index must be a JSON object, got {}", path, root.type_name());
  SafetensorsIndex index;
  index.path = path;
  auto weight_map = root.find("weight_map");
  DUET_CHECK(weight_map != root.end() && weight_map->is_object(),
             "{}: index needs a \"weight_map\" object of tensor name -> shard file", path);
  const std::filesystem::path folder = std::filesystem::path(path).parent_path();
  for (const auto& [name, shard] : weight_map->items()) {
    DUET_CHECK(shard.is_string(), "{}: weight_map entry '{}' must be a shard file name, got {}",
               path, printable(name), shard.type_name());
    const auto& file = shard.get_ref<const std::string&>();
    // Shards live beside the index; anything else could read files the user never named.
    DUET_CHECK(is_safe_shard_name(file),
               "{}: weight_map entry '{}' names shard '{}'; expected a file name in the index's "
               "folder (no '/', '\\' or '..')",
               path, printable(name), printable(file));
    index.weight_map.emplace(name, (folder / file).string());
  }
  auto metadata = root.find("metadata");
  if (metadata != root.end() && !metadata->is_null()) {
    DUET_CHECK(metadata->is_object(), "{}: index \"metadata\" must be an object, got {}", path,
               metadata->type_name());
    for (const auto& [key, value] : metadata->items()) {
      index.metadata.emplace(key, value.is_string() ? value.get<std::string>() : value.dump());
    }
  }
  return index;
}

SafetensorsIndex read_safetensors_index(const std::string& path) {
  const auto file = MappedFile::open(path);
  const std::string_view text(reinterpret_cast<const char*>(file->data()), file->size());
  return parse_safetensors_index(text, path);
}

SafetensorsFile read_sharded_safetensors(const std::string& index_path) {
  const SafetensorsIndex index = read_safetensors_index(index_path);
  std::set<std::string> shards;
  for (const auto& [name, shard] : index.weight_map) shards.insert(shard);

  SafetensorsFile merged;
  merged.path = index_path;
  merged.metadata = index.metadata;
  for (const std::string& shard : shards) {
    const std::string shard_name = std::filesystem::path(shard).filename().string();
    SafetensorsFile file = read_safetensors(shard);
    for (auto& [name, record] : file.tensors) {
      auto listed = index.weight_map.find(name);
      DUET_CHECK(listed != index.weight_map.end(),
                 "{}: shard '{}' holds tensor '{}', which the weight_map does not list", index_path,
                 shard_name, printable(name));
      DUET_CHECK(listed->second == shard,
                 "{}: tensor '{}' is in shard '{}' but the weight_map puts it in '{}'", index_path,
                 printable(name), shard_name,
                 std::filesystem::path(listed->second).filename().string());
      merged.tensors.emplace(name, std::move(record));
    }
  }
  for (const auto& [name, shard] : index.weight_map) {
    DUET_CHECK(merged.tensors.count(name) != 0,
               "{}: tensor '{}' is listed in shard '{}', which does not hold it", index_path,
               printable(name), std::filesystem::path(shard).filename().string());
  }
  return merged;
}

void write_safetensors(const std::string& path, const std::vector<TensorToWrite>& tensors,
                       const std::map<std::string, std::string>& metadata) {
  const auto [header, order] = build_header(path, tensors, metadata);
  TempFile out(path);
  out.write(header.data(), header.size());
  for (const TensorToWrite* t : order) {
    if (t->nbytes > 0) out.write(t->data, t->nbytes);
  }
  out.commit();
}

}  // namespace duet
