#include "io/weight_store.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "core/device.h"
#include "core/error.h"
#include "io/safetensors.h"
#include "support/test_support.h"

namespace duet {
namespace {

using test::TempDir;

TensorToWrite entry(const std::string& name, const at::Tensor& t) {
  TensorToWrite w;
  w.name = name;
  w.dtype = from_scalar_type(t.scalar_type());
  w.shape = t.sizes().vec();
  w.data = t.data_ptr();
  w.nbytes = t.nbytes();
  return w;
}

std::string error_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

class WeightStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto gen = at::make_generator<at::CPUGeneratorImpl>(1234);
    w_ = at::randn({8, 6}, gen);
    b_ = at::randn({8}, gen).to(at::kBFloat16);
    f8_ = (at::randn({3, 3}, gen) * 2).to(at::kFloat8_e4m3fn);  // 9 bytes: misaligns the next
    idx_ = at::randint(0, 1000, {5}, gen).to(at::kLong);
    path_ = (dir_ / "w.safetensors").string();
    // Stored in name order: bias (16 bytes at 0), f8 (9 bytes at 16), then the F32 weight at
    // offset 25, which is not a multiple of 4.
    write_safetensors(path_, {entry("blocks.0.bias", b_),
                              entry("blocks.0.f8", f8_), entry("blocks.0.weight", w_),
                              entry("idx", idx_)});
  }
  TempDir dir_;
  std::string path_;
  at::Tensor w_, b_, f8_, idx_;
};

TEST_F(WeightStoreTest, LoadsWithShapeChecksAndKeepsDtype) {
  WeightStore store({path_});
  auto scope = store.scope("blocks.0.");
  EXPECT_TRUE(at::equal(scope.get("weight", {8, 6}), w_));
  EXPECT_TRUE(at::equal(scope.get("bias", {8}), b_));
  EXPECT_EQ(scope.get("bias", {8}).scalar_type(), at::kBFloat16);
  EXPECT_TRUE(at::equal(store.scope("").get("idx", {5}), idx_));
}

TEST_F(WeightStoreTest, ConvertsFloatingTypesOnly) {
  WeightStore store({path_}, WeightOptions{.dtype = at::kFloat});
  auto scope = store.scope("");
  auto bias = scope.get("blocks.0.bias", {8});
  EXPECT_EQ(bias.scalar_type(), at::kFloat);
  EXPECT_TRUE(at::equal(bias, b_.to(at::kFloat)));  // bf16 -> f32 is exact
  auto f8 = scope.get("blocks.0.f8", {3, 3});
  EXPECT_TRUE(at::equal(f8, f8_.to(at::kFloat)));   // fp8 -> f32 is exact
  EXPECT_EQ(scope.get("idx", {5}).scalar_type(), at::kLong);
}

TEST_F(WeightStoreTest, ZeroCopyWhenAlignedAndCopyWhenNot) {
  WeightStore store({path_});
  const auto& bias_rec = store.record("blocks.0.bias");
  auto bias = store.scope("").get("blocks.0.bias", {8});
  EXPECT_EQ(bias.data_ptr(), static_cast<const void*>(bias_rec.data)) << "expected a view";
  const auto& w_rec = store.record("blocks.0.weight");
  ASSERT_NE(reinterpret_cast<uintptr_t>(w_rec.data) % 4, 0u) << "fixture should be unaligned";
  auto w = store.scope("").get("blocks.0.weight", {8, 6});
  EXPECT_NE(w.data_ptr(), static_cast<const void*>(w_rec.data));
  EXPECT_EQ(reinterpret_cast<uintptr_t>(w.data_ptr()) % 4, 0u);
  EXPECT_TRUE(at::equal(w, w_));
}

TEST_F(WeightStoreTest, ViewOutlivesStoreAndWritesStayPrivate) {
  at::Tensor bias;
  {
    WeightStore store({path_});
    bias = store.scope("").get("blocks.0.bias", {8});
  }
  bias.add_(1.0);  // copy-on-write page: must not crash and must not reach the file
  WeightStore again({path_});
  EXPECT_TRUE(at::equal(again.scope("").get("blocks.0.bias", {8}), b_));
}

TEST_F(WeightStoreTest, ShapeMismatchNamesKeyBothShapesAndHint) {
  WeightStore store({path_});
  const auto msg = error_of([&] { store.scope("blocks.0.").get("weight", {6, 8}, "(config dim=6)"); });
  EXPECT_NE(msg.find("'blocks.0.weight'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("[8, 6]"), std::string::npos) << msg;
  EXPECT_NE(msg.find("expected [6, 8]"), std::string::npos) << msg;
  EXPECT_NE(msg.find("config dim=6"), std::string::npos) << msg;
}

TEST_F(WeightStoreTest, MissingAndOptionalTensors) {
  WeightStore store({path_});
  auto scope = store.scope("blocks.0.");
  const auto msg = error_of([&] { scope.get("gamma", {8}); });
  EXPECT_NE(msg.find("'blocks.0.gamma'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("w.safetensors"), std::string::npos) << msg;
  EXPECT_FALSE(scope.get_optional("gamma", {8}).has_value());
  ASSERT_TRUE(scope.get_optional("bias", {8}).has_value());
}

TEST_F(WeightStoreTest, FinishReportsUnexpectedTensorsUnderScope) {
  WeightStore store({path_});
  auto scope = store.scope("blocks.0.");
  scope.get("weight", {8, 6});
  const auto msg = error_of([&] { scope.finish(); });
  EXPECT_NE(msg.find("2 unexpected"), std::string::npos) << msg;
  EXPECT_NE(msg.find("blocks.0.bias"), std::string::npos) << msg;
  EXPECT_NE(msg.find("blocks.0.f8"), std::string::npos) << msg;
  scope.get("bias", {8});
  scope.get_any_shape("f8");
  EXPECT_NO_THROW(scope.finish());
  EXPECT_THROW(store.scope("").finish(), Error);  // idx was never asked for
}

TEST_F(WeightStoreTest, KeyMapTranslatesNames) {
  // A made-up renaming, like the diffusers tables: ours "layers.N.w" -> file "blocks.N.weight".
  KeyMap map = [](const std::string& name) -> std::optional<std::string> {
    if (name == "layers.0.w") return "blocks.0.weight";
    if (name == "layers.0.b") return "blocks.0.bias";
    return std::nullopt;
  };
  WeightStore store({path_}, {}, map);
  auto scope = store.scope("layers.0.");
  EXPECT_TRUE(at::equal(scope.get("w", {8, 6}), w_));
  EXPECT_FALSE(scope.contains("gamma"));
  const auto msg = error_of([&] { scope.finish(); });
  EXPECT_NE(msg.find("blocks.0.bias"), std::string::npos) << msg;
}

TEST_F(WeightStoreTest, DuplicateTensorAcrossFilesIsAnError) {
  const auto second = (dir_ / "dup.safetensors").string();
  write_safetensors(second, {entry("idx", idx_)});
  WeightStore store({path_, second});
  const auto msg = error_of([&] { store.names(); });
  EXPECT_NE(msg.find("'idx'"), std::string::npos) << msg;
}

}  // namespace
}  // namespace duet
