#pragma once
// Device and dtype policy: where a stage runs and in which precision. Parsed once from the
// command line ("cpu", "cuda", "cuda:1", "auto"; "fp32", "bf16", "fp16") and passed down.
#include <c10/core/Device.h>
#include <c10/core/ScalarType.h>

#include <string>
#include <string_view>

#include "core/dtype.h"

namespace duet {

struct DevicePolicy {
  c10::Device device = c10::Device(c10::kCPU);
  c10::ScalarType compute_dtype = c10::kFloat;

  std::string describe() const;
};

bool cuda_available();
int cuda_device_count();

// "auto" picks cuda:0 when a GPU is present, else cpu. An unavailable device is an error.
c10::Device parse_device(std::string_view text);
// "auto" picks bf16 on GPUs and on CPUs with native bf16 dot products (AVX512-BF16 / AMX),
// fp32 on other CPUs (where bf16 matmuls are slower than fp32).
bool cpu_has_fast_bf16();
c10::ScalarType parse_compute_scalar_type(std::string_view text, c10::Device device);
DevicePolicy make_device_policy(std::string_view device, std::string_view dtype);

c10::ScalarType to_scalar_type(DType dtype);
DType from_scalar_type(c10::ScalarType type);

}  // namespace duet
