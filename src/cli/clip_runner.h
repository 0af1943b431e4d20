#pragma once
// What `duet generate` and `duet batch` share: the model/device flags, the per-clip flags
// (a GenerateSpec), building the pipeline once, and rendering one clip into its output file.
#include <CLI/CLI.hpp>

#include <memory>
#include <string>
#include <vector>

#include "core/progress.h"
#include "duet/duet.h"
#include "pipeline/generate_spec.h"
#include "pipeline/preset.h"

namespace duet::cli {

struct RunArgs {
  std::string model;
  std::string device = "auto";
  std::string dtype = "auto";
  std::string text_encoder_device = "same";
  std::string attention = "auto";
  bool vae_tiling = false;
  bool no_progress = false;
  bool no_memory_check = false;
  std::string max_memory;  // "24G"; empty: what is free
};

void add_run_options(CLI::App* app, RunArgs& args);
// Every per-clip option except the prompt and the output (generate and batch add their own).
void add_spec_options(CLI::App* app, GenerateSpec& spec);

struct ClipContext {
  std::unique_ptr<ProgressPrinter> printer;
  std::unique_ptr<Engine> engine;
};

// Recognises the model folder (the embedded duet-tiny when --model is not given) and sets up
// the engine; nothing heavy is loaded yet.
ClipContext make_clip_context(const RunArgs& args, bool keep_models_loaded);

// The plan `spec` resolves to (validation only, no compute).
ClipPlan resolve_clip(const ClipContext& ctx, const GenerateSpec& spec);

// Renders one planned clip into its output (temporary file, renamed when complete).
GenerateResult render_clip(ClipContext& ctx, const ClipPlan& plan);

// "text 0.3 s, denoise 12.1 s, decode 10.1 s"
std::string describe_stages(const GenerateResult& r, double* total_seconds = nullptr);

// Ctrl-C: first press cancels cooperatively, a second one kills.
void install_interrupt_handler();

}  // namespace duet::cli
