// duet_train_tiny: trains duet-tiny, the embedded default model, from procedural scenes.
//
//   duet_train_tiny --recipe tools/train/recipe.json --work /tmp/tiny-work --out models/duet-tiny
//
// Stages run in order (tokenizer, video_vae, audio_vae, vocoder, fusion, package); `--stage`
// runs one. Every stage resumes from <work>/<stage>/state.safetensors when it exists, and a
// finished stage (weights.safetensors present) is skipped unless it is named.
#include <ATen/Parallel.h>
#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>

#include <filesystem>
#include <fstream>

#include "core/error.h"
#include "tiny_stages.h"

namespace fs = std::filesystem;

int main(int argc, char** argv) {
  CLI::App app{"Train duet-tiny (the embedded default model) from procedural scenes"};
  duet::train::TrainContext ctx;
  std::string stage = "all", out;
  app.add_option("--recipe", ctx.recipe_path, "training recipe (JSON)")->required()->check(CLI::ExistingFile);
  app.add_option("--work", ctx.work, "working directory: states, logs, latent cache")->required();
  app.add_option("--out", out, "package folder written at the end (e.g. models/duet-tiny)");
  app.add_option("--stage", stage, "one stage, or all")
      ->check(CLI::IsMember({"all", "tokenizer", "video_vae", "audio_vae", "vocoder", "fusion",
                             "package"}));
  app.add_option("--threads", ctx.threads, "intra-op threads (0: libtorch's default)");
  app.add_option("--stop-after", ctx.stop_after,
                 "stop a stage after N steps of this run, saving its state (rerun to resume)");
  CLI11_PARSE(app, argc, argv);
  try {
    std::ifstream in(ctx.recipe_path);
    ctx.recipe = nlohmann::json::parse(in);
    if (ctx.threads > 0) at::set_num_threads(ctx.threads);
    fs::create_directories(ctx.work);
    struct Step {
      const char* name;
      void (*run)(const duet::train::TrainContext&);
      const char* result;
    };
    const Step steps[] = {
        {"tokenizer", duet::train::train_tokenizer, "tokenizer/tokenizer.model"},
        {"video_vae", duet::train::train_video_vae, "video_vae/weights.safetensors"},
        {"audio_vae", duet::train::train_audio_vae, "audio_vae/weights.safetensors"},
        {"vocoder", duet::train::train_vocoder, "vocoder/weights.safetensors"},
        {"fusion", duet::train::train_fusion, "fusion/weights.safetensors"},
    };
    for (const auto& s : steps) {
      const bool named = stage == s.name;
      if (!named && stage != "all") continue;
      if (!named && fs::exists(fs::path(ctx.work) / s.result)) {
        spdlog::info("{}: done already ({})", s.name, s.result);
        continue;
      }
      s.run(ctx);
    }
    if (stage == "all" || stage == "package") {
      DUET_CHECK(!out.empty(), "--out is needed to write the package");
      duet::train::write_package(ctx, out);
    }
  } catch (const duet::train::StageStopped&) {
    return 0;
  } catch (const std::exception& e) {
    spdlog::error("{}", e.what());
    return 1;
  }
  return 0;
}
