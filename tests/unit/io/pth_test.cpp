#include "io/pth.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <array>
#include <cctype>
#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "core/error.h"
#include "support/test_support.h"

namespace duet {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

fs::path fixture(const std::string& name) { return test::data_dir() / "pth" / name; }

// --- SHA-256 (FIPS 180-4), so expected bytes come from the Python generator as digests ------
class Sha256 {
 public:
  void update(const uint8_t* p, size_t n) {
    for (size_t i = 0; i < n; ++i) {
      block_[fill_++] = p[i];
      if (fill_ == 64) compress(), fill_ = 0;
    }
    length_ += n;
  }
  std::string hex() {
    const uint64_t bits = length_ * 8;
    const uint8_t pad = 0x80, zero = 0;
    update(&pad, 1);
    while (fill_ != 56) update(&zero, 1);
    for (int i = 7; i >= 0; --i) {
      const auto b = static_cast<uint8_t>(bits >> (8 * i));
      update(&b, 1);
    }
    std::string out;
    for (uint32_t v : h_) out += fmt::format("{:08x}", v);
    return out;
  }

 private:
  static uint32_t rotr(uint32_t x, int n) { return (x >> n) | (x << (32 - n)); }
  void compress() {
    static constexpr uint32_t k[64] = {
        0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4,
        0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe,
        0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f,
        0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
        0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc,
        0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
        0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116,
        0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
        0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
        0xc67178f2};
    uint32_t w[64];
    for (int i = 0; i < 16; ++i) {
      w[i] = (uint32_t{block_[4 * i]} << 24) | (uint32_t{block_[4 * i + 1]} << 16) |
             (uint32_t{block_[4 * i + 2]} << 8) | block_[4 * i + 3];
    }
    for (int i = 16; i < 64; ++i) {
      const uint32_t s0 = rotr(w[i - 15], 7) ^ rotr(w[i - 15], 18) ^ (w[i - 15] >> 3);
      const uint32_t s1 = rotr(w[i - 2], 17) ^ rotr(w[i - 2], 19) ^ (w[i - 2] >> 10);
      w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    auto v = h_;
    for (int i = 0; i < 64; ++i) {
      const uint32_t s1 = rotr(v[4], 6) ^ rotr(v[4], 11) ^ rotr(v[4], 25);
      const uint32_t t1 = v[7] + s1 + ((v[4] & v[5]) ^ (~v[4] & v[6])) + k[i] + w[i];
      const uint32_t s0 = rotr(v[0], 2) ^ rotr(v[0], 13) ^ rotr(v[0], 22);
      const uint32_t t2 = s0 + ((v[0] & v[1]) ^ (v[0] & v[2]) ^ (v[1] & v[2]));
      for (int j = 7; j > 0; --j) v[j] = v[j - 1];
      v[4] += t1;
      v[0] = t1 + t2;
    }
    for (int i = 0; i < 8; ++i) h_[i] += v[i];
  }

  std::array<uint32_t, 8> h_ = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
  uint8_t block_[64] = {};
  size_t fill_ = 0;
  uint64_t length_ = 0;
};

std::string sha256(const std::vector<uint8_t>& bytes) {
  Sha256 h;
  h.update(bytes.data(), bytes.size());
  return h.hex();
}

// The tensor's elements in row-major order, read through its strides.
std::vector<uint8_t> materialize(const TensorRecord& r) {
  const size_t elem = dtype_size(r.dtype);
  std::vector<uint8_t> out;
  std::vector<int64_t> index(r.shape.size(), 0);
  for (int64_t i = 0; i < r.numel(); ++i) {
    int64_t offset = r.storage_offset;
    for (size_t d = 0; d < index.size(); ++d) offset += index[d] * r.strides[d];
    const uint8_t* p = r.data + offset * elem;
    out.insert(out.end(), p, p + elem);
    for (size_t d = index.size(); d-- > 0;) {
      if (++index[d] < r.shape[d]) break;
      index[d] = 0;
    }
  }
  return out;
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

std::shared_ptr<const MappedFile> as_file(const std::string& bytes,
                                          const std::string& name = "test.pth") {
  return MappedFile::from_bytes(name, std::vector<uint8_t>(bytes.begin(), bytes.end()));
}

// --- fixtures written by tools/fixtures/make_pth_fixtures.py ---------------------------------

class PthFixture : public ::testing::TestWithParam<std::string> {};

TEST_P(PthFixture, MatchesTorchBytesExactly) {
  const PthFile pth = read_pth(fixture(GetParam()).string());
  const auto want = nlohmann::json::parse(test::read_file(fixture(GetParam() + ".expected.json")));
  std::set<std::string> want_names, got_names;
  for (const auto& [name, _] : want["tensors"].items()) want_names.insert(name);
  for (const auto& [name, _] : pth.tensors) got_names.insert(name);
  EXPECT_EQ(got_names, want_names);
  for (const auto& [name, spec] : want["tensors"].items()) {
    auto it = pth.tensors.find(name);
    if (it == pth.tensors.end()) continue;
    const TensorRecord& r = it->second;
    EXPECT_EQ(r.name, name);
    EXPECT_EQ(dtype_name(r.dtype), spec["dtype"].get<std::string>()) << name;
    EXPECT_EQ(r.shape, spec["shape"].get<std::vector<int64_t>>()) << name;
    EXPECT_EQ(sha256(materialize(r)), spec["sha256"].get<std::string>()) << name;
    EXPECT_EQ(r.file->path(), fixture(GetParam()).string());
  }
}

INSTANTIATE_TEST_SUITE_P(Pth, PthFixture,
                         ::testing::Values("plain.pth", "nested.pt", "views.pth", "module.pth",
                                           "params.pth", "proto4.pth", "zip64.pth"),
                         [](const auto& info) {
                           std::string name = info.param;
                           for (char& c : name) c = std::isalnum(c) ? c : '_';
                           return name;
                         });

TEST(Pth, EveryDTypeRoundTrips) {
  const PthFile pth = read_pth(fixture("plain.pth").string());
  std::set<DType> seen;
  for (const auto& [name, r] : pth.tensors) seen.insert(r.dtype);
  EXPECT_EQ(seen.size(), std::size(kAllDTypes));
  EXPECT_EQ(pth.tensors.at("w_bf16").shape.size(), 0u);  // a 0-dim scalar
  EXPECT_EQ(pth.tensors.at("w_f8_e4m3").numel(), 0);     // an empty tensor
}

TEST(Pth, ViewsShareOneStorageZeroCopy) {
  auto file = MappedFile::open(fixture("views.pth").string());
  const PthFile pth = parse_pth(file);
  const auto& t = pth.tensors;
  const TensorRecord& base = t.at("base");
  EXPECT_TRUE(base.is_contiguous());
  EXPECT_GE(base.data, file->data());
  EXPECT_LE(base.data + base.storage_bytes, file->data() + file->size());
  EXPECT_EQ(base.storage_bytes, 4u * 6 * 4);
  for (const char* view : {"transposed", "row", "column", "window", "strided"}) {
    EXPECT_EQ(t.at(view).data, base.data) << view;
  }
  EXPECT_EQ(t.at("transposed").strides, (std::vector<int64_t>{1, 6}));
  EXPECT_FALSE(t.at("transposed").is_contiguous());
  EXPECT_EQ(t.at("row").storage_offset, 12);
  EXPECT_EQ(t.at("column").strides, (std::vector<int64_t>{6}));
  EXPECT_EQ(t.at("window").storage_offset, 5);
  EXPECT_EQ(t.at("broadcast").strides, (std::vector<int64_t>{0, 1}));
  EXPECT_EQ(t.at("tied_a").data, t.at("tied_b").data);
}

TEST(Pth, NestedCheckpointKeysJoinWithDots) {
  const PthFile pth = read_pth(fixture("nested.pt").string());
  EXPECT_TRUE(pth.tensors.contains("generator.0.weight"));
  EXPECT_TRUE(pth.tensors.contains("generator.1.num_batches_tracked"));
  EXPECT_TRUE(pth.tensors.contains("optim.state.0.exp_avg"));  // int dict keys
  EXPECT_TRUE(pth.tensors.contains("history.0"));              // list indices
  EXPECT_FALSE(pth.tensors.contains("step"));
}

TEST(Pth, RecordsKeepTheMapAlive) {
  TensorRecord r;
  {
    const PthFile pth = read_pth(fixture("plain.pth").string());
    r = pth.tensors.at("w_i64");
  }
  EXPECT_EQ(sha256(materialize(r)).size(), 64u);  // still readable (ASan would object)
}

// --- files that must be refused --------------------------------------------------------------

void expect_one_line(const std::string& msg) {
  EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
}

TEST(Pth, LegacyFormatSuggestsTheConversion) {
  const std::string path = fixture("legacy.pth").string();
  const std::string base = path.substr(0, path.size() - 4);
  EXPECT_EQ(error_of([&] { read_pth(path); }),
            path +
                " uses PyTorch's legacy (pre-1.6) format; convert it with: python -c \"import "
                "torch; torch.save(torch.load('" +
                path + "', weights_only=True), '" + base + "-new.pth')\"");
}

TEST(Pth, ForeignGlobalIsRefusedByName) {
  const std::string path = fixture("foreign_global.pth").string();
  const std::string msg = error_of([&] { read_pth(path); });
  EXPECT_EQ(msg, path +
                     ": refusing to load global 'posix.system' (only tensors, storages and "
                     "OrderedDict are allowed)");
}

TEST(Pth, UnsupportedDTypesNameTheTensor) {
  const std::string complex = error_of([] { read_pth(fixture("complex.pth").string()); });
  EXPECT_THAT(complex, HasSubstr("complex.pth: tensor 'c' has type torch.ComplexFloatStorage"));
  const std::string u16 = error_of([] { read_pth(fixture("uint16.pth").string()); });
  EXPECT_THAT(u16, HasSubstr("uint16.pth: tensor 'u' has type torch.uint16"));
}

TEST(Pth, OtherContainersGetPreciseMessages) {
  const std::string compressed = error_of([] { read_pth(fixture("compressed.pth").string()); });
  EXPECT_THAT(compressed,
              HasSubstr("compressed.pth: ZIP entry 'compressed/data.pkl' is compressed"));
  EXPECT_THAT(compressed, HasSubstr("torch.save"));
  EXPECT_THAT(error_of([] { read_pth(fixture("torchscript.pt").string()); }),
              HasSubstr("torchscript.pt is a TorchScript archive"));
  EXPECT_THAT(error_of([] { parse_pth(as_file("just some text, not a checkpoint")); }),
              HasSubstr("test.pth is not a PyTorch checkpoint"));
  EXPECT_THAT(error_of([] { parse_pth(as_file(std::string("\x80\x02N.", 4))); }),
              HasSubstr("test.pth is a plain Python pickle"));
  EXPECT_THAT(error_of([] { parse_pth(as_file(std::string("\x05\0\0\0\0\0\0\0{}   ", 13))); }),
              HasSubstr("looks like a safetensors file"));
  EXPECT_THAT(error_of([] { parse_pth(as_file("")); }), HasSubstr("test.pth is not"));
  EXPECT_THAT(error_of([] { read_pth("/nonexistent/model.pth"); }),
              HasSubstr("/nonexistent/model.pth"));
  for (const char* name :
       {"legacy.pth", "foreign_global.pth", "complex.pth", "compressed.pth", "torchscript.pt"}) {
    expect_one_line(error_of([&] { read_pth(fixture(name).string()); }));
  }
}

// --- hand-built archives ------------------------------------------------------------------

void put_le(std::string& s, uint64_t v, int n) {
  for (int i = 0; i < n; ++i) s += static_cast<char>((v >> (8 * i)) & 0xff);
}

// A stored, non-ZIP64 archive; CRCs are zero because the reader does not check them.
std::string stored_zip(const std::vector<std::pair<std::string, std::string>>& entries) {
  std::string out, central;
  for (const auto& [name, data] : entries) {
    const uint64_t offset = out.size();
    put_le(out, 0x04034b50, 4), put_le(out, 20, 2), put_le(out, 0, 2), put_le(out, 0, 2);
    put_le(out, 0, 4), put_le(out, 0, 4), put_le(out, data.size(), 4);
    put_le(out, data.size(), 4), put_le(out, name.size(), 2), put_le(out, 0, 2);
    out += name + data;
    put_le(central, 0x02014b50, 4), put_le(central, 20, 2), put_le(central, 20, 2);
    put_le(central, 0, 2), put_le(central, 0, 2), put_le(central, 0, 4), put_le(central, 0, 4);
    put_le(central, data.size(), 4), put_le(central, data.size(), 4);
    put_le(central, name.size(), 2), put_le(central, 0, 2), put_le(central, 0, 2);
    put_le(central, 0, 2), put_le(central, 0, 2), put_le(central, 0, 4);
    put_le(central, offset, 4);
    central += name;
  }
  const uint64_t cd = out.size();
  out += central;
  put_le(out, 0x06054b50, 4), put_le(out, 0, 4), put_le(out, entries.size(), 2);
  put_le(out, entries.size(), 2), put_le(out, central.size(), 4), put_le(out, cd, 4);
  put_le(out, 0, 2);
  return out;
}

std::string p_str(std::string_view s) {
  std::string out = "X";
  put_le(out, s.size(), 4);
  return out + std::string(s);
}
std::string p_int(int64_t v) {  // LONG1 with 8 bytes covers every int64
  std::string out = "\x8a\x08";
  put_le(out, static_cast<uint64_t>(v), 8);
  return out;
}
std::string p_ints(const std::vector<int64_t>& v) {
  std::string out = "(";
  for (int64_t x : v) out += p_int(x);
  return out + "t";
}
// _rebuild_tensor_v2(FloatStorage key, offset, shape, strides, False, OrderedDict())
std::string p_tensor(std::string_view key, int64_t offset, const std::vector<int64_t>& shape,
                     const std::vector<int64_t>& strides) {
  return "ctorch._utils\n_rebuild_tensor_v2\n((" + p_str("storage") + "ctorch\nFloatStorage\n" +
         p_str(key) + p_str("cpu") + p_int(4) + "tQ" + p_int(offset) + p_ints(shape) +
         p_ints(strides) + "\x89" + "ccollections\nOrderedDict\n)RtR";
}
std::string p_dict(const std::vector<std::pair<std::string, std::string>>& items) {
  std::string out = "}(";
  for (const auto& [k, v] : items) out += p_str(k) + v;
  return out + "u";
}

// An archive "a/..." with data.pkl = `pickle` and one storage "a/data/0" of `storage` bytes.
std::shared_ptr<const MappedFile> archive(
    const std::string& pickle, size_t storage = 16,
    std::vector<std::pair<std::string, std::string>> extra = {}) {
  std::vector<std::pair<std::string, std::string>> entries = {
      {"a/data.pkl", "\x80\x02" + pickle + "."}, {"a/data/0", std::string(storage, '\x01')}};
  entries.insert(entries.end(), extra.begin(), extra.end());
  return as_file(stored_zip(entries));
}

std::string pth_error(const std::string& pickle, size_t storage = 16,
                      std::vector<std::pair<std::string, std::string>> extra = {}) {
  return error_of([&] { parse_pth(archive(pickle, storage, std::move(extra))); });
}

TEST(Pth, HandBuiltArchiveLoads) {
  const PthFile pth = parse_pth(archive(p_dict({{"w", p_tensor("0", 1, {3}, {1})}})));
  ASSERT_EQ(pth.tensors.size(), 1u);
  EXPECT_EQ(pth.tensors.at("w").storage_offset, 1);
  EXPECT_EQ(pth.tensors.at("w").storage_bytes, 16u);
}

TEST(Pth, TensorExtentsAreCheckedAgainstTheStorage) {
  EXPECT_THAT(pth_error(p_dict({{"w", p_tensor("0", 0, {5}, {1})}})),
              HasSubstr("test.pth: tensor 'w' (shape [5], strides [1], offset 0) needs 5 "
                        "elements but its storage holds 4"));
  EXPECT_THAT(pth_error(p_dict({{"w", p_tensor("0", 2, {2, 2}, {1, 1})}})),
              HasSubstr("needs 5 elements"));
  EXPECT_THAT(pth_error(p_dict({{"w", p_tensor("0", 5, {0}, {1})}})), HasSubstr("needs 5"));
  EXPECT_THAT(pth_error(p_dict({{"w", p_tensor("0", -1, {1}, {1})}})),
              HasSubstr("negative storage offset"));
  EXPECT_THAT(pth_error(p_dict({{"w", p_tensor("0", 0, {2}, {-1})}})),
              HasSubstr("negative size or stride"));
  EXPECT_THAT(pth_error(p_dict({{"w", p_tensor("0", 0, {int64_t{1} << 62, 4}, {0, 0})}})),
              HasSubstr("is too large"));
  // Empty in total, but TensorRecord::numel() would overflow on the way to the zero.
  EXPECT_THAT(pth_error(p_dict(
                  {{"w", p_tensor("0", 0, {int64_t{1} << 40, int64_t{1} << 40, 0}, {0, 0, 0})}})),
              HasSubstr("is too large"));
  EXPECT_THAT(pth_error(p_dict({{"w", p_tensor("0", 0, {3}, {INT64_MAX})}})),
              HasSubstr("is too large"));
  EXPECT_THAT(pth_error(p_dict({{"w", p_tensor("0", 0, {1}, {1})}}), 6),
              HasSubstr("tensor 'w': storage 'data/0' has 6 bytes, not a whole number of 4-byte "
                        "F32 elements"));
  EXPECT_THAT(pth_error(p_dict({{"w", p_tensor("7", 0, {1}, {1})}})),
              HasSubstr("tensor 'w' uses storage 'data/7', which the archive lacks"));
}

TEST(Pth, BroadcastAndEmptyViewsAreAllowed) {
  const PthFile pth = parse_pth(archive(p_dict(
      {{"b", p_tensor("0", 0, {1000, 4}, {0, 1})}, {"e", p_tensor("0", 4, {0, 3}, {3, 1})}})));
  EXPECT_EQ(pth.tensors.at("b").numel(), 4000);
  EXPECT_EQ(pth.tensors.at("e").numel(), 0);
}

TEST(Pth, FlatteningRules) {
  const std::string t = p_tensor("0", 0, {1}, {1});
  EXPECT_THAT(pth_error(p_dict({{"a.b", t}, {"a", p_dict({{"b", t}})}})),
              HasSubstr("tensor name 'a.b' appears twice"));
  EXPECT_THAT(pth_error(t), HasSubstr("holds a single tensor, not a dict of tensors"));
  EXPECT_TRUE(parse_pth(archive("}")).tensors.empty());
  EXPECT_TRUE(parse_pth(archive("K\x05")).tensors.empty());
}

TEST(Pth, HostileNestingIsBounded) {
  std::string deep = p_tensor("0", 0, {1}, {1});
  for (int i = 0; i < 100; ++i) deep = p_dict({{"k", deep}});
  EXPECT_THAT(pth_error(deep), HasSubstr("nest deeper than 64 levels at 'k.k.k"));
  // l = []; l.append(l): a cycle flattens until the depth limit, never forever.
  EXPECT_THAT(pth_error(std::string("]q\0h\0a", 6)), HasSubstr("nest deeper than 64"));
  // l1 = [l0, l0], l2 = [l1, l1], ...: 2^30 paths through 30 small objects (memo i = l_i).
  std::string dag = std::string("]q") + '\0';
  for (char i = 0; i < 30; ++i) dag += std::string("(h") + i + "h" + i + "lq" + char(i + 1);
  EXPECT_THAT(pth_error(dag), HasSubstr("too many nested objects"));
}

TEST(Pth, ArchiveLayoutChecks) {
  const std::string sd = p_dict({{"w", p_tensor("0", 0, {1}, {1})}});
  EXPECT_THAT(pth_error(sd, 16, {{"a/byteorder", "big"}}), HasSubstr("'big' byte order"));
  EXPECT_NO_THROW(parse_pth(archive(sd, 16, {{"a/byteorder", "little"}})));
  EXPECT_THAT(pth_error(sd, 16, {{"a/constants.pkl", ""}}), HasSubstr("TorchScript"));
  EXPECT_THAT(pth_error(sd, 16, {{"b/data.pkl", ""}}), HasSubstr("more than one data.pkl"));
  EXPECT_THAT(error_of([] {
                parse_pth(as_file(stored_zip({{"x/other", ""}})));
              }),
              HasSubstr("test.pth: ZIP archive has no '<name>/data.pkl'"));
  // Any archive name works, not only the file's stem.
  EXPECT_NO_THROW(parse_pth(as_file(stored_zip({{"whatever/data.pkl", "\x80\x02}."}}))));
}

// --- damaged copies of a real checkpoint ----------------------------------------------------

// Reads the first and last element a record can reach (not all: a damaged shape may be a
// huge broadcast), so ASan reports any view reaching outside the file.
void touch_extent(const TensorRecord& r) {
  if (r.numel() == 0) return;
  const size_t elem = dtype_size(r.dtype);
  int64_t last = r.storage_offset;
  for (size_t d = 0; d < r.shape.size(); ++d) last += (r.shape[d] - 1) * r.strides[d];
  ASSERT_LE(static_cast<size_t>(last + 1) * elem, r.storage_bytes);
  volatile uint8_t sink = r.data[r.storage_offset * elem] + r.data[(last + 1) * elem - 1];
  (void)sink;
}

// Either an error or records that stay inside the file: never a crash or a wild pointer.
void load_damaged(const std::string& bytes, const std::string& what) {
  auto file = as_file(bytes, "damaged.pth");
  try {
    const PthFile pth = parse_pth(file);
    for (const auto& [name, r] : pth.tensors) {
      ASSERT_GE(r.data, file->data()) << what;
      ASSERT_LE(r.data + r.storage_bytes, file->data() + file->size()) << what;
      touch_extent(r);
    }
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("damaged.pth")) << what;
  }
}

TEST(Pth, EveryTruncationIsAnError) {
  const std::string good = test::read_file(fixture("plain.pth"));
  for (size_t n = 0; n < good.size(); n += (n + 80 > good.size() ? 1 : 7)) {
    const std::string msg = error_of([&] { parse_pth(as_file(good.substr(0, n), "cut.pth")); });
    EXPECT_THAT(msg, HasSubstr("cut.pth")) << n;
  }
}

TEST(Pth, FlippedBytesInTheCentralDirectoryNeverCrash) {
  const std::string good = test::read_file(fixture("plain.pth"));
  const size_t cd = good.find(std::string("PK\x01\x02", 4));
  ASSERT_NE(cd, std::string::npos);
  for (size_t pos = cd; pos < good.size(); ++pos) {
    for (const uint8_t mask : {0x01, 0x80, 0xFF}) {
      std::string bad = good;
      bad[pos] = static_cast<char>(bad[pos] ^ mask);
      load_damaged(bad, fmt::format("byte {} ^ {:#x}", pos, mask));
    }
  }
}

TEST(Pth, RandomDamageAnywhereNeverCrashes) {
  const std::string good = test::read_file(fixture("nested.pt"));
  std::mt19937 rng(42);
  for (int iter = 0; iter < 3000; ++iter) {
    std::string bad = good;
    const int flips = 1 + static_cast<int>(rng() % 4);
    for (int i = 0; i < flips; ++i) bad[rng() % bad.size()] = static_cast<char>(rng());
    load_damaged(bad, fmt::format("iteration {}", iter));
  }
}

TEST(Pth, WrongStorageSizesNameTheTensor) {
  const std::string good = test::read_file(fixture("plain.pth"));
  // Central directory header of "plain/data/0" (w_f64, 3x5 doubles): sizes at +20 and +24.
  const size_t header = good.rfind("plain/data/0") - 46;
  auto with_size = [&](uint32_t size) {
    std::string bad = good;
    for (const size_t field : {header + 20, header + 24}) {
      for (int i = 0; i < 4; ++i) bad[field + i] = static_cast<char>((size >> (8 * i)) & 0xff);
    }
    return error_of([&] { parse_pth(as_file(bad)); });
  };
  EXPECT_THAT(with_size(119), HasSubstr("tensor 'w_f64': storage 'data/0' has 119 bytes"));
  EXPECT_THAT(with_size(112), HasSubstr("tensor 'w_f64' (shape [3, 5], strides [5, 1], offset "
                                        "0) needs 15 elements but its storage holds 14"));
  EXPECT_THAT(with_size(0x7FFFFFF0), HasSubstr("runs past the end of the file"));
}

}  // namespace
}  // namespace duet
