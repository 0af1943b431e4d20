#include "stage_common.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <filesystem>
#include <fstream>

#include "core/error.h"

namespace duet::train {

namespace fs = std::filesystem;
using nlohmann::json;

// --- recipe access ----------------------------------------------------------------------------

const json& stage_of(const TrainContext& ctx, const std::string& name) {
  const json& stages = ctx.recipe.at("stages");
  DUET_CHECK(stages.contains(name), "{}: no stages.{} in the recipe", ctx.recipe_path, name);
  return stages.at(name);
}

const json& component_config(const TrainContext& ctx, const std::string& name) {
  const json& comps = ctx.recipe.at("package").at("components");
  DUET_CHECK(comps.contains(name), "{}: no package.components.{} in the recipe", ctx.recipe_path,
             name);
  return comps.at(name).at("config");
}

uint64_t recipe_seed(const TrainContext& ctx) { return ctx.recipe.at("seed").get<uint64_t>(); }

scenes::SceneOptions scene_options(const TrainContext& ctx) {
  const json& s = ctx.recipe.at("scene");
  scenes::SceneOptions o;
  o.width = s.at("width");
  o.height = s.at("height");
  o.frames = s.at("frames");
  o.fps = s.at("fps");
  return o;
}

AdamWOptions adam_options(const json& st) {
  AdamWOptions o;
  o.lr = st.at("lr");
  o.total_steps = st.at("steps");
  o.warmup = st.value("warmup", int64_t{50});
  o.weight_decay = st.value("weight_decay", 0.0);
  o.clip_norm = st.value("clip_norm", 1.0);
  o.final_fraction = st.value("final_lr_fraction", 0.1);
  return o;
}

std::string stage_dir(const TrainContext& ctx, const std::string& stage) {
  return (fs::path(ctx.work) / stage).string();
}

std::string weights_of(const TrainContext& ctx, const std::string& stage) {
  const std::string path = stage_dir(ctx, stage) + "/weights.safetensors";
  DUET_CHECK(fs::exists(path), "stage '{}' has not finished: {} is missing", stage, path);
  return path;
}

// --- model builders (the ordinary loaders, on a store of tensors) -------------------------------

// Keys and shapes a loader asks for, from a store of random tensors (nothing is read).
ShapeMap shapes_of(const std::function<void(WeightStore&)>& build) {
  WeightStore store = WeightStore::random(0);
  build(store);
  return store.meta_shapes();
}

mmaudio::MMAudioVaeConfig audio_vae_config(const json& j) {
  mmaudio::MMAudioVaeConfig c;
  c.data_dim = j.at("data_dim");
  c.embed_dim = j.at("embed_dim");
  c.hidden_dim = j.at("hidden_dim");
  c.ch_mult = j.at("ch_mult").get<std::vector<int64_t>>();
  c.num_res_blocks = j.at("num_res_blocks");
  c.attn_layers = j.at("attn_layers").get<std::vector<int64_t>>();
  c.down_layers = j.at("down_layers").get<std::vector<int64_t>>();
  c.kernel_size = j.at("kernel_size");
  c.validate();
  return c;
}

Umt5Config t5_config(const json& j, int64_t vocab_rows) {
  Umt5Config c;
  c.vocab_size = vocab_rows;
  c.dim = j.at("dim");
  c.dim_attn = j.at("dim_attn");
  c.dim_ffn = j.at("dim_ffn");
  c.num_heads = j.at("num_heads");
  c.num_layers = j.at("num_layers");
  c.num_buckets = j.at("num_buckets");
  c.validate();
  return c;
}

ParamMap with_prefix(const ParamMap& m, const std::string& prefix) {
  ParamMap out;
  for (const auto& [k, t] : m) out[prefix + k] = t;
  return out;
}

ParamMap strip_prefix(const ParamMap& m, const std::string& prefix) {
  ParamMap out;
  for (const auto& [k, t] : m) {
    if (k.rfind(prefix, 0) == 0) out[k.substr(prefix.size())] = t;
  }
  return out;
}

// --- the training loop ------------------------------------------------------------------------

// Runs steps [resumed step, steps) of a stage: each step's numbers come from its own generator,
// so a resumed run repeats exactly what an uninterrupted one does. Logs every `log_every` steps
// (stage, step, losses, lr, gradient norm, s/step, ETA) to the console and <dir>/losses.tsv;
// saves the state every `save_every` steps and the weights at the end.
void run_stage(const TrainContext& ctx, const std::string& name, const json& st, ParamMap& params,
               AdamW& opt, const StepFn& step_fn) {
  const std::string dir = stage_dir(ctx, name);
  fs::create_directories(dir);
  const int64_t steps = st.at("steps");
  const int64_t log_every = st.value("log_every", int64_t{10});
  const int64_t save_every = st.value("save_every", int64_t{100});
  const uint64_t seed = recipe_seed(ctx);
  int64_t start = 0;
  if (load_stage(dir, params, opt, &start)) spdlog::info("{}: resuming at step {}", name, start);
  std::ofstream log(dir + "/losses.tsv", std::ios::app);
  auto t0 = std::chrono::steady_clock::now();
  int64_t since = 0;
  for (int64_t step = start; step < steps; ++step) {
    at::Generator gen = step_generator(seed, std::hash<std::string>{}(name) & 0xffff, step);
    const Losses losses = step_fn(step, gen);
    const double gnorm = opt.step(step);
    ++since;
    if ((step + 1) % log_every == 0 || step + 1 == steps) {
      const double per = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() /
                         static_cast<double>(since);
      std::string text;
      for (const auto& [k, v] : losses) text += fmt::format(" {} {:.5f}", k, v);
      spdlog::info("{} step {}/{}{} lr {:.2e} |g| {:.3f} {:.2f} s/step ETA {:.1f} min", name,
                   step + 1, steps, text, opt.lr_at(step), gnorm, per,
                   per * static_cast<double>(steps - step - 1) / 60.0);
      log << step + 1;
      for (const auto& [k, v] : losses) log << '\t' << k << '=' << v;
      log << '\t' << "lr=" << opt.lr_at(step) << '\t' << "gnorm=" << gnorm << '\n';
      log.flush();
      t0 = std::chrono::steady_clock::now();
      since = 0;
    }
    if ((step + 1) % save_every == 0 && step + 1 < steps) save_stage(dir, params, opt, step + 1);
    if (ctx.stop_after > 0 && step + 1 - start == ctx.stop_after && step + 1 < steps) {
      save_stage(dir, params, opt, step + 1);
      spdlog::info("{}: stopped after {} steps; run again to resume", name, ctx.stop_after);
      throw StageStopped();
    }
  }
  save_stage(dir, params, opt, steps);
  save_tensors(dir + "/weights.safetensors", params);
  spdlog::info("{}: weights in {}", name, dir + "/weights.safetensors");
}

// Per-channel second moments pulled toward 1: latents the diffusion model sees at the scale of
// its noise. z: [B, C, ...]
at::Tensor unit_moment_penalty(const at::Tensor& z) {
  std::vector<int64_t> dims{0};
  for (int64_t d = 2; d < z.dim(); ++d) dims.push_back(d);
  return (z.pow(2).mean(dims) - 1).pow(2).mean();
}

double item(const at::Tensor& t) { return t.detach().item<double>(); }

int64_t round_up(int64_t n, int64_t m) { return (n + m - 1) / m * m; }

}  // namespace duet::train
