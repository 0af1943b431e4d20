// Attention on a CUDA device: duet's flash kernel (nn::attention backend "flash") beside
// libtorch's SDPA kernels called directly (FlashAttention-2 and cuDNN), at video-sized
// sequence lengths. Prints time per call and TFLOP/s; figures in BENCHMARKS.md.
//
//   duet_attention_gpu_bench [--lens 4096,15000,32768] [--heads 24] [--dims 128,64]
//                            [--dtype bf16|fp16] [--reps 20] [--backends flash,sdpa_flash,sdpa_cudnn]
//
// Shapes: B = 1, q/k/v [1, L, H, D], self-attention, no mask. FLOPs: 4·B·H·L²·D (QKᵀ and PV;
// the softmax's exponentials are not counted, as FlashAttention's papers count). Method: every
// backend gets the same fresh normal inputs; one untimed call (module load, workspace), then
// --reps calls timed one by one with CUDA events on the current stream; the median is printed.
// Each call's output is checked against the first backend's (relative error) so a fast wrong
// kernel shows.
#include <ATen/ATen.h>
#include <ATen/cuda/CUDAEvent.h>
#include <c10/cuda/CUDAStream.h>

#include <cstdio>
#include <string>
#include <vector>

#include "bench_util.h"
#include "core/device.h"
#include "core/error.h"
#include "nn/attention.h"

namespace {

using namespace duet;
using bench::median;
using bench::split_commas;

// q/k/v: [B, L, H, D] -> [B, L, H, D]
at::Tensor run_backend(const std::string& backend, const at::Tensor& q, const at::Tensor& k,
                       const at::Tensor& v) {
  if (backend == "flash") {
    return nn::attention(q, k, v, std::nullopt, {.backend = nn::AttentionBackend::kFlash,
                                                 .scale = std::nullopt});
  }
  // libtorch's kernels take [B, H, L, D].
  const auto qt = q.transpose(1, 2), kt = k.transpose(1, 2), vt = v.transpose(1, 2);
  if (backend == "sdpa_flash") {
    return std::get<0>(at::_scaled_dot_product_flash_attention(qt, kt, vt)).transpose(1, 2);
  }
  if (backend == "sdpa_cudnn") {
    return std::get<0>(at::_scaled_dot_product_cudnn_attention(qt, kt, vt, std::nullopt,
                                                               /*compute_log_sumexp=*/false))
        .transpose(1, 2);
  }
  if (backend == "sdpa") {
    return at::scaled_dot_product_attention(qt, kt, vt).transpose(1, 2);
  }
  DUET_FAIL("backend must be flash, sdpa_flash, sdpa_cudnn or sdpa, got '{}'", backend);
}

}  // namespace

int main(int argc, char** argv) {
  std::string lens = "4096,15000,32768", dims = "128,64", dtype_name = "bf16",
              backends = "flash,sdpa_flash,sdpa_cudnn";
  int64_t heads = 24;
  int reps = 20;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i], value = argv[i + 1];
    if (flag == "--lens") lens = value;
    else if (flag == "--dims") dims = value;
    else if (flag == "--heads") heads = std::stoll(value);
    else if (flag == "--dtype") dtype_name = value;
    else if (flag == "--reps") reps = std::stoi(value);
    else if (flag == "--backends") backends = value;
    else {
      std::fprintf(stderr, "unknown flag %s\n", flag.c_str());
      return 2;
    }
  }
  if (!cuda_available()) {
    std::fprintf(stderr, "duet_attention_gpu_bench: no CUDA device\n");
    return 1;
  }
  const auto dtype = dtype_name == "fp16" ? at::kHalf : at::kBFloat16;
  std::printf("| L | H | D | dtype | backend | ms/call | TFLOP/s | rel. error vs %s |\n",
              split_commas(backends).front().c_str());
  std::printf("|---|---|---|---|---|---|---|---|\n");
  for (const auto& l_text : split_commas(lens)) {
    for (const auto& d_text : split_commas(dims)) {
      const int64_t len = std::stoll(l_text), dim = std::stoll(d_text);
      const auto options = at::device(at::kCUDA).dtype(dtype);
      const auto q = at::randn({1, len, heads, dim}, options);
      const auto k = at::randn({1, len, heads, dim}, options);
      const auto v = at::randn({1, len, heads, dim}, options);
      const double flops = 4.0 * static_cast<double>(heads) * static_cast<double>(len) *
                           static_cast<double>(len) * static_cast<double>(dim);
      at::Tensor first;
      for (const auto& backend : split_commas(backends)) {
        try {
          at::Tensor out = run_backend(backend, q, k, v);  // untimed warm-up
          if (!first.defined()) first = out.to(at::kFloat);
          const double err =
              (out.to(at::kFloat) - first).norm().item<double>() / first.norm().item<double>();
          std::vector<double> ms;
          const auto stream = c10::cuda::getCurrentCUDAStream();
          for (int r = 0; r < reps; ++r) {
            at::cuda::CUDAEvent start(cudaEventDefault), stop(cudaEventDefault);
            start.record(stream);
            out = run_backend(backend, q, k, v);
            stop.record(stream);
            stop.synchronize();
            ms.push_back(start.elapsed_time(stop));
          }
          const double t = median(ms);
          std::printf("| %lld | %lld | %lld | %s | %s | %.3f | %.1f | %.2e |\n",
                      static_cast<long long>(len), static_cast<long long>(heads),
                      static_cast<long long>(dim), dtype_name.c_str(), backend.c_str(), t,
                      flops / (t * 1e-3) / 1e12, err);
        } catch (const std::exception& e) {
          std::printf("| %lld | %lld | %lld | %s | %s | failed: %s | | |\n",
                      static_cast<long long>(len), static_cast<long long>(heads),
                      static_cast<long long>(dim), dtype_name.c_str(), backend.c_str(),
                      std::string(e.what()).substr(0, 120).c_str());
        }
      }
    }
  }
  return 0;
}
