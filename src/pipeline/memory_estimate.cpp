#include "pipeline/memory_estimate.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <fstream>
#include <sstream>

#include "core/error.h"

#ifdef DUET_HAVE_CUDA
#include "runtime/cuda_runtime_info.h"
#endif

namespace duet {
namespace {

constexpr uint64_t kMiB = uint64_t{1} << 20;
constexpr uint64_t kGiB = uint64_t{1} << 30;

// Wan VAE decode working set per output pixel in fp32: 8.7 GiB peak at 832x480 with the
// 2.1 VAE on the CPU, flat in the frame count (BENCHMARKS.md), less its 0.5 GiB of weights.
constexpr double kVaeBytesPerPixel = 22000.0;
// A decode tile of WanVaeTiling's defaults: 256 px plus the blend overlap.
constexpr int64_t kTilePixels = 320 * 320;
// BigVGAN keeps ~3072 channel-samples per output sample through its stages, with the 2x
// anti-aliasing buffers and residual copies: ~512 bytes per sample in fp32.
constexpr uint64_t kVocoderBytesPerSample = 512;
// umT5-XXL on three 512-token prompts: hidden and FFN activations of one layer at a time.
constexpr uint64_t kTextActivations = 320 * kMiB;
// Released sizes the constants above were taken at: Wan2.1 VAE, umT5-XXL encoder, MMAudio
// 16k VAE + BigVGAN 16k.
constexpr double kWan21VaeParams = 126.9e6;
constexpr double kUmt5XxlParams = 5.68e9;
constexpr double kAudioDecoderParams = 0.27e9;
// Allocator slack, the latents, guidance buffers and the scheduler's history.
constexpr uint64_t kRuntimeOverhead = 256 * kMiB;

// Width relative to the released component (1 for the released one, less for smaller ones).
double width_scale(int64_t params, double released_params) {
  return params <= 0 ? 0.0 : std::min(1.0, std::sqrt(static_cast<double>(params) / released_params));
}

uint64_t denoise_activations(const MemoryRequest& r) {
  // One forward: residual stream and per-token modulation [L, 6, D] in fp32, q/k/v/attention
  // output and the FFN's hidden [L, ffn] (twice: before and after GELU) in the compute dtype.
  const double per_token = 6.0 * r.dim * 4 + 2.0 * r.dim * 4 +
                           (4.0 * r.dim + 2.0 * r.ffn_dim) * r.denoiser_bytes;
  return static_cast<uint64_t>(1.5 * per_token * static_cast<double>(r.tokens)) + kRuntimeOverhead;
}

uint64_t vae_activations(const MemoryRequest& r) {
  int64_t pixels = r.width * r.height;
  if (r.vae_tiling) pixels = std::min(pixels, kTilePixels);
  // The Wan2.2 VAE decodes 2x2-patchified frames: its widest stages run at a quarter of the
  // pixels, with ~2.4x the 2.1 VAE's width (its parameters tell both).
  const double stride_ratio = 8.0 / static_cast<double>(std::max<int64_t>(8, r.vae_stride));
  const double width = std::sqrt(static_cast<double>(std::max<int64_t>(1, r.video_vae_params)) / kWan21VaeParams);
  return static_cast<uint64_t>(kVaeBytesPerPixel * r.vae_bytes / 4.0 * width * stride_ratio *
                               stride_ratio * static_cast<double>(pixels));
}

}  // namespace

MemoryEstimate estimate_memory(const MemoryRequest& r) {
  MemoryEstimate e;
  const bool text_cuda = r.denoiser_on_cuda && r.text_on_denoiser_device;
  e.stages.push_back({"text", text_cuda, static_cast<uint64_t>(r.text_params) * r.text_bytes,
                      static_cast<uint64_t>(kTextActivations * width_scale(r.text_params, kUmt5XxlParams))});
  e.stages.push_back({"denoise", r.denoiser_on_cuda,
                      static_cast<uint64_t>(r.denoiser_params) * r.denoiser_bytes,
                      denoise_activations(r)});
  if (r.audio_samples > 0) {
    e.stages.push_back({"audio", r.denoiser_on_cuda, static_cast<uint64_t>(r.audio_params) * 4,
                        static_cast<uint64_t>(static_cast<double>(r.audio_samples) * kVocoderBytesPerSample *
                                              width_scale(r.audio_params, kAudioDecoderParams))});
  }
  e.stages.push_back({"decode", r.denoiser_on_cuda,
                      static_cast<uint64_t>(r.video_vae_params) * r.vae_bytes, vae_activations(r)});
  for (const bool cuda : {false, true}) {
    uint64_t peak = 0, weights = 0, activations = 0;
    for (const auto& s : e.stages) {
      if (s.on_cuda != cuda) continue;
      peak = std::max(peak, s.total());
      weights += s.weights;
      activations = std::max(activations, s.activations);
    }
    if (r.keep_models_loaded) peak = weights + activations;
    (cuda ? e.device_peak : e.host_peak) = peak;
  }
  return e;
}

std::string MemoryEstimate::describe(bool cuda) const {
  std::string out;
  for (const auto& s : stages) {
    if (s.on_cuda != cuda) continue;
    out += fmt::format("{}{} {} (weights {} + working {})", out.empty() ? "" : ", ", s.stage,
                       format_bytes(s.total()), format_bytes(s.weights), format_bytes(s.activations));
  }
  return out;
}

std::string format_bytes(uint64_t bytes) {
  if (bytes >= kGiB) return fmt::format("{:.1f} GiB", static_cast<double>(bytes) / kGiB);
  return fmt::format("{} MiB", (bytes + kMiB / 2) / kMiB);
}

uint64_t parse_bytes(const std::string& text, const std::string& field) {
  size_t end = 0;
  double value = 0;
  try {
    value = std::stod(text, &end);
  } catch (const std::exception&) {
    end = 0;
  }
  std::string unit = text.substr(end);
  std::transform(unit.begin(), unit.end(), unit.begin(), [](unsigned char c) { return std::toupper(c); });
  if (unit.size() > 1 && unit.back() == 'B') unit.pop_back();      // "GB", "GIB" -> "G", "GI"
  if (unit.size() > 1 && unit.back() == 'I') unit.pop_back();
  const double scale = unit.empty() ? 1.0 : unit == "K" ? 1024.0 : unit == "M" ? kMiB
                       : unit == "G" ? kGiB : unit == "T" ? 1024.0 * kGiB : -1.0;
  DUET_CHECK(end > 0 && scale > 0 && std::isfinite(value) && value > 0,
             "{} '{}' is not a memory size; expected a number with K, M, G or T (e.g. 24G)",
             field, text);
  return static_cast<uint64_t>(value * scale);
}

uint64_t host_available_bytes() {
  std::ifstream meminfo("/proc/meminfo");
  std::string key, unit;
  uint64_t value = 0;
  while (meminfo >> key >> value >> unit) {
    if (key == "MemAvailable:") return value * 1024;
  }
  return 0;
}

uint64_t cuda_free_bytes([[maybe_unused]] int index) {
#ifdef DUET_HAVE_CUDA
  kernels::CudaDeviceInfo info;
  if (kernels::cuda_device_info(index, &info)) return static_cast<uint64_t>(info.free_memory_bytes);
#endif
  return 0;
}

void check_memory(const MemoryRequest& r, uint64_t host_limit, uint64_t device_limit,
                  const std::string& device_name) {
  auto fits = [&](const MemoryRequest& q) {
    const MemoryEstimate e = estimate_memory(q);
    return (host_limit == 0 || e.host_peak <= host_limit) &&
           (device_limit == 0 || !q.denoiser_on_cuda || e.device_peak <= device_limit);
  };
  if (fits(r)) return;
  const MemoryEstimate e = estimate_memory(r);
  const bool device_short = r.denoiser_on_cuda && device_limit > 0 && e.device_peak > device_limit;
  const uint64_t need = device_short ? e.device_peak : e.host_peak;
  const uint64_t have = device_short ? device_limit : host_limit;

  // Alternatives, alone and together.
  std::vector<std::string> would_fit;
  MemoryRequest all = r;
  auto try_option = [&](const std::string& flag, auto&& change) {
    MemoryRequest q = r;
    change(q);
    change(all);
    const MemoryEstimate qe = estimate_memory(q);
    if (fits(q)) {
      would_fit.push_back(fmt::format("{} ({})", flag,
                                      format_bytes(device_short ? qe.device_peak : qe.host_peak)));
    }
  };
  std::vector<std::string> flags;
  if (r.denoiser_bytes == 4) {
    try_option("--dtype bf16", [](MemoryRequest& q) { q.denoiser_bytes = 2; });
    flags.push_back("--dtype bf16");
  }
  if (!r.vae_tiling) {
    try_option("--vae-tiling", [](MemoryRequest& q) { q.vae_tiling = true; });
    flags.push_back("--vae-tiling");
  }
  if (r.denoiser_on_cuda && r.text_on_denoiser_device) {
    try_option("--text-encoder-device cpu", [](MemoryRequest& q) { q.text_on_denoiser_device = false; });
    flags.push_back("--text-encoder-device cpu");
  }
  if (would_fit.empty() && flags.size() > 1 && fits(all)) {
    would_fit.push_back(fmt::format("{} together", fmt::join(flags, " ")));
  }
  if (would_fit.empty()) {
    // A smaller frame: tokens and decode pixels shrink with the area.
    MemoryRequest q = all;
    for (double scale = 0.75; scale > 0.05 && !fits(q); scale *= 0.75) {
      q = all;
      q.width = std::max<int64_t>(32, static_cast<int64_t>(r.width * scale) / 32 * 32);
      q.height = std::max<int64_t>(32, static_cast<int64_t>(r.height * scale) / 32 * 32);
      q.tokens = static_cast<int64_t>(static_cast<double>(r.tokens) * q.width * q.height /
                                      static_cast<double>(std::max<int64_t>(1, r.width * r.height)));
    }
    if (fits(q)) {
      would_fit.push_back(fmt::format("{}a smaller size such as {}x{}",
                                      flags.empty() ? "" : fmt::format("{} and ", fmt::join(flags, " ")),
                                      q.width, q.height));
    }
  }
  DUET_FAIL("not enough memory on {}: this clip needs about {} ({}) but {} is available; {}; "
            "--no-memory-check runs anyway", device_short ? device_name : std::string("the host"),
            format_bytes(need), e.describe(device_short), format_bytes(have),
            would_fit.empty() ? std::string("no option of this model fits (a machine with more "
                                            "memory, or a GPU, is needed)")
                              : "would fit: " + fmt::format("{}", fmt::join(would_fit, "; ")));
}

}  // namespace duet
