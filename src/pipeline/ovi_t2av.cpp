#include "pipeline/ovi_t2av.h"

#include <ATen/CPUGeneratorImpl.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <random>

#include "core/error.h"
#include "io/safetensors.h"
#include "io/weight_store.h"
#include "media/image_reader.h"
#include "media/tensor_frames.h"
#include "models/mmaudio/bigvgan.h"
#include "models/mmaudio/vae.h"
#include "models/ovi/ovi_fusion.h"
#include "sampling/guidance.h"
#include "sampling/scheduler.h"
#include "text/text_encoder.h"

namespace duet {
namespace fs = std::filesystem;

// One fusion checkpoint of the folder and what it was trained for.
struct OviPipeline::Fusion {
  const ModelComponent* component = nullptr;
  OviSpec spec;
  std::optional<ovi::OviFusionConfig> config;  // packages carry it; checkpoints give shapes
  int64_t num_layers = 30;                      // fused blocks (slg_layer must name one)
};

namespace {

using Clock = std::chrono::steady_clock;

// Fused blocks of an Ovi fusion checkpoint, from its safetensors header (no tensor is read).
int64_t count_fused_blocks(const std::string& path) {
  int64_t blocks = 0;
  const std::string prefix = "video_model.blocks.";
  for (const auto& [name, record] : read_safetensors(path).tensors) {
    if (!name.starts_with(prefix)) continue;
    const size_t end = name.find('.', prefix.size());
    blocks = std::max<int64_t>(blocks, std::stoll(name.substr(prefix.size(), end - prefix.size())) + 1);
  }
  DUET_CHECK(blocks > 0, "'{}' holds no video_model.blocks.N tensors; is it an Ovi fusion "
             "checkpoint?", path);
  return blocks;
}

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

const ModelComponent& require(const ModelDir& dir, std::string_view name) {
  const ModelComponent* c = dir.find(name);
  DUET_CHECK(c != nullptr, "'{}' ({}) has no '{}' component", dir.path, dir.variant, name);
  return *c;
}

uint64_t random_seed() {
  std::random_device rd;
  const uint64_t seed = (static_cast<uint64_t>(rd()) << 32) ^ rd();
  return seed & 0x7fffffffffffffffULL;
}

std::string frame_counts(const std::vector<OviSpec>& specs) {
  std::string out;
  for (const auto& s : specs) {
    out += fmt::format("{}{} ({:.4g} s, {})", out.empty() ? "" : ", ", s.frames(),
                       static_cast<double>(s.frames()) / s.fps, s.name);
  }
  return out;
}

}  // namespace

OviPipeline::OviPipeline(ModelDir dir, OviOptions options, const std::vector<Preset>& presets)
    : dir_(std::move(dir)), options_(std::move(options)) {
  DUET_CHECK(dir_.family == "ovi", "'{}' is a {} model; the joint audio-video pipeline needs an "
             "Ovi checkpoint folder or an Ovi-family duet package", dir_.path, dir_.family);
  std::string missing;
  for (const auto* c : dir_.missing()) missing += (missing.empty() ? "" : ", ") + c->expected;
  DUET_CHECK(missing.empty(), "'{}' ({}) is incomplete; missing: {}", dir_.path, dir_.variant,
             missing);
  for (const auto& c : dir_.components) {
    if (c.role != "denoiser") continue;
    auto f = std::make_unique<Fusion>();
    f->component = &c;
    const std::string source = c.files.empty() ? c.expected : c.files.front();
    if (dir_.layout == ModelLayout::kDuetPackage) {
      DUET_CHECK(c.config.is_object() && c.config.contains("spec"),
                 "'{}': components.{}.config.spec is missing (the clip length and area the "
                 "model was trained for)", dir_.path + "/duet.json", c.name);
      f->spec = OviSpec::from_json(c.config.at("spec"), dir_.path + "/duet.json: components." +
                                                            c.name + ".config.spec");
      f->config = ovi::OviFusionConfig::from_json(c.config, dir_.path + "/duet.json: components." + c.name);
      f->num_layers = f->config->video.num_layers;
    } else {
      f->spec = ovi_spec_named(c.config.value("spec", std::string()));
      f->num_layers = count_fused_blocks(source);
    }
    fusions_.push_back(std::move(f));
  }
  DUET_CHECK(!fusions_.empty(), "'{}' ({}) has no fusion checkpoint", dir_.path, dir_.variant);

  bool exact = false;
  preset_ = find_preset_for_variant(presets, dir_.variant, "ovi", &exact);
  if (!exact) {
    spdlog::warn("no preset is made for '{}'; using the defaults of {}", dir_.variant, preset_.name);
  }
  spdlog::info("{} ({} layout): {} fusion checkpoint{}; preset {}; {} {}", dir_.variant,
               model_layout_name(dir_.layout), fusions_.size(), fusions_.size() == 1 ? "" : "s",
               preset_.name, options_.device.str(), c10::toString(options_.dtype));
}

OviPipeline::~OviPipeline() = default;

const OviPipeline::Fusion& OviPipeline::fusion_for_frames(std::optional<int64_t> frames) const {
  if (!frames) return *fusions_.front();
  std::vector<OviSpec> specs;
  for (const auto& f : fusions_) {
    if (f->spec.frames() == *frames) return *f;
    specs.push_back(f->spec);
  }
  DUET_FAIL("{} frames cannot be generated by '{}': the clip length is fixed by the fusion "
            "checkpoint; available: {}", *frames, dir_.path, frame_counts(specs));
}

OviSettings OviPipeline::resolve(const OviRequest& r) const {
  OviSettings s;
  s.preset = preset_.name;
  DUET_CHECK(!r.prompt.empty(), "the prompt is empty");
  const Fusion& fusion = options_.spec ? *fusions_.front() : fusion_for_frames(r.frames);
  s.spec = options_.spec.value_or(fusion.spec);
  DUET_CHECK(!r.frames || *r.frames == s.spec.frames(), "{} frames cannot be generated: the "
             "clip is {} frames ({})", *r.frames, s.spec.frames(), s.spec.name);
  s.fusion = fusion.component->name;
  s.prompt = format_ovi_prompt(r.prompt, s.spec);
  if (s.prompt != r.prompt) {
    spdlog::info("audio caption rewritten for the {} checkpoint: {}", s.spec.name, s.prompt);
  }
  if (!has_audio_caption(s.prompt)) {
    spdlog::info("the prompt has no audio caption (<AUDCAP>...<ENDAUDCAP> or 'Audio: ...'); the "
                 "model chooses the sound from the scene");
  }
  if (!speech_tags_balanced(s.prompt)) {
    spdlog::warn("the prompt's speech tags do not pair up: write speech as <S>words<E>");
  }
  s.video_negative_prompt = r.video_negative_prompt.value_or(preset_.negative_prompt);
  s.audio_negative_prompt = r.audio_negative_prompt.value_or(preset_.audio_negative_prompt);
  s.frames = s.spec.frames();
  s.fps = r.fps.value_or(s.spec.fps);
  DUET_CHECK(std::isfinite(s.fps) && s.fps > 0 && s.fps <= 240, "fps must be in (0, 240], got {}",
             s.fps);
  if (s.fps != s.spec.fps) {
    spdlog::warn("{} fps changes the clip's speed: the model makes {} frames for {} audio "
                 "samples at {} fps", s.fps, s.frames, s.spec.audio_samples(), s.spec.fps);
  }
  s.steps = r.steps.value_or(preset_.steps);
  s.shift = r.shift.value_or(preset_.shift);
  s.video_guidance = r.video_guidance.value_or(preset_.guidance);
  s.audio_guidance = r.audio_guidance.value_or(preset_.audio_guidance.value_or(s.video_guidance));
  s.sampler = r.sampler.value_or(preset_.sampler);
  s.seed = r.seed.value_or(random_seed());
  DUET_CHECK(s.steps >= 1 && s.steps <= 1000, "steps must be in 1..1000, got {}", s.steps);
  DUET_CHECK(std::isfinite(s.shift) && s.shift > 0, "shift must be positive, got {}", s.shift);
  DUET_CHECK(s.sampler == "unipc" || s.sampler == "euler" || s.sampler == "dpm++",
             "unknown sampler '{}'; valid: unipc, euler, dpm++", s.sampler);
  check_guidance_scale(s.video_guidance, "guidance");
  check_guidance_scale(s.audio_guidance, "audio_guidance");
  s.schedule = default_schedule_kind(s.sampler);

  const int64_t layers = fusion.num_layers;
  const int64_t slg = r.slg_layer.value_or(preset_.slg_layer.value_or(0));
  // Ovi skips block slg_layer only when slg_layer > 0: block 0 is never skipped.
  DUET_CHECK(slg >= 0 && slg < layers, "slg_layer {} does not exist: {} has {} fused blocks; "
             "valid: 0..{} (0: no skip-layer guidance)", slg, dir_.variant, layers, layers - 1);
  if (slg > 0) s.slg_layer = slg;

  if (r.image) {
    DUET_CHECK(!r.width && !r.height, "--image sets the size (the image's aspect ratio at the "
               "model's area); drop --size/--width/--height");
    s.image = *r.image;
    const media::RgbImage img = media::read_image(s.image);  // fails now on a bad file
    const auto hw = ovi_image_size(img.height, img.width, s.spec.area);
    s.height = hw[0];
    s.width = hw[1];
  } else {
    const int64_t w = r.width.value_or(preset_.width), h = r.height.value_or(preset_.height);
    DUET_CHECK(w > 0 && h > 0 && w <= 16384 && h <= 16384, "size {}x{} must be positive", w, h);
    const auto hw = snap_ovi_size(h, w, s.spec.area);
    s.height = hw[0];
    s.width = hw[1];
    if (s.width != w || s.height != h) {
      spdlog::warn("{}x{} snapped to {}x{}: Ovi {} generates at about {} pixels, sides multiples "
                   "of 32", w, h, s.width, s.height, s.spec.name, s.spec.area);
    }
  }
  s.latent_frames = s.spec.video_latent_frames;
  s.latent_height = s.height / vae_stride_;
  s.latent_width = s.width / vae_stride_;
  s.audio_latents = s.spec.audio_latents;
  s.seq_len_video = s.latent_frames * (s.latent_height / patch_[1]) * (s.latent_width / patch_[2]);
  s.seq_len_audio = s.audio_latents;
  s.audio_samples = s.spec.audio_samples();
  return s;
}

void OviPipeline::report(const char* stage, int64_t step, int64_t total) const {
  if (options_.progress) options_.progress({stage, step, total});
  throw_if_cancelled();
}

std::array<at::Tensor, 2> OviPipeline::initial_noise(const OviSettings& s) const {
  // Ovi: torch.randn((48, F, h, w), generator=Generator(device).manual_seed(seed)) and
  // torch.randn((L, 20)) from a second generator with the same seed. On a CPU in fp32 these
  // are exactly Ovi's numbers; on GPUs Ovi draws from the CUDA generator, we stay on the CPU.
  auto video_gen = at::make_generator<at::CPUGeneratorImpl>(s.seed);
  auto audio_gen = at::make_generator<at::CPUGeneratorImpl>(s.seed);
  const auto f32 = at::TensorOptions().dtype(at::kFloat);
  return {at::randn({z_dim_, s.latent_frames, s.latent_height, s.latent_width}, video_gen, f32),
          at::randn({s.audio_latents, audio_channels_}, audio_gen, f32)};
}

at::Tensor OviPipeline::encode_text(const OviSettings& s) {
  report("text", 0, 1);
  if (!text_encoder_) {
    const ModelComponent& te = require(dir_, "text_encoder");
    const ModelComponent& tok = require(dir_, "tokenizer");
    TextEncoderOptions o;
    o.dtype = options_.text_dtype;
    o.device = options_.text_device;
    o.output_device = options_.device;
    text_encoder_ = std::make_unique<TextEncoder>(te.files.front(),
                                                  fs::path(tok.expected).parent_path(), o);
  }
  std::vector<std::string> prompts{s.prompt};
  if (needs_uncond_pass(s.video_guidance) || needs_uncond_pass(s.audio_guidance)) {
    prompts.push_back(s.video_negative_prompt);
    prompts.push_back(s.audio_negative_prompt);
  }
  at::Tensor context = text_encoder_->encode(prompts).context;  // [1 or 3, text_len, dim]
  if (!options_.keep_models_loaded) text_encoder_.reset();
  report("text", 1, 1);
  return context;
}

std::array<at::Tensor, 2> OviPipeline::encode_image(const OviSettings& s) {
  report("image", 0, 1);
  const media::RgbImage img = media::read_image(s.image);
  // Ovi's preprocess_image_tensor: float32 x / 255 * 2 - 1, then a bicubic resize
  // (align_corners False, no antialias) to the size ovi_image_size() chose.
  at::Tensor x = media::image_to_tensor(img).permute({2, 0, 1}).to(at::kFloat).div(255.0);
  x = x.mul(2.0).sub(1.0).unsqueeze(0);  // [1, 3, h, w]
  if (x.size(2) != s.height || x.size(3) != s.width) {
    x = at::upsample_bicubic2d(x, {s.height, s.width}, /*align_corners=*/false);
  }
  if (!vae_) {
    vae_ = wan::load_wan_vae(require(dir_, "video_vae").files.front(),
                             {.dtype = options_.vae_dtype, .device = options_.device});
  }
  // [1, 3, 1, H, W] -> normalised latent mean [1, 48, 1, h, w]
  at::Tensor z = vae_->encode(x.unsqueeze(2).to(options_.device, options_.vae_dtype), options_.tiling);
  if (!options_.keep_models_loaded) vae_.reset();
  report("image", 1, 1);
  return {x, z.squeeze(0).to(at::kCPU, at::kFloat)};
}

const ovi::OviFusionModel& OviPipeline::fusion(const OviSettings& s) {
  if (model_ && model_component_ == s.fusion) return *model_;
  model_.reset();
  const Fusion* f = nullptr;
  for (const auto& candidate : fusions_) {
    if (candidate->component->name == s.fusion) f = candidate.get();
  }
  DUET_CHECK(f != nullptr, "'{}' has no fusion component '{}'", dir_.path, s.fusion);
  const auto start = Clock::now();
  const WeightOptions wo{.dtype = options_.dtype, .device = options_.device};
  if (f->config) {
    WeightStore store(f->component->files, wo);
    model_ = std::make_unique<ovi::OviFusionModel>(ovi::OviFusionModel::load(*f->config, store));
  } else {
    model_ = std::make_unique<ovi::OviFusionModel>(
        ovi::OviFusionModel::load_file(f->component->files.front(), wo));
  }
  model_component_ = s.fusion;
  const auto& cfg = model_->config();
  DUET_CHECK(cfg.video.in_dim == z_dim_ && cfg.audio.in_dim == audio_channels_ &&
                 cfg.video.patch_size == std::vector<int64_t>(patch_.begin(), patch_.end()),
             "'{}': the fusion model takes {}-channel video latents with patch {}x{} and "
             "{}-channel audio latents; duet's Ovi pipeline needs 48 / 1x2x2 / 20 (Wan2.2 VAE, "
             "MMAudio 16 kHz)", f->component->files.front(), cfg.video.in_dim,
             cfg.video.patch_size.size() > 1 ? cfg.video.patch_size[1] : 0,
             cfg.video.patch_size.size() > 2 ? cfg.video.patch_size[2] : 0, cfg.audio.in_dim);
  DUET_CHECK(!s.slg_layer || *s.slg_layer < cfg.video.num_layers,
             "slg_layer {} does not exist: the model has {} fused blocks", *s.slg_layer,
             cfg.video.num_layers);
  spdlog::info("loaded the fusion model ({}) in {:.1f} s", s.spec.name, seconds_since(start));
  return *model_;
}

std::array<at::Tensor, 2> OviPipeline::denoise(const OviSettings& s, const at::Tensor& video_noise,
                                               const at::Tensor& audio_noise,
                                               const at::Tensor& context,
                                               const at::Tensor& image_latent) {
  // video_noise [48, F, h, w], audio_noise [L, 20], context [1 or 3, text_len, dim],
  // image_latent [48, 1, h, w] or undefined -> {video [48, F, h, w], audio [L, 20]} fp32 CPU
  const ovi::OviFusionModel& model = fusion(s);
  const at::ScalarType dt = options_.dtype;
  auto video_sched = make_scheduler(s.sampler, s.schedule);
  auto audio_sched = make_scheduler(s.sampler, s.schedule);
  video_sched->set_timesteps(s.steps, s.shift);
  audio_sched->set_timesteps(s.steps, s.shift);
  const at::Tensor timesteps = video_sched->timesteps();
  const bool i2v = image_latent.defined();
  const at::Tensor first = i2v ? image_latent.to(options_.device, dt) : at::Tensor();

  at::Tensor video = video_noise.to(options_.device, dt);
  at::Tensor audio = audio_noise.to(options_.device, dt);
  const bool uncond = needs_uncond_pass(s.video_guidance) || needs_uncond_pass(s.audio_guidance);
  DUET_CHECK(context.size(0) == (uncond ? 3 : 1), "internal: {} contexts for guidance {} / {}",
             context.size(0), s.video_guidance, s.audio_guidance);
  const at::Tensor ctx = context.to(options_.device, dt);
  const int64_t first_tokens = (s.latent_height / patch_[1]) * (s.latent_width / patch_[2]);

  report("denoise", 0, s.steps);
  for (int64_t i = 0; i < s.steps; ++i) {
    if (i2v) video.narrow(1, 0, 1).copy_(first);
    // Ovi: t = full((1,), t_i); image-conditioned, per token with the first frame's at 0.
    const at::Tensor t = timesteps.narrow(0, i, 1).to(options_.device);
    at::Tensor t_video = t;
    if (i2v) {
      t_video = t.view({1, 1}).expand({1, s.seq_len_video}).clone();
      t_video.narrow(1, 0, first_tokens).zero_();
    }
    ovi::OviInputs in{.x_video = video.unsqueeze(0),
                      .x_audio = audio.t().unsqueeze(0),  // [1, 20, L]
                      .t_video = t_video,
                      .t_audio = t,
                      .context_video = ctx.narrow(0, 0, 1),
                      .context_audio = ctx.narrow(0, 0, 1),
                      .seq_len_video = s.seq_len_video,
                      .seq_len_audio = s.seq_len_audio};
    auto [vc, ac] = model.forward(in, {.attention = options_.attention});
    at::Tensor vu, au;
    if (uncond) {
      in.context_video = ctx.narrow(0, 1, 1);
      in.context_audio = ctx.narrow(0, 2, 1);
      const auto out = model.forward(in, {.skip_block = s.slg_layer, .attention = options_.attention});
      vu = out[0][0].to(dt);
      au = out[1][0].t().to(dt);
    }
    // Each modality guided with its own scale, in the sampling dtype as Ovi's bf16 run.
    const at::Tensor gv = apply_cfg(vc[0].to(dt), vu, s.video_guidance);
    const at::Tensor ga = apply_cfg(ac[0].t().to(dt), au, s.audio_guidance);
    video = video_sched->step(gv.unsqueeze(0), i, video.unsqueeze(0)).squeeze(0);
    audio = audio_sched->step(ga.unsqueeze(0), i, audio.unsqueeze(0)).squeeze(0);
    if (options_.on_step) options_.on_step(i, video, audio);
    report("denoise", i + 1, s.steps);
  }
  if (i2v) video.narrow(1, 0, 1).copy_(first);
  if (!options_.keep_models_loaded) model_.reset();
  return {video.to(at::kCPU, at::kFloat), audio.to(at::kCPU, at::kFloat)};
}

at::Tensor OviPipeline::decode_audio(const at::Tensor& audio_latents) {
  // [L, 20] raw MMAudio latents -> mel [1, 80, 2L] -> [1, 1, 512 L] -> [512 L]
  report("audio", 0, 1);
  const WeightOptions wo{.dtype = options_.vae_dtype, .device = options_.device};
  at::Tensor mel;
  {
    // The VAE bakes its weight norm in fp32: open without conversion, cast after.
    auto vae = mmaudio::load_mmaudio_vae(require(dir_, "audio_vae").files.front(),
                                         {.dtype = options_.vae_dtype, .device = options_.device});
    mel = vae->decode(audio_latents.t().unsqueeze(0).to(options_.device, options_.vae_dtype));
  }
  const ModelComponent& voc = require(dir_, "vocoder");
  auto vocoder = mmaudio::load_bigvgan(voc.files.front(), wo, voc.key_prefix);
  at::Tensor pcm = vocoder->forward(mel.to(vocoder->dtype()));
  report("audio", 1, 1);
  return pcm.reshape({-1}).to(at::kCPU, at::kFloat);
}

int64_t OviPipeline::decode_video(const at::Tensor& video_latents, const wan::VideoChunkSink& sink) {
  // [48, F, h, w] -> sink gets [1, 3, n, H, W] chunks, 1 + 4 (F - 1) frames in all
  const int64_t t = video_latents.size(1);
  report("decode", 0, t);
  if (!vae_) {
    vae_ = wan::load_wan_vae(require(dir_, "video_vae").files.front(),
                             {.dtype = options_.vae_dtype, .device = options_.device});
  }
  int64_t frames = 0, chunks = 0;
  vae_->decode_stream(
      video_latents.unsqueeze(0).to(options_.device, options_.vae_dtype),
      [&](const at::Tensor& chunk) {
        sink(chunk);
        frames += chunk.size(2);
        report("decode", ++chunks, t);
      },
      options_.tiling);
  if (!options_.keep_models_loaded) vae_.reset();
  return frames;
}

OviResult OviPipeline::generate(const OviSettings& s, const AudioSink& audio_sink,
                                const wan::VideoChunkSink& video_sink) {
  OviResult result;
  result.settings = s;
  spdlog::info("{}x{}, {} frames at {} fps + {} audio samples at 16 kHz, {} {} steps, shift {}, "
               "guidance {} video / {} audio, slg layer {}, seed {}{}",
               s.width, s.height, s.frames, s.fps, s.audio_samples, s.steps, s.sampler, s.shift,
               s.video_guidance, s.audio_guidance, s.slg_layer ? std::to_string(*s.slg_layer) : "none",
               s.seed, s.image.empty() ? "" : ", first frame " + s.image);
  auto start = Clock::now();
  const auto [video_noise, audio_noise] = initial_noise(s);
  const at::Tensor context = encode_text(s);
  at::Tensor image_latent;
  if (!s.image.empty()) image_latent = encode_image(s)[1];
  result.stage_seconds.emplace_back("text", seconds_since(start));
  start = Clock::now();
  auto [video, audio] = denoise(s, video_noise, audio_noise, context, image_latent);
  result.video_latents = video;
  result.audio_latents = audio;
  result.stage_seconds.emplace_back("denoise", seconds_since(start));
  start = Clock::now();
  const at::Tensor pcm = decode_audio(audio);
  audio_sink(pcm);
  result.audio_samples_written = pcm.numel();
  result.stage_seconds.emplace_back("audio", seconds_since(start));
  start = Clock::now();
  result.frames_written = decode_video(video, video_sink);
  result.stage_seconds.emplace_back("decode", seconds_since(start));
  return result;
}

}  // namespace duet
