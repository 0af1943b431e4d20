#include "cli/clip_runner.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <csignal>
#include <cstdlib>
#include <filesystem>

#include "core/device.h"
#include "core/error.h"
#include "io/model_dir.h"
#include "media/temp_file.h"
#include "media/tensor_frames.h"
#include "media/video_writer.h"
#include "pipeline/memory_estimate.h"

namespace duet::cli {
namespace fs = std::filesystem;

void add_run_options(CLI::App* sub, RunArgs& a) {
  sub->add_option("-m,--model", a.model,
                  "Model folder (Ovi, Wan, diffusers, duet package) or a preset name from "
                  "configs/; default: the embedded duet-tiny");
  sub->add_option("--device", a.device, "auto, cpu, cuda or cuda:N")->capture_default_str();
  sub->add_option("--dtype", a.dtype, "auto (bf16 on GPUs and CPUs with AVX512-BF16/AMX, else fp32), fp32, bf16, fp16")
      ->capture_default_str();
  sub->add_option("--text-encoder-device", a.text_encoder_device,
                  "Where umT5 runs: same, cpu, cuda (cpu frees GPU memory for the DiT)")
      ->capture_default_str();
  sub->add_option("--attention", a.attention, "auto, reference, sdpa, tiled (CPU) or flash (CUDA, sm_80+, fp16/bf16, head dim 64/128)")->capture_default_str();
  sub->add_flag("--vae-tiling", a.vae_tiling, "Decode in overlapping spatial tiles (less memory)");
  sub->add_flag("--no-progress", a.no_progress, "Do not print progress");
  sub->add_option("--max-memory", a.max_memory,
                  "Memory the clip may use, e.g. 16G (default: what is free on the device)");
  sub->add_flag("--no-memory-check", a.no_memory_check,
                "Run even when the memory estimate exceeds what is available");
}

void add_spec_options(CLI::App* sub, GenerateSpec& s) {
  sub->add_option("-n,--negative-prompt", s.negative_prompt,
                  "What to avoid in the video (default: the model's own negative prompt)");
  sub->add_option("--audio-negative-prompt", s.audio_negative_prompt,
                  "Sounds to avoid (joint audio-video models; default: the model's)");
  sub->add_option("--style", s.style, "Prompt style from configs/styles.json (cinematic, anime, ...)");
  sub->add_option("--size", s.size, "WIDTHxHEIGHT, e.g. 832x480 (also Wan's 832*480)");
  sub->add_option("-W,--width", s.width, "Width in pixels");
  sub->add_option("-H,--height", s.height, "Height in pixels");
  sub->add_option("-f,--frames", s.frames, "Number of frames (4k + 1; Ovi: fixed by the checkpoint)");
  sub->add_option("--duration", s.duration, "Length in seconds (rounded to a valid frame count)");
  sub->add_option("--fps", s.fps, "Frame rate of the output");
  sub->add_option("--steps", s.steps, "Denoising steps");
  sub->add_option("--shift", s.shift, "Noise schedule shift");
  sub->add_option("-g,--guidance", s.guidance,
                  "Classifier-free guidance scale (the low-noise expert's for Wan2.2 A14B)");
  sub->add_option("--audio-guidance", s.audio_guidance,
                  "Guidance scale of the audio branch (joint audio-video models)");
  sub->add_option("--slg-layer", s.slg_layer,
                  "Fused block skipped on the unconditional pass (Ovi skip-layer guidance; 0: none)");
  sub->add_option("--image", s.image,
                  "First frame (PNG, JPEG, WebP): image-conditioned generation (Ovi)");
  sub->add_option("--guidance-high-noise", s.guidance_high_noise,
                  "Guidance scale of the high-noise expert (Wan2.2 A14B)");
  sub->add_option("--sampler", s.sampler, "unipc, euler or dpm++");
  sub->add_option("-s,--seed", s.seed, "Random seed (random when not given; always printed)");
  sub->add_option("--watermark", s.watermark, "Visible text mark in a corner of the video");
  sub->add_option("--crf", s.crf, "Encoder quality (lower is better; default per codec)");
}

ClipContext make_clip_context(const RunArgs& a, bool keep_models_loaded) {
  ClipContext ctx;
  EngineOptions o;
  o.model = a.model;
  o.device = a.device;
  o.dtype = a.dtype;
  o.text_encoder_device = a.text_encoder_device;
  o.attention = a.attention;
  o.vae_tiling = a.vae_tiling;
  o.keep_models_loaded = keep_models_loaded;
  o.memory_check = !a.no_memory_check;
  if (!a.max_memory.empty()) o.max_memory_bytes = parse_bytes(a.max_memory, "--max-memory");
  if (!a.no_progress) {
    ctx.printer = std::make_unique<ProgressPrinter>(stderr);
    o.progress = [p = ctx.printer.get()](const ProgressEvent& e) { p->update(e); };
  }
  ctx.engine = std::make_unique<Engine>(std::move(o));
  return ctx;
}

ClipPlan resolve_clip(const ClipContext& ctx, const GenerateSpec& spec) {
  return ctx.engine->plan(spec);
}

GenerateResult render_clip(ClipContext& ctx, const ClipPlan& plan) {
  return ctx.engine->render(plan);
}

std::string describe_stages(const GenerateResult& r, double* total_seconds) {
  double total = 0;
  std::string text;
  for (const auto& [name, seconds] : r.stage_seconds) {
    text += fmt::format("{}{} {:.1f} s", text.empty() ? "" : ", ", name, seconds);
    total += seconds;
  }
  if (total_seconds) *total_seconds = total;
  return text;
}

namespace {
void on_sigint(int) {
  request_cancel();
  std::signal(SIGINT, SIG_DFL);  // a second Ctrl-C kills at once
}
}  // namespace

void install_interrupt_handler() {
  reset_cancel();
  std::signal(SIGINT, on_sigint);
  std::signal(SIGTERM, on_sigint);
}

}  // namespace duet::cli
