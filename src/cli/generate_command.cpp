// `duet generate PROMPT --model DIR -o clip.mp4`: one clip from one prompt. Everything that can
// be checked (model folder, size, frames, output path) is checked before any compute; the clip
// is streamed into the writer as the VAE decodes it and renamed into place only when complete.
#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include <cstdio>
#include <filesystem>

#include "cli/clip_runner.h"
#include "cli/commands.h"
#include "core/error.h"
#include "io/json_util.h"

namespace duet::cli {
namespace {

struct GenerateArgs {
  RunArgs run;
  GenerateSpec spec;
  std::string prompt_file;
  bool force = false;
  bool json = false;
  bool preview = false;
};

std::string read_prompt_file(const std::string& path) {
  std::string text = read_file_bytes(path, "the prompt file");
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
  DUET_CHECK(!text.empty(), "the prompt file '{}' is empty", path);
  return text;
}

nlohmann::json result_json(const GenerateResult& r) {
  const ClipPlan& p = r.plan;
  nlohmann::json j = {{"output", r.path},         {"model", p.model},
                      {"seed", p.seed},           {"prompt", p.prompt},
                      {"width", p.width},         {"height", p.height},
                      {"frames", r.frames_written}, {"fps", p.fps},
                      {"steps", p.steps},         {"seconds", r.total_seconds}};
  if (!r.preview_path.empty()) j["preview"] = r.preview_path;
  if (p.has_audio) {
    j["audio_samples"] = r.audio_samples_written;
    j["audio_sample_rate"] = p.audio_sample_rate;
  }
  for (const auto& [stage, seconds] : r.stage_seconds) j["stages"][stage] = seconds;
  return j;
}

int run_generate(GenerateArgs a) {
  install_interrupt_handler();  // Ctrl-C while weights load stops at the next checkpoint too
  DUET_CHECK(!a.spec.prompt.empty() || !a.prompt_file.empty(),
             "no prompt: give it as an argument or with --prompt-file");
  DUET_CHECK(a.spec.prompt.empty() || a.prompt_file.empty(),
             "give the prompt either as an argument or with --prompt-file, not both");
  if (!a.prompt_file.empty()) a.spec.prompt = read_prompt_file(a.prompt_file);
  DUET_CHECK(!(a.spec.frames && a.spec.duration), "give either --frames or --duration");
  DUET_CHECK(!a.spec.duration || *a.spec.duration > 0, "--duration must be positive");
  if (a.spec.size) parse_size(*a.spec.size, "--size");
  DUET_CHECK(!(a.spec.size && (a.spec.width || a.spec.height)),
             "give either --size or --width/--height");

  ClipContext ctx = make_clip_context(a.run, /*keep_models_loaded=*/false);
  ClipPlan plan = resolve_clip(ctx, a.spec);
  if (a.preview) {  // beside the output, whose name may be the default one
    plan.preview = std::filesystem::path(plan.output).replace_extension().string() + ".preview.webp";
  }
  DUET_CHECK(a.force || !std::filesystem::exists(plan.output),
             "'{}' exists; pass --force to overwrite it or -o to choose another name", plan.output);
  if (!a.json) std::printf("seed %llu\n", static_cast<unsigned long long>(plan.seed));
  std::fflush(stdout);
  const GenerateResult r = render_clip(ctx, plan);
  if (a.json) {
    std::printf("%s\n", result_json(r).dump(2).c_str());
    return 0;
  }
  const std::string stages = describe_stages(r);
  const std::string sound =
      plan.has_audio ? fmt::format(" + {:.2f} s of {} Hz sound",
                                   static_cast<double>(r.audio_samples_written) / plan.audio_sample_rate,
                                   plan.audio_sample_rate)
                     : std::string();
  if (!r.preview_path.empty()) std::printf("wrote %s (preview)\n", r.preview_path.c_str());
  std::printf("wrote %s: %lldx%lld, %lld frames at %g fps%s, seed %llu, %.1f s (%s)\n",
              r.path.c_str(), static_cast<long long>(plan.width),
              static_cast<long long>(plan.height), static_cast<long long>(r.frames_written),
              plan.fps, sound.c_str(), static_cast<unsigned long long>(plan.seed),
              r.total_seconds, stages.c_str());
  return 0;
}

}  // namespace

Command add_generate_command(CLI::App& app) {
  auto a = std::make_shared<GenerateArgs>();
  CLI::App* sub = app.add_subcommand("generate", "Generate a clip from a text prompt");
  sub->add_option("prompt", a->spec.prompt, "What to show");
  sub->add_option("--prompt-file", a->prompt_file, "Read the prompt from a UTF-8 text file");
  sub->add_option("-o,--output", a->spec.output,
                  "Output file (.mp4 .webm .mkv .mov .gif .webp, or a %04d.png pattern); "
                  "default: the prompt's first words and the seed, e.g. a-red-ball-bounces-42.mp4");
  sub->add_flag("--force", a->force, "Overwrite the output if it exists");
  sub->add_flag("--preview", a->preview,
                "Also write an animated WebP preview (OUTPUT.preview.webp, 480 px; GIF without libwebp)");
  sub->add_flag("--json", a->json, "Print the result as JSON on stdout (for scripts)");
  add_spec_options(sub, a->spec);
  add_run_options(sub, a->run);
  return {sub, [a] { return run_generate(*a); }};
}

}  // namespace duet::cli
