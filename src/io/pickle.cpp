#include "io/pickle.h"

#include <bit>
#include <cmath>
#include <cstring>
#include <unordered_map>

#include "core/error.h"

namespace duet {
namespace {

// Opcodes from CPython's Lib/pickle.py, protocols 2-5 (plus the protocol-0/1 ones pickle
// still emits at protocol 2). Text-mode opcodes (INT, GET, PUT, ...) are not supported:
// torch.save never writes them.
// clang-format off
enum Op : uint8_t {
  kMark = '(', kStop = '.', kPop = '0', kPopMark = '1', kDup = '2', kNone = 'N',
  kBinInt = 'J', kBinInt1 = 'K', kBinInt2 = 'M', kBinFloat = 'G', kBinPersId = 'Q',
  kReduce = 'R', kBuild = 'b', kGlobal = 'c', kBinString = 'T', kShortBinString = 'U',
  kBinUnicode = 'X', kBinBytes = 'B', kShortBinBytes = 'C', kAppend = 'a', kAppends = 'e',
  kList = 'l', kEmptyList = ']', kDict = 'd', kEmptyDict = '}', kSetItem = 's',
  kSetItems = 'u', kTuple = 't', kEmptyTuple = ')', kBinGet = 'h', kLongBinGet = 'j',
  kBinPut = 'q', kLongBinPut = 'r',
  // protocol 2
  kProto = 0x80, kNewObj = 0x81, kTuple1 = 0x85, kTuple2 = 0x86, kTuple3 = 0x87,
  kNewTrue = 0x88, kNewFalse = 0x89, kLong1 = 0x8a, kLong4 = 0x8b,
  // protocols 4 and 5
  kShortBinUnicode = 0x8c, kBinUnicode8 = 0x8d, kBinBytes8 = 0x8e, kEmptySet = 0x8f,
  kAddItems = 0x90, kFrozenSet = 0x91, kStackGlobal = 0x93, kMemoize = 0x94, kFrame = 0x95,
  kByteArray8 = 0x96,
};
// clang-format on

constexpr size_t kMaxDims = 64;

// What an allowed global is for. Everything not listed here is refused at GLOBAL time.
// clang-format off
enum class Role : uint8_t {
  kOrderedDict, kRebuildTensor, kRebuildTensorV2, kRebuildTensorV3, kRebuildParameter,
  kRebuildFromType, kSize, kEncode, kStorageType, kDType, kTensorType,
};
// clang-format on

struct GlobalInfo {
  Role role;
  std::optional<DType> dtype;  // kStorageType, kDType
};

struct NamedDType {
  std::string_view name;
  std::optional<DType> dtype;
};

// Legacy typed storages name the element type; torch.save still writes them for the dtypes
// that have one. Types without a duet DType are accepted here and refused per tensor, so the
// message can name the tensor.
constexpr NamedDType kStorageTypes[] = {
    {"torch.FloatStorage", DType::F32}, {"torch.DoubleStorage", DType::F64},
    {"torch.HalfStorage", DType::F16},  {"torch.BFloat16Storage", DType::BF16},
    {"torch.LongStorage", DType::I64},  {"torch.IntStorage", DType::I32},
    {"torch.ShortStorage", DType::I16}, {"torch.CharStorage", DType::I8},
    {"torch.ByteStorage", DType::U8},   {"torch.BoolStorage", DType::BOOL},
    {"torch.ComplexFloatStorage", {}},  {"torch.ComplexDoubleStorage", {}},
    {"torch.QInt8Storage", {}},         {"torch.QUInt8Storage", {}},
    {"torch.QInt32Storage", {}},        {"torch.QUInt4x2Storage", {}},
    {"torch.QUInt2x4Storage", {}},      {"torch.storage.UntypedStorage", {}},
};

// dtype globals: torch 2.x writes _rebuild_tensor_v3(..., torch.float8_e4m3fn) with an
// UntypedStorage for dtypes that have no legacy storage class (float8, uint16, ...).
// clang-format off
constexpr NamedDType kDTypes[] = {
    {"torch.float32", DType::F32},  {"torch.float", DType::F32},  {"torch.float64", DType::F64},
    {"torch.double", DType::F64},   {"torch.float16", DType::F16}, {"torch.half", DType::F16},
    {"torch.bfloat16", DType::BF16}, {"torch.int64", DType::I64}, {"torch.long", DType::I64},
    {"torch.int32", DType::I32},    {"torch.int", DType::I32},    {"torch.int16", DType::I16},
    {"torch.short", DType::I16},    {"torch.int8", DType::I8},    {"torch.uint8", DType::U8},
    {"torch.bool", DType::BOOL},    {"torch.float8_e4m3fn", DType::F8_E4M3},
    {"torch.float8_e5m2", DType::F8_E5M2},
    {"torch.uint16", {}}, {"torch.uint32", {}}, {"torch.uint64", {}}, {"torch.complex32", {}},
    {"torch.complex64", {}}, {"torch.complex128", {}}, {"torch.float8_e4m3fnuz", {}},
    {"torch.float8_e5m2fnuz", {}}, {"torch.float8_e8m0fnu", {}}, {"torch.float4_e2m1fn_x2", {}},
};
// clang-format on

struct NamedRole {
  std::string_view name;
  Role role;
};

constexpr NamedRole kCallables[] = {
    {"collections.OrderedDict", Role::kOrderedDict},
    {"torch._utils._rebuild_tensor", Role::kRebuildTensor},
    {"torch._utils._rebuild_tensor_v2", Role::kRebuildTensorV2},
    {"torch._utils._rebuild_tensor_v3", Role::kRebuildTensorV3},
    {"torch._utils._rebuild_parameter", Role::kRebuildParameter},
    {"torch._utils._rebuild_parameter_with_state", Role::kRebuildParameter},
    // Tensors with Python attributes: _rebuild_from_type_v2(rebuild_fn, type, args, state).
    {"torch._tensor._rebuild_from_type_v2", Role::kRebuildFromType},
    {"torch.Tensor", Role::kTensorType},
    {"torch.nn.parameter.Parameter", Role::kTensorType},
    {"torch.Size", Role::kSize},
    // Protocol 2 has no bytes opcode: Python 3 writes bytes as _codecs.encode(str, 'latin1').
    {"_codecs.encode", Role::kEncode},
};

std::optional<GlobalInfo> lookup_global(std::string_view name) {
  for (const auto& c : kCallables) {
    if (c.name == name) return GlobalInfo{c.role, std::nullopt};
  }
  for (const auto& s : kStorageTypes) {
    if (s.name == name) return GlobalInfo{Role::kStorageType, s.dtype};
  }
  for (const auto& d : kDTypes) {
    if (d.name == name) return GlobalInfo{Role::kDType, d.dtype};
  }
  return std::nullopt;
}

}  // namespace

const char* pickle_kind_name(PickleKind kind) {
  static constexpr const char* kNames[] = {
      "None",  "bool", "int",  "int",    "float",   "str",    "bytes",
      "tuple", "list", "dict", "global", "storage", "tensor",
  };
  return kNames[static_cast<size_t>(kind)];
}

std::string printable(std::string_view text) {
  constexpr size_t kMaxLength = 200;
  std::string out;
  for (size_t i = 0; i < text.size() && i < kMaxLength; ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c >= 0x20 && c < 0x7f) {
      out += static_cast<char>(c);
    } else {
      out += fmt::format("\\x{:02x}", c);
    }
  }
  if (text.size() > kMaxLength) out += "...";
  return out;
}

class Unpickler {
 public:
  Unpickler(std::span<const uint8_t> bytes, const std::string& origin, const PickleLimits& limits)
      : data_(bytes.data()), size_(bytes.size()), origin_(origin), limits_(limits) {}

  PickleDocument run() {
    while (true) {
      op_pos_ = pos_;
      if (!step(read_u8())) break;
    }
    doc_.root_ = pop();
    return std::move(doc_);
  }

 private:
  [[noreturn]] void fail(std::string_view why) const {
    DUET_FAIL("{}: invalid pickle data at byte {}: {}", origin_, op_pos_, why);
  }

  // --- reading ---------------------------------------------------------------------------
  const uint8_t* take(uint64_t n) {
    if (n > size_ - pos_) fail(fmt::format("needs {} bytes but only {} remain", n, size_ - pos_));
    const uint8_t* p = data_ + pos_;
    pos_ += n;
    return p;
  }
  uint8_t read_u8() { return *take(1); }
  uint64_t read_le(size_t n) {
    const uint8_t* p = take(n);
    uint64_t v = 0;
    for (size_t i = 0; i < n; ++i) v |= static_cast<uint64_t>(p[i]) << (8 * i);
    return v;
  }
  std::string read_line() {
    const void* nl = std::memchr(data_ + pos_, '\n', size_ - pos_);
    if (nl == nullptr) fail("GLOBAL name is not terminated by a newline");
    const auto len = static_cast<size_t>(static_cast<const uint8_t*>(nl) - (data_ + pos_));
    std::string line(reinterpret_cast<const char*>(take(len)), len);
    take(1);
    return line;
  }

  // --- values and stack --------------------------------------------------------------------
  PickleValue* make(PickleKind kind) {
    if (doc_.values_.size() >= limits_.max_values) {
      fail(fmt::format("more than {} objects", limits_.max_values));
    }
    PickleValue& v = doc_.values_.emplace_back();
    v.kind = kind;
    return &v;
  }
  // Every value lives in doc_.values_, which this class owns mutably; items keep const
  // pointers only so that the finished document is read-only for callers.
  static PickleValue* mut(const PickleValue* v) { return const_cast<PickleValue*>(v); }

  size_t floor() const { return marks_.empty() ? 0 : marks_.back(); }
  void push(PickleValue* v) {
    if (stack_.size() >= limits_.max_stack) {
      fail(fmt::format("stack grows beyond {} entries", limits_.max_stack));
    }
    stack_.push_back(v);
  }
  PickleValue* top() const {
    if (stack_.size() <= floor()) fail("stack underflow");
    return stack_.back();
  }
  PickleValue* pop() {
    PickleValue* v = top();
    stack_.pop_back();
    return v;
  }
  // Returns where the items pushed since the innermost MARK start on the stack.
  size_t pop_mark() {
    if (marks_.empty()) fail("no MARK to pop to");
    const size_t mark = marks_.back();
    marks_.pop_back();
    return mark;
  }
  std::vector<const PickleValue*> pop_to_mark() {
    const size_t mark = pop_mark();
    std::vector<const PickleValue*> items(stack_.begin() + mark, stack_.end());
    stack_.resize(mark);
    return items;
  }

  void push_int(int64_t v) {
    PickleValue* p = make(PickleKind::Int);
    p->integer = v;
    push(p);
  }
  void push_bool(bool v) {
    PickleValue* p = make(PickleKind::Bool);
    p->boolean = v;
    push(p);
  }
  void push_text(PickleKind kind, uint64_t n) {
    const uint8_t* p = take(n);
    PickleValue* v = make(kind);
    v->text.assign(reinterpret_cast<const char*>(p), n);
    push(v);
  }
  void push_sequence(PickleKind kind, std::vector<const PickleValue*> items) {
    PickleValue* v = make(kind);
    v->items = std::move(items);
    push(v);
  }
  void push_tuple_n(size_t n) {
    std::vector<const PickleValue*> items(n);
    for (size_t i = n; i-- > 0;) items[i] = pop();
    push_sequence(PickleKind::Tuple, std::move(items));
  }
  // LONG1/LONG4: little-endian two's complement of any length.
  void push_long(uint64_t n) {
    const uint8_t* p = take(n);
    const bool negative = n > 0 && (p[n - 1] & 0x80);
    const uint8_t fill = negative ? 0xFF : 0x00;
    bool fits = true;
    for (uint64_t i = 8; i < n; ++i) fits = fits && p[i] == fill;
    if (n > 8) fits = fits && ((p[7] & 0x80) != 0) == negative;
    if (!fits) {
      PickleValue* v = make(PickleKind::BigInt);
      v->text.assign(reinterpret_cast<const char*>(p), n);
      push(v);
      return;
    }
    uint64_t u = negative ? ~uint64_t{0} : 0;
    for (uint64_t i = 0; i < n && i < 8; ++i) {
      u &= ~(uint64_t{0xFF} << (8 * i));
      u |= static_cast<uint64_t>(p[i]) << (8 * i);
    }
    push_int(static_cast<int64_t>(u));
  }

  // --- memo ---------------------------------------------------------------------------------
  // Pickler numbers memo entries 0, 1, 2, ... so a vector holds them; other indices (only a
  // hand-made file would use them) go to a map instead of growing the vector.
  void memo_put(uint64_t index) {
    PickleValue* v = top();
    if (index < memo_.size()) {
      memo_[index] = v;
      return;
    }
    if (!sparse_memo_.contains(index) && memo_.size() + sparse_memo_.size() >= limits_.max_memo) {
      fail(fmt::format("memo grows beyond {} entries", limits_.max_memo));
    }
    if (index == memo_.size()) {
      memo_.push_back(v);
      sparse_memo_.erase(index);
    } else {
      sparse_memo_[index] = v;
    }
  }
  void memo_get(uint64_t index) {
    if (index < memo_.size()) return push(memo_[index]);
    auto it = sparse_memo_.find(index);
    if (it == sparse_memo_.end()) fail(fmt::format("memo entry {} was never stored", index));
    push(it->second);
  }
  size_t memo_size() const { return memo_.size() + sparse_memo_.size(); }

  // --- containers ---------------------------------------------------------------------------
  // Python dict semantics: equal keys overwrite (1, 1.0 and True are one key); the first key
  // object and its position stay.
  std::string key_identity(const PickleValue& key) const {
    switch (key.kind) {
      case PickleKind::None:
        return "n";
      case PickleKind::Bool:
        return key.boolean ? "i1" : "i0";
      case PickleKind::Int:
        return "i" + std::to_string(key.integer);
      case PickleKind::BigInt:
        return "L" + key.text;
      case PickleKind::Float: {
        // Integral floats equal ints in Python; the range check keeps the cast defined.
        const double d = key.real;
        if (d >= -0x1p63 && d < 0x1p63 && d == std::trunc(d)) {
          return "i" + std::to_string(static_cast<int64_t>(d));
        }
        return "f" + std::to_string(std::bit_cast<uint64_t>(d));
      }
      case PickleKind::String:
        return "s" + key.text;
      case PickleKind::Bytes:
        return "b" + key.text;
      case PickleKind::List:
      case PickleKind::Dict:
        fail(fmt::format("unhashable {} used as a dict key", pickle_kind_name(key.kind)));
      default:  // tuples, tensors, globals: hashed by identity is close enough for us
        return fmt::format("p{}", static_cast<const void*>(&key));
    }
  }
  void set_item(PickleValue* dict, const PickleValue* key, const PickleValue* value) {
    if (dict->kind != PickleKind::Dict) {
      fail(fmt::format("SETITEM on a {}, expected a dict", pickle_kind_name(dict->kind)));
    }
    auto& index = dict_index_[dict];
    auto [it, inserted] = index.emplace(key_identity(*key), dict->entries.size());
    if (inserted) {
      dict->entries.emplace_back(key, value);
    } else {
      dict->entries[it->second].second = value;
    }
  }
  void set_items(PickleValue* dict, const std::vector<const PickleValue*>& flat) {
    if (flat.size() % 2 != 0) fail("SETITEMS with an odd number of items");
    for (size_t i = 0; i < flat.size(); i += 2) set_item(dict, flat[i], flat[i + 1]);
  }
  void append(PickleValue* list, const std::vector<const PickleValue*>& items) {
    if (list->kind != PickleKind::List) {
      fail(fmt::format("APPEND to a {}, expected a list", pickle_kind_name(list->kind)));
    }
    list->items.insert(list->items.end(), items.begin(), items.end());
  }

  // --- globals and calls --------------------------------------------------------------------
  void push_global(const std::string& module, const std::string& name) {
    const std::string qualified = module + "." + name;
    if (!lookup_global(qualified)) {
      DUET_FAIL(
          "{}: refusing to load global '{}' (only tensors, storages and OrderedDict are "
          "allowed)",
          origin_, printable(qualified));
    }
    PickleValue* v = make(PickleKind::Global);
    v->text = qualified;
    push(v);
  }
  static GlobalInfo info_of(const PickleValue& global) {
    return *lookup_global(global.text);  // only allowed globals become Global values
  }

  const PickleValue* call(const PickleValue& fn, const PickleValue& args, bool nested = false) {
    if (fn.kind != PickleKind::Global) {
      fail(fmt::format("REDUCE calls a {}, not a global", pickle_kind_name(fn.kind)));
    }
    if (args.kind != PickleKind::Tuple) {
      fail(fmt::format("arguments of '{}' are a {}, expected a tuple", fn.text,
                       pickle_kind_name(args.kind)));
    }
    const auto& a = args.items;
    switch (info_of(fn).role) {
      case Role::kOrderedDict:
        return ordered_dict(a);
      case Role::kRebuildTensor:
        return rebuild_tensor(fn.text, a, 4, 4, false);
      case Role::kRebuildTensorV2:
        return rebuild_tensor(fn.text, a, 6, 7, false);
      case Role::kRebuildTensorV3:
        return rebuild_tensor(fn.text, a, 7, 8, true);
      case Role::kRebuildParameter:
        // (data, requires_grad, backward_hooks[, state]): the weights are all in `data`.
        expect_args(fn.text, a, 3, 4);
        return expect_kind(a[0], PickleKind::Tensor, "parameter data");
      case Role::kRebuildFromType:
        if (nested) fail("nested _rebuild_from_type_v2");
        expect_args(fn.text, a, 4, 4);
        if (a[1]->kind != PickleKind::Global || info_of(*a[1]).role != Role::kTensorType) {
          fail("_rebuild_from_type_v2 of something other than a tensor type");
        }
        return call(*a[0], *a[2], true);
      case Role::kSize:
        expect_args(fn.text, a, 1, 1);
        int_list(a[0], "torch.Size");
        return a[0];
      case Role::kEncode:
        return encode(a);
      default:
        fail(fmt::format("'{}' cannot be called", fn.text));
    }
  }

  void expect_args(const std::string& fn, const std::vector<const PickleValue*>& a, size_t min,
                   size_t max) const {
    if (a.size() < min || a.size() > max) {
      fail(fmt::format("'{}' takes {} to {} arguments, got {}", fn, min, max, a.size()));
    }
  }
  const PickleValue* expect_kind(const PickleValue* v, PickleKind kind, std::string_view what) {
    if (v->kind != kind) {
      fail(fmt::format("{} is a {}, expected a {}", what, pickle_kind_name(v->kind),
                       pickle_kind_name(kind)));
    }
    return v;
  }
  int64_t as_int(const PickleValue* v, std::string_view what) {
    return expect_kind(v, PickleKind::Int, what)->integer;
  }
  std::vector<int64_t> int_list(const PickleValue* v, std::string_view what) {
    if (v->kind != PickleKind::Tuple && v->kind != PickleKind::List) {
      fail(fmt::format("{} is a {}, expected a tuple", what, pickle_kind_name(v->kind)));
    }
    if (v->items.size() > kMaxDims) fail(fmt::format("{} has more than {} dims", what, kMaxDims));
    std::vector<int64_t> out;
    for (const PickleValue* item : v->items) out.push_back(as_int(item, what));
    return out;
  }

  const PickleValue* ordered_dict(const std::vector<const PickleValue*>& a) {
    expect_args("collections.OrderedDict", a, 0, 1);
    PickleValue* dict = make(PickleKind::Dict);
    if (a.empty()) return dict;
    if (a[0]->kind == PickleKind::Dict) {
      for (const auto& [k, v] : a[0]->entries) set_item(dict, k, v);
      return dict;
    }
    if (a[0]->kind != PickleKind::List && a[0]->kind != PickleKind::Tuple) {
      fail("OrderedDict of something other than key/value pairs");
    }
    for (const PickleValue* pair : a[0]->items) {
      if (pair->kind != PickleKind::Tuple || pair->items.size() != 2) {
        fail("OrderedDict of something other than key/value pairs");
      }
      set_item(dict, pair->items[0], pair->items[1]);
    }
    return dict;
  }

  // _rebuild_tensor(storage, offset, size, stride)
  // _rebuild_tensor_v2(storage, offset, size, stride, requires_grad, hooks[, metadata])
  // _rebuild_tensor_v3(storage, offset, size, stride, requires_grad, hooks, dtype[, metadata])
  const PickleValue* rebuild_tensor(const std::string& fn, const std::vector<const PickleValue*>& a,
                                    size_t min, size_t max, bool explicit_dtype) {
    expect_args(fn, a, min, max);
    const PickleValue* storage = expect_kind(a[0], PickleKind::Storage, "tensor storage");
    auto t = std::make_unique<PickleTensor>();
    t->storage = storage;
    t->storage_offset = as_int(a[1], "tensor storage offset");
    t->shape = int_list(a[2], "tensor size");
    t->strides = int_list(a[3], "tensor stride");
    if (t->shape.size() != t->strides.size()) fail("tensor size and stride differ in length");
    if (explicit_dtype) {
      if (a[6]->kind != PickleKind::Global || info_of(*a[6]).role != Role::kDType) {
        fail("_rebuild_tensor_v3 without a dtype");
      }
      t->dtype = info_of(*a[6]).dtype;
      t->torch_dtype = a[6]->text;
    } else {
      if (!storage->storage->dtype && storage->storage->type == "torch.storage.UntypedStorage") {
        fail(fmt::format("'{}' needs a typed storage", fn));
      }
      t->dtype = storage->storage->dtype;
      t->torch_dtype = storage->storage->type;
    }
    PickleValue* v = make(PickleKind::Tensor);
    v->tensor = std::move(t);
    return v;
  }

  // _codecs.encode(text, 'latin1'): each code point below 256 becomes one byte.
  const PickleValue* encode(const std::vector<const PickleValue*>& a) {
    expect_args("_codecs.encode", a, 2, 2);
    const std::string& text = expect_kind(a[0], PickleKind::String, "encoded text")->text;
    const std::string& encoding = expect_kind(a[1], PickleKind::String, "encoding")->text;
    PickleValue* out = make(PickleKind::Bytes);
    if (encoding == "utf-8" || encoding == "utf8") {
      out->text = text;
      return out;
    }
    if (encoding != "latin1" && encoding != "latin-1") {
      fail(fmt::format("unsupported encoding '{}'", printable(encoding)));
    }
    for (size_t i = 0; i < text.size(); ++i) {
      const auto c = static_cast<unsigned char>(text[i]);
      if (c < 0x80) {
        out->text += static_cast<char>(c);
      } else if ((c == 0xC2 || c == 0xC3) && i + 1 < text.size() &&
                 (static_cast<unsigned char>(text[i + 1]) & 0xC0) == 0x80) {
        out->text += static_cast<char>(((c & 0x03) << 6) | (text[++i] & 0x3F));
      } else {
        fail("latin1 text with a character above U+00FF");
      }
    }
    return out;
  }

  const PickleValue* new_object(const PickleValue& cls, const PickleValue& args) {
    if (cls.kind != PickleKind::Global || info_of(cls).role != Role::kOrderedDict) {
      fail(fmt::format("NEWOBJ of a {} is not supported",
                       cls.kind == PickleKind::Global ? cls.text : pickle_kind_name(cls.kind)));
    }
    expect_kind(&args, PickleKind::Tuple, "NEWOBJ arguments");
    return make(PickleKind::Dict);  // OrderedDict.__new__ ignores its arguments
  }

  // BUILD sets object state: nn.Module state dicts carry `_metadata` (per-module versions)
  // and tensors may carry Python attributes. Neither changes the weights, so we drop them.
  void build(const PickleValue& target) {
    if (target.kind != PickleKind::Dict && target.kind != PickleKind::Tensor) {
      fail(fmt::format("BUILD on a {} is not supported", pickle_kind_name(target.kind)));
    }
  }

  // torch.save's persistent_id: ('storage', storage_type, key, location, numel).
  const PickleValue* persistent_load(const PickleValue& pid) {
    const auto& a = pid.items;
    if (pid.kind != PickleKind::Tuple || a.size() != 5 || a[0]->kind != PickleKind::String ||
        a[0]->text != "storage") {
      fail("persistent id is not ('storage', type, key, location, numel)");
    }
    if (a[1]->kind != PickleKind::Global || info_of(*a[1]).role != Role::kStorageType) {
      fail("persistent id names no storage type");
    }
    auto s = std::make_unique<PickleStorage>();
    s->type = a[1]->text;
    s->dtype = info_of(*a[1]).dtype;
    s->key = expect_kind(a[2], PickleKind::String, "storage key")->text;
    s->location = expect_kind(a[3], PickleKind::String, "storage location")->text;
    s->numel = as_int(a[4], "storage size");
    if (s->numel < 0) fail("negative storage size");
    PickleValue* v = make(PickleKind::Storage);
    v->storage = std::move(s);
    return v;
  }

  // --- the VM -------------------------------------------------------------------------------
  // Returns false at STOP.
  bool step(uint8_t op) {
    switch (op) {
      case kProto:
        if (read_u8() > 5) fail("pickle protocol newer than 5");
        return true;
      case kFrame:
        take(8);
        return true;  // frames only group opcodes for buffered reading
      case kStop:
        return false;
      case kMark:
        if (marks_.size() >= limits_.max_marks) {
          fail(fmt::format("more than {} nested MARKs", limits_.max_marks));
        }
        marks_.push_back(stack_.size());
        return true;
      case kPop:
        if (stack_.size() > floor()) {
          stack_.pop_back();
        } else {
          stack_.resize(pop_mark());  // pickle.py: POP on an empty frame discards the MARK
        }
        return true;
      case kPopMark:
        stack_.resize(pop_mark());
        return true;
      case kDup:
        push(top());
        return true;
      case kNone:
        push(make(PickleKind::None));
        return true;
      case kNewTrue:
        push_bool(true);
        return true;
      case kNewFalse:
        push_bool(false);
        return true;
      case kBinInt:
        push_int(static_cast<int32_t>(read_le(4)));
        return true;
      case kBinInt1:
        push_int(read_u8());
        return true;
      case kBinInt2:
        push_int(static_cast<int64_t>(read_le(2)));
        return true;
      case kLong1:
        push_long(read_u8());
        return true;
      case kLong4: {
        const auto n = static_cast<int32_t>(read_le(4));
        if (n < 0) fail("LONG4 with a negative length");
        push_long(static_cast<uint64_t>(n));
        return true;
      }
      case kBinFloat: {
        const uint8_t* p = take(8);
        uint64_t bits = 0;
        for (int i = 0; i < 8; ++i) bits = (bits << 8) | p[i];  // big-endian, unlike the rest
        PickleValue* v = make(PickleKind::Float);
        v->real = std::bit_cast<double>(bits);
        push(v);
        return true;
      }
      case kShortBinUnicode:
        push_text(PickleKind::String, read_u8());
        return true;
      case kBinUnicode:
        push_text(PickleKind::String, read_le(4));
        return true;
      case kBinUnicode8:
        push_text(PickleKind::String, read_le(8));
        return true;
      case kShortBinString:
        push_text(PickleKind::String, read_u8());
        return true;
      case kBinString: {
        const auto n = static_cast<int32_t>(read_le(4));
        if (n < 0) fail("BINSTRING with a negative length");
        push_text(PickleKind::String, static_cast<uint64_t>(n));
        return true;
      }
      case kShortBinBytes:
        push_text(PickleKind::Bytes, read_u8());
        return true;
      case kBinBytes:
        push_text(PickleKind::Bytes, read_le(4));
        return true;
      case kBinBytes8:
      case kByteArray8:
        push_text(PickleKind::Bytes, read_le(8));
        return true;
      case kEmptyTuple:
        push(make(PickleKind::Tuple));
        return true;
      case kTuple:
        push_sequence(PickleKind::Tuple, pop_to_mark());
        return true;
      case kTuple1:
        push_tuple_n(1);
        return true;
      case kTuple2:
        push_tuple_n(2);
        return true;
      case kTuple3:
        push_tuple_n(3);
        return true;
      case kEmptyList:
        push(make(PickleKind::List));
        return true;
      case kList:
        push_sequence(PickleKind::List, pop_to_mark());
        return true;
      // Sets only matter as non-tensor leaves; a list holds their items just as well.
      case kEmptySet:
        push(make(PickleKind::List));
        return true;
      case kFrozenSet:
        push_sequence(PickleKind::List, pop_to_mark());
        return true;
      case kEmptyDict:
        push(make(PickleKind::Dict));
        return true;
      case kDict: {
        auto items = pop_to_mark();
        PickleValue* dict = make(PickleKind::Dict);
        set_items(dict, items);
        push(dict);
        return true;
      }
      case kAppend: {
        const PickleValue* v = pop();
        append(top(), {v});
        return true;
      }
      case kAppends:
      case kAddItems: {
        auto items = pop_to_mark();
        append(top(), items);
        return true;
      }
      case kSetItem: {
        const PickleValue* value = pop();
        const PickleValue* key = pop();
        set_item(top(), key, value);
        return true;
      }
      case kSetItems: {
        auto items = pop_to_mark();
        set_items(top(), items);
        return true;
      }
      case kBinPut:
        memo_put(read_u8());
        return true;
      case kLongBinPut:
        memo_put(read_le(4));
        return true;
      case kMemoize:
        memo_put(memo_.size());
        return true;
      case kBinGet:
        memo_get(read_u8());
        return true;
      case kLongBinGet:
        memo_get(read_le(4));
        return true;
      case kGlobal: {
        std::string module = read_line();
        std::string name = read_line();
        push_global(module, name);
        return true;
      }
      case kStackGlobal: {
        const PickleValue* name = expect_kind(pop(), PickleKind::String, "STACK_GLOBAL name");
        const PickleValue* module = expect_kind(pop(), PickleKind::String, "STACK_GLOBAL module");
        push_global(module->text, name->text);
        return true;
      }
      case kReduce: {
        const PickleValue* args = pop();
        const PickleValue* fn = pop();
        push(mut(call(*fn, *args)));
        return true;
      }
      case kNewObj: {
        const PickleValue* args = pop();
        const PickleValue* cls = pop();
        push(mut(new_object(*cls, *args)));
        return true;
      }
      case kBuild:
        pop();  // the state
        build(*top());
        return true;
      case kBinPersId:
        push(mut(persistent_load(*pop())));
        return true;
      default:
        fail(fmt::format("unsupported pickle opcode 0x{:02x}", op));
    }
  }

  const uint8_t* data_;
  size_t size_;
  size_t pos_ = 0;
  size_t op_pos_ = 0;
  const std::string& origin_;
  const PickleLimits& limits_;
  PickleDocument doc_;
  std::vector<PickleValue*> stack_;
  std::vector<size_t> marks_;  // stack sizes at each open MARK
  std::vector<PickleValue*> memo_;
  std::unordered_map<uint64_t, PickleValue*> sparse_memo_;
  std::unordered_map<const PickleValue*, std::unordered_map<std::string, size_t>> dict_index_;
};

PickleDocument unpickle(std::span<const uint8_t> bytes, const std::string& origin,
                        const PickleLimits& limits) {
  return Unpickler(bytes, origin, limits).run();
}

}  // namespace duet
