#pragma once
// Text (or text + first frame) to video with synchronized sound, with Ovi checkpoints (the Ovi
// checkpoint folder or a duet package of the Ovi family), in the order and with the numerics
// of Ovi's OviFusionEngine.generate (character-ai/Ovi ovi/ovi_fusion_engine.py):
//
//   seed -> video noise [48, F, h, w] and audio noise [L, 20], each from its own generator
//           seeded with `seed`, drawn on the CPU (every device starts from the same latents)
//        -> umT5 context for the prompt, the video negative and the audio negative -> freed
//        -> [--image: first frame resized to the model's area, Wan2.2-VAE-encoded; its latent
//           is written over latent frame 0 before every step and its tokens get timestep 0]
//        -> `steps` joint steps over the same timesteps, one scheduler state per modality:
//           a conditional pass (prompt for both towers) and an unconditional pass (video
//           negative / audio negative, fused block `slg_layer` skipped), guided per modality
//           with its own scale
//        -> fusion model freed -> audio decode (MMAudio VAE -> mel -> BigVGAN, 16 kHz)
//        -> video decode (Wan2.2 VAE) streamed one latent frame at a time.
//
//   OviPipeline pipe(detect_model_dir("ckpts"), options, load_presets());
//   OviSettings s = pipe.resolve({.prompt = "A man says <S>Hi.<E> Audio: rain"});
//   OviResult r = pipe.generate(s, [&](const at::Tensor& pcm) { ... },
//                                  [&](const at::Tensor& frames) { ... });
#include <ATen/ATen.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/progress.h"
#include "io/model_dir.h"
#include "models/wan/vae.h"
#include "nn/attention.h"
#include "pipeline/ovi_spec.h"
#include "pipeline/preset.h"
#include "sampling/sigma_schedule.h"

namespace duet {

namespace ovi {
class OviFusionModel;
}
class TextEncoder;

// What the user asked for; unset fields take the preset's defaults.
struct OviRequest {
  std::string prompt;
  std::optional<std::string> video_negative_prompt, audio_negative_prompt;
  std::optional<int64_t> width, height, frames, steps;
  std::optional<int64_t> slg_layer;  // 0: no skip-layer guidance (Ovi's convention)
  std::optional<double> fps, shift, video_guidance, audio_guidance;
  std::optional<std::string> sampler;
  std::optional<uint64_t> seed;
  std::optional<std::string> image;  // first frame (PNG, JPEG, WebP, ...): image-conditioned
};

// A request with every value decided and checked.
struct OviSettings {
  std::string prompt;  // in the checkpoint's caption format
  std::string video_negative_prompt, audio_negative_prompt;
  int64_t width = 0, height = 0, frames = 0, steps = 0;
  double fps = 24, shift = 5, video_guidance = 4, audio_guidance = 3;
  std::optional<int64_t> slg_layer;  // fused block skipped on the uncond pass
  std::string sampler = "unipc";
  SigmaScheduleKind schedule = SigmaScheduleKind::kWanUniPC;
  uint64_t seed = 0;
  std::string image;   // empty: text-to-video
  std::string preset;  // the preset the defaults came from
  OviSpec spec;        // the fusion checkpoint's spec
  std::string fusion;  // the fusion component in use ("fusion", "fusion_960x960_10s", ...)
  // Latent grids: video [48, F, h, w] (seq_len_video tokens after 2x2 patching), audio [20, L].
  int64_t latent_frames = 0, latent_height = 0, latent_width = 0, audio_latents = 0;
  int64_t seq_len_video = 0, seq_len_audio = 0;
  int64_t audio_samples = 0;  // 16 kHz samples the audio decoder produces
};

struct OviOptions {
  at::Device device = at::Device(at::kCPU);  // fusion model and VAEs
  at::ScalarType dtype = at::kBFloat16;      // fusion weights, activations and the latents
  at::Device text_device = at::Device(at::kCPU);
  at::ScalarType text_dtype = at::kBFloat16;  // Ovi runs umT5 in bf16
  at::ScalarType vae_dtype = at::kFloat;      // video and audio decoders (Ovi: bf16 on GPUs)
  nn::AttentionOptions attention;
  wan::WanVaeTiling tiling;
  bool keep_models_loaded = false;
  // The clip geometry to run instead of the checkpoint's own (area, latent frames, audio
  // latents): short clips for tests, or experiments with other lengths. Unset: the checkpoint's.
  std::optional<OviSpec> spec;
  ProgressCallback progress;  // stages "text", "image", "denoise", "audio", "decode"
  // After every joint step: video latents [48, F, h, w] and audio latents [L, 20] (Ovi's
  // layouts), in the sampling dtype.
  std::function<void(int64_t step, const at::Tensor& video, const at::Tensor& audio)> on_step;
};

struct OviResult {
  OviSettings settings;
  at::Tensor video_latents;  // [48, F, h, w] fp32 CPU
  at::Tensor audio_latents;  // [L, 20] fp32 CPU
  int64_t frames_written = 0;
  int64_t audio_samples_written = 0;
  std::vector<std::pair<std::string, double>> stage_seconds;  // text, denoise, audio, decode
};

// Receives the whole sound track once: [samples] float in [-1, 1] at 16 kHz, on the CPU.
using AudioSink = std::function<void(const at::Tensor& pcm)>;

class OviPipeline {
 public:
  OviPipeline(ModelDir dir, OviOptions options, const std::vector<Preset>& presets);
  ~OviPipeline();
  OviPipeline(const OviPipeline&) = delete;
  OviPipeline& operator=(const OviPipeline&) = delete;

  // Fills defaults and checks everything that can be checked without compute: the fusion
  // checkpoint for the requested length, the size (snapped as Ovi does, with a warning), the
  // image file, steps, shift, guidance, sampler, slg layer. Throws duet::Error.
  OviSettings resolve(const OviRequest& request) const;

  OviResult generate(const OviSettings& settings, const AudioSink& audio,
                     const wan::VideoChunkSink& video);

  // The stages, public for tests and benchmarks.
  // {video [48, F, h, w], audio [L, 20]} fp32 on the CPU.
  std::array<at::Tensor, 2> initial_noise(const OviSettings& settings) const;
  // -> [3, text_len, dim]: prompt, video negative, audio negative (the negatives only when a
  // guidance scale needs the unconditional pass).
  at::Tensor encode_text(const OviSettings& settings);
  // The image resized to the settings' size in [-1, 1] ([1, 3, H, W] fp32) and its latent
  // [48, 1, h, w].
  std::array<at::Tensor, 2> encode_image(const OviSettings& settings);
  // -> {video latents, audio latents}, same layouts as the noise, fp32 CPU.
  std::array<at::Tensor, 2> denoise(const OviSettings& settings, const at::Tensor& video_noise,
                                    const at::Tensor& audio_noise, const at::Tensor& context,
                                    const at::Tensor& image_latent = {});
  at::Tensor decode_audio(const at::Tensor& audio_latents);  // [L, 20] -> [samples] fp32 CPU
  int64_t decode_video(const at::Tensor& video_latents, const wan::VideoChunkSink& sink);

  const ModelDir& model_dir() const { return dir_; }
  const Preset& preset() const { return preset_; }
  const ovi::OviFusionModel& fusion(const OviSettings& settings);

 private:
  struct Fusion;
  const Fusion& fusion_for_frames(std::optional<int64_t> frames) const;
  void report(const char* stage, int64_t step, int64_t total) const;

  ModelDir dir_;
  OviOptions options_;
  Preset preset_;
  std::vector<std::unique_ptr<Fusion>> fusions_;  // one per fusion checkpoint in the folder
  std::unique_ptr<ovi::OviFusionModel> model_;
  std::string model_component_;  // which fusion model_ holds
  std::unique_ptr<TextEncoder> text_encoder_;
  std::unique_ptr<wan::WanVae> vae_;
  int64_t vae_stride_ = 16, z_dim_ = 48, audio_channels_ = 20;
  std::array<int64_t, 3> patch_{1, 2, 2};
};

}  // namespace duet
