#pragma once
// A restricted unpickler for the data.pkl of torch.save archives. It never imports or calls
// anything: GLOBAL may name only an allow-list (tensor/parameter rebuilds, OrderedDict,
// storage types, dtypes), REDUCE/NEWOBJ may apply only those, and each allowed call is
// emulated here. Anything else is a one-line duet::Error naming the refused global.
//
//   PickleDocument doc = unpickle(bytes, "model.pth");
//   const PickleValue& root = doc.root();   // e.g. a Dict of Tensor values
//
// The VM is iterative and bounded (PickleLimits), so hostile input cannot recurse deeply or
// grow memory faster than its own length.
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/dtype.h"

namespace duet {

struct PickleValue;

enum class PickleKind : uint8_t {
  None,
  Bool,
  Int,
  BigInt,
  Float,
  String,
  Bytes,
  Tuple,
  List,
  Dict,
  Global,
  Storage,
  Tensor,
};

// persistent_load target: ('storage', storage_type, key, location, numel) ->
// "<archive>/data/<key>".
struct PickleStorage {
  std::string key;
  std::string location;        // "cpu", "cuda:0", ...; informational only
  std::string type;            // "torch.FloatStorage", "torch.storage.UntypedStorage", ...
  std::optional<DType> dtype;  // nullopt for untyped storages or types duet lacks
  int64_t numel = 0;           // elements of `type` (bytes when untyped)
};

// A torch._utils._rebuild_tensor_v2/v3 call, not yet checked against the storage's size.
struct PickleTensor {
  const PickleValue* storage = nullptr;  // kind Storage
  std::optional<DType> dtype;            // nullopt: torch dtype duet has no DType for
  std::string torch_dtype;               // "torch.FloatStorage", "torch.complex64", ...
  int64_t storage_offset = 0;            // in elements
  std::vector<int64_t> shape;
  std::vector<int64_t> strides;  // in elements
};

struct PickleValue {
  PickleKind kind = PickleKind::None;
  bool boolean = false;  // Bool
  int64_t integer = 0;   // Int
  double real = 0;       // Float
  // String: UTF-8 text. Bytes: raw bytes. Global: "module.name".
  // BigInt (an int beyond 64 bits): its little-endian two's complement bytes.
  std::string text;
  std::vector<const PickleValue*> items;                                   // Tuple, List
  std::vector<std::pair<const PickleValue*, const PickleValue*>> entries;  // Dict, in order
  std::unique_ptr<PickleStorage> storage;                                  // Storage
  std::unique_ptr<PickleTensor> tensor;                                    // Tensor
};

const char* pickle_kind_name(PickleKind kind);

// `text` from an untrusted file made safe for a one-line message: control and non-ASCII bytes
// become \xNN and long names are cut.
std::string printable(std::string_view text);

struct PickleLimits {
  size_t max_stack = size_t{1} << 22;   // values on the stack at once
  size_t max_memo = size_t{1} << 22;    // memo entries
  size_t max_values = size_t{1} << 22;  // values created in total
  size_t max_marks = 1024;              // open MARKs, i.e. nesting of tuple/list/dict literals
};

// Owns every value; values point at each other (shared and even cyclic references are legal
// in pickle), so they live in one arena and are freed together without recursion.
class PickleDocument {
 public:
  const PickleValue& root() const { return *root_; }
  size_t value_count() const { return values_.size(); }

 private:
  friend class Unpickler;
  std::deque<PickleValue> values_;  // deque: stable addresses as it grows
  const PickleValue* root_ = nullptr;
};

// Runs the restricted VM over `bytes`; `origin` (the checkpoint's path) starts every message.
PickleDocument unpickle(std::span<const uint8_t> bytes, const std::string& origin,
                        const PickleLimits& limits = {});

}  // namespace duet
