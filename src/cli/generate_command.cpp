// `duet generate PROMPT --model DIR -o clip.mp4`: one clip from one prompt. Everything that can
// be checked (model folder, size, frames, output path) is checked before any compute; the clip
// is streamed into the writer as the VAE decodes it and renamed into place only when complete.
#include <spdlog/spdlog.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "cli/commands.h"
#include "core/device.h"
#include "core/error.h"
#include "core/progress.h"
#include "io/model_dir.h"
#include "media/tensor_frames.h"
#include "media/video_writer.h"
#include "pipeline/preset.h"
#include "pipeline/wan_t2v.h"

namespace duet::cli {
namespace {
namespace fs = std::filesystem;

struct GenerateArgs {
  std::string prompt;
  std::string prompt_file;
  std::string model;
  std::string output;
  std::optional<std::string> negative_prompt;
  std::string size;
  std::optional<int64_t> width, height, frames, steps;
  std::optional<double> duration, fps, shift, guidance, guidance_high_noise;
  std::optional<std::string> sampler;
  std::optional<uint64_t> seed;
  std::string device = "auto";
  std::string dtype = "auto";
  std::string text_encoder_device = "same";
  std::string attention = "auto";
  bool vae_tiling = false;
  std::string watermark;
  int crf = -1;
  bool no_progress = false;
};

std::string read_prompt_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  DUET_CHECK(in.good(), "cannot read the prompt file '{}'", path);
  std::stringstream ss;
  ss << in.rdbuf();
  std::string text = ss.str();
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
  DUET_CHECK(!text.empty(), "the prompt file '{}' is empty", path);
  return text;
}

// A folder, or a preset name whose environment variable names the folder.
std::string resolve_model_folder(const std::string& model, const std::vector<Preset>& presets) {
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

WanT2VRequest make_request(const GenerateArgs& a) {
  WanT2VRequest r;
  r.prompt = a.prompt_file.empty() ? a.prompt : read_prompt_file(a.prompt_file);
  r.negative_prompt = a.negative_prompt;
  r.width = a.width;
  r.height = a.height;
  if (!a.size.empty()) {
    const auto wh = parse_size(a.size, "--size");
    r.width = wh[0];
    r.height = wh[1];
  }
  r.frames = a.frames;
  r.steps = a.steps;
  r.fps = a.fps;
  r.shift = a.shift;
  r.guidance = a.guidance;
  r.guidance_high_noise = a.guidance_high_noise;
  r.sampler = a.sampler;
  r.seed = a.seed;
  return r;
}

// The output folder must exist and take a file, so a long run never ends in "cannot write".
void check_output(const std::string& path) {
  const fs::path p = fs::absolute(path);
  const fs::path folder = p.parent_path();
  DUET_CHECK(fs::is_directory(folder), "output folder '{}' does not exist", folder.string());
  DUET_CHECK(!fs::is_directory(p), "output '{}' is a folder; give a file name such as clip.mp4",
             path);
  const fs::path probe = folder / (".duet-write-test-" + std::to_string(::getpid()));
  std::ofstream out(probe);
  DUET_CHECK(out.good(), "output folder '{}' is not writable", folder.string());
  out.close();
  fs::remove(probe);
}

void on_sigint(int) {
  request_cancel();
  std::signal(SIGINT, SIG_DFL);  // a second Ctrl-C kills at once
}

int run_generate(GenerateArgs a) {
  // From the start: Ctrl-C while weights load also stops at the next checkpoint.
  reset_cancel();
  std::signal(SIGINT, on_sigint);
  DUET_CHECK(!a.prompt.empty() || !a.prompt_file.empty(),
             "no prompt: give it as an argument or with --prompt-file");
  DUET_CHECK(a.prompt.empty() || a.prompt_file.empty(),
             "give the prompt either as an argument or with --prompt-file, not both");
  DUET_CHECK(!a.model.empty(),
             "no --model given: pass a Wan 2.1/2.2 folder or a preset name from configs/");
  const auto presets = load_presets();
  const ModelDir dir = detect_model_dir(resolve_model_folder(a.model, presets));
  DUET_CHECK(dir.family == "wan", "'{}' is an {} model; `duet generate` runs Wan 2.1/2.2 "
             "models in this version", dir.path, dir.family);

  const DevicePolicy policy = make_device_policy(a.device, a.dtype);
  WanT2VOptions options;
  options.device = policy.device;
  options.dtype = policy.compute_dtype;
  options.text_device =
      a.text_encoder_device == "same" ? policy.device : parse_device(a.text_encoder_device);
  options.attention.backend = nn::parse_attention_backend(a.attention);
  options.tiling.enabled = a.vae_tiling;
  ProgressPrinter printer(stderr);
  if (!a.no_progress) options.progress = [&](const ProgressEvent& e) { printer.update(e); };

  WanT2VPipeline pipeline(dir, options, presets);
  WanT2VRequest request = make_request(a);
  if (a.duration) {
    DUET_CHECK(!a.frames, "give either --frames or --duration");
    DUET_CHECK(*a.duration > 0, "--duration must be positive");
    const double fps = a.fps.value_or(pipeline.preset().fps);
    request.frames = nearest_wan_frame_count(std::llround(*a.duration * fps));
  }
  const WanT2VSettings s = pipeline.resolve(request);
  if (a.output.empty()) a.output = fmt::format("duet-{}.mp4", s.seed);
  check_output(a.output);

  media::VideoWriterOptions w;
  w.path = a.output;
  w.width = static_cast<int>(s.width);
  w.height = static_cast<int>(s.height);
  w.fps = media::parse_rational(fmt::format("{}", s.fps));
  w.crf = a.crf;
  w.watermark = a.watermark;
  w.metadata = media::generation_metadata({.prompt = s.prompt,
                                           .negative_prompt = s.negative_prompt,
                                           .model = dir.variant,
                                           .sampler = s.sampler,
                                           .seed = s.seed,
                                           .steps = static_cast<int>(s.steps),
                                           .guidance = s.guidance});
  media::VideoWriter writer(w);
  writer.open();  // fails now, not after the compute, on a bad extension or codec

  std::printf("seed %llu\n", static_cast<unsigned long long>(s.seed));
  std::fflush(stdout);
  const WanT2VResult r = pipeline.generate(s, [&](const at::Tensor& frames) {
    media::write_tensor_frames(writer, frames[0], media::FrameLayout::kCFHW);
  });
  writer.finish();
  std::signal(SIGINT, SIG_DFL);

  double total = 0;
  std::string stages;
  for (const auto& [name, seconds] : r.stage_seconds) {
    stages += fmt::format("{}{} {:.1f} s", stages.empty() ? "" : ", ", name, seconds);
    total += seconds;
  }
  std::printf("wrote %s: %lldx%lld, %lld frames at %g fps, seed %llu, %.1f s (%s)\n",
              writer.info().path.c_str(), static_cast<long long>(s.width),
              static_cast<long long>(s.height), static_cast<long long>(r.frames_written), s.fps,
              static_cast<unsigned long long>(s.seed), total, stages.c_str());
  return 0;
}

}  // namespace

Command add_generate_command(CLI::App& app) {
  auto a = std::make_shared<GenerateArgs>();
  CLI::App* sub = app.add_subcommand("generate", "Generate a clip from a text prompt");
  sub->add_option("prompt", a->prompt, "What to show");
  sub->add_option("--prompt-file", a->prompt_file, "Read the prompt from a UTF-8 text file");
  sub->add_option("-m,--model", a->model, "Model folder, or a preset name from configs/");
  sub->add_option("-o,--output", a->output, "Output file (.mp4 .webm .mkv .mov .gif .webp, or a "
                  "%04d.png pattern); default duet-SEED.mp4");
  sub->add_option("-n,--negative-prompt", a->negative_prompt,
                  "What to avoid (default: the model's own negative prompt)");
  sub->add_option("--size", a->size, "WIDTHxHEIGHT, e.g. 832x480 (also Wan's 832*480)");
  sub->add_option("-W,--width", a->width, "Width in pixels");
  sub->add_option("-H,--height", a->height, "Height in pixels");
  sub->add_option("-f,--frames", a->frames, "Number of frames (4k + 1 for Wan)");
  sub->add_option("--duration", a->duration, "Length in seconds (rounded to a valid frame count)");
  sub->add_option("--fps", a->fps, "Frame rate of the output");
  sub->add_option("--steps", a->steps, "Denoising steps");
  sub->add_option("--shift", a->shift, "Noise schedule shift");
  sub->add_option("-g,--guidance", a->guidance, "Classifier-free guidance scale (low-noise "
                  "expert's for Wan2.2 A14B)");
  sub->add_option("--guidance-high-noise", a->guidance_high_noise,
                  "Guidance scale of the high-noise expert (Wan2.2 A14B)");
  sub->add_option("--sampler", a->sampler, "unipc, euler or dpm++");
  sub->add_option("-s,--seed", a->seed, "Random seed (random when not given; always printed)");
  sub->add_option("--device", a->device, "auto, cpu, cuda or cuda:N")->capture_default_str();
  sub->add_option("--dtype", a->dtype, "auto (bf16 on GPUs, fp32 on CPUs), fp32, bf16, fp16")
      ->capture_default_str();
  sub->add_option("--text-encoder-device", a->text_encoder_device,
                  "Where umT5 runs: same, cpu, cuda (cpu frees GPU memory for the DiT)")
      ->capture_default_str();
  sub->add_option("--attention", a->attention, "auto, reference or sdpa")->capture_default_str();
  sub->add_flag("--vae-tiling", a->vae_tiling, "Decode in overlapping spatial tiles (less memory)");
  sub->add_option("--watermark", a->watermark, "Visible text mark in a corner of the video");
  sub->add_option("--crf", a->crf, "Encoder quality (lower is better; default per codec)");
  sub->add_flag("--no-progress", a->no_progress, "Do not print progress");
  return {sub, [a] { return run_generate(*a); }};
}

}  // namespace duet::cli
