#include <cuda_runtime.h>

#include <atomic>
#include <cstdint>
#include <cstring>

#include "runtime/cuda_runtime_info.h"

namespace duet::kernels {

int cuda_device_count() {
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess) {
    cudaGetLastError();  // clear the sticky "no driver" error so later calls start clean
    return 0;
  }
  return count;
}

bool cuda_device_info(int index, CudaDeviceInfo* out) {
  cudaDeviceProp prop{};
  if (cudaGetDeviceProperties(&prop, index) != cudaSuccess) {
    cudaGetLastError();
    return false;
  }
  out->index = index;
  out->sm_major = prop.major;
  out->sm_minor = prop.minor;
  out->multiprocessors = prop.multiProcessorCount;
  out->total_memory_bytes = static_cast<long long>(prop.totalGlobalMem);
  int previous = 0;
  size_t free_bytes = 0, total_bytes = 0;
  if (cudaGetDevice(&previous) == cudaSuccess && cudaSetDevice(index) == cudaSuccess &&
      cudaMemGetInfo(&free_bytes, &total_bytes) == cudaSuccess) {
    out->free_memory_bytes = static_cast<long long>(free_bytes);
  }
  cudaGetLastError();
  cudaSetDevice(previous);
  std::strncpy(out->name, prop.name, sizeof(out->name) - 1);
  return true;
}

bool cuda_kernels_runnable(int index) {
  // Asked before every kernel launch by the dispatchers; a device's compute capability does not
  // change, and cudaGetDeviceProperties costs far more than a small launch.
  constexpr int kCached = 64;
  static std::atomic<int8_t> known[kCached];  // 0 not asked yet, 1 runnable, 2 not
  const auto ask = [index] {
    CudaDeviceInfo info;
    return cuda_device_info(index, &info) && info.sm_major >= 8;
  };
  if (index < 0 || index >= kCached) return ask();
  int8_t state = known[index].load(std::memory_order_relaxed);
  if (state == 0) {
    state = ask() ? 1 : 2;
    known[index].store(state, std::memory_order_relaxed);
  }
  return state == 1;
}

const char* cuda_error_string(int code) {
  return cudaGetErrorString(static_cast<cudaError_t>(code));
}

namespace {
__global__ void fill_kernel(float* out, long long n, float value) {
  long long i = blockIdx.x * static_cast<long long>(blockDim.x) + threadIdx.x;
  if (i < n) out[i] = value;
}
}  // namespace

int cuda_fill(float* out, long long n, float value) {
  if (n <= 0) return 0;
  constexpr int kThreads = 256;
  const long long blocks = (n + kThreads - 1) / kThreads;
  fill_kernel<<<static_cast<unsigned>(blocks), kThreads>>>(out, n, value);
  return static_cast<int>(cudaGetLastError());
}

}  // namespace duet::kernels
