// GPU smoke tests: run only where a CUDA device exists, skip with a message elsewhere.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "core/device.h"
#ifdef DUET_HAVE_CUDA
#include "runtime/cuda_runtime_info.h"
#endif

namespace duet {
namespace {

TEST(CudaRuntime, KernelLaunchWritesDeviceMemory) {
#ifndef DUET_HAVE_CUDA
  GTEST_SKIP() << "built without CUDA (no nvcc at configure time)";
#else
  if (kernels::cuda_device_count() == 0 || !cuda_available()) {
    GTEST_SKIP() << "no CUDA device on this machine";
  }
  kernels::CudaDeviceInfo info;
  ASSERT_TRUE(kernels::cuda_device_info(0, &info));
  ASSERT_TRUE(kernels::cuda_kernels_runnable(0)) << info.name << " is older than sm_80";
  const int64_t n = 1013;  // odd on purpose: the tail block is partial
  auto t = at::zeros({n}, at::TensorOptions().device(at::kCUDA).dtype(at::kFloat));
  ASSERT_EQ(kernels::cuda_fill(t.data_ptr<float>(), n, 2.5f), 0);
  EXPECT_TRUE(at::equal(t.cpu(), at::full({n}, 2.5f)));
#endif
}

TEST(CudaRuntime, DeviceQueryAgreesWithTorch) {
#ifndef DUET_HAVE_CUDA
  GTEST_SKIP() << "built without CUDA (no nvcc at configure time)";
#else
  EXPECT_EQ(kernels::cuda_device_count(), cuda_device_count());
  if (cuda_device_count() == 0) GTEST_SKIP() << "no CUDA device on this machine";
#endif
}

}  // namespace
}  // namespace duet
