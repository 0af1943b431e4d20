// `duet bench`: throughput of a denoiser, as the pipelines run it, on this machine.
//
//   duet bench --model ckpts                          # a real folder: its weights, its stages
//   duet bench --arch ovi --layers 2 --size 256x256   # real width, random weights, 2 blocks
//   duet bench --arch wan2.1-1.3b --attention sdpa,tiled --json
//
// One step is what ovi_t2av.cpp / wan_t2v.cpp's denoise() does per step: Ovi a cond and an
// uncond fused forward (skip-layer guidance on the uncond), CFG per modality (4 / 3) and one
// UniPC step per modality; Wan a cond and an uncond forward, CFG 5 and one UniPC step. The loop
// is written out here (not the pipelines' denoise()) so the model is loaded once and every
// attention backend in --attention runs the same steps on it. Inputs: random latents drawn per
// backend run and random text contexts of 128 tokens zero padded to the text length (a typical
// prompt). With --model the text encoder, the VAE decode and (Ovi) the audio decode are timed
// once each through the pipeline's own stages.
//
// --arch builds the real architecture from WeightStore::random() (no file is read); --layers N
// keeps the first N blocks so real widths fit a small machine, and the output says so.
// Figures: seconds per step (mean, min over the timed steps after --warmup), steps/s, tokens/s
// (video + audio tokens per forward x forwards per step / seconds per step), TFLOP/s from
// models/flops.h, peak host RSS (VmHWM; of the timed steps alone after resetting it through
// /proc/self/clear_refs, and of the whole process) and peak device memory (CUDA caching
// allocator; n/a on the CPU).
#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Parallel.h>
#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <torch/cuda.h>
#include <nlohmann/json.hpp>

#ifdef DUET_HAVE_CUDA
#include <c10/cuda/CUDACachingAllocator.h>
#endif

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <unistd.h>

#include "cli/commands.h"
#include "core/device.h"
#include "core/error.h"
#include "core/process_memory.h"
#include "io/model_dir.h"
#include "io/weight_store.h"
#include "media/tensor_frames.h"
#include "media/video_writer.h"
#include "models/flops.h"
#include "models/ovi/ovi_fusion.h"
#include "models/wan/wan_dit.h"
#include "models/wan/wan_keys.h"
#include "nn/attention.h"
#include "pipeline/ovi_t2av.h"
#include "pipeline/pipeline_util.h"
#include "pipeline/preset.h"
#include "pipeline/wan_t2v.h"
#include "sampling/guidance.h"
#include "sampling/scheduler.h"

namespace duet::cli {
namespace {

using Clock = PipelineClock;
// Keys in insertion order: the output reads in pipeline order.
using json = nlohmann::ordered_json;

constexpr int64_t kPromptTokens = 128;  // real tokens of the random text contexts
constexpr double kOviVideoGuidance = 4, kOviAudioGuidance = 3, kWanGuidance = 5, kShift = 5;
constexpr int64_t kOviSlgLayer = 11;  // Ovi's default skip-layer block

void synchronize(const at::Device& device) {
  if (device.is_cuda()) torch::cuda::synchronize(device.index() < 0 ? -1 : device.index());
}

void reset_device_peak([[maybe_unused]] const at::Device& device) {
#ifdef DUET_HAVE_CUDA
  if (device.is_cuda()) {
    c10::cuda::CUDACachingAllocator::resetPeakStats(device.index() < 0 ? 0 : device.index());
  }
#endif
}

// Peak bytes the caching allocator handed out since the last reset; nullopt on the CPU.
std::optional<double> device_peak_mib([[maybe_unused]] const at::Device& device) {
#ifdef DUET_HAVE_CUDA
  if (device.is_cuda()) {
    const auto stats =
        c10::cuda::CUDACachingAllocator::getDeviceStats(device.index() < 0 ? 0 : device.index());
    const auto& peak =
        stats.allocated_bytes[static_cast<size_t>(c10::CachingAllocator::StatType::AGGREGATE)].peak;
    return static_cast<double>(peak) / (1024.0 * 1024.0);
  }
#endif
  return std::nullopt;
}

struct BenchArgs {
  std::string model, arch, size, dtype = "auto", device = "auto", attention = "auto";
  std::string prompt =
      "A man looks up and says <S>It is raining again.<E> "
      "<AUDCAP>male voice, rain on a tin roof<ENDAUDCAP>";
  int64_t layers = 0, frames = 0, steps = 3, warmup = 1;
  int threads = 0;
  uint64_t seed = 2026;
  bool json = false;
};

// The named architectures --arch builds at real size (the released configs).
struct ArchEntry {
  const char* name;
  const char* label;
  int64_t width, height, frames;  // the model's usual clip
};
constexpr ArchEntry kArchs[] = {
    {"ovi", "Ovi fusion 11.66B (720x720_5s)", 704, 704, 121},
    {"wan2.1-1.3b", "Wan2.1 T2V 1.3B", 832, 480, 81},
    {"wan2.1-14b", "Wan2.1 T2V 14B", 1280, 720, 81},
    {"wan2.2-5b", "Wan2.2 TI2V 5B", 1280, 704, 121},
};

const ArchEntry& find_arch(const std::string& name) {
  std::string names;
  for (const auto& a : kArchs) {
    if (name == a.name) return a;
    names += (names.empty() ? "" : ", ") + std::string(a.name);
  }
  DUET_FAIL("unknown --arch '{}'; valid: {}", name, names);
}

wan::WanDiTConfig wan_arch_config(const std::string& name) {
  wan::WanDiTConfig c;  // WanModel defaults: text_len 512, freq_dim 256, text_dim 4096
  if (name == "wan2.1-1.3b") {
    c.dim = 1536, c.ffn_dim = 8960, c.num_heads = 12, c.num_layers = 30;
  } else if (name == "wan2.1-14b") {
    c.dim = 5120, c.ffn_dim = 13824, c.num_heads = 40, c.num_layers = 40;
  } else {  // wan2.2-5b
    c.model_type = "ti2v";
    c.dim = 3072, c.ffn_dim = 14336, c.num_heads = 24, c.num_layers = 30;
    c.in_dim = c.out_dim = 48;
  }
  return c;
}

std::array<int64_t, 2> parse_size(const std::string& text) {
  const size_t x = text.find('x');
  DUET_CHECK(x != std::string::npos, "--size must be WIDTHxHEIGHT, got '{}'", text);
  try {
    return {std::stoll(text.substr(0, x)), std::stoll(text.substr(x + 1))};
  } catch (const std::exception&) {
    DUET_FAIL("--size must be WIDTHxHEIGHT, got '{}'", text);
  }
}

std::vector<nn::AttentionBackend> parse_backends(const std::string& list) {
  std::vector<nn::AttentionBackend> out;
  size_t start = 0;
  while (start <= list.size()) {
    const size_t end = std::min(list.find(',', start), list.size());
    const std::string name = list.substr(start, end - start);
    if (!name.empty()) out.push_back(nn::parse_attention_backend(name));
    start = end + 1;
  }
  DUET_CHECK(!out.empty(), "--attention needs at least one backend name");
  return out;
}

// Everything a run measures besides the steps.
struct Geometry {
  int64_t width = 0, height = 0, frames = 0;
  int64_t latent_channels = 0, latent_frames = 0, latent_height = 0, latent_width = 0;
  int64_t audio_latents = 0, audio_channels = 20;
  int64_t video_tokens = 0, audio_tokens = 0;
};

// The denoiser under test and what a step needs.
struct Bench {
  std::string family;  // "ovi" or "wan"
  std::string label;
  int64_t layers = 0, layers_total = 0;
  std::unique_ptr<ovi::OviFusionModel> ovi_owned;
  const ovi::OviFusionModel* ovi = nullptr;
  std::unique_ptr<wan::WanDiT> wan;
  Geometry g;
  at::Tensor context;  // [n, text_len, text_dim]: cond, uncond (Ovi: video and audio negatives)
  std::optional<int64_t> slg_layer;
  at::Device device = at::Device(at::kCPU);
  at::ScalarType dtype = at::kFloat;
  double load_s = 0;
  std::vector<std::pair<std::string, double>> stages;  // --model: text, audio, decode
};

// 128 random tokens, the rest zero, as the encoder pads a prompt.  -> [n, len, dim]
at::Tensor random_context(int64_t n, int64_t len, int64_t dim, uint64_t seed) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  at::Tensor c = at::zeros({n, len, dim});
  const int64_t real = std::min(kPromptTokens, len);
  c.narrow(1, 0, real).copy_(at::randn({n, real, dim}, gen) * 0.1);
  return c;
}

Geometry ovi_geometry(int64_t width, int64_t height, int64_t frames) {
  Geometry g;
  DUET_CHECK(width % 32 == 0 && height % 32 == 0 && width > 0 && height > 0,
             "Ovi sizes are multiples of 32 (VAE stride 16 x patch 2), got {}x{}", width, height);
  DUET_CHECK(frames >= 1 && (frames - 1) % 4 == 0, "--frames must be 4k + 1, got {}", frames);
  g.width = width, g.height = height, g.frames = frames;
  g.latent_channels = 48;
  g.latent_frames = (frames - 1) / 4 + 1;
  g.latent_height = height / 16, g.latent_width = width / 16;
  // Ovi's 5 s clip: 31 latent frames and 157 audio latents.
  g.audio_latents = std::max<int64_t>(1, std::llround(157.0 * g.latent_frames / 31.0));
  g.video_tokens = g.latent_frames * (g.latent_height / 2) * (g.latent_width / 2);
  g.audio_tokens = g.audio_latents;
  return g;
}

Geometry wan_geometry(const wan::WanDiTConfig& c, int64_t width, int64_t height, int64_t frames) {
  Geometry g;
  const int64_t stride = c.in_dim == 48 ? 16 : 8;  // Wan2.2 VAE 16x16, Wan2.1 8x8
  const int64_t px = stride * c.patch_size[1];
  DUET_CHECK(width % px == 0 && height % px == 0 && width > 0 && height > 0,
             "this model's sizes are multiples of {}, got {}x{}", px, width, height);
  DUET_CHECK(frames >= 1 && (frames - 1) % 4 == 0, "--frames must be 4k + 1, got {}", frames);
  g.width = width, g.height = height, g.frames = frames;
  g.latent_channels = c.in_dim;
  g.latent_frames = (frames - 1) / 4 + 1;
  g.latent_height = height / stride, g.latent_width = width / stride;
  g.audio_latents = 0;
  g.video_tokens = g.latent_frames / c.patch_size[0] * (g.latent_height / c.patch_size[1]) *
                   (g.latent_width / c.patch_size[2]);
  return g;
}

std::optional<int64_t> ovi_slg(int64_t layers) {
  // Block 0 is never skipped (Ovi's slg_layer 0 means "off").
  if (layers > kOviSlgLayer) return kOviSlgLayer;
  if (layers > 1) return layers - 1;
  return std::nullopt;
}

void build_from_arch(const BenchArgs& a, Bench& b) {
  const ArchEntry& arch = find_arch(a.arch);
  b.label = arch.label;
  auto [w, h] =
      a.size.empty() ? std::array<int64_t, 2>{arch.width, arch.height} : parse_size(a.size);
  const int64_t frames = a.frames > 0 ? a.frames : arch.frames;
  const WeightOptions wo{.dtype = b.dtype, .device = b.device};
  const auto start = Clock::now();
  if (a.arch == "ovi") {
    b.family = "ovi";
    ovi::OviFusionConfig c = ovi::OviFusionConfig::ovi_defaults();
    b.layers_total = c.video.num_layers;
    if (a.layers > 0) c.video.num_layers = c.audio.num_layers = std::min(a.layers, b.layers_total);
    b.layers = c.video.num_layers;
    WeightStore store = WeightStore::random(a.seed, wo);
    b.ovi_owned = std::make_unique<ovi::OviFusionModel>(ovi::OviFusionModel::load(c, store));
    b.ovi = b.ovi_owned.get();
    b.g = ovi_geometry(w, h, frames);
    b.context = random_context(3, c.video.text_len, c.video.text_dim, a.seed + 1);
    b.slg_layer = ovi_slg(b.layers);
  } else {
    b.family = "wan";
    wan::WanDiTConfig c = wan_arch_config(a.arch);
    b.layers_total = c.num_layers;
    if (a.layers > 0) c.num_layers = std::min(a.layers, b.layers_total);
    b.layers = c.num_layers;
    WeightStore store = WeightStore::random(a.seed, wo);
    b.wan = std::make_unique<wan::WanDiT>(wan::WanDiT::load(c, store));
    b.g = wan_geometry(c, w, h, frames);
    b.context = random_context(2, c.text_len, c.text_dim, a.seed + 1);
  }
  synchronize(b.device);
  b.load_s = seconds_since(start);
}

// A sink that counts the decoded frames and drops them.
// Keeps the decoded frames as RGB24 ([n, H, W, 3] per chunk, a quarter of the float size) so
// the mux stage can be timed on them afterwards.
wan::VideoChunkSink keeping_sink(std::vector<at::Tensor>* chunks) {
  return [chunks](const at::Tensor& chunk) {
    chunks->push_back(media::frames_to_rgb8(chunk[0], media::FrameLayout::kCFHW, 0, chunk.size(2)));
  };
}

// Muxing: H.264 (+ AAC when there is sound) into an MP4 in the temporary folder, then removed.
double time_mux(const std::vector<at::Tensor>& chunks, const at::Tensor& pcm, double fps) {
  const auto path = std::filesystem::temp_directory_path() / fmt::format("duet-bench-{}.mp4", ::getpid());
  media::VideoWriterOptions o;
  o.path = path.string();
  o.height = static_cast<int>(chunks.front().size(1));
  o.width = static_cast<int>(chunks.front().size(2));
  o.fps = media::parse_rational(fmt::format("{}", fps));
  if (pcm.defined()) o.audio_sample_rate = 16000;
  const auto start = Clock::now();
  media::VideoWriter w(o);
  w.open();
  for (const auto& c : chunks) w.write_frames(c.data_ptr<uint8_t>(), c.size(0));
  if (pcm.defined()) media::write_tensor_audio(w, pcm);
  w.finish();
  const double seconds = seconds_since(start);
  std::error_code ec;
  std::filesystem::remove(path, ec);
  return seconds;
}

// --model: the folder's pipeline for the once-timed stages, its denoiser for the steps.
struct ModelStages {
  std::unique_ptr<OviPipeline> ovi;
  std::unique_ptr<WanT2VPipeline> wan;
  OviSettings ovi_settings;
  WanT2VSettings wan_settings;
};

void build_from_model(const BenchArgs& a, Bench& b, ModelStages& m) {
  const ModelDir dir = detect_model_dir(a.model);
  b.label = dir.variant;
  b.family = dir.family;
  const auto presets = load_presets();
  nn::AttentionOptions attention;  // stages run with the default backend
  std::optional<std::array<int64_t, 2>> size;
  if (!a.size.empty()) size = parse_size(a.size);
  // The options both pipelines share.
  auto common = [&](auto& o) {
    o.device = b.device;
    o.dtype = b.dtype;
    o.text_device = b.device;
    o.attention = attention;
  };
  if (dir.family == "ovi") {
    OviOptions o;
    common(o);
    m.ovi = std::make_unique<OviPipeline>(dir, o, presets);
    OviRequest r;
    r.prompt = a.prompt;
    r.seed = a.seed;
    r.slg_layer = 0;  // chosen below, once the model's depth is known
    if (size || a.frames > 0) {
      // The clip asked for instead of the checkpoint's: resolve() snaps sizes to the spec's
      // area, so the area becomes the size; latent frames and audio latents follow the frames.
      OviSpec spec = m.ovi->resolve(r).spec;
      if (size) spec.area = (*size)[0] * (*size)[1];
      if (a.frames > 0) {
        const Geometry g = ovi_geometry(32, 32, a.frames);
        spec.video_latent_frames = g.latent_frames;
        spec.audio_latents = g.audio_latents;
      }
      o.spec = spec;
      m.ovi = std::make_unique<OviPipeline>(dir, o, presets);
    }
    if (size) r.width = (*size)[0], r.height = (*size)[1];
    m.ovi_settings = m.ovi->resolve(r);
    const OviSettings& s = m.ovi_settings;
    auto start = Clock::now();
    const at::Tensor ctx = m.ovi->encode_text(s);
    synchronize(b.device);
    b.stages.emplace_back("text", seconds_since(start));
    start = Clock::now();
    b.ovi = &m.ovi->fusion(s);
    synchronize(b.device);
    b.load_s = seconds_since(start);
    b.layers = b.layers_total = b.ovi->config().video.num_layers;
    b.g = ovi_geometry(s.width, s.height, s.frames);
    b.g.audio_latents = b.g.audio_tokens = s.audio_latents;
    b.context = random_context(3, ctx.size(1), ctx.size(2), a.seed + 1);
    // The preset's skip-layer block (Ovi's 11) where the model has it, else the last block.
    const int64_t slg = m.ovi->preset().slg_layer.value_or(kOviSlgLayer);
    b.slg_layer = slg > 0 && slg < b.layers ? std::optional<int64_t>(slg) : ovi_slg(b.layers);
  } else {
    WanT2VOptions o;
    common(o);
    m.wan = std::make_unique<WanT2VPipeline>(dir, o, presets);
    WanT2VRequest r;
    r.prompt = a.prompt;
    if (size) r.width = (*size)[0], r.height = (*size)[1];
    if (a.frames > 0) r.frames = a.frames;
    r.seed = a.seed;
    m.wan_settings = m.wan->resolve(r);
    const WanT2VSettings& s = m.wan_settings;
    auto start = Clock::now();
    const at::Tensor ctx = m.wan->encode_text(s);
    synchronize(b.device);
    b.stages.emplace_back("text", seconds_since(start));
    // The denoiser the pipeline runs first (the high-noise expert of two-expert models).
    const ModelComponent* c = dir.find("transformer_high_noise");
    if (c == nullptr) c = dir.find("transformer");
    DUET_CHECK(c != nullptr && !c->files.empty(), "'{}' has no transformer", dir.path);
    start = Clock::now();
    WeightStore store(c->files, {.dtype = b.dtype, .device = b.device},
                      wan::wan_dit_key_map(c->key_layout));
    b.wan = std::make_unique<wan::WanDiT>(
        wan::WanDiT::load(wan::WanDiTConfig::from_json(c->config, c->expected), store));
    synchronize(b.device);
    b.load_s = seconds_since(start);
    b.layers = b.layers_total = b.wan->config().num_layers;
    b.g = wan_geometry(b.wan->config(), s.width, s.height, s.frames);
    b.context = random_context(2, ctx.size(1), ctx.size(2), a.seed + 1);
  }
}

// The once-timed decode stages of --model, on random latents of the clip's shape.
void time_decoders(const BenchArgs& a, Bench& b, ModelStages& m) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(a.seed + 7);
  const Geometry& g = b.g;
  std::vector<at::Tensor> chunks;
  at::Tensor pcm;
  double fps = 24;
  if (m.ovi) {
    const at::Tensor audio = at::randn({g.audio_latents, g.audio_channels}, gen);
    auto start = Clock::now();
    pcm = m.ovi->decode_audio(audio);
    synchronize(b.device);
    b.stages.emplace_back("audio_decode", seconds_since(start));
    const at::Tensor video =
        at::randn({g.latent_channels, g.latent_frames, g.latent_height, g.latent_width}, gen);
    start = Clock::now();
    m.ovi->decode_video(video, keeping_sink(&chunks));
    synchronize(b.device);
    b.stages.emplace_back("video_decode", seconds_since(start));
    fps = m.ovi_settings.fps;
  } else if (m.wan) {
    const at::Tensor video =
        at::randn({1, g.latent_channels, g.latent_frames, g.latent_height, g.latent_width}, gen);
    const auto start = Clock::now();
    m.wan->decode(video, keeping_sink(&chunks));
    synchronize(b.device);
    b.stages.emplace_back("video_decode", seconds_since(start));
    fps = m.wan->preset().fps;
  }
  if (!chunks.empty()) b.stages.emplace_back("mux", time_mux(chunks, pcm, fps));
}

struct StepRun {
  nn::AttentionBackend backend{};
  std::vector<double> step_s;
  double steps_peak_rss_mib = -1;
  double peak_before_mib = -1;  // VmHWM before the reset (loading and earlier runs)
  std::optional<double> peak_device_mib;
};

// warmup + steps joint steps of the schedule for warmup + steps steps, as the pipelines do.
StepRun run_steps(const BenchArgs& a, Bench& b, nn::AttentionBackend backend) {
  StepRun run;
  run.backend = backend;
  const int64_t total = a.warmup + a.steps;
  const Geometry& g = b.g;
  const at::Device dev = b.device;
  const at::ScalarType dt = b.dtype;
  nn::AttentionOptions attention;
  attention.backend = backend;
  ovi::OviForwardOptions cond_pass, uncond_pass;
  cond_pass.attention = uncond_pass.attention = attention;
  uncond_pass.skip_block = b.slg_layer;
  auto gen = at::make_generator<at::CPUGeneratorImpl>(a.seed + 3);
  const at::Tensor ctx = b.context.to(dev, dt);
  at::InferenceMode guard;

  std::function<void(int64_t)> step;
  at::Tensor video, audio;
  std::unique_ptr<Scheduler> video_sched, audio_sched;
  video_sched = make_scheduler("unipc");
  video_sched->set_timesteps(total, kShift);
  const at::Tensor timesteps = video_sched->timesteps().to(dev);
  if (b.family == "ovi") {
    // As OviPipeline::denoise: video [48, F, h, w], audio [L, 20] in the compute dtype.
    video = at::randn({g.latent_channels, g.latent_frames, g.latent_height, g.latent_width}, gen)
                .to(dev, dt);
    audio = at::randn({g.audio_latents, g.audio_channels}, gen).to(dev, dt);
    audio_sched = make_scheduler("unipc");
    audio_sched->set_timesteps(total, kShift);
    step = [&](int64_t i) {
      const at::Tensor t = timesteps.narrow(0, i, 1);
      ovi::OviInputs in{.x_video = video.unsqueeze(0),
                        .x_audio = audio.t().unsqueeze(0),
                        .t_video = t,
                        .t_audio = t,
                        .context_video = ctx.narrow(0, 0, 1),
                        .context_audio = ctx.narrow(0, 0, 1),
                        .seq_len_video = g.video_tokens,
                        .seq_len_audio = g.audio_tokens};
      auto [vc, ac] = b.ovi->forward(in, cond_pass);
      in.context_video = ctx.narrow(0, 1, 1);
      in.context_audio = ctx.narrow(0, 2, 1);
      const auto out = b.ovi->forward(in, uncond_pass);
      const at::Tensor gv = apply_cfg(vc[0].to(dt), out[0][0].to(dt), kOviVideoGuidance);
      const at::Tensor ga = apply_cfg(ac[0].t().to(dt), out[1][0].t().to(dt), kOviAudioGuidance);
      video = video_sched->step(gv.unsqueeze(0), i, video.unsqueeze(0)).squeeze(0);
      audio = audio_sched->step(ga.unsqueeze(0), i, audio.unsqueeze(0)).squeeze(0);
    };
  } else {
    // As WanT2VPipeline::denoise: latents [1, z, T, h, w] fp32, the DiT casts.
    video = at::randn({1, g.latent_channels, g.latent_frames, g.latent_height, g.latent_width}, gen)
                .to(dev);
    step = [&](int64_t i) {
      const at::Tensor t = timesteps.narrow(0, i, 1);
      const at::Tensor cond =
          b.wan->forward(video, t, ctx.narrow(0, 0, 1), g.video_tokens, attention);
      const at::Tensor uncond =
          b.wan->forward(video, t, ctx.narrow(0, 1, 1), g.video_tokens, attention);
      video = video_sched->step(apply_cfg(cond, uncond, kWanGuidance), i, video);
    };
  }
  for (int64_t i = 0; i < a.warmup; ++i) step(i);
  synchronize(dev);
  run.peak_before_mib = proc_status_mib("VmHWM");
  const bool hwm = reset_peak_rss();
  reset_device_peak(dev);
  for (int64_t i = a.warmup; i < total; ++i) {
    const auto start = Clock::now();
    step(i);
    synchronize(dev);
    run.step_s.push_back(seconds_since(start));
    spdlog::info("{}: step {}/{} {:.3f} s", nn::attention_backend_name(backend), i - a.warmup + 1,
                 a.steps, run.step_s.back());
  }
  DUET_CHECK(at::isfinite(video.to(at::kFloat)).all().item<bool>(),
             "the latents are not finite after the steps");
  run.steps_peak_rss_mib = hwm ? proc_status_mib("VmHWM") : -1;
  run.peak_device_mib = device_peak_mib(dev);
  return run;
}

double flops_per_step(const Bench& b) {
  const Geometry& g = b.g;
  if (b.family == "ovi") {
    const auto& c = b.ovi->config();
    return ovi_fusion_flops(c, g.video_tokens, g.audio_tokens).total() +
           ovi_fusion_flops(c, g.video_tokens, g.audio_tokens, b.slg_layer ? 1 : 0).total();
  }
  return 2 * wan_dit_flops(b.wan->config(), g.video_tokens, g.video_tokens).total();
}

json run_json(const Bench& b, const StepRun& r) {
  const auto& s = r.step_s;
  double mean = 0;
  for (double x : s) mean += x;
  mean /= static_cast<double>(s.size());
  const double min = *std::min_element(s.begin(), s.end());
  const double flops = flops_per_step(b);
  const int64_t tokens = 2 * (b.g.video_tokens + b.g.audio_tokens);  // two forwards per step
  return {{"attention", std::string(nn::attention_backend_name(r.backend))},
          {"dtype", std::string(c10::toString(b.dtype))},
          {"step_s", s},
          {"step_mean_s", mean},
          {"step_min_s", min},
          {"steps_per_s", 1.0 / mean},
          {"tokens_per_s", static_cast<double>(tokens) / mean},
          {"flops_per_step", flops},
          {"tflops", flops / mean / 1e12},
          {"steps_peak_rss_mib", r.steps_peak_rss_mib},
          {"peak_device_mib", r.peak_device_mib ? json(*r.peak_device_mib) : json(nullptr)}};
}

void print_table(const json& j) {
  fmt::print("model:     {}{}\n", j["model"].get<std::string>(),
             j["layers"] != j["layers_total"]
                 ? fmt::format("  (first {} of {} blocks only: --layers)",
                               j["layers"].get<int64_t>(), j["layers_total"].get<int64_t>())
                 : "");
  fmt::print("weights:   {}\n", j["weights"].get<std::string>());
  fmt::print("device:    {} {}, {} threads\n", j["device"].get<std::string>(),
             j["dtype"].get<std::string>(), j["threads"].get<int>());
  const auto& t = j["tokens"];
  fmt::print(
      "clip:      {}x{}, {} frames -> {} video + {} audio tokens per forward, 2 forwards "
      "per step\n",
      j["width"].get<int64_t>(), j["height"].get<int64_t>(), j["frames"].get<int64_t>(),
      t["video"].get<int64_t>(), t["audio"].get<int64_t>());
  fmt::print("steps:     {} timed after {} warm-up; load {:.2f} s\n\n", j["steps"].get<int64_t>(),
             j["warmup"].get<int64_t>(), j["load_s"].get<double>());
  if (!j["stages"].empty()) {
    fmt::print("{:<14} {:>10}\n", "stage", "seconds");
    for (const auto& [name, s] : j["stages"].items())
      fmt::print("{:<14} {:>10.3f}\n", name, s.get<double>());
    fmt::print("\n");
  }
  fmt::print("{:<10} {:<9} {:>10} {:>10} {:>9} {:>11} {:>9} {:>12} {:>12}\n", "attention",
             "dtype", "s/step", "min s", "steps/s", "tokens/s", "TFLOP/s", "peak RSS", "peak device");
  for (const auto& r : j["runs"]) {
    const auto& dev = r["peak_device_mib"];
    fmt::print("{:<10} {:<9} {:>10.3f} {:>10.3f} {:>9.4f} {:>11.1f} {:>9.3f} {:>8.0f} MiB {:>12}\n",
               r["attention"].get<std::string>(), r["dtype"].get<std::string>(),
               r["step_mean_s"].get<double>(),
               r["step_min_s"].get<double>(), r["steps_per_s"].get<double>(),
               r["tokens_per_s"].get<double>(), r["tflops"].get<double>(),
               r["steps_peak_rss_mib"].get<double>(),
               dev.is_null() ? std::string("n/a") : fmt::format("{:.0f} MiB", dev.get<double>()));
  }
  fmt::print("\nFLOPs per step {:.4g} (models/flops.h); process peak RSS {:.0f} MiB\n",
             j["runs"][0]["flops_per_step"].get<double>(), j["peak_rss_mib"].get<double>());
}

// The whole process's peak: VmHWM is reset before each run's timed steps.
double process_peak_mib(const std::vector<StepRun>& runs) {
  double peak = proc_status_mib("VmHWM");
  for (const auto& r : runs) peak = std::max({peak, r.peak_before_mib, r.steps_peak_rss_mib});
  return peak;
}

int run_bench(const BenchArgs& a) {
  DUET_CHECK(a.model.empty() != a.arch.empty(), "give --model DIR or --arch NAME (one of them)");
  DUET_CHECK(a.steps >= 1 && a.warmup >= 0, "--steps must be >= 1 and --warmup >= 0");
  DUET_CHECK(a.model.empty() || a.layers == 0, "--layers applies to --arch (random weights)");
  if (a.threads > 0) at::set_num_threads(a.threads);
  const auto backends = parse_backends(a.attention);
  // --dtype fp32,bf16: the model is rebuilt in each dtype and every backend runs in each.
  std::vector<std::string> dtypes;
  for (size_t start = 0; start <= a.dtype.size();) {
    const size_t end = std::min(a.dtype.find(',', start), a.dtype.size());
    dtypes.push_back(a.dtype.substr(start, end - start));
    start = end + 1;
  }
  Bench b;
  std::vector<StepRun> runs;
  std::vector<json> run_jsons;
  for (const auto& dtype : dtypes) {
    const DevicePolicy policy = make_device_policy(a.device, dtype);
    b = Bench{};
    b.device = policy.device;
    b.dtype = policy.compute_dtype;
    ModelStages stages;
    if (a.arch.empty()) {
      build_from_model(a, b, stages);
    } else {
      build_from_arch(a, b);
    }
    for (const auto backend : backends) {
      runs.push_back(run_steps(a, b, backend));
      run_jsons.push_back(run_json(b, runs.back()));
    }
    if (!a.model.empty() && &dtype == &dtypes.back()) time_decoders(a, b, stages);
  }

  json stage_json = json::object();
  for (const auto& [name, s] : b.stages) stage_json[name] = s;
  json j = {
      {"model", b.label},
      {"family", b.family},
      {"weights", a.arch.empty() ? a.model : std::string("random (--arch ") + a.arch + ")"},
      {"layers", b.layers},
      {"layers_total", b.layers_total},
      {"device", b.device.str()},
      {"dtype", a.dtype},
      {"threads", at::get_num_threads()},
      {"width", b.g.width},
      {"height", b.g.height},
      {"frames", b.g.frames},
      {"latent", {b.g.latent_channels, b.g.latent_frames, b.g.latent_height, b.g.latent_width}},
      {"audio_latents", b.g.audio_latents},
      {"tokens",
       {{"video", b.g.video_tokens},
        {"audio", b.g.audio_tokens},
        {"per_step", 2 * (b.g.video_tokens + b.g.audio_tokens)}}},
      {"forwards_per_step", 2},
      {"slg_layer", b.slg_layer ? json(*b.slg_layer) : json(nullptr)},
      {"steps", a.steps},
      {"warmup", a.warmup},
      {"load_s", b.load_s},
      {"stages", stage_json},
      {"peak_rss_mib", process_peak_mib(runs)},
      {"runs", json::array()}};
  for (const auto& r : run_jsons) j["runs"].push_back(r);
  if (a.json) {
    std::cout << j.dump(2) << "\n";
  } else {
    print_table(j);
  }
  return 0;
}

}  // namespace

Command add_bench_command(CLI::App& app) {
  auto a = std::make_shared<BenchArgs>();
  CLI::App* sub = app.add_subcommand(
      "bench", "Measure a denoiser's throughput: seconds per step, tokens/s, TFLOP/s, peak memory");
  sub->add_option("--model", a->model,
                  "Model folder (real weights; also times text encoder and "
                  "decoders)");
  std::string archs;
  for (const auto& e : kArchs) archs += (archs.empty() ? "" : ", ") + std::string(e.name);
  sub->add_option("--arch", a->arch,
                  "A real architecture at real size with random weights: " + archs);
  sub->add_option("--layers", a->layers, "--arch: keep only the first N blocks");
  sub->add_option("--size", a->size, "WIDTHxHEIGHT (default: the model's)");
  sub->add_option("--frames", a->frames,
                  "Video frames, 4k + 1 (Ovi: audio latents follow, 157 "
                  "per 31 latent frames)");
  sub->add_option("--steps", a->steps, "Timed steps")->capture_default_str();
  sub->add_option("--warmup", a->warmup, "Untimed steps first")->capture_default_str();
  sub->add_option("--dtype", a->dtype, "auto, fp32, bf16, fp16; comma separated to compare")
      ->capture_default_str();
  sub->add_option("--device", a->device, "auto, cpu, cuda, cuda:N")->capture_default_str();
  sub->add_option("--attention", a->attention,
                  "Backends to compare, comma separated (auto, "
                  "reference, sdpa, ...)")
      ->capture_default_str();
  sub->add_option("--threads", a->threads, "CPU threads (default: libtorch's)");
  sub->add_option("--seed", a->seed, "Seed of the random weights and inputs")
      ->capture_default_str();
  sub->add_flag("--json", a->json, "Print JSON instead of a table");
  return {sub, [a] { return run_bench(*a); }};
}

}  // namespace duet::cli
