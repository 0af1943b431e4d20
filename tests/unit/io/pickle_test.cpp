#include "io/pickle.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <bit>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "core/error.h"

namespace duet {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

// Pickles written opcode by opcode (names as in CPython's pickletools).
const std::string kProto2 = "\x80\x02";
const std::string kMark = "(", kStop = ".", kTuple = "t", kTuple2 = "\x86", kEmptyTuple = ")";
const std::string kEmptyList = "]", kAppend = "a", kAppends = "e", kEmptyDict = "}";
const std::string kSetItem = "s", kSetItems = "u", kReduce = "R", kBuild = "b";
const std::string kNone = "N", kTrue = "\x88", kFalse = "\x89", kBinPersId = "Q";

std::string le(uint64_t v, int n) {
  std::string out;
  for (int i = 0; i < n; ++i) out += static_cast<char>((v >> (8 * i)) & 0xff);
  return out;
}
std::string str(std::string_view s) { return "X" + le(s.size(), 4) + std::string(s); }
std::string short_str(std::string_view s) { return "\x8c" + le(s.size(), 1) + std::string(s); }
std::string int1(uint8_t v) { return "K" + le(v, 1); }
std::string binint(int32_t v) { return "J" + le(static_cast<uint32_t>(v), 4); }
std::string put(uint8_t i) { return "q" + le(i, 1); }
std::string get(uint8_t i) { return "h" + le(i, 1); }
std::string long_put(uint32_t i) { return "r" + le(i, 4); }
std::string long_get(uint32_t i) { return "j" + le(i, 4); }
std::string global(std::string_view module, std::string_view name) {
  return "c" + std::string(module) + "\n" + std::string(name) + "\n";
}
std::string binfloat(double d) {
  const auto bits = std::bit_cast<uint64_t>(d);
  std::string out = "G";
  for (int i = 7; i >= 0; --i) out += static_cast<char>((bits >> (8 * i)) & 0xff);
  return out;
}
std::string long1(std::string_view twos_complement_le) {
  return "\x8a" + le(twos_complement_le.size(), 1) + std::string(twos_complement_le);
}

// ('storage', torch.<type>, key, 'cpu', numel) as torch.save's persistent_id writes it.
std::string storage_pid(std::string_view type, std::string_view key, uint8_t numel) {
  return kMark + str("storage") + global("torch", type) + str(key) + str("cpu") + int1(numel) +
         kTuple + kBinPersId;
}
std::string empty_ordered_dict() {
  return global("collections", "OrderedDict") + kEmptyTuple + kReduce;
}
// _rebuild_tensor_v2(storage, 0, (2, 3), (3, 1), False, OrderedDict())
std::string tensor_2x3(std::string_view type = "FloatStorage") {
  return global("torch._utils", "_rebuild_tensor_v2") + kMark + storage_pid(type, "0", 6) +
         int1(0) + int1(2) + int1(3) + kTuple2 + int1(3) + int1(1) + kTuple2 + kFalse +
         empty_ordered_dict() + kTuple + kReduce;
}

PickleDocument run(const std::string& bytes, const PickleLimits& limits = {}) {
  return unpickle({reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()}, "test.pkl",
                  limits);
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
std::string error_of_pickle(const std::string& bytes, const PickleLimits& limits = {}) {
  return error_of([&] { run(bytes, limits); });
}

TEST(Pickle, Scalars) {
  const std::string bytes = kProto2 + kMark + kNone + kTrue + kFalse + binint(-5) + int1(200) +
                            "M" + le(0xBEEF, 2) + binfloat(1.5) + str("héllo") +
                            short_str("short") + "\x8d" + le(2, 8) + "u8" + "C" + le(3, 1) +
                            std::string("b\0y", 3) + "U" + le(2, 1) + "py" + kTuple + kStop;
  const PickleDocument doc = run(bytes);
  const auto& t = doc.root();
  ASSERT_EQ(t.kind, PickleKind::Tuple);
  ASSERT_EQ(t.items.size(), 12u);
  EXPECT_EQ(t.items[0]->kind, PickleKind::None);
  EXPECT_TRUE(t.items[1]->boolean);
  EXPECT_FALSE(t.items[2]->boolean);
  EXPECT_EQ(t.items[3]->integer, -5);
  EXPECT_EQ(t.items[4]->integer, 200);
  EXPECT_EQ(t.items[5]->integer, 0xBEEF);
  EXPECT_EQ(t.items[6]->real, 1.5);
  EXPECT_EQ(t.items[7]->text, "héllo");
  EXPECT_EQ(t.items[8]->text, "short");
  EXPECT_EQ(t.items[9]->text, "u8");
  EXPECT_EQ(t.items[10]->kind, PickleKind::Bytes);
  EXPECT_EQ(t.items[10]->text, std::string("b\0y", 3));
  EXPECT_EQ(t.items[11]->text, "py");
}

TEST(Pickle, Long1AnyWidth) {
  struct Case {
    std::string bytes;
    int64_t value;
  };
  const Case cases[] = {
      {"", 0},
      {"\xff", -1},
      {std::string("\x00\x80\x00", 3), 32768},
      {std::string("\x00\x80", 2), -32768},
      {std::string("\x00\x80\xff", 3), -32768},
      {std::string("\xff\xff\xff\xff\xff\xff\xff\x7f", 8), INT64_MAX},
      {std::string("\x00\x00\x00\x00\x00\x00\x00\x80\xff", 9), INT64_MIN},
  };
  for (const Case& c : cases) {
    const PickleDocument doc = run(kProto2 + long1(c.bytes) + kStop);
    EXPECT_EQ(doc.root().kind, PickleKind::Int) << c.value;
    EXPECT_EQ(doc.root().integer, c.value);
  }
  const std::string big("\x00\x00\x00\x00\x00\x00\x00\x00\x40", 9);  // 2**70
  EXPECT_EQ(run(kProto2 + long1(big) + kStop).root().kind, PickleKind::BigInt);
}

TEST(Pickle, DictKeepsOrderAndOverwritesEqualKeys) {
  const std::string bytes = kProto2 + kEmptyDict + kMark + str("a") + int1(1) + str("b") + int1(2) +
                            str("a") + int1(3) + int1(7) + int1(4) + binfloat(7.0) + int1(5) +
                            kTrue + int1(6) + int1(1) + int1(8) + kSetItems + kStop;
  const PickleDocument doc = run(bytes);
  const auto& d = doc.root().entries;
  ASSERT_EQ(d.size(), 4u);
  EXPECT_EQ(d[0].first->text, "a");
  EXPECT_EQ(d[0].second->integer, 3);
  EXPECT_EQ(d[1].first->text, "b");
  EXPECT_EQ(d[2].first->integer, 7);  // 7 and 7.0 are one key, the first key object stays
  EXPECT_EQ(d[2].second->integer, 5);
  EXPECT_EQ(d[3].first->kind, PickleKind::Bool);  // True and 1 are one key
  EXPECT_EQ(d[3].second->integer, 8);
}

TEST(Pickle, UnhashableKeyIsAnError) {
  EXPECT_THAT(error_of_pickle(kProto2 + kEmptyDict + kEmptyList + int1(1) + kSetItem + kStop),
              HasSubstr("unhashable list"));
}

TEST(Pickle, MemoSharesObjectsAndSeesLaterMutation) {
  // l = []; memoized; l.append(9) through the memo; (l, l)
  const PickleDocument doc =
      run(kProto2 + kEmptyList + put(0) + get(0) + int1(9) + kAppend + get(0) + kTuple2 + kStop);
  ASSERT_EQ(doc.root().items.size(), 2u);
  EXPECT_EQ(doc.root().items[0], doc.root().items[1]);
  EXPECT_EQ(doc.root().items[1]->items.size(), 1u);
}

TEST(Pickle, CyclesAreFine) {
  // l = []; l.append(l)
  const PickleDocument doc = run(kProto2 + kEmptyList + put(0) + get(0) + kAppend + kStop);
  ASSERT_EQ(doc.root().items.size(), 1u);
  EXPECT_EQ(doc.root().items[0], &doc.root());
}

TEST(Pickle, Protocol4MemoizeFrameAndStackGlobal) {
  const std::string bytes = "\x80\x04\x95" + le(0, 8) + short_str("collections") + "\x94" +
                            short_str("OrderedDict") + "\x94\x93\x94" + kEmptyTuple + kReduce +
                            "\x94" + short_str("k") + "\x94" + "h" + le(0, 1) + kSetItem + kStop;
  const PickleDocument doc = run(bytes);
  ASSERT_EQ(doc.root().kind, PickleKind::Dict);
  ASSERT_EQ(doc.root().entries.size(), 1u);
  EXPECT_EQ(doc.root().entries[0].second->text, "collections");
}

TEST(Pickle, RefusesForeignGlobals) {
  EXPECT_EQ(
      error_of_pickle(kProto2 + global("os", "system") + str("echo hi") + "\x85" + kReduce + kStop),
      "test.pkl: refusing to load global 'os.system' (only tensors, storages and "
      "OrderedDict are allowed)");
  EXPECT_THAT(
      error_of_pickle("\x80\x04" + short_str("builtins") + short_str("eval") + "\x93" + kStop),
      HasSubstr("refusing to load global 'builtins.eval'"));
  EXPECT_THAT(error_of_pickle(kProto2 + global("collections", "Counter") + kStop),
              HasSubstr("'collections.Counter'"));
  // A crafted name cannot break the one-line message.
  const std::string msg = error_of_pickle(kProto2 + global("os\r\x1b[2J", "system") + kStop);
  EXPECT_THAT(msg, HasSubstr("'os\\x0d\\x1b[2J.system'"));
  EXPECT_EQ(msg.find('\n'), std::string::npos);
}

TEST(Pickle, AllowedGlobalsAreOnlyUsedAsIntended) {
  EXPECT_THAT(
      error_of_pickle(kProto2 + global("torch", "FloatStorage") + kEmptyTuple + kReduce + kStop),
      HasSubstr("'torch.FloatStorage' cannot be called"));
  EXPECT_THAT(error_of_pickle(kProto2 + str("x") + kEmptyTuple + kReduce + kStop),
              HasSubstr("REDUCE calls a str"));
  EXPECT_THAT(error_of_pickle(kProto2 + global("torch._utils", "_rebuild_tensor_v2") + kEmptyTuple +
                              kReduce + kStop),
              HasSubstr("takes 6 to 7 arguments, got 0"));
  EXPECT_THAT(error_of_pickle(kProto2 + kEmptyList + kNone + kBuild + kStop),
              HasSubstr("BUILD on a list"));
}

TEST(Pickle, RebuildsTensorsFromPersistentStorages) {
  const PickleDocument doc = run(kProto2 + tensor_2x3() + kStop);
  ASSERT_EQ(doc.root().kind, PickleKind::Tensor);
  const PickleTensor& t = *doc.root().tensor;
  EXPECT_EQ(t.dtype, DType::F32);
  EXPECT_EQ(t.shape, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(t.strides, (std::vector<int64_t>{3, 1}));
  EXPECT_EQ(t.storage_offset, 0);
  ASSERT_EQ(t.storage->kind, PickleKind::Storage);
  EXPECT_EQ(t.storage->storage->key, "0");
  EXPECT_EQ(t.storage->storage->numel, 6);
  EXPECT_EQ(run(kProto2 + tensor_2x3("ComplexFloatStorage") + kStop).root().tensor->dtype,
            std::nullopt);
}

TEST(Pickle, RebuildTensorV3TakesItsDTypeFromTheGlobal) {
  const std::string bytes = kProto2 + global("torch._utils", "_rebuild_tensor_v3") + kMark + kMark +
                            str("storage") + global("torch.storage", "UntypedStorage") + str("3") +
                            str("cpu") + int1(4) + kTuple + kBinPersId + int1(1) + int1(3) +
                            "\x85" + int1(1) + "\x85" + kFalse + empty_ordered_dict() +
                            global("torch", "float8_e4m3fn") + kTuple + kReduce + kStop;
  const PickleDocument doc = run(bytes);
  ASSERT_EQ(doc.root().kind, PickleKind::Tensor);
  EXPECT_EQ(doc.root().tensor->dtype, DType::F8_E4M3);
  EXPECT_EQ(doc.root().tensor->storage_offset, 1);
}

TEST(Pickle, ParametersAndBuildStateUnwrapToTheTensor) {
  const std::string param = kProto2 + global("torch._utils", "_rebuild_parameter") + kMark +
                            tensor_2x3() + kTrue + empty_ordered_dict() + kTuple + kReduce +
                            kEmptyDict + kBuild + kStop;
  EXPECT_EQ(run(param).root().kind, PickleKind::Tensor);
  const std::string odict = kProto2 + empty_ordered_dict() + kEmptyDict + str("_metadata") +
                            kEmptyDict + kSetItem + kBuild + kStop;
  EXPECT_TRUE(run(odict).root().entries.empty());
}

TEST(Pickle, PersistentIdsMustBeStorages) {
  EXPECT_THAT(error_of_pickle(kProto2 + str("x") + kBinPersId + kStop),
              HasSubstr("persistent id is not"));
  EXPECT_THAT(error_of_pickle(kProto2 + kMark + str("storage") + global("torch", "float32") +
                              str("0") + str("cpu") + int1(1) + kTuple + kBinPersId + kStop),
              HasSubstr("names no storage type"));
}

TEST(Pickle, CodecsEncodeMakesBytes) {
  const PickleDocument doc = run(kProto2 + global("_codecs", "encode") + str("a\xc3\xbf") +
                                 str("latin1") + kTuple2 + kReduce + kStop);
  EXPECT_EQ(doc.root().kind, PickleKind::Bytes);
  EXPECT_EQ(doc.root().text, "a\xff");
}

TEST(Pickle, NestingDepthBombIsRefused) {
  const std::string bytes = kProto2 + std::string(100000, '(') + kStop;
  EXPECT_THAT(error_of_pickle(bytes), HasSubstr("more than 1024 nested MARKs"));
}

TEST(Pickle, DeepNestingNeedsNoRecursion) {
  // [[[[...]]]] 200k deep: parsing and freeing must not use the C++ stack per level.
  constexpr size_t kDepth = 200000;
  std::string bytes = kProto2;
  for (size_t i = 0; i < kDepth; ++i) bytes += kEmptyList;
  for (size_t i = 1; i < kDepth; ++i) bytes += kAppend;
  bytes += kStop;
  const PickleDocument doc = run(bytes);
  EXPECT_EQ(doc.value_count(), kDepth);
}

TEST(Pickle, MemoIndicesAndLimits) {
  EXPECT_THAT(error_of_pickle(kProto2 + long_get(0xFFFFFFFF) + kStop),
              HasSubstr("memo entry 4294967295 was never stored"));
  EXPECT_EQ(run(kProto2 + kNone + long_put(0xFFFFFFFF) + long_get(0xFFFFFFFF) + kTuple2 + kStop)
                .root()
                .items.size(),
            2u);
  PickleLimits limits;
  limits.max_memo = 4;
  std::string bytes = kProto2 + kNone;
  for (int i = 0; i < 5; ++i) bytes += put(static_cast<uint8_t>(i));
  EXPECT_THAT(error_of_pickle(bytes + kStop, limits), HasSubstr("memo grows beyond 4"));
}

TEST(Pickle, StackAndValueLimits) {
  PickleLimits limits;
  limits.max_stack = 10;
  std::string many = kProto2;
  for (int i = 0; i < 11; ++i) many += kNone;
  EXPECT_THAT(error_of_pickle(many + kStop, limits), HasSubstr("stack grows beyond 10"));
  limits = {};
  limits.max_values = 10;
  std::string churn = kProto2;
  for (int i = 0; i < 11; ++i) churn += kNone + "0";  // POP keeps the stack small
  EXPECT_THAT(error_of_pickle(churn + kNone + kStop, limits), HasSubstr("more than 10 objects"));
}

TEST(Pickle, MalformedStreams) {
  EXPECT_THAT(error_of_pickle(kProto2 + "\xff" + kStop),
              HasSubstr("unsupported pickle opcode 0xff"));
  EXPECT_THAT(error_of_pickle(kProto2 + "I1\n" + kStop), HasSubstr("opcode 0x49"));
  EXPECT_THAT(error_of_pickle("\x80\x06" + kNone + kStop), HasSubstr("newer than 5"));
  EXPECT_THAT(error_of_pickle(kProto2 + "\x85" + kStop), HasSubstr("stack underflow"));
  EXPECT_THAT(error_of_pickle(kProto2 + kNone + kMark + "\x85" + kStop),
              HasSubstr("stack underflow"));
  EXPECT_THAT(error_of_pickle(kProto2 + kTuple + kStop), HasSubstr("no MARK"));
  EXPECT_THAT(error_of_pickle(kProto2 + kStop), HasSubstr("stack underflow"));
  EXPECT_THAT(error_of_pickle(kProto2 + "X" + le(0xFFFFFFFF, 4) + kStop), HasSubstr("bytes"));
  EXPECT_THAT(error_of_pickle(kProto2 + "\x8d" + le(~uint64_t{0}, 8)), HasSubstr("bytes"));
  EXPECT_THAT(error_of_pickle(kProto2 + "cos"), HasSubstr("newline"));
  EXPECT_THAT(error_of_pickle(kProto2 + kNone + int1(1) + kAppend + kStop),
              HasSubstr("APPEND to a None"));
  EXPECT_THAT(error_of_pickle(kProto2 + kEmptyDict + kMark + int1(1) + kSetItems + kStop),
              HasSubstr("odd number"));
  EXPECT_THAT(error_of_pickle(kProto2 + kNone + "\x8b" + le(0x80000000, 4)),
              HasSubstr("negative length"));
}

TEST(Pickle, EveryTruncationIsAnError) {
  const std::string full = kProto2 + tensor_2x3() + kStop;
  ASSERT_NO_THROW(run(full));
  for (size_t n = 0; n < full.size(); ++n) {
    EXPECT_THROW(run(full.substr(0, n)), Error) << n;
  }
}

TEST(Pickle, RandomBytesNeverCrash) {
  std::mt19937 rng(1234);
  const std::string alphabet = "()t.]}aesuqhjrKJMXNQRbc\x80\x85\x86\x87\x88\x89\x8a\x8c\x94\x95";
  for (int iter = 0; iter < 3000; ++iter) {
    std::string bytes = kProto2;
    const size_t n = rng() % 64;
    for (size_t i = 0; i < n; ++i) {
      bytes += (rng() % 4 == 0) ? static_cast<char>(rng()) : alphabet[rng() % alphabet.size()];
    }
    try {
      run(bytes);
    } catch (const Error& e) {
      EXPECT_THAT(e.what(), StartsWith("test.pkl: "));
    }
  }
}

}  // namespace
}  // namespace duet
