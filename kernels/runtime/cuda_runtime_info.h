#pragma once
// Capability query for the CUDA runtime, callable from code compiled without nvcc.
// Every kernel family exposes a `*_supported(...)` query built on this.
namespace duet::kernels {

struct CudaDeviceInfo {
  int index = -1;
  int sm_major = 0;
  int sm_minor = 0;
  int multiprocessors = 0;
  long long total_memory_bytes = 0;
  long long free_memory_bytes = 0;  // free now (cudaMemGetInfo on that device)
  char name[256] = {};
};

// Number of usable CUDA devices; 0 when there is no driver or no device (never throws).
int cuda_device_count();
// Fills `out` for device `index`; returns false when the device cannot be queried.
bool cuda_device_info(int index, CudaDeviceInfo* out);
// True when kernels were compiled for an architecture this device can run (sm_80 and newer);
// asked once per device, then cached.
bool cuda_kernels_runnable(int index);

// cudaGetErrorString for a code returned by a launcher of kernels/ (0 is "no error").
const char* cuda_error_string(int code);

// Fills `out[i] = value` on the device and returns the CUDA error code (0 on success).
// The smallest real launch: used by the GPU smoke test to prove kernels link and run.
int cuda_fill(float* out, long long n, float value);

}  // namespace duet::kernels
