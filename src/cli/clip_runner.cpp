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

namespace duet::cli {
namespace fs = std::filesystem;

void add_run_options(CLI::App* sub, RunArgs& a) {
  sub->add_option("-m,--model", a.model, "Model folder, or a preset name from configs/");
  sub->add_option("--device", a.device, "auto, cpu, cuda or cuda:N")->capture_default_str();
  sub->add_option("--dtype", a.dtype, "auto (bf16 on GPUs and CPUs with AVX512-BF16/AMX, else fp32), fp32, bf16, fp16")
      ->capture_default_str();
  sub->add_option("--text-encoder-device", a.text_encoder_device,
                  "Where umT5 runs: same, cpu, cuda (cpu frees GPU memory for the DiT)")
      ->capture_default_str();
  sub->add_option("--attention", a.attention, "auto, reference or sdpa")->capture_default_str();
  sub->add_flag("--vae-tiling", a.vae_tiling, "Decode in overlapping spatial tiles (less memory)");
  sub->add_flag("--no-progress", a.no_progress, "Do not print progress");
}

void add_spec_options(CLI::App* sub, GenerateSpec& s) {
  sub->add_option("-n,--negative-prompt", s.negative_prompt,
                  "What to avoid (default: the model's own negative prompt)");
  sub->add_option("--style", s.style, "Prompt style from configs/styles.json (cinematic, anime, ...)");
  sub->add_option("--size", s.size, "WIDTHxHEIGHT, e.g. 832x480 (also Wan's 832*480)");
  sub->add_option("-W,--width", s.width, "Width in pixels");
  sub->add_option("-H,--height", s.height, "Height in pixels");
  sub->add_option("-f,--frames", s.frames, "Number of frames (4k + 1 for Wan)");
  sub->add_option("--duration", s.duration, "Length in seconds (rounded to a valid frame count)");
  sub->add_option("--fps", s.fps, "Frame rate of the output");
  sub->add_option("--steps", s.steps, "Denoising steps");
  sub->add_option("--shift", s.shift, "Noise schedule shift");
  sub->add_option("-g,--guidance", s.guidance,
                  "Classifier-free guidance scale (the low-noise expert's for Wan2.2 A14B)");
  sub->add_option("--guidance-high-noise", s.guidance_high_noise,
                  "Guidance scale of the high-noise expert (Wan2.2 A14B)");
  sub->add_option("--sampler", s.sampler, "unipc, euler or dpm++");
  sub->add_option("-s,--seed", s.seed, "Random seed (random when not given; always printed)");
  sub->add_option("--watermark", s.watermark, "Visible text mark in a corner of the video");
  sub->add_option("--crf", s.crf, "Encoder quality (lower is better; default per codec)");
}

std::string resolve_model_folder(const std::string& model, const std::vector<Preset>& presets) {
  DUET_CHECK(!model.empty(),
             "no --model given: pass a Wan 2.1/2.2 folder or a preset name from configs/");
  if (fs::is_directory(model)) return model;
  for (const auto& p : presets) {
    if (p.name != model) continue;
    const char* env = p.model_env.empty() ? nullptr : std::getenv(p.model_env.c_str());
    DUET_CHECK(env != nullptr && *env != '\0',
               "model '{}' is a preset; set {} to the folder holding its checkpoint", model,
               p.model_env);
    DUET_CHECK(fs::is_directory(env), "{}='{}' (model '{}') is not a folder", p.model_env, env,
               model);
    return env;
  }
  DUET_FAIL("model '{}' is neither a folder nor a preset name (presets: see configs/)", model);
}

ClipContext make_clip_context(const RunArgs& a, bool keep_models_loaded) {
  ClipContext ctx;
  ctx.presets = load_presets();
  ctx.styles = load_styles();
  const ModelDir dir = detect_model_dir(resolve_model_folder(a.model, ctx.presets));
  DUET_CHECK(dir.family == "wan", "'{}' is an {} model; this version of duet generates with "
             "Wan 2.1/2.2 models", dir.path, dir.family);
  const DevicePolicy policy = make_device_policy(a.device, a.dtype);
  WanT2VOptions options;
  options.device = policy.device;
  options.dtype = policy.compute_dtype;
  options.text_device =
      a.text_encoder_device == "same" ? policy.device : parse_device(a.text_encoder_device);
  options.attention.backend = nn::parse_attention_backend(a.attention);
  options.tiling.enabled = a.vae_tiling;
  options.keep_models_loaded = keep_models_loaded;
  if (!a.no_progress) {
    ctx.printer = std::make_unique<ProgressPrinter>(stderr);
    options.progress = [p = ctx.printer.get()](const ProgressEvent& e) { p->update(e); };
  }
  ctx.pipeline = std::make_unique<WanT2VPipeline>(dir, options, ctx.presets);
  return ctx;
}

WanT2VSettings resolve_clip(const ClipContext& ctx, const GenerateSpec& spec) {
  const Preset& p = ctx.pipeline->preset();
  return ctx.pipeline->resolve(make_wan_request(spec, p.fps, p.negative_prompt, ctx.styles));
}

ClipOutcome render_clip(ClipContext& ctx, const WanT2VSettings& s, const GenerateSpec& spec,
                        const std::string& output) {
  media::check_output_path(output);
  media::VideoWriterOptions w;
  w.path = output;
  w.width = static_cast<int>(s.width);
  w.height = static_cast<int>(s.height);
  w.fps = media::parse_rational(fmt::format("{}", s.fps));
  w.crf = spec.crf.value_or(-1);
  w.watermark = spec.watermark.value_or("");
  w.metadata = media::generation_metadata({.prompt = s.prompt,
                                           .negative_prompt = s.negative_prompt,
                                           .model = ctx.pipeline->model_dir().variant,
                                           .sampler = s.sampler,
                                           .seed = s.seed,
                                           .steps = static_cast<int>(s.steps),
                                           .guidance = s.guidance});
  media::VideoWriter writer(w);
  writer.open();  // a bad extension or codec fails now, not after the compute
  ClipOutcome out;
  out.settings = s;
  out.result = ctx.pipeline->generate(s, [&](const at::Tensor& frames) {
    media::write_tensor_frames(writer, frames[0], media::FrameLayout::kCFHW);
  });
  writer.finish();
  out.path = writer.info().path;
  return out;
}

std::string describe_stages(const WanT2VResult& r, double* total_seconds) {
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
