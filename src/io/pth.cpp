#include "io/pth.h"

#include <cstring>
#include <string_view>
#include <vector>

#include "core/error.h"
#include "io/pickle.h"
#include "io/zip_archive.h"

namespace duet {
namespace {

// Nesting and sharing bounds for flattening: pickles can share containers (memo) and even
// reference them cyclically, so a hostile file could otherwise expand exponentially.
constexpr size_t kMaxDepth = 64;
constexpr size_t kMaxVisits = size_t{1} << 22;

// The legacy (pre-1.6) format is a bare pickle stream that starts with PROTO and this magic
// number as a LONG1 (torch/serialization.py, MAGIC_NUMBER = 0x1950a86a20f9469cfc6c).
constexpr uint8_t kLegacyMagic[] = {0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46,
                                    0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19};

// "dir/model.pth" -> "dir/model-new.pth", for the conversion command we suggest.
std::string converted_name(const std::string& path) {
  const size_t slash = path.rfind('/');
  const size_t dot = path.rfind('.');
  if (dot == std::string::npos || (slash != std::string::npos && dot < slash) || dot == 0) {
    return path + "-new.pth";
  }
  return path.substr(0, dot) + "-new" + path.substr(dot);
}

// Gives a precise message for the files people confuse with zip checkpoints.
void check_container(const MappedFile& file) {
  const uint8_t* d = file.data();
  const size_t n = file.size();
  if (n >= 2 && d[0] == 'P' && d[1] == 'K') return;
  if (n >= 2 && d[0] == 0x80) {
    if (n >= 2 + sizeof(kLegacyMagic) &&
        std::memcmp(d + 2, kLegacyMagic, sizeof(kLegacyMagic)) == 0) {
      DUET_FAIL(
          "{} uses PyTorch's legacy (pre-1.6) format; convert it with: python -c \"import "
          "torch; torch.save(torch.load('{}', weights_only=True), '{}')\"",
          file.path(), file.path(), converted_name(file.path()));
    }
    DUET_FAIL("{} is a plain Python pickle, not a checkpoint written by torch.save", file.path());
  }
  if (n >= 9 && d[8] == '{') {
    DUET_FAIL("{} looks like a safetensors file, not a PyTorch .pth checkpoint", file.path());
  }
  DUET_FAIL("{} is not a PyTorch checkpoint (expected the ZIP archive torch.save writes)",
            file.path());
}

// torch.save writes "<archive>/data.pkl" plus "<archive>/data/<key>" storages, where
// <archive> is the file's stem at save time and may be anything. Returns "<archive>".
std::string find_archive_prefix(const ZipArchive& zip) {
  const ZipEntry* found = nullptr;
  for (const ZipEntry& e : zip.entries()) {
    const size_t slash = e.name.find('/');
    if (slash == std::string::npos) continue;
    const std::string_view rest = std::string_view(e.name).substr(slash + 1);
    if (rest == "constants.pkl" || rest.starts_with("code/")) {
      DUET_FAIL(
          "{} is a TorchScript archive (torch.jit.save), not a checkpoint; save its weights "
          "with torch.save(model.state_dict(), path)",
          zip.path());
    }
    if (rest != "data.pkl") continue;
    DUET_CHECK(found == nullptr, "{}: archive holds more than one data.pkl ('{}' and '{}')",
               zip.path(), printable(found ? found->name : ""), printable(e.name));
    found = &e;
  }
  DUET_CHECK(found != nullptr,
             "{}: ZIP archive has no '<name>/data.pkl'; not a torch.save checkpoint", zip.path());
  return found->name.substr(0, found->name.find('/'));
}

// Storages are raw memory dumps in the saving machine's byte order.
void check_byte_order(const ZipArchive& zip, const std::string& prefix) {
  const ZipEntry* e = zip.find(prefix + "/byteorder");
  if (e == nullptr) return;  // written since torch 1.10; older files are little-endian
  const std::string_view order(reinterpret_cast<const char*>(e->data), e->size);
  DUET_CHECK(order == "little", "{}: saved with '{}' byte order; duet reads little-endian only",
             zip.path(), printable(order));
}

std::optional<std::string> key_name(const PickleValue& key) {
  switch (key.kind) {
    case PickleKind::String:
      return key.text;
    case PickleKind::Int:
      return std::to_string(key.integer);  // e.g. optimizer state ids
    default:
      return std::nullopt;
  }
}

std::string join(const std::string& prefix, const std::string& key) {
  return prefix.empty() ? key : prefix + "." + key;
}

class Flattener {
 public:
  Flattener(const ZipArchive& zip, std::string prefix) : zip_(zip), prefix_(std::move(prefix)) {}

  TensorMap run(const PickleValue& root) {
    DUET_CHECK(root.kind != PickleKind::Tensor,
               "{} holds a single tensor, not a dict of tensors; save it as "
               "{{'name': tensor}} instead",
               zip_.path());
    // Explicit work list: depth comes from the file, so no recursion.
    std::vector<Item> work{{&root, "", 0}};
    size_t visits = 0;
    while (!work.empty()) {
      Item item = std::move(work.back());
      work.pop_back();
      DUET_CHECK(++visits <= kMaxVisits, "{}: too many nested objects to flatten (over {})",
                 zip_.path(), kMaxVisits);
      visit(item, work);
    }
    return std::move(tensors_);
  }

 private:
  struct Item {
    const PickleValue* value;
    std::string name;
    size_t depth;
  };

  void visit(const Item& item, std::vector<Item>& work) {
    const PickleValue& v = *item.value;
    if (v.kind == PickleKind::Tensor) {
      add_tensor(item.name, *v.tensor);
      return;
    }
    if (v.kind != PickleKind::Dict && v.kind != PickleKind::List && v.kind != PickleKind::Tuple) {
      return;  // ints, strings, ...: training metadata, not weights
    }
    DUET_CHECK(item.depth < kMaxDepth, "{}: objects nest deeper than {} levels at '{}'",
               zip_.path(), kMaxDepth, printable(item.name));
    if (v.kind == PickleKind::Dict) {
      for (auto it = v.entries.rbegin(); it != v.entries.rend(); ++it) {
        if (auto key = key_name(*it->first)) {
          work.push_back({it->second, join(item.name, *key), item.depth + 1});
        }
      }
    } else {
      for (size_t i = v.items.size(); i-- > 0;) {
        work.push_back({v.items[i], join(item.name, std::to_string(i)), item.depth + 1});
      }
    }
  }

  void add_tensor(const std::string& name, const PickleTensor& t) {
    const std::string shown = printable(name);
    DUET_CHECK(t.dtype.has_value(), "{}: tensor '{}' has type {}, which duet does not support",
               zip_.path(), shown, printable(t.torch_dtype));
    const PickleStorage& s = *t.storage->storage;
    const ZipEntry* entry = zip_.find(prefix_ + "/data/" + s.key);
    DUET_CHECK(entry != nullptr, "{}: tensor '{}' uses storage 'data/{}', which the archive lacks",
               zip_.path(), shown, printable(s.key));
    const size_t elem = dtype_size(*t.dtype);
    DUET_CHECK(entry->size % elem == 0,
               "{}: tensor '{}': storage 'data/{}' has {} bytes, not a whole number of {}-byte "
               "{} elements",
               zip_.path(), shown, printable(s.key), entry->size, elem, dtype_name(*t.dtype));
    check_extent(shown, t, entry->size / elem, elem);

    TensorRecord r;
    r.name = name;
    r.dtype = *t.dtype;
    r.shape = t.shape;
    r.strides = t.strides;
    r.storage_offset = t.storage_offset;
    r.data = entry->data;
    r.storage_bytes = entry->size;
    r.file = zip_.file();
    const bool inserted = tensors_.emplace(name, std::move(r)).second;
    DUET_CHECK(inserted, "{}: tensor name '{}' appears twice after joining nested keys with '.'",
               zip_.path(), shown);
  }

  // Every element the view can reach must lie inside the storage. All products are checked:
  // shapes come from the file, and TensorRecord::numel()/nbytes() multiply without checks.
  void check_extent(const std::string& name, const PickleTensor& t, uint64_t storage_elems,
                    size_t elem) const {
    auto bad = [&](std::string_view why) {
      DUET_FAIL("{}: tensor '{}' (shape {}, strides {}, offset {}) {}", zip_.path(), name,
                shape_to_string(t.shape), shape_to_string(t.strides), t.storage_offset, why);
    };
    if (t.storage_offset < 0) bad("has a negative storage offset");
    int64_t numel = 1;
    int64_t last = t.storage_offset;  // index of the last element reached
    for (size_t i = 0; i < t.shape.size(); ++i) {
      if (t.shape[i] < 0 || t.strides[i] < 0) bad("has a negative size or stride");
      int64_t reach = 0;
      if (__builtin_mul_overflow(numel, t.shape[i], &numel) ||
          (t.shape[i] > 0 && (__builtin_mul_overflow(t.shape[i] - 1, t.strides[i], &reach) ||
                              __builtin_add_overflow(last, reach, &last)))) {
        bad("is too large");
      }
    }
    int64_t bytes = 0;
    if (__builtin_mul_overflow(numel, static_cast<int64_t>(elem), &bytes)) bad("is too large");
    const uint64_t needed =
        numel == 0 ? static_cast<uint64_t>(t.storage_offset) : static_cast<uint64_t>(last) + 1;
    if (needed > storage_elems) {
      bad(fmt::format("needs {} elements but its storage holds {}", needed, storage_elems));
    }
  }

  const ZipArchive& zip_;
  std::string prefix_;
  TensorMap tensors_;
};

}  // namespace

PthFile parse_pth(std::shared_ptr<const MappedFile> file) {
  DUET_CHECK(file != nullptr, "parse_pth: no file");
  check_container(*file);
  ZipArchive zip(file);
  const std::string prefix = find_archive_prefix(zip);
  const ZipEntry* pickle = zip.find(prefix + "/data.pkl");
  check_byte_order(zip, prefix);
  const PickleDocument doc = unpickle({pickle->data, pickle->size}, file->path());
  PthFile out;
  out.path = file->path();
  out.tensors = Flattener(zip, prefix).run(doc.root());
  return out;
}

PthFile read_pth(const std::string& path) { return parse_pth(MappedFile::open(path)); }

}  // namespace duet
