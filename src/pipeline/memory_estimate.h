#pragma once
// How much memory a clip needs, estimated before any weight is read, so a run that cannot fit
// fails at once with the estimate and the options that would fit, instead of being killed by
// the OOM killer after minutes of loading.
//
// Stages run one after another and free their models (unless models are kept for a batch):
//   text    umT5 weights (text dtype) + activations of 3 prompts
//   denoise denoiser weights (compute dtype) + activations of one forward over all tokens
//   audio   MMAudio VAE + BigVGAN (fp32) + vocoder activations (Ovi)
//   decode  video VAE weights + its working set for one latent frame (tile)
// Per device, the peak is the largest stage on it (or everything, when models are kept).
// The figures are estimates: activations assume a memory-efficient attention backend (O(L)
// memory) and the VAE working set is the measured Wan VAE figure scaled by pixels and width.
// Working sets scale with a model's width, and parameters with its square: components smaller
// than the released ones (duet-tiny, test models) get their working sets scaled by
// sqrt(parameters / released parameters).
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace duet {

struct MemoryRequest {
  // Parameters per role (the largest denoiser of a two-expert folder).
  int64_t text_params = 0, denoiser_params = 0, video_vae_params = 0, audio_params = 0;
  int text_bytes = 2, denoiser_bytes = 2, vae_bytes = 4;  // bytes per element
  bool text_on_denoiser_device = true;
  bool denoiser_on_cuda = false;
  int64_t tokens = 0;                // video + audio tokens of one forward
  int64_t dim = 3072, ffn_dim = 14336;
  int64_t width = 0, height = 0;     // decoded frame size
  int64_t vae_stride = 8;            // pixels per latent cell: 8 (Wan2.1 VAE), 16 (Wan2.2)
  int64_t audio_samples = 0;         // 0: no audio decode
  bool vae_tiling = false;
  bool keep_models_loaded = false;
};

struct StageMemory {
  std::string stage;   // "text", "denoise", "audio", "decode"
  bool on_cuda = false;
  uint64_t weights = 0, activations = 0;
  uint64_t total() const { return weights + activations; }
};

struct MemoryEstimate {
  std::vector<StageMemory> stages;
  uint64_t host_peak = 0, device_peak = 0;
  // "denoise 25.4 GiB (weights 23.3 + activations 2.1), decode 8.7 GiB, ..."
  std::string describe(bool cuda) const;
};

MemoryEstimate estimate_memory(const MemoryRequest& request);

// Available memory: MemAvailable of /proc/meminfo; free memory of CUDA device `index` (0 when
// it cannot be queried).
uint64_t host_available_bytes();
uint64_t cuda_free_bytes(int index);

// "1.5 GiB", "812 MiB"
std::string format_bytes(uint64_t bytes);
// "24G", "24GiB", "512M", "1.5G", "1000000" (bytes) -> bytes; a duet::Error naming `field`.
uint64_t parse_bytes(const std::string& text, const std::string& field);

// Throws a duet::Error when the estimate exceeds what is available on a device it uses:
// the estimate per stage, what is available, and which of the alternatives (bf16 instead of
// fp32, VAE tiling, the text encoder on the CPU, a smaller size) would fit.
// `host_limit` / `device_limit`: the available memory to check against.
void check_memory(const MemoryRequest& request, uint64_t host_limit, uint64_t device_limit,
                  const std::string& device_name);

}  // namespace duet
