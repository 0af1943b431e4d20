#include <gtest/gtest.h>

#include "core/device.h"
#include "core/dtype.h"
#include "core/error.h"

namespace duet {
namespace {

TEST(DType, SafetensorsNamesRoundTrip) {
  for (DType d : kAllDTypes) {
    auto parsed = dtype_from_safetensors(dtype_name(d));
    ASSERT_TRUE(parsed.has_value()) << dtype_name(d);
    EXPECT_EQ(*parsed, d);
  }
  EXPECT_FALSE(dtype_from_safetensors("F128").has_value());
  EXPECT_FALSE(dtype_from_safetensors("").has_value());
}

TEST(DType, SizesMatchTorchElementSizes) {
  for (DType d : kAllDTypes) {
    EXPECT_EQ(dtype_size(d), c10::elementSize(to_scalar_type(d))) << dtype_name(d);
    EXPECT_EQ(from_scalar_type(to_scalar_type(d)), d);
  }
}

TEST(DType, ComputeDTypeSpellings) {
  EXPECT_EQ(parse_compute_dtype("bf16"), DType::BF16);
  EXPECT_EQ(parse_compute_dtype("float16"), DType::F16);
  EXPECT_EQ(parse_compute_dtype("fp32"), DType::F32);
  try {
    parse_compute_dtype("int4");
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("'int4'"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("bf16"), std::string::npos);
  }
}

TEST(DevicePolicy, CpuAndAuto) {
  auto policy = make_device_policy("cpu", "auto");
  EXPECT_TRUE(policy.device.is_cpu());
  // bf16 where the CPU has native bf16 dot products (AVX512-BF16 / AMX), fp32 elsewhere.
  EXPECT_EQ(policy.compute_dtype, cpu_has_fast_bf16() ? c10::kBFloat16 : c10::kFloat);
  EXPECT_EQ(make_device_policy("cpu", "fp32").compute_dtype, c10::kFloat);
  EXPECT_THROW(parse_device("tpu"), Error);
  EXPECT_THROW(parse_device("cuda:x"), Error);
  if (!cuda_available()) {
    EXPECT_TRUE(parse_device("auto").is_cpu());
    EXPECT_THROW(parse_device("cuda"), Error);
  }
}

}  // namespace
}  // namespace duet
