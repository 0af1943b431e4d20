#pragma once
// duet-tiny's training stages. Each reads its part of the recipe (tools/train/recipe.json),
// keeps a resumable state in <work>/<stage>/ and ends with <work>/<stage>/weights.safetensors
// in the exact layout the real checkpoints use, so the package loads through the ordinary
// loaders. Order: tokenizer, video_vae, audio_vae, vocoder, fusion (which also trains the text
// encoder and needs both VAEs), then package.
#include <nlohmann/json.hpp>

#include <string>

namespace duet::train {

struct TrainContext {
  nlohmann::json recipe;
  std::string recipe_path;
  std::string work;  // working directory (states, logs, caches)
  int threads = 0;   // 0: libtorch's default
  // Stop a stage after this many steps of this run (state saved; the next run resumes): for
  // training in sittings and for testing resumption. 0: run to the end.
  int64_t stop_after = 0;
};

// Thrown when --stop-after ends a stage early (its state is saved).
struct StageStopped {};

void train_tokenizer(const TrainContext& ctx);
void train_video_vae(const TrainContext& ctx);
void train_audio_vae(const TrainContext& ctx);
void train_vocoder(const TrainContext& ctx);
void train_fusion(const TrainContext& ctx);
// Writes the package (duet.json + one safetensors per component + tokenizer.model) to `out`.
void write_package(const TrainContext& ctx, const std::string& out);

}  // namespace duet::train
