// `duet generate PROMPT --model DIR -o clip.mp4`: one clip from one prompt. Everything that can
// be checked (model folder, size, frames, output path) is checked before any compute; the clip
// is streamed into the writer as the VAE decodes it and renamed into place only when complete.
#include <fmt/format.h>

#include <cstdio>

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
};

std::string read_prompt_file(const std::string& path) {
  std::string text = read_file_bytes(path, "the prompt file");
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
  DUET_CHECK(!text.empty(), "the prompt file '{}' is empty", path);
  return text;
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
  const WanT2VSettings s = resolve_clip(ctx, a.spec);
  const std::string output = a.spec.output.value_or(fmt::format("duet-{}.mp4", s.seed));
  std::printf("seed %llu\n", static_cast<unsigned long long>(s.seed));
  std::fflush(stdout);
  const ClipOutcome c = render_clip(ctx, s, a.spec, output);
  double total = 0;
  const std::string stages = describe_stages(c.result, &total);
  std::printf("wrote %s: %lldx%lld, %lld frames at %g fps, seed %llu, %.1f s (%s)\n",
              c.path.c_str(), static_cast<long long>(s.width), static_cast<long long>(s.height),
              static_cast<long long>(c.result.frames_written), s.fps,
              static_cast<unsigned long long>(s.seed), total, stages.c_str());
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
                  "default duet-SEED.mp4");
  add_spec_options(sub, a->spec);
  add_run_options(sub, a->run);
  return {sub, [a] { return run_generate(*a); }};
}

}  // namespace duet::cli
