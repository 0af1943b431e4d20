#pragma once
// What every duet-tiny training stage shares: access to its part of the recipe, the model
// builders on a store of tensors, and the resumable training loop.
#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "io/weight_store.h"
#include "models/mmaudio/vae.h"
#include "scenes/scene.h"
#include "text/umt5.h"
#include "tiny_stages.h"
#include "train_util.h"

namespace duet::train {

using Losses = std::vector<std::pair<std::string, double>>;

// --- recipe access ----------------------------------------------------------------------------

const nlohmann::json& stage_of(const TrainContext& ctx, const std::string& name);
const nlohmann::json& component_config(const TrainContext& ctx, const std::string& name);
uint64_t recipe_seed(const TrainContext& ctx);
scenes::SceneOptions scene_options(const TrainContext& ctx);
AdamWOptions adam_options(const nlohmann::json& st);
std::string stage_dir(const TrainContext& ctx, const std::string& stage);
// <work>/<stage>/weights.safetensors; fails naming the stage when it has not finished.
std::string weights_of(const TrainContext& ctx, const std::string& stage);

// --- model builders (the ordinary loaders, on a store of tensors) -------------------------------

// Keys and shapes a loader asks for, from a store of random tensors (nothing is read).
ShapeMap shapes_of(const std::function<void(WeightStore&)>& build);
mmaudio::MMAudioVaeConfig audio_vae_config(const nlohmann::json& j);
Umt5Config t5_config(const nlohmann::json& j, int64_t vocab_rows);
ParamMap with_prefix(const ParamMap& m, const std::string& prefix);
ParamMap strip_prefix(const ParamMap& m, const std::string& prefix);
int64_t round_up(int64_t n, int64_t m);

// --- the training loop ------------------------------------------------------------------------

using StepFn = std::function<Losses(int64_t step, at::Generator& gen)>;

// Runs steps [resumed step, steps) of a stage: each step's numbers come from its own generator,
// so a resumed run repeats exactly what an uninterrupted one does. Logs every `log_every` steps
// (stage, step, losses, lr, gradient norm, s/step, ETA) to the console and <dir>/losses.tsv;
// saves the state every `save_every` steps and the weights at the end.
void run_stage(const TrainContext& ctx, const std::string& name, const nlohmann::json& st,
               ParamMap& params, AdamW& opt, const StepFn& step_fn);

// Per-channel second moments pulled toward 1: latents the diffusion model sees at the scale of
// its noise. z: [B, C, ...]
at::Tensor unit_moment_penalty(const at::Tensor& z);

// Per-pixel loss weights for clips x [B, 3, T, H, W] in [-1, 1]: `moving` where any channel
// differs from the frame before by more than a rounding step (frame 0: never), 1 elsewhere,
// normalised to mean 1 so the loss keeps its scale. -> [B, 1, T, H, W]
at::Tensor motion_weights(const at::Tensor& x, double moving);

double item(const at::Tensor& t);

}  // namespace duet::train
