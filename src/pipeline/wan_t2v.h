#pragma once
// Text-to-video with Wan 2.1 / 2.2 checkpoints (original or diffusers layout), in the order and
// with the numerics of Wan's WanT2V.generate / WanTI2V.t2v and diffusers' WanPipeline:
//
//   seed -> noise [z, T, h, w] drawn on the CPU (CPU and GPU runs start from the same latents)
//        -> umT5 context for the prompt and the negative prompt -> text encoder freed
//        -> `steps` flow-matching steps, each a cond and an uncond DiT pass combined by CFG
//           (Wan2.2 A14B: the high-noise expert while t >= boundary * 1000, then the low-noise
//           one, each with its own guidance scale; only the expert in use is loaded)
//        -> DiT freed -> VAE decode, one latent frame at a time, streamed to the caller.
//
//   WanT2VPipeline pipe(detect_model_dir("Wan2.1-T2V-1.3B"), options);
//   WanT2VSettings s = pipe.resolve({.prompt = "a cat surfing"});  // validates before compute
//   WanT2VResult r = pipe.generate(s, [&](const at::Tensor& frames) { write(frames); });
#include <ATen/ATen.h>

#include <cstdint>
#include <functional>
#include <utility>
#include <vector>
#include <memory>
#include <optional>
#include <string>

#include "core/progress.h"
#include "io/model_dir.h"
#include "models/wan/vae.h"
#include "nn/attention.h"
#include "pipeline/preset.h"
#include "sampling/sigma_schedule.h"

namespace duet {

namespace wan {
class WanDiT;
}
class TextEncoder;

// What the user asked for; unset fields take the preset's (or the diffusers folder's) defaults.
struct WanT2VRequest {
  std::string prompt;
  std::optional<std::string> negative_prompt;  // unset: the preset's (Wan's default negative)
  std::optional<int64_t> width, height, frames, steps;
  std::optional<double> fps, shift, guidance, guidance_high_noise;
  std::optional<std::string> sampler;  // "unipc", "euler", "dpm++"
  std::optional<uint64_t> seed;        // unset: drawn at random (and reported)
};

// A request with every value decided and checked.
struct WanT2VSettings {
  std::string prompt, negative_prompt;
  int64_t width = 0, height = 0, frames = 0, steps = 0;
  double fps = 0, shift = 0, guidance = 0;
  std::optional<double> guidance_high_noise, boundary;  // two-expert models
  std::string sampler;
  SigmaScheduleKind schedule = SigmaScheduleKind::kWanUniPC;
  uint64_t seed = 0;
  std::string preset;  // the preset the defaults came from
  // Latent grid [z, T, h, w] and the DiT's token count.
  int64_t latent_channels = 0, latent_frames = 0, latent_height = 0, latent_width = 0;
  int64_t seq_len = 0;
};

struct WanT2VOptions {
  at::Device device = at::Device(at::kCPU);       // DiT and VAE
  at::ScalarType dtype = at::kFloat;              // DiT weights and compute
  at::Device text_device = at::Device(at::kCPU);  // umT5 (Wan's --t5_cpu keeps it on the CPU)
  at::ScalarType text_dtype = at::kBFloat16;      // Wan runs umT5 in bf16
  at::ScalarType vae_dtype = at::kFloat;          // Wan and diffusers decode in fp32
  nn::AttentionOptions attention;
  wan::WanVaeTiling tiling;
  bool keep_models_loaded = false;  // keep weights between generate() calls (batches)
  ProgressCallback progress;        // stages "text", "denoise", "decode"
  // Called after every scheduler step with the new latents [1, z, T, h, w] (tests, previews).
  std::function<void(int64_t step, const at::Tensor& latents)> on_step;
};

struct WanT2VResult {
  WanT2VSettings settings;
  at::Tensor latents;  // [1, z, T, h, w] fp32 on the CPU, after the last step
  int64_t frames_written = 0;
  // Wall time per stage in pipeline order: "text", "denoise", "decode" (loading included).
  std::vector<std::pair<std::string, double>> stage_seconds;
};

class WanT2VPipeline {
 public:
  // `presets`: configs/ presets (load_presets()); the folder's variant picks one.
  WanT2VPipeline(ModelDir dir, WanT2VOptions options, const std::vector<Preset>& presets);
  ~WanT2VPipeline();
  WanT2VPipeline(const WanT2VPipeline&) = delete;
  WanT2VPipeline& operator=(const WanT2VPipeline&) = delete;

  // Fills defaults and validates everything that can be checked without compute: sizes and
  // frame counts the VAE and patching can take (the error names the nearest valid values),
  // steps, shift, guidance, sampler. Throws duet::Error.
  WanT2VSettings resolve(const WanT2VRequest& request) const;

  // Runs the whole pipeline; `sink` receives decoded frames [1, 3, n, H, W] in [-1, 1] in order.
  WanT2VResult generate(const WanT2VSettings& settings, const wan::VideoChunkSink& sink);

  // The stages, public for tests and benchmarks.
  at::Tensor initial_noise(const WanT2VSettings& settings) const;  // [1, z, T, h, w] fp32 CPU
  // -> [2, text_len, dim] (prompt, negative) or [1, ...] when guidance needs no uncond pass
  at::Tensor encode_text(const WanT2VSettings& settings);
  at::Tensor denoise(const WanT2VSettings& settings, const at::Tensor& noise,
                     const at::Tensor& context);
  int64_t decode(const at::Tensor& latents, const wan::VideoChunkSink& sink);

  const ModelDir& model_dir() const { return dir_; }
  const Preset& preset() const { return preset_; }
  bool two_experts() const { return experts_.size() == 2; }

 private:
  struct Expert;
  const wan::WanDiT& expert_for(double timestep, const WanT2VSettings& s, double* guidance);
  void report(const char* stage, int64_t step, int64_t total) const;

  ModelDir dir_;
  WanT2VOptions options_;
  Preset preset_;
  std::vector<std::unique_ptr<Expert>> experts_;  // [single] or [high noise, low noise]
  std::unique_ptr<TextEncoder> text_encoder_;
  std::unique_ptr<wan::WanVae> vae_;
  int64_t vae_stride_ = 8, z_dim_ = 16;
  std::array<int64_t, 3> patch_{1, 2, 2};
  std::optional<double> folder_shift_;       // diffusers scheduler_config.json flow_shift
  std::optional<std::string> folder_solver_;
  std::optional<SigmaScheduleKind> folder_schedule_;
  std::optional<double> folder_boundary_;    // diffusers model_index.json boundary_ratio
};

// Nearest valid values, for messages and for callers that snap instead of failing.
int64_t nearest_multiple(int64_t value, int64_t multiple);  // >= multiple
int64_t nearest_wan_frame_count(int64_t frames);           // 4k + 1, >= 1

}  // namespace duet
