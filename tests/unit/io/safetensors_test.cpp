#include "io/safetensors.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "core/error.h"
#include "support/test_support.h"

namespace duet {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::Not;

std::vector<uint8_t> random_bytes(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<uint8_t> bytes(n);
  for (auto& b : bytes) b = static_cast<uint8_t>(rng());
  return bytes;
}

std::string u64_le(uint64_t v) {
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((v >> (8 * i)) & 0xff);
  return out;
}

// A safetensors file from raw header text, so tests can write headers no writer would.
std::string make_file(const std::string& header, const std::string& data = "") {
  return u64_le(header.size()) + header + data;
}

uint64_t header_length(const std::string& file_bytes) {
  uint64_t n = 0;
  for (int i = 0; i < 8; ++i) n |= uint64_t{static_cast<uint8_t>(file_bytes[i])} << (8 * i);
  return n;
}

// The message of the duet::Error that `f` throws; a marker that matches nothing otherwise.
template <typename F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "<no error thrown>";
}

std::vector<uint8_t> record_bytes(const TensorRecord& r) {
  return std::vector<uint8_t>(r.data, r.data + r.storage_bytes);
}

std::vector<uint8_t> file_bytes(const fs::path& path) {
  const std::string s = test::read_file(path);
  return std::vector<uint8_t>(s.begin(), s.end());
}

std::vector<std::string> temp_leftovers(const fs::path& dir) {
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(dir)) {
    const std::string name = entry.path().filename().string();
    if (name.find(".tmp-") != std::string::npos) names.push_back(name);
  }
  return names;
}

void expect_zero_copy(const TensorRecord& r) {
  ASSERT_NE(r.file, nullptr) << r.name;
  EXPECT_GE(r.data, r.file->data()) << r.name;
  EXPECT_LE(r.data + r.storage_bytes, r.file->data() + r.file->size()) << r.name;
}

// ---- round trips -----------------------------------------------------------------------------

struct Owned {
  std::string name;
  DType dtype;
  std::vector<int64_t> shape;
  std::vector<uint8_t> bytes;
};

std::vector<TensorToWrite> views(const std::vector<Owned>& owned) {
  std::vector<TensorToWrite> out;
  for (const auto& o : owned) {
    out.push_back(
        {o.name, o.dtype, o.shape, o.bytes.empty() ? nullptr : o.bytes.data(), o.bytes.size()});
  }
  return out;
}

Owned random_tensor(std::string name, DType dtype, std::vector<int64_t> shape, uint32_t seed) {
  int64_t numel = 1;
  for (int64_t d : shape) numel *= d;
  auto bytes = random_bytes(static_cast<size_t>(numel) * dtype_size(dtype), seed);
  return {std::move(name), dtype, std::move(shape), std::move(bytes)};
}

TEST(SafetensorsRoundTrip, EveryDTypeIsBitIdenticalAndZeroCopy) {
  test::TempDir dir;
  std::vector<Owned> owned;
  uint32_t seed = 1;
  for (DType d : kAllDTypes) {
    // Odd sizes so byte counts are not accidentally multiples of 8.
    owned.push_back(random_tensor(fmt::format("w.{}", dtype_name(d)), d, {3, 5}, seed++));
    owned.push_back(random_tensor(fmt::format("v.{}", dtype_name(d)), d, {7}, seed++));
    owned.push_back(random_tensor(fmt::format("s.{}", dtype_name(d)), d, {}, seed++));
  }
  const auto path = dir / "model.safetensors";
  write_safetensors(path.string(), views(owned));

  const SafetensorsFile file = read_safetensors(path.string());
  EXPECT_EQ(file.path, path.string());
  EXPECT_TRUE(file.metadata.empty());
  ASSERT_EQ(file.tensors.size(), owned.size());
  for (const auto& o : owned) {
    SCOPED_TRACE(o.name);
    auto it = file.tensors.find(o.name);
    ASSERT_NE(it, file.tensors.end());
    const TensorRecord& r = it->second;
    EXPECT_EQ(r.name, o.name);
    EXPECT_EQ(r.dtype, o.dtype);
    EXPECT_EQ(r.shape, o.shape);
    EXPECT_EQ(r.strides, contiguous_strides(o.shape));
    EXPECT_TRUE(r.is_contiguous());
    EXPECT_EQ(r.storage_offset, 0);
    EXPECT_EQ(r.storage_bytes, o.bytes.size());
    EXPECT_EQ(record_bytes(r), o.bytes);
    expect_zero_copy(r);
  }
}

TEST(SafetensorsRoundTrip, LayoutIsNameOrderedWithoutHolesAndAligned) {
  test::TempDir dir;
  const std::vector<Owned> owned = {random_tensor("b", DType::U8, {3}, 1),
                                    random_tensor("a", DType::F16, {5}, 2),
                                    random_tensor("c", DType::F64, {1}, 3)};
  const auto path = dir / "model.safetensors";
  write_safetensors(path.string(), views(owned));

  const std::string bytes = test::read_file(path);
  const uint64_t n = header_length(bytes);
  EXPECT_EQ(n % 8, 0u) << "the data buffer must start 8-aligned";
  EXPECT_EQ(bytes.size(), 8 + n + 3 + 10 + 8) << "no padding between or after tensors";
  const SafetensorsFile file = read_safetensors(path.string());
  const uint8_t* buffer = file.tensors.at("a").file->data() + 8 + n;
  EXPECT_EQ(file.tensors.at("a").data, buffer);
  EXPECT_EQ(file.tensors.at("b").data, buffer + 10);
  EXPECT_EQ(file.tensors.at("c").data, buffer + 13);
  EXPECT_THAT(bytes.substr(8, n), Not(HasSubstr("__metadata__")));
}

TEST(SafetensorsRoundTrip, Metadata) {
  test::TempDir dir;
  const std::map<std::string, std::string> metadata = {
      {"format", "pt"}, {"note", "h\xc3\xa9llo \"quoted\"\n"}, {"empty", ""}};
  const std::vector<Owned> owned = {random_tensor("x", DType::F32, {2, 2}, 7)};
  const auto path = dir / "m.safetensors";
  write_safetensors(path.string(), views(owned), metadata);
  const SafetensorsFile file = read_safetensors(path.string());
  EXPECT_EQ(file.metadata, metadata);
  EXPECT_EQ(record_bytes(file.tensors.at("x")), owned[0].bytes);
}

TEST(SafetensorsRoundTrip, ZeroSizeTensors) {
  test::TempDir dir;
  const std::vector<Owned> owned = {random_tensor("a", DType::F32, {2}, 1),
                                    {"b.empty", DType::BF16, {0, 4}, {}},
                                    {"c.empty", DType::I64, {3, 0}, {}},
                                    random_tensor("d", DType::U8, {3}, 2)};
  const auto path = dir / "z.safetensors";
  write_safetensors(path.string(), views(owned));
  const SafetensorsFile file = read_safetensors(path.string());
  ASSERT_EQ(file.tensors.size(), 4u);
  for (const auto& o : owned) {
    SCOPED_TRACE(o.name);
    const TensorRecord& r = file.tensors.at(o.name);
    EXPECT_EQ(r.shape, o.shape);
    EXPECT_EQ(r.storage_bytes, o.bytes.size());
    EXPECT_EQ(record_bytes(r), o.bytes);
    expect_zero_copy(r);
  }
}

TEST(SafetensorsRoundTrip, NoTensors) {
  test::TempDir dir;
  const auto path = dir / "empty.safetensors";
  write_safetensors(path.string(), {});
  EXPECT_EQ(test::read_file(path), make_file("{}      "));
  EXPECT_TRUE(read_safetensors(path.string()).tensors.empty());
}

TEST(SafetensorsRoundTrip, ReplacesAnExistingFile) {
  test::TempDir dir;
  const auto path = dir / "model.safetensors";
  test::write_file(path, "old contents that are not a safetensors file");
  const std::vector<Owned> owned = {random_tensor("x", DType::I32, {4}, 3)};
  write_safetensors(path.string(), views(owned));
  EXPECT_EQ(record_bytes(read_safetensors(path.string()).tensors.at("x")), owned[0].bytes);
  EXPECT_THAT(temp_leftovers(dir.path()), ::testing::IsEmpty());
}

// ---- reading hand-made headers ---------------------------------------------------------------

TEST(SafetensorsRead, AcceptsMinimalAndUnusualValidHeaders) {
  // "{}" with no data; trailing spaces; null metadata; an empty tensor inside another's bytes;
  // unknown entry fields (ignored, as the reference reader does).
  const std::vector<std::string> files = {
      make_file("{}"),
      make_file("{}   "),
      make_file(R"({"__metadata__":null})"),
      make_file(R"({"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]},)"
                R"("e":{"dtype":"F32","shape":[0],"data_offsets":[2,2]}})",
                "abcd"),
      make_file(R"({"s":{"dtype":"I16","shape":[],"data_offsets":[0,2],"extra":[1]}})", "xy"),
  };
  for (const auto& bytes : files) {
    SCOPED_TRACE(bytes.substr(8));
    auto file =
        MappedFile::from_bytes("ok.safetensors", std::vector<uint8_t>(bytes.begin(), bytes.end()));
    SafetensorsFile parsed;
    EXPECT_NO_THROW(parsed = parse_safetensors(file));
    for (const auto& [name, r] : parsed.tensors) expect_zero_copy(r);
  }
}

struct DamagedCase {
  std::string name;
  std::string bytes;
  std::vector<std::string> expected;  // substrings of the error message
};

void PrintTo(const DamagedCase& c, std::ostream* os) { *os << c.name; }

std::string entry(const std::string& dtype, const std::string& shape, const std::string& offsets) {
  return fmt::format(R"({{"dtype":{},"shape":{},"data_offsets":{}}})", dtype, shape, offsets);
}

std::string one_tensor(const std::string& key, const std::string& value,
                       const std::string& data = "") {
  return make_file(fmt::format(R"({{"{}":{}}})", key, value), data);
}

std::vector<DamagedCase> damaged_cases() {
  const std::string f32_8 = entry(R"("F32")", "[2]", "[0,8]");
  return {
      {"ShortFile", std::string("\x05\x00\x00", 3), {"3 bytes", "too short"}},
      {"EmptyFile", "", {"0 bytes", "too short"}},
      {"HeaderPastEnd",
       u64_le(uint64_t{1} << 40) + "{}",
       {"header length 1099511627776", "past the end"}},
      {"HeaderLengthMax", u64_le(~uint64_t{0}) + "{}", {"header length 18446744073709551615"}},
      {"HeaderEmpty", make_file(""), {"not valid JSON"}},
      {"HeaderNotJson", make_file(R"({"a":)"), {"header is not valid JSON"}},
      {"HeaderTrailingGarbage", make_file("{}x"), {"not valid JSON"}},
      {"HeaderInvalidUtf8", make_file("{\"\xff\":1}"), {"not valid JSON"}},
      {"HeaderNotObject", make_file("[1,2]"), {"header must be a JSON object, got array"}},
      {"EntryNotObject", one_tensor("t", "5"), {"tensor 't' must be a JSON object, got number"}},
      {"MissingDType",
       one_tensor("t", R"({"shape":[2],"data_offsets":[0,8]})", std::string(8, 'x')),
       {"tensor 't' has no \"dtype\""}},
      {"DTypeNotString",
       one_tensor("t", entry("4", "[2]", "[0,8]"), std::string(8, 'x')),
       {"tensor 't' \"dtype\" must be a string, got number"}},
      {"UnknownDType",
       one_tensor("t", entry(R"("F128")", "[1]", "[0,16]"), std::string(16, 'x')),
       {"tensor 't' has unknown dtype 'F128'",
        "known: F64, F32, F16, BF16, F8_E4M3, F8_E5M2, I64, I32, I16, I8, U8, BOOL"}},
      {"LowercaseDType",
       one_tensor("t", entry(R"("f32")", "[2]", "[0,8]"), std::string(8, 'x')),
       {"unknown dtype 'f32'"}},
      {"MissingShape",
       one_tensor("t", R"({"dtype":"F32","data_offsets":[0,8]})", std::string(8, 'x')),
       {"tensor 't' has no \"shape\""}},
      {"ShapeNotArray",
       one_tensor("t", entry(R"("F32")", "2", "[0,8]"), std::string(8, 'x')),
       {"tensor 't' \"shape\" must be an array of integers, got number"}},
      {"ShapeFloatDim",
       one_tensor("t", entry(R"("F32")", "[2.0]", "[0,8]"), std::string(8, 'x')),
       {"tensor 't' \"shape\" must hold non-negative integers"}},
      {"ShapeStringDim",
       one_tensor("t", entry(R"("F32")", R"(["2"])", "[0,8]"), std::string(8, 'x')),
       {"tensor 't' \"shape\" must hold non-negative integers, got a string"}},
      {"NegativeDim",
       one_tensor("t", entry(R"("F32")", "[-1,2]", "[0,8]"), std::string(8, 'x')),
       {"tensor 't' has negative dimension -1"}},
      {"DimPastInt64",
       one_tensor("t", entry(R"("U8")", "[18446744073709551615]", "[0,0]")),
       {"tensor 't' dimension 18446744073709551615 does not fit in int64"}},
      {"NumelOverflow",
       one_tensor("t", entry(R"("F32")", "[4294967296,4294967296,4]", "[0,0]")),
       {"tensor 't' shape [4294967296, 4294967296, 4] has more elements than fit in int64"}},
      {"NumelOverflowWithZeroDim",
       one_tensor("t", entry(R"("F32")", "[4294967296,4294967296,0]", "[0,0]")),
       {"tensor 't'", "more elements than fit in int64"}},
      {"ByteSizeOverflow",
       one_tensor("t", entry(R"("F64")", "[4611686018427387904]", "[0,0]")),
       {"tensor 't' shape [4611686018427387904] of F64 has a byte size that does not fit"}},
      {"MissingOffsets",
       one_tensor("t", R"({"dtype":"F32","shape":[2]})", std::string(8, 'x')),
       {"tensor 't' has no \"data_offsets\""}},
      {"OffsetsOneValue",
       one_tensor("t", entry(R"("F32")", "[2]", "[8]"), std::string(8, 'x')),
       {"tensor 't' \"data_offsets\" must be [begin, end]"}},
      {"OffsetsNegative",
       one_tensor("t", entry(R"("F32")", "[2]", "[-8,0]"), std::string(8, 'x')),
       {"tensor 't' \"data_offsets\" must be [begin, end] of non-negative integers"}},
      {"OffsetsBeginAfterEnd",
       one_tensor("t", entry(R"("U8")", "[2]", "[4,2]"), std::string(8, 'x')),
       {"tensor 't' data_offsets [4, 2] begin after they end"}},
      {"OffsetsPastBuffer",
       one_tensor("t", entry(R"("U8")", "[16]", "[0,16]"), std::string(8, 'x')),
       {"tensor 't' data_offsets [0, 16] run past the end of the 8-byte data buffer"}},
      {"OffsetsPastBufferHuge",
       one_tensor("t", entry(R"("U8")", "[1]", "[18446744073709551615,18446744073709551615]")),
       {"tensor 't'", "run past the end of the 0-byte data buffer"}},
      {"SizeMismatch",
       one_tensor("blocks.0.q.weight", entry(R"("F32")", "[5,6]", "[0,100]"),
                  std::string(100, 'x')),
       {"tensor 'blocks.0.q.weight' data_offsets [0, 100] hold 100 bytes but shape [5, 6] of F32 "
        "needs 120"}},
      {"Overlap",
       make_file(R"({"a":{"dtype":"U8","shape":[8],"data_offsets":[0,8]},)"
                 R"("b":{"dtype":"U8","shape":[4],"data_offsets":[6,10]}})",
                 std::string(12, 'x')),
       {"tensors 'a' [0, 8] and 'b' [6, 10] overlap"}},
      {"OverlapSameRange",
       make_file(R"({"z":{"dtype":"U8","shape":[4],"data_offsets":[0,4]},)"
                 R"("y":{"dtype":"I32","shape":[1],"data_offsets":[0,4]}})",
                 std::string(4, 'x')),
       {"'y' [0, 4] and 'z' [0, 4] overlap"}},
      {"MetadataNotObject",
       make_file(R"({"__metadata__":["a"]})"),
       {"\"__metadata__\" must be an object of strings, got array"}},
      {"MetadataNumberValue",
       make_file(R"({"__metadata__":{"format":1}})"),
       {"\"__metadata__\" value of 'format' must be a string, got number"}},
      {"DuplicateTensorKey",
       make_file("{\"t\":" + f32_8 + ",\"t\":" + entry(R"("U8")", "[8]", "[0,8]") + "}",
                 std::string(8, 'x')),
       {"header has duplicate key 't'"}},
      {"DuplicateFieldKey",
       one_tensor("t", R"({"dtype":"F32","dtype":"U8","shape":[2],"data_offsets":[0,8]})",
                  std::string(8, 'x')),
       {"header has duplicate key 'dtype'"}},
      {"DeepNesting",
       make_file(std::string(100000, '[') + std::string(100000, ']')),
       {"header nests deeper than 16 levels"}},
      {"ControlCharsInKeyAreEscaped",
       one_tensor("a\\nb\\u0001", "5"),
       {"tensor 'a\\x0ab\\x01' must be a JSON object"}},
  };
}

class SafetensorsDamaged : public ::testing::TestWithParam<DamagedCase> {};

TEST_P(SafetensorsDamaged, IsRejectedWithAMessageNamingFileAndProblem) {
  const DamagedCase& c = GetParam();
  test::TempDir dir;
  const auto path = dir / "model.safetensors";
  test::write_file(path, c.bytes);
  const std::string message = error_of([&] { read_safetensors(path.string()); });
  EXPECT_THAT(message, HasSubstr(path.string() + ": "));
  for (const auto& want : c.expected) EXPECT_THAT(message, HasSubstr(want));
  EXPECT_EQ(message.find('\n'), std::string::npos) << "error messages are one line";
}

INSTANTIATE_TEST_SUITE_P(Safetensors, SafetensorsDamaged, ::testing::ValuesIn(damaged_cases()),
                         [](const auto& info) { return info.param.name; });

TEST(SafetensorsRead, HeaderOverTheSizeLimitIsRejectedBeforeParsing) {
  // A sparse file: 100 MB + 1 of header length fits inside the file but not under the limit.
  test::TempDir dir;
  const auto path = dir / "huge.safetensors";
  test::write_file(path, u64_le(100'000'001) + "{");
  fs::resize_file(path, 8 + 100'000'001);
  EXPECT_THAT(error_of([&] { read_safetensors(path.string()); }),
              HasSubstr("huge.safetensors: header length 100000001 is over the 100000000-byte "
                        "limit"));
}

TEST(SafetensorsRead, MissingFileNamesThePath) {
  test::TempDir dir;
  const auto path = dir / "nope.safetensors";
  EXPECT_THAT(error_of([&] { read_safetensors(path.string()); }), HasSubstr(path.string()));
}

TEST(SafetensorsRead, InMemoryFilesUseTheirNameInMessages) {
  const std::string bytes = one_tensor("k", entry(R"("F32")", "[3]", "[0,8]"), std::string(8, 'x'));
  auto file =
      MappedFile::from_bytes("mem.safetensors", std::vector<uint8_t>(bytes.begin(), bytes.end()));
  EXPECT_THAT(error_of([&] { parse_safetensors(file); }),
              HasSubstr("mem.safetensors: tensor 'k' data_offsets [0, 8] hold 8 bytes but shape "
                        "[3] of F32 needs 12"));
}

// ---- writer validation ---------------------------------------------------------------------

TEST(SafetensorsWrite, RejectsBadInputsWithoutLeavingFiles) {
  test::TempDir dir;
  const auto path = (dir / "out.safetensors").string();
  const std::vector<uint8_t> bytes(16, 0);
  struct Case {
    std::vector<TensorToWrite> tensors;
    std::string expected;
  };
  const std::vector<Case> cases = {
      {{{"x", DType::F32, {3}, bytes.data(), 10}},
       "tensor 'x' has 10 bytes but shape [3] of F32 needs 12"},
      {{{"x", DType::U8, {2}, bytes.data(), 2}, {"x", DType::U8, {2}, bytes.data(), 2}},
       "tensor name 'x' appears twice"},
      {{{"__metadata__", DType::U8, {2}, bytes.data(), 2}}, "'__metadata__' is not a tensor name"},
      {{{"n", DType::U8, {-2}, bytes.data(), 2}}, "tensor 'n' shape [-2] has a negative dimension"},
      {{{"p", DType::U8, {4}, nullptr, 4}}, "tensor 'p' has no data"},
      {{{"q", static_cast<DType>(200), {1}, bytes.data(), 1}}, "tensor 'q' has an invalid dtype"},
      {{{"\xff", DType::U8, {1}, bytes.data(), 1}}, "not valid UTF-8"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.expected);
    const std::string message = error_of([&] { write_safetensors(path, c.tensors); });
    EXPECT_THAT(message, HasSubstr(path));
    EXPECT_THAT(message, HasSubstr(c.expected));
    EXPECT_FALSE(fs::exists(path));
    EXPECT_THAT(temp_leftovers(dir.path()), ::testing::IsEmpty());
  }
}

TEST(SafetensorsWrite, FailedRenameRemovesTheTempFile) {
  test::TempDir dir;
  const auto target = dir / "taken";
  fs::create_directories(target / "child");  // rename() cannot replace a non-empty folder
  const std::vector<uint8_t> bytes(4, 1);
  const std::string message = error_of([&] {
    write_safetensors(target.string(), {{"x", DType::U8, {4}, bytes.data(), 4}});
  });
  EXPECT_THAT(message, HasSubstr("cannot write '" + target.string() + "'"));
  EXPECT_THAT(temp_leftovers(dir.path()), ::testing::IsEmpty());
}

TEST(SafetensorsWrite, MissingFolderNamesThePath) {
  test::TempDir dir;
  const auto target = (dir / "no" / "such" / "model.safetensors").string();
  EXPECT_THAT(error_of([&] { write_safetensors(target, {}); }),
              HasSubstr("cannot write '" + target + "'"));
}

// ---- sharded checkpoints -------------------------------------------------------------------

class SafetensorsSharded : public ::testing::Test {
 protected:
  void SetUp() override {
    shard1_ = {random_tensor("a", DType::F32, {3, 2}, 11),
               random_tensor("b", DType::BF16, {5}, 12)};
    shard2_ = {random_tensor("c", DType::I64, {2}, 13)};
    write_safetensors((dir_ / kShard1).string(), views(shard1_));
    write_safetensors((dir_ / kShard2).string(), views(shard2_));
  }

  std::string write_index(const std::string& json) {
    const auto path = dir_ / "model.safetensors.index.json";
    test::write_file(path, json);
    return path.string();
  }

  static std::string index_json(const std::string& weight_map) {
    return R"({"metadata": {"total_size": 52, "format": "pt"}, "weight_map": {)" + weight_map +
           "}}";
  }

  static constexpr const char* kShard1 = "model-00001-of-00002.safetensors";
  static constexpr const char* kShard2 = "model-00002-of-00002.safetensors";
  test::TempDir dir_;
  std::vector<Owned> shard1_;
  std::vector<Owned> shard2_;
};

TEST_F(SafetensorsSharded, IndexResolvesShardsBesideIt) {
  const auto index_path = write_index(
      index_json(fmt::format(R"("a": "{0}", "b": "{0}", "c": "{1}")", kShard1, kShard2)));
  const SafetensorsIndex index = read_safetensors_index(index_path);
  EXPECT_EQ(index.path, index_path);
  EXPECT_EQ(index.weight_map.at("a"), (dir_ / kShard1).string());
  EXPECT_EQ(index.weight_map.at("c"), (dir_ / kShard2).string());
  EXPECT_EQ(index.metadata.at("total_size"), "52");
  EXPECT_EQ(index.metadata.at("format"), "pt");

  const auto bare = parse_safetensors_index(R"({"weight_map": {"x": "s.safetensors"}})",
                                            "model.safetensors.index.json");
  EXPECT_EQ(bare.weight_map.at("x"), "s.safetensors");
}

TEST_F(SafetensorsSharded, MergesAllShards) {
  const auto index_path = write_index(
      index_json(fmt::format(R"("a": "{0}", "b": "{0}", "c": "{1}")", kShard1, kShard2)));
  const SafetensorsFile merged = read_sharded_safetensors(index_path);
  EXPECT_EQ(merged.path, index_path);
  EXPECT_EQ(merged.metadata.at("total_size"), "52");
  ASSERT_EQ(merged.tensors.size(), 3u);
  for (const auto* shard : {&shard1_, &shard2_}) {
    for (const auto& o : *shard) {
      SCOPED_TRACE(o.name);
      const TensorRecord& r = merged.tensors.at(o.name);
      EXPECT_EQ(r.dtype, o.dtype);
      EXPECT_EQ(r.shape, o.shape);
      EXPECT_EQ(record_bytes(r), o.bytes);
      expect_zero_copy(r);
    }
  }
  EXPECT_EQ(merged.tensors.at("a").file, merged.tensors.at("b").file) << "one map per shard";
  EXPECT_NE(merged.tensors.at("a").file, merged.tensors.at("c").file);
  EXPECT_THAT(merged.tensors.at("c").file->path(), HasSubstr(kShard2));
}

TEST_F(SafetensorsSharded, TensorMissingFromItsShard) {
  const auto index_path = write_index(index_json(
      fmt::format(R"("a": "{0}", "b": "{0}", "c": "{1}", "d": "{1}")", kShard1, kShard2)));
  EXPECT_THAT(error_of([&] { read_sharded_safetensors(index_path); }),
              HasSubstr(index_path + ": tensor 'd' is listed in shard '" + kShard2 +
                        "', which does not hold it"));
}

TEST_F(SafetensorsSharded, TensorNotInWeightMap) {
  const auto index_path =
      write_index(index_json(fmt::format(R"("a": "{0}", "c": "{1}")", kShard1, kShard2)));
  EXPECT_THAT(error_of([&] { read_sharded_safetensors(index_path); }),
              HasSubstr(index_path + ": shard '" + kShard1 +
                        "' holds tensor 'b', which the weight_map does not list"));
}

TEST_F(SafetensorsSharded, TensorInTwoShards) {
  const std::vector<Owned> extra = {random_tensor("a", DType::F32, {3, 2}, 99)};
  write_safetensors((dir_ / kShard2).string(), views(extra));
  const auto index_path = write_index(
      index_json(fmt::format(R"("a": "{0}", "b": "{0}", "z": "{1}")", kShard1, kShard2)));
  EXPECT_THAT(error_of([&] { read_sharded_safetensors(index_path); }),
              HasSubstr(index_path + ": tensor 'a' is in shard '" + kShard2 +
                        "' but the weight_map puts it in '" + kShard1 + "'"));
}

TEST_F(SafetensorsSharded, ShardNamesCannotLeaveTheFolder) {
  for (const std::string shard : {"../model.safetensors", "sub/model.safetensors", "/etc/passwd",
                                  "..", "", "a\\\\b.safetensors"}) {
    SCOPED_TRACE(shard);
    const auto index_path = write_index(R"({"weight_map": {"a": ")" + shard + R"("}})");
    const std::string message = error_of([&] { read_safetensors_index(index_path); });
    EXPECT_THAT(message, HasSubstr(index_path + ": weight_map entry 'a' names shard"));
    EXPECT_THAT(message, HasSubstr("no '/', '\\' or '..'"));
  }
}

TEST_F(SafetensorsSharded, MalformedIndexes) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"not json", "index is not valid JSON"},
      {"[]", "index must be a JSON object, got array"},
      {R"({"metadata": {}})", "index needs a \"weight_map\" object"},
      {R"({"weight_map": []})", "index needs a \"weight_map\" object"},
      {R"({"weight_map": {"a": 3}})", "weight_map entry 'a' must be a shard file name, got number"},
      {R"({"weight_map": {"a": "x.safetensors", "a": "y.safetensors"}})",
       "index has duplicate key 'a'"},
      {R"({"metadata": 1, "weight_map": {}})", "index \"metadata\" must be an object, got number"},
  };
  for (const auto& [json, expected] : cases) {
    SCOPED_TRACE(json);
    const auto index_path = write_index(json);
    const std::string message = error_of([&] { read_sharded_safetensors(index_path); });
    EXPECT_THAT(message, HasSubstr(index_path + ": "));
    EXPECT_THAT(message, HasSubstr(expected));
  }
}

TEST_F(SafetensorsSharded, MissingShardFileNamesIt) {
  const auto index_path = write_index(index_json(R"("a": "gone.safetensors")"));
  EXPECT_THAT(error_of([&] { read_sharded_safetensors(index_path); }),
              HasSubstr((dir_ / "gone.safetensors").string()));
}

// ---- the seed corpus of the fuzzer -----------------------------------------------------------

// Seeds named valid_* must parse and every other *.safetensors seed must be rejected, so the
// corpus keeps covering both paths. index_* seeds are index JSON.
TEST(SafetensorsCorpus, SeedsParseOrFailAsNamed) {
  const fs::path corpus = test::source_dir() / "tests/fuzz/corpus/safetensors";
  int valid = 0;
  int damaged = 0;
  for (const auto& item : fs::directory_iterator(corpus)) {
    const std::string name = item.path().filename().string();
    SCOPED_TRACE(name);
    const std::string path = item.path().string();
    if (name.starts_with("valid_")) {
      EXPECT_NO_THROW(read_safetensors(path));
      ++valid;
    } else if (item.path().extension() == ".safetensors") {
      EXPECT_THAT(error_of([&] { read_safetensors(path); }), HasSubstr(path + ": "));
      ++damaged;
    } else if (name == "index_valid.json") {
      EXPECT_NO_THROW(read_safetensors_index(path));
    } else if (name.starts_with("index_")) {
      EXPECT_THAT(error_of([&] { read_safetensors_index(path); }), HasSubstr(path + ": "));
    }
  }
  EXPECT_GE(valid, 3);
  EXPECT_GE(damaged, 10);
}

// ---- compatibility with the reference Python package ----------------------------------------

struct ManifestEntry {
  std::string name;
  std::string dtype;
  std::vector<int64_t> shape;
};

// Lines "name|torch dtype|d0,d1,..." written by the Python side.
std::vector<ManifestEntry> read_manifest(const fs::path& path) {
  std::vector<ManifestEntry> entries;
  std::istringstream in(test::read_file(path));
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    ManifestEntry e;
    std::string shape;
    std::getline(fields, e.name, '|');
    std::getline(fields, e.dtype, '|');
    std::getline(fields, shape);
    std::istringstream dims(shape);
    for (std::string d; std::getline(dims, d, ',');) e.shape.push_back(std::stoll(d));
    entries.push_back(std::move(e));
  }
  return entries;
}

std::string torch_dtype_name(DType d) {
  switch (d) {
    case DType::F64:
      return "float64";
    case DType::F32:
      return "float32";
    case DType::F16:
      return "float16";
    case DType::BF16:
      return "bfloat16";
    case DType::F8_E4M3:
      return "float8_e4m3fn";
    case DType::F8_E5M2:
      return "float8_e5m2";
    case DType::I64:
      return "int64";
    case DType::I32:
      return "int32";
    case DType::I16:
      return "int16";
    case DType::I8:
      return "int8";
    case DType::U8:
      return "uint8";
    case DType::BOOL:
      return "bool";
  }
  return "?";
}

test::CommandResult run_python(const test::TempDir& dir, const std::string& script,
                               const std::vector<std::string>& args) {
  test::write_file(dir / "script.py", script);
  std::string command = fmt::format("'{}' '{}'", DUET_PYTHON, (dir / "script.py").string());
  for (const auto& a : args) command += " '" + a + "'";
  return test::run_command(command);
}

constexpr const char* kPythonDump = R"(
def dump(tensors, out):
    with open(f"{out}/manifest.txt", "w") as m:
        for name, t in tensors.items():
            raw = t.contiguous().reshape(-1).view(torch.uint8).numpy().tobytes()
            with open(f"{out}/{name}.bin", "wb") as f:
                f.write(raw)
            dtype = str(t.dtype).removeprefix("torch.")
            m.write(f"{name}|{dtype}|{','.join(str(d) for d in t.shape)}\n")
)";

TEST(SafetensorsPython, ReadsFilesWrittenByPython) {
  if (!fs::exists(DUET_PYTHON)) GTEST_SKIP() << "no Python at " << DUET_PYTHON;
  test::TempDir dir;
  const std::string script =
      std::string("import sys, torch\nfrom safetensors.torch import save_file\n") + kPythonDump +
      R"(
out = sys.argv[1]
g = torch.Generator().manual_seed(1234)
tensors = {
    "blocks.0.attn.q.weight": torch.randn(17, 9, generator=g).to(torch.bfloat16),
    "blocks.0.norm.weight": torch.randn(33, generator=g).to(torch.float16),
    "head.bias": torch.randn(3, 5, 2, generator=g),
    "pos_ids": torch.randint(-2**40, 2**40, (11,), generator=g, dtype=torch.int64),
    "empty": torch.zeros(0, 4),
}
save_file(tensors, f"{out}/model.safetensors", metadata={"format": "pt", "source": "python"})
dump(tensors, out)
)";
  const auto result = run_python(dir, script, {dir.path().string()});
  ASSERT_EQ(result.exit_code, 0) << result.err;

  const SafetensorsFile file = read_safetensors((dir / "model.safetensors").string());
  const std::map<std::string, std::string> metadata = {{"format", "pt"}, {"source", "python"}};
  EXPECT_EQ(file.metadata, metadata);
  const auto manifest = read_manifest(dir / "manifest.txt");
  ASSERT_EQ(manifest.size(), 5u);
  EXPECT_EQ(file.tensors.size(), manifest.size());
  for (const auto& e : manifest) {
    SCOPED_TRACE(e.name);
    auto it = file.tensors.find(e.name);
    ASSERT_NE(it, file.tensors.end());
    EXPECT_EQ(torch_dtype_name(it->second.dtype), e.dtype);
    EXPECT_EQ(it->second.shape, e.shape);
    EXPECT_EQ(record_bytes(it->second), file_bytes(dir / (e.name + ".bin")));
    expect_zero_copy(it->second);
  }
}

TEST(SafetensorsPython, PythonReadsFilesWrittenByCpp) {
  if (!fs::exists(DUET_PYTHON)) GTEST_SKIP() << "no Python at " << DUET_PYTHON;
  test::TempDir dir;
  std::vector<Owned> owned;
  uint32_t seed = 100;
  for (DType d : kAllDTypes) {
    Owned o = random_tensor(fmt::format("t.{}", dtype_name(d)), d, {3, 5}, seed++);
    if (d == DType::BOOL) {
      for (auto& b : o.bytes) b &= 1;  // torch reads other byte values as undefined bools
    }
    owned.push_back(std::move(o));
  }
  owned.push_back({"zero", DType::F32, {0, 3}, {}});
  const std::map<std::string, std::string> metadata = {{"format", "pt"}, {"writer", "duet"}};
  const auto path = dir / "cpp.safetensors";
  write_safetensors(path.string(), views(owned), metadata);

  const std::string script = std::string(
                                 "import sys, json, torch\nfrom safetensors import safe_open\n"
                                 "from safetensors.torch import load_file\n") +
                             kPythonDump + R"(
path, out = sys.argv[1], sys.argv[2]
with safe_open(path, "pt") as f:
    print(json.dumps(f.metadata(), sort_keys=True))
dump(load_file(path), out)
)";
  const auto result = run_python(dir, script, {path.string(), dir.path().string()});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(result.out, "{\"format\": \"pt\", \"writer\": \"duet\"}\n");

  const auto manifest = read_manifest(dir / "manifest.txt");
  ASSERT_EQ(manifest.size(), owned.size());
  for (const auto& o : owned) {
    SCOPED_TRACE(o.name);
    auto it = std::find_if(manifest.begin(), manifest.end(),
                           [&](const ManifestEntry& e) { return e.name == o.name; });
    ASSERT_NE(it, manifest.end());
    EXPECT_EQ(it->dtype, torch_dtype_name(o.dtype));
    EXPECT_EQ(it->shape, o.shape);
    EXPECT_EQ(file_bytes(dir / (o.name + ".bin")), o.bytes);
  }
}

}  // namespace
}  // namespace duet
