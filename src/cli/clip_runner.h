#pragma once
// What `duet generate` and `duet batch` share: the model/device flags, the per-clip flags
// (a GenerateSpec), building the pipeline once, and rendering one clip into its output file.
#include <CLI/CLI.hpp>

#include <memory>
#include <string>
#include <vector>

#include "core/progress.h"
#include "pipeline/generate_spec.h"
#include "pipeline/preset.h"
#include "pipeline/wan_t2v.h"

namespace duet::cli {

struct RunArgs {
  std::string model;
  std::string device = "auto";
  std::string dtype = "auto";
  std::string text_encoder_device = "same";
  std::string attention = "auto";
  bool vae_tiling = false;
  bool no_progress = false;
};

void add_run_options(CLI::App* app, RunArgs& args);
// Every per-clip option except the prompt and the output (generate and batch add their own).
void add_spec_options(CLI::App* app, GenerateSpec& spec);

// A folder, or a preset name whose environment variable names the folder.
std::string resolve_model_folder(const std::string& model, const std::vector<Preset>& presets);

struct ClipContext {
  std::vector<Preset> presets;
  std::vector<PromptStyle> styles;
  std::unique_ptr<ProgressPrinter> printer;
  std::unique_ptr<WanT2VPipeline> pipeline;
};

// Loads presets and styles and recognises the model folder; nothing heavy is loaded yet.
ClipContext make_clip_context(const RunArgs& args, bool keep_models_loaded);

// The settings `spec` resolves to (validation only, no compute).
WanT2VSettings resolve_clip(const ClipContext& ctx, const GenerateSpec& spec);

struct ClipOutcome {
  std::string path;
  WanT2VSettings settings;
  WanT2VResult result;
};
// Renders one clip into `output` (temporary file, renamed when complete).
ClipOutcome render_clip(ClipContext& ctx, const WanT2VSettings& settings, const GenerateSpec& spec,
                        const std::string& output);

// "text 0.3 s, denoise 12.1 s, decode 10.1 s"
std::string describe_stages(const WanT2VResult& r, double* total_seconds = nullptr);

// Ctrl-C: first press cancels cooperatively, a second one kills.
void install_interrupt_handler();

}  // namespace duet::cli
