// duet::Engine (include/duet/duet.h): one front for every pipeline. It recognises the model
// folder, turns a GenerateRequest into the family's settings (checks only), and renders a plan
// into a file: frames streamed from the VAE into the writer, the sound track (joint models)
// muxed beside them, the temporary file renamed into place only when complete.
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <cctype>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <variant>

#include "core/device.h"
#include "core/error.h"
#include "core/paths.h"
#include "duet/duet.h"
#include "io/model_dir.h"
#include "io/model_info.h"
#include "media/temp_file.h"
#include "media/tensor_frames.h"
#include "media/video_writer.h"
#include "pipeline/engine_internal.h"
#include "pipeline/generate_spec.h"
#include "pipeline/memory_estimate.h"
#include "pipeline/ovi_t2av.h"
#include "pipeline/wan_t2v.h"

namespace duet {
namespace fs = std::filesystem;

namespace detail {
struct PlanDetail {
  GenerateSpec spec;
  std::variant<WanT2VSettings, OviSettings> settings;
};
}  // namespace detail

struct Engine::Impl {
  EngineOptions options;
  DevicePolicy policy;
  at::Device text_device = at::Device(at::kCPU);
  mutable std::optional<ModelInfo> info;  // tensor headers, read on the first plan()
  std::vector<Preset> presets;
  std::vector<PromptStyle> styles;
  ModelDir dir;
  std::unique_ptr<WanT2VPipeline> wan;
  std::unique_ptr<OviPipeline> ovi;
};

namespace {

using Clock = std::chrono::steady_clock;

// "A man looks up and says <S>It is raining<E>" + 42 -> "a-man-looks-up-and-says-42.mp4"
std::string default_output_name(const std::string& prompt, uint64_t seed) {
  std::string words;
  int count = 0;
  bool in_tag = false, gap = false;
  for (char c : prompt) {
    if (c == '<') in_tag = true;
    if (in_tag) {
      in_tag = c != '>';
      gap = true;
      continue;
    }
    if (std::isalnum(static_cast<unsigned char>(c)) != 0) {
      if (gap && !words.empty()) {
        if (++count == 6) break;
        words += '-';
      }
      gap = false;
      words += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    } else {
      gap = true;
    }
    if (words.size() >= 48) break;
  }
  return fmt::format("{}{}{}.mp4", words, words.empty() ? "duet-" : "-", seed);
}

media::VideoWriterOptions writer_options(const ClipPlan& plan, const GenerateSpec& spec,
                                         const std::string& guidance_text, double guidance) {
  media::VideoWriterOptions w;
  w.path = plan.output;
  w.width = static_cast<int>(plan.width);
  w.height = static_cast<int>(plan.height);
  w.fps = media::parse_rational(fmt::format("{}", plan.fps));
  w.crf = spec.crf.value_or(-1);
  w.watermark = spec.watermark.value_or("");
  if (plan.has_audio) w.audio_sample_rate = plan.audio_sample_rate;
  w.metadata = media::generation_metadata({.prompt = plan.prompt,
                                           .negative_prompt = plan.negative_prompt,
                                           .model = plan.model,
                                           .sampler = spec.sampler.value_or(""),
                                           .seed = plan.seed,
                                           .steps = static_cast<int>(plan.steps),
                                           .guidance = guidance});
  if (!guidance_text.empty()) w.metadata["guidance"] = guidance_text;
  if (!plan.audio_negative_prompt.empty()) {
    w.metadata["audio_negative_prompt"] = plan.audio_negative_prompt;
  }
  return w;
}

int64_t config_int(const nlohmann::json& config, const char* key, int64_t fallback) {
  return config.is_object() && config.contains(key) && config.at(key).is_number_integer()
             ? config.at(key).get<int64_t>()
             : fallback;
}

// Width and FFN width of the denoiser, for the activation estimate: from the component's
// config (Wan original / diffusers / duet package), else Ovi's and Wan 5B's 3072 / 14336.
std::pair<int64_t, int64_t> denoiser_widths(const ModelComponent& c) {
  const nlohmann::json& cfg = c.config.contains("video") ? c.config.at("video") : c.config;
  int64_t dim = config_int(cfg, "dim", 0);
  if (dim == 0) dim = config_int(cfg, "num_attention_heads", 0) * config_int(cfg, "attention_head_dim", 0);
  return {dim > 0 ? dim : 3072, config_int(cfg, "ffn_dim", 14336)};
}

struct MemoryContext {
  const EngineOptions& options;
  const DevicePolicy& policy;
  at::Device text_device;
};

void check_clip_memory(const MemoryContext& m, const ModelInfo& info, const std::string& denoiser,
                       int64_t tokens, int64_t width, int64_t height, int64_t vae_stride,
                       int64_t audio_samples) {
  MemoryRequest q;
  for (const auto& c : info.components) {
    const int64_t n = c.stats.parameters;
    const std::string& role = c.component.role;
    if (role == "text_encoder") q.text_params += n;
    if (role == "video_vae") q.video_vae_params += n;
    if (role == "audio_vae" || role == "vocoder") q.audio_params += n;
    if (role == "denoiser" && (denoiser.empty() || c.component.name == denoiser) &&
        n > q.denoiser_params) {
      q.denoiser_params = n;
      std::tie(q.dim, q.ffn_dim) = denoiser_widths(c.component);
    }
  }
  q.denoiser_bytes = static_cast<int>(c10::elementSize(m.policy.compute_dtype));
  q.text_bytes = 2;  // umT5 runs in bf16
  q.vae_bytes = 4;
  q.denoiser_on_cuda = m.policy.device.is_cuda();
  q.text_on_denoiser_device = m.text_device == m.policy.device;
  q.tokens = tokens;
  q.width = width;
  q.height = height;
  q.vae_stride = vae_stride;
  q.audio_samples = audio_samples;
  q.vae_tiling = m.options.vae_tiling;
  q.keep_models_loaded = m.options.keep_models_loaded;
  uint64_t host = host_available_bytes(), device = 0;
  if (q.denoiser_on_cuda) device = cuda_free_bytes(m.policy.device.index() < 0 ? 0 : m.policy.device.index());
  if (m.options.max_memory_bytes > 0) {
    host = host == 0 ? m.options.max_memory_bytes : std::min(host, m.options.max_memory_bytes);
    if (q.denoiser_on_cuda) {
      device = device == 0 ? m.options.max_memory_bytes : std::min(device, m.options.max_memory_bytes);
    }
  }
  check_memory(q, host, device, m.policy.device.str());
}

}  // namespace

Engine::Engine(EngineOptions options) : impl_(std::make_unique<Impl>()) {
  Impl& m = *impl_;
  m.options = std::move(options);
  m.presets = load_presets();
  m.styles = load_styles();
  const std::string folder = m.options.model.empty()
                                 ? default_model_dir().string()
                                 : resolve_model_folder(m.options.model, m.presets);
  m.dir = detect_model_dir(folder);
  const DevicePolicy policy = make_device_policy(m.options.device, m.options.dtype);
  const at::Device text_device = m.options.text_encoder_device == "same"
                                     ? policy.device
                                     : parse_device(m.options.text_encoder_device);
  m.policy = policy;
  m.text_device = text_device;
  nn::AttentionOptions attention;
  attention.backend = nn::parse_attention_backend(m.options.attention);
  // The options both pipelines share.
  auto common = [&](auto& o) {
    o.device = policy.device;
    o.dtype = policy.compute_dtype;
    o.text_device = text_device;
    o.attention = attention;
    o.tiling.enabled = m.options.vae_tiling;
    o.keep_models_loaded = m.options.keep_models_loaded;
    o.progress = m.options.progress;
  };
  if (m.dir.family == "ovi") {
    OviOptions o;
    common(o);
    m.ovi = std::make_unique<OviPipeline>(m.dir, o, m.presets);
  } else {
    WanT2VOptions o;
    common(o);
    m.wan = std::make_unique<WanT2VPipeline>(m.dir, o, m.presets);
  }
}

Engine::~Engine() = default;

std::string Engine::model_variant() const { return impl_->dir.variant; }
std::string Engine::model_path() const { return impl_->dir.path; }
std::string Engine::family() const { return impl_->dir.family; }

ClipPlan Engine::plan(const GenerateRequest& request) const {
  const Impl& m = *impl_;
  auto detail = std::make_shared<detail::PlanDetail>();
  detail->spec = GenerateSpec(request);
  const GenerateSpec& spec = detail->spec;
  DUET_CHECK(!(spec.frames && spec.duration), "give either frames or duration, not both");
  DUET_CHECK(!spec.duration || *spec.duration > 0, "duration must be positive");
  DUET_CHECK(!(spec.size && (spec.width || spec.height)),
             "give either size or width/height, not both");
  ClipPlan p;
  p.model = m.dir.variant;
  if (m.ovi) {
    const Preset& preset = m.ovi->preset();
    OviSettings s = m.ovi->resolve(
        make_ovi_request(spec, static_cast<double>(preset.fps), preset.negative_prompt, m.styles));
    p.prompt = s.prompt;
    p.negative_prompt = s.video_negative_prompt;
    p.audio_negative_prompt = s.audio_negative_prompt;
    p.width = s.width;
    p.height = s.height;
    p.frames = s.frames;
    p.steps = s.steps;
    p.fps = s.fps;
    p.has_audio = true;
    p.audio_samples = s.audio_samples;
    p.audio_sample_rate = 16000;
    p.seed = s.seed;
    if (m.options.memory_check) {
      if (!m.info) m.info = describe_model(m.dir.path);
      check_clip_memory({m.options, m.policy, m.text_device}, *m.info, s.fusion, s.seq_len_video + s.seq_len_audio, s.width,
                        s.height, 16, s.audio_samples);
    }
    detail->settings = std::move(s);
  } else {
    const Preset& preset = m.wan->preset();
    WanT2VSettings s =
        m.wan->resolve(make_wan_request(spec, preset.fps, preset.negative_prompt, m.styles));
    p.prompt = s.prompt;
    p.negative_prompt = s.negative_prompt;
    p.width = s.width;
    p.height = s.height;
    p.frames = s.frames;
    p.steps = s.steps;
    p.fps = s.fps;
    p.seed = s.seed;
    if (m.options.memory_check) {
      if (!m.info) m.info = describe_model(m.dir.path);
      check_clip_memory({m.options, m.policy, m.text_device}, *m.info, "", s.seq_len, s.width, s.height,
                        s.height / std::max<int64_t>(1, s.latent_height), 0);
    }
    detail->settings = std::move(s);
  }
  p.output = spec.output.value_or(default_output_name(spec.prompt, p.seed));
  p.preview = spec.preview.value_or("");
  DUET_CHECK(p.preview.empty() || p.preview != p.output, "the preview '{}' would overwrite the "
             "output", p.preview);
  p.detail = std::move(detail);
  return p;
}

namespace {

// The animated preview beside the clip: the same frames, scaled down, no sound.
std::unique_ptr<media::VideoWriter> open_preview(const ClipPlan& plan) {
  if (plan.preview.empty()) return nullptr;
  media::check_output_path(plan.preview);
  media::VideoWriterOptions w;
  w.path = plan.preview;
  w.width = static_cast<int>(plan.width);
  w.height = static_cast<int>(plan.height);
  w.fps = media::parse_rational(fmt::format("{}", plan.fps));
  media::GenerationInfo info;
  info.prompt = plan.prompt;
  info.model = plan.model;
  info.seed = plan.seed;
  w.metadata = media::generation_metadata(info);
  auto writer = std::make_unique<media::VideoWriter>(w);
  writer->open();
  return writer;
}

}  // namespace

GenerateResult Engine::render(const ClipPlan& plan) {
  Impl& m = *impl_;
  DUET_CHECK(plan.detail != nullptr, "render(): the plan was not made by Engine::plan()");
  const GenerateSpec& spec = plan.detail->spec;
  media::check_output_path(plan.output);  // before any compute
  std::unique_ptr<media::VideoWriter> preview = open_preview(plan);
  auto write_frames = [&](media::VideoWriter& writer, const at::Tensor& frames) {
    media::write_tensor_frames(writer, frames[0], media::FrameLayout::kCFHW);
    if (preview) media::write_tensor_frames(*preview, frames[0], media::FrameLayout::kCFHW);
  };
  const auto start = Clock::now();
  GenerateResult r;
  r.plan = plan;
  if (const auto* s = std::get_if<OviSettings>(&plan.detail->settings)) {
    DUET_CHECK(m.ovi != nullptr, "render(): the plan is for an Ovi model");
    media::VideoWriter writer(writer_options(
        plan, spec, fmt::format("video {} / audio {}", s->video_guidance, s->audio_guidance),
        s->video_guidance));
    writer.open();  // a bad extension or codec fails now, not after the compute
    const OviResult o = m.ovi->generate(
        *s, [&](const at::Tensor& pcm) { media::write_tensor_audio(writer, pcm); },
        [&](const at::Tensor& frames) { write_frames(writer, frames); });
    writer.finish();
    r.path = writer.info().path;
    r.frames_written = o.frames_written;
    r.audio_samples_written = o.audio_samples_written;
    r.stage_seconds = o.stage_seconds;
  } else {
    const auto& w = std::get<WanT2VSettings>(plan.detail->settings);
    DUET_CHECK(m.wan != nullptr, "render(): the plan is for a Wan model");
    media::VideoWriter writer(writer_options(plan, spec, "", w.guidance));
    writer.open();
    const WanT2VResult o =
        m.wan->generate(w, [&](const at::Tensor& frames) { write_frames(writer, frames); });
    writer.finish();
    r.path = writer.info().path;
    r.frames_written = o.frames_written;
    r.stage_seconds = o.stage_seconds;
  }
  if (preview) {
    preview->finish();
    r.preview_path = preview->info().path;
  }
  r.total_seconds = std::chrono::duration<double>(Clock::now() - start).count();
  return r;
}

std::string resolve_model_folder(const std::string& model, const std::vector<Preset>& presets) {
  if (fs::is_directory(model)) return model;
  for (const auto& p : presets) {
    if (p.name != model) continue;
    const char* env = p.model_env.empty() ? nullptr : std::getenv(p.model_env.c_str());
    if (p.name == "duet-tiny" && (env == nullptr || *env == '\0')) return default_model_dir().string();
    DUET_CHECK(env != nullptr && *env != '\0',
               "model '{}' is a preset; set {} to the folder holding its checkpoint", model,
               p.model_env);
    DUET_CHECK(fs::is_directory(env), "{}='{}' (model '{}') is not a folder", p.model_env, env,
               model);
    return env;
  }
  DUET_FAIL("model '{}' is neither a folder nor a preset name (presets: see configs/)", model);
}

}  // namespace duet
