#include "pipeline/wan_t2v.h"

#include <ATen/CPUGeneratorImpl.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <random>

#include "core/error.h"
#include "io/json_util.h"
#include "io/weight_store.h"
#include "pipeline/pipeline_util.h"
#include "models/wan/wan_dit.h"
#include "models/wan/wan_keys.h"
#include "sampling/guidance.h"
#include "sampling/scheduler.h"
#include "sampling/scheduler_config.h"
#include "text/text_encoder.h"

namespace duet {
namespace fs = std::filesystem;

struct WanT2VPipeline::Expert {
  const ModelComponent* component = nullptr;
  wan::WanDiTConfig config;
  std::unique_ptr<wan::WanDiT> model;
  std::string label;  // "transformer", "high-noise expert", ...
};

namespace {

using Clock = PipelineClock;

const ModelComponent& require(const ModelDir& dir, std::string_view name) {
  return require_component(dir, name);
}

// The folder holding a component's first file (diffusers components are loaded as folders).
std::string folder_of(const ModelComponent& c) {
  return fs::path(c.files.empty() ? c.expected : c.files.front()).parent_path().string();
}

std::string config_source(const ModelDir& dir, const ModelComponent& c) {
  const std::string folder = folder_of(c);
  return (fs::path(folder.empty() ? dir.path : folder) / "config.json").string();
}

bool valid_sampler(const std::string& name) {
  return name == "unipc" || name == "euler" || name == "dpm++";
}

}  // namespace

int64_t nearest_multiple(int64_t value, int64_t multiple) {
  const int64_t down = value / multiple * multiple;
  const int64_t up = down + multiple;
  const int64_t best = value - down <= up - value ? down : up;
  return std::max(best, multiple);
}

int64_t nearest_wan_frame_count(int64_t frames) {
  const int64_t k = std::max<int64_t>(0, (frames - 1 + 2) / 4);  // round((frames - 1) / 4)
  return 4 * k + 1;
}

WanT2VPipeline::WanT2VPipeline(ModelDir dir, WanT2VOptions options,
                               const std::vector<Preset>& presets)
    : dir_(std::move(dir)), options_(options) {
  DUET_CHECK(dir_.family == "wan", "'{}' is a {} model; the Wan text-to-video pipeline needs a "
             "Wan 2.1 / 2.2 folder", dir_.path, dir_.family);
  std::string missing;
  for (const auto* c : dir_.missing()) missing += (missing.empty() ? "" : ", ") + c->expected;
  DUET_CHECK(missing.empty(), "'{}' ({}) is incomplete; missing: {}", dir_.path, dir_.variant,
             missing);

  bool exact = false;
  preset_ = find_preset_for_variant(presets, dir_.variant, "wan", &exact);
  if (!exact) {
    spdlog::warn("no preset is made for '{}'; using the defaults of {}", dir_.variant,
                 preset_.name);
  }

  const bool diffusers = dir_.layout == ModelLayout::kWanDiffusers;
  std::vector<std::pair<std::string, std::string>> names;  // component, label
  if (dir_.find("transformer_high_noise") != nullptr) {
    names = {{"transformer_high_noise", "high-noise expert"},
             {"transformer_low_noise", "low-noise expert"}};
  } else if (diffusers && dir_.find("transformer_2") != nullptr) {
    // diffusers' Wan2.2 A14B: `transformer` runs above the boundary, `transformer_2` below.
    names = {{"transformer", "high-noise expert"}, {"transformer_2", "low-noise expert"}};
  } else {
    names = {{"transformer", "transformer"}};
  }
  for (const auto& [name, label] : names) {
    auto e = std::make_unique<Expert>();
    e->component = &require(dir_, name);
    const std::string source = config_source(dir_, *e->component);
    DUET_CHECK(e->component->config.is_object(), "'{}' is missing (the DiT's config)", source);
    e->config = wan::WanDiTConfig::from_json(e->component->config, source);
    e->label = label;
    experts_.push_back(std::move(e));
  }
  const wan::WanDiTConfig& cfg = experts_.front()->config;
  DUET_CHECK(cfg.model_type != "i2v" && cfg.in_dim != 36,
             "'{}' is an image-to-video checkpoint (in_dim {}); duet's Wan pipeline runs the "
             "text-to-video (T2V, TI2V) models", dir_.path, cfg.in_dim);
  for (const auto& e : experts_) {
    DUET_CHECK(e->config.in_dim == cfg.in_dim && e->config.patch_size == cfg.patch_size,
               "'{}': the two experts have different input shapes", dir_.path);
  }
  z_dim_ = cfg.in_dim;
  patch_ = cfg.patch_size;
  vae_stride_ = z_dim_ == 48 ? 16 : 8;  // Wan2.2 VAE: 16x16 (2x2 patchify), Wan2.1: 8x8

  if (diffusers) {
    if (const auto* sched = dir_.find("scheduler"); sched != nullptr && sched->present) {
      const auto d = scheduler_defaults_from_diffusers(sched->config, sched->expected);
      folder_solver_ = d.solver;
      folder_schedule_ = d.schedule;
      folder_shift_ = d.shift;
    }
    const std::string index_path = (fs::path(dir_.path) / "model_index.json").string();
    const auto index = read_json_file(index_path);
    if (index.contains("boundary_ratio") && !index.at("boundary_ratio").is_null()) {
      folder_boundary_ = json_number(index, "boundary_ratio", index_path);
    }
  }
  spdlog::info("{} ({} layout): {} DiT{}, dim {}, {} layers; preset {}; {} {}", dir_.variant,
               model_layout_name(dir_.layout), experts_.size() == 2 ? "two-expert" : "one",
               experts_.size() == 2 ? "s" : "", cfg.dim, cfg.num_layers, preset_.name,
               options_.device.str(), c10::toString(options_.dtype));
}

WanT2VPipeline::~WanT2VPipeline() = default;

WanT2VSettings WanT2VPipeline::resolve(const WanT2VRequest& r) const {
  WanT2VSettings s;
  s.preset = preset_.name;
  s.prompt = r.prompt;
  DUET_CHECK(!s.prompt.empty(), "the prompt is empty");
  s.negative_prompt = r.negative_prompt.value_or(preset_.negative_prompt);
  s.width = r.width.value_or(preset_.width);
  s.height = r.height.value_or(preset_.height);
  s.frames = r.frames.value_or(preset_.frames);
  s.fps = r.fps.value_or(preset_.fps);
  s.steps = r.steps.value_or(preset_.steps);
  s.shift = r.shift.value_or(folder_shift_.value_or(preset_.shift));
  s.guidance = r.guidance.value_or(preset_.guidance);
  s.sampler = r.sampler.value_or(folder_solver_.value_or(preset_.sampler));
  s.seed = r.seed.value_or(random_seed());

  const int64_t px = vae_stride_ * patch_[1];
  if (s.width % px != 0 || s.height % px != 0 || s.width <= 0 || s.height <= 0) {
    DUET_FAIL("size {}x{} cannot be generated by {}: width and height must be positive "
              "multiples of {} (VAE stride {} x patch {}); nearest valid size: {}x{}",
              s.width, s.height, dir_.variant, px, vae_stride_, patch_[1],
              nearest_multiple(s.width, px), nearest_multiple(s.height, px));
  }
  DUET_CHECK(s.frames >= 1 && (s.frames - 1) % (4 * patch_[0]) == 0,
             "{} frames cannot be generated by {}: the frame count must be 4k + 1 (the VAE "
             "compresses 4 frames per latent after the first); nearest valid: {}",
             s.frames, dir_.variant, nearest_wan_frame_count(s.frames));
  DUET_CHECK(s.steps >= 1 && s.steps <= 1000, "steps must be in 1..1000, got {}", s.steps);
  DUET_CHECK(std::isfinite(s.shift) && s.shift > 0, "shift must be positive, got {}", s.shift);
  DUET_CHECK(std::isfinite(s.fps) && s.fps > 0 && s.fps <= 240, "fps must be in (0, 240], got {}",
             s.fps);
  DUET_CHECK(valid_sampler(s.sampler), "unknown sampler '{}'; valid: unipc, euler, dpm++",
             s.sampler);
  check_guidance_scale(s.guidance, "guidance");
  s.schedule = folder_solver_ && *folder_solver_ == s.sampler ? *folder_schedule_
                                                              : default_schedule_kind(s.sampler);
  if (two_experts()) {
    s.boundary = folder_boundary_.value_or(preset_.boundary.value_or(0.875));
    s.guidance_high_noise =
        r.guidance_high_noise.value_or(preset_.guidance_high_noise.value_or(s.guidance));
    check_guidance_scale(*s.guidance_high_noise, "guidance_high_noise");
  } else {
    DUET_CHECK(!r.guidance_high_noise, "{} has one transformer; a high-noise guidance scale "
               "applies to two-expert models (Wan2.2 A14B) only", dir_.variant);
  }

  s.latent_channels = z_dim_;
  s.latent_frames = (s.frames - 1) / 4 + 1;
  s.latent_height = s.height / vae_stride_;
  s.latent_width = s.width / vae_stride_;
  s.seq_len = s.latent_frames / patch_[0] * (s.latent_height / patch_[1]) *
              (s.latent_width / patch_[2]);

  bool trained = preset_.trained_sizes.empty();
  for (const auto& size : preset_.trained_sizes) trained |= size[0] == s.width && size[1] == s.height;
  if (!trained) {
    spdlog::warn("{}x{} is not among the sizes {} was trained at; results may suffer",
                 s.width, s.height, preset_.name);
  }
  return s;
}

at::Tensor WanT2VPipeline::initial_noise(const WanT2VSettings& s) const {
  // torch.randn(shape, generator=torch.Generator("cpu").manual_seed(seed)), as Wan (with a CPU
  // generator) and diffusers' randn_tensor draw it: the same numbers on every device.
  auto gen = at::make_generator<at::CPUGeneratorImpl>(s.seed);
  return at::randn({1, s.latent_channels, s.latent_frames, s.latent_height, s.latent_width}, gen,
                   at::TensorOptions().dtype(at::kFloat));
}

void WanT2VPipeline::report(const char* stage, int64_t step, int64_t total) const {
  if (options_.progress) options_.progress({stage, step, total});
  throw_if_cancelled();
}

at::Tensor WanT2VPipeline::encode_text(const WanT2VSettings& s) {
  report("text", 0, 1);
  if (!text_encoder_) {
    const ModelComponent& te = require(dir_, "text_encoder");
    const ModelComponent& tok = require(dir_, "tokenizer");
    const std::string weights =
        te.key_layout == "hf_umt5" ? folder_of(te) : te.files.front();
    TextEncoderOptions o;
    o.dtype = options_.text_dtype;
    o.device = options_.text_device;
    o.output_device = options_.device;
    text_encoder_ = std::make_unique<TextEncoder>(weights, fs::path(tok.expected).parent_path(), o);
  }
  std::vector<std::string> prompts{s.prompt};
  const bool uncond = needs_uncond_pass(s.guidance) ||
                      (s.guidance_high_noise && needs_uncond_pass(*s.guidance_high_noise));
  if (uncond) prompts.push_back(s.negative_prompt);
  at::Tensor context = text_encoder_->encode(prompts).context;
  if (!options_.keep_models_loaded) text_encoder_.reset();  // before the DiT is loaded
  report("text", 1, 1);
  return context;
}

const wan::WanDiT& WanT2VPipeline::expert_for(double timestep, const WanT2VSettings& s,
                                              double* guidance) {
  size_t index = 0;
  *guidance = s.guidance;
  if (two_experts()) {
    // Wan2.2: `t >= boundary * num_train_timesteps` picks the high-noise expert.
    const bool high = timestep >= *s.boundary * 1000.0;
    index = high ? 0 : 1;
    *guidance = high ? *s.guidance_high_noise : s.guidance;
  }
  Expert& e = *experts_[index];
  if (!e.model) {
    if (!options_.keep_models_loaded) {
      for (auto& other : experts_) other->model.reset();  // one expert in memory at a time
    }
    const auto start = Clock::now();
    WeightStore store(e.component->files, {.dtype = options_.dtype, .device = options_.device},
                      wan::wan_dit_key_map(e.component->key_layout));
    e.model = std::make_unique<wan::WanDiT>(wan::WanDiT::load(e.config, store));
    spdlog::info("loaded the {} in {:.1f} s", e.label, seconds_since(start));
  }
  return *e.model;
}

at::Tensor WanT2VPipeline::denoise(const WanT2VSettings& s, const at::Tensor& noise,
                                   const at::Tensor& context) {
  // noise: [1, z, T, h, w] fp32, context: [1 or 2, text_len, dim] -> latents [1, z, T, h, w]
  auto scheduler = make_scheduler(s.sampler, s.schedule);
  scheduler->set_timesteps(s.steps, s.shift);
  const at::Tensor timesteps = scheduler->timesteps().to(options_.device);
  const at::Tensor cond_ctx = context.narrow(0, 0, 1);
  at::Tensor latents = noise.to(options_.device);
  report("denoise", 0, s.steps);
  for (int64_t i = 0; i < s.steps; ++i) {
    double guidance = 0;
    const wan::WanDiT& dit = expert_for(scheduler->schedule().timesteps[i], s, &guidance);
    const at::Tensor t = timesteps.narrow(0, i, 1);  // [1]
    const at::Tensor cond = dit.forward(latents, t, cond_ctx, s.seq_len, options_.attention);
    at::Tensor uncond;
    if (needs_uncond_pass(guidance)) {
      DUET_CHECK(context.size(0) == 2, "internal: no negative context for guidance {}", guidance);
      uncond = dit.forward(latents, t, context.narrow(0, 1, 1), s.seq_len, options_.attention);
    }
    latents = scheduler->step(apply_cfg(cond, uncond, guidance), i, latents);
    if (options_.on_step) options_.on_step(i, latents);
    report("denoise", i + 1, s.steps);
  }
  if (!options_.keep_models_loaded) {
    for (auto& e : experts_) e->model.reset();  // before the VAE is loaded
  }
  return latents.to(at::kCPU);
}

int64_t WanT2VPipeline::decode(const at::Tensor& latents, const wan::VideoChunkSink& sink) {
  // latents: [1, z, T, h, w] -> sink gets [1, 3, n, H, W] chunks, 1 + 4 (T - 1) frames in all
  const int64_t t = latents.size(2);
  report("decode", 0, t);
  if (!vae_) {
    const ModelComponent& c = require(dir_, "vae");
    const std::string path = c.key_layout == "diffusers_wan_vae" ? folder_of(c) : c.files.front();
    vae_ = wan::load_wan_vae(path, {.dtype = options_.vae_dtype, .device = options_.device});
  }
  int64_t frames = 0, chunks = 0;
  vae_->decode_stream(
      latents.to(options_.device, options_.vae_dtype),
      [&](const at::Tensor& chunk) {
        sink(chunk);
        frames += chunk.size(2);
        report("decode", ++chunks, t);
      },
      options_.tiling);
  if (!options_.keep_models_loaded) vae_.reset();
  return frames;
}

WanT2VResult WanT2VPipeline::generate(const WanT2VSettings& s, const wan::VideoChunkSink& sink) {
  WanT2VResult result;
  result.settings = s;
  spdlog::info("{}x{}, {} frames at {} fps, {} {} steps, shift {}, guidance {}{}, seed {}",
               s.width, s.height, s.frames, s.fps, s.steps, s.sampler, s.shift, s.guidance,
               s.guidance_high_noise ? fmt::format(" / {} (high noise)", *s.guidance_high_noise)
                                     : std::string(),
               s.seed);
  auto start = Clock::now();
  const at::Tensor noise = initial_noise(s);
  const at::Tensor context = encode_text(s);
  result.stage_seconds.emplace_back("text", seconds_since(start));
  start = Clock::now();
  result.latents = denoise(s, noise, context);
  result.stage_seconds.emplace_back("denoise", seconds_since(start));
  start = Clock::now();
  result.frames_written = decode(result.latents, sink);
  result.stage_seconds.emplace_back("decode", seconds_since(start));
  return result;
}

}  // namespace duet
