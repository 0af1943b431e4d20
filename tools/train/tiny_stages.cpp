#include "tiny_stages.h"

#include <ATen/Parallel.h>
#include <c10/core/GradMode.h>
#include <fmt/format.h>
#include <sentencepiece_trainer.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <atomic>
#include <functional>
#include <mutex>
#include <thread>

#include "core/error.h"
#include "io/weight_store.h"
#include "models/mmaudio/bigvgan.h"
#include "models/mmaudio/mel.h"
#include "models/mmaudio/vae.h"
#include "models/ovi/ovi_config.h"
#include "models/ovi/ovi_fusion.h"
#include "models/wan/vae.h"
#include "text/tokenizer.h"
#include "text/umt5.h"
#include "tiny_data.h"
#include "train_util.h"

namespace duet::train {

namespace fs = std::filesystem;
using nlohmann::json;
using Losses = std::vector<std::pair<std::string, double>>;

namespace {

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

using StepFn = std::function<Losses(int64_t step, at::Generator& gen)>;

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

}  // namespace

// --- tokenizer --------------------------------------------------------------------------------

void train_tokenizer(const TrainContext& ctx) {
  const json& st = stage_of(ctx, "tokenizer");
  const std::string dir = stage_dir(ctx, "tokenizer");
  fs::create_directories(dir);
  // Training captions, one per line: every caption the scene generator makes for the first
  // `captions` training seeds (duplicates kept: frequencies matter to the unigram model).
  const std::string corpus = dir + "/captions.txt";
  {
    std::ofstream out(corpus);
    const auto options = scene_options(ctx);
    uint64_t seed = 0;
    for (int64_t i = 0; i < st.at("captions").get<int64_t>(); ++i) {
      out << scenes::caption_of(scenes::next_scene(seed, options, false, &seed)) << '\n';
      ++seed;
    }
  }
  // umT5's special ids: <pad> 0, </s> 1, <s> 2, <unk> 3. The caption tags are whole pieces.
  // BPE rather than umT5's unigram: on a corpus of ~70 distinct words the unigram trainer keeps
  // only ~77 pieces (mostly letters), where BPE learns every word as one piece.
  const std::string args = fmt::format(
      "--input={} --model_prefix={}/tokenizer --model_type=bpe --vocab_size={} "
      "--hard_vocab_limit=false --pad_id=0 --eos_id=1 --bos_id=2 --unk_id=3 --pad_piece=<pad> "
      "--eos_piece=</s> --bos_piece=<s> --unk_piece=<unk> --character_coverage=1.0 "
      "--user_defined_symbols=<AUDCAP>,<ENDAUDCAP> --normalization_rule_name=nmt_nfkc "
      "--num_threads=1 --minloglevel=2",  // one thread: deterministic
      corpus, dir, st.at("vocab_size").get<int64_t>());
  const auto status = sentencepiece::SentencePieceTrainer::Train(args);
  DUET_CHECK(status.ok(), "SentencePiece training failed: {}", status.ToString());
  Umt5Tokenizer tok(dir + "/tokenizer.model", {.text_len = 512, .extra_ids = 300});
  spdlog::info("tokenizer: {} pieces + 300 extra ids; '{}' -> {} tokens", tok.vocab_size() - 300,
               "A small red rubber ball falls", tok.encode("A small red rubber ball falls").ids.size());
}

// --- video VAE --------------------------------------------------------------------------------

void train_video_vae(const TrainContext& ctx) {
  const json& st = stage_of(ctx, "video_vae");
  const auto cfg = wan::WanVaeConfig::from_json(component_config(ctx, "video_vae"), "video_vae");
  const ShapeMap shapes = shapes_of([&](WeightStore& s) { wan::make_wan_vae(s, cfg); });
  ParamMap params = init_params(shapes, InitFamily::kWanVae, recipe_seed(ctx));
  AdamW opt(params, keys_where(params, [](const std::string&) { return true; }), adam_options(st));
  const auto options = scene_options(ctx);
  const int64_t batch = st.at("batch"), frames = st.at("frames");
  const double noise = st.at("latent_noise"), moment_w = st.at("moment_weight");
  const int64_t crop = st.value("crop", int64_t{0});
  const double object_crops = st.value("object_crops", 0.7);
  run_stage(ctx, "video_vae", st, params, opt, [&](int64_t, at::Generator& gen) -> Losses {
    std::vector<at::Tensor> clips;
    for (uint64_t seed : draw_seeds(gen, batch)) {
      const int64_t first = draw_index(gen, options.frames - frames + 1);
      TinyClip clip = training_clip(seed, options, static_cast<int>(first + frames));
      at::Tensor video = clip.video.narrow(1, first, frames);  // [3, T, H, W]
      if (crop > 0) {
        // Convolutions do not care where the frame ends: crops (on the VAE's 16-pixel grid)
        // cost a quarter and, centred near the object most of the time, spend the loss on it.
        const auto [cx, cy] = clip.centre.at(static_cast<size_t>(first));
        const bool near = at::rand({1}, gen).item<double>() < object_crops;
        auto origin = [&](double c, int64_t size) {
          const int64_t span = size - crop;
          int64_t o = near ? static_cast<int64_t>(c) - crop / 2 + draw_index(gen, 33) - 16
                           : draw_index(gen, span + 1);
          return std::clamp<int64_t>(o / 16 * 16, 0, span);
        };
        const int64_t x0 = origin(cx, options.width), y0 = origin(cy, options.height);
        video = video.narrow(2, y0, crop).narrow(3, x0, crop);
      }
      clips.push_back(video);
    }
    const at::Tensor x = at::stack(clips);  // [B, 3, T, H, W]
    WeightStore store = WeightStore::from_tensors(params);
    const auto vae = wan::make_wan_vae(store, cfg);
    const at::Tensor z = vae->encode(x);  // [B, z, 1 + (T - 1) / 4, h, w]
    const at::Tensor y = vae->decode(z + noise * at::randn(z.sizes(), gen));
    const at::Tensor l1 = (y - x).abs().mean();
    const at::Tensor mse = (y - x).pow(2).mean();
    const at::Tensor moment = unit_moment_penalty(z);
    (l1 + mse + moment_w * moment).backward();
    return {{"l1", item(l1)}, {"mse", item(mse)}, {"z_rms", item(z.pow(2).mean().sqrt())}};
  });
}

// --- audio VAE --------------------------------------------------------------------------------

namespace {

// Log-mel of a clip cut to an even number of frames ([80, T]).
at::Tensor clip_mel(const mmaudio::MelConverter& mel, const at::Tensor& audio, int64_t frames) {
  return mel.forward(audio.unsqueeze(0))[0].narrow(1, 0, frames);
}

// First mel frame of a `seg`-frame window of a `total`-frame clip. With probability
// `impact_bias` the window holds one of the clip's impacts (at a random place in it): impacts
// are a few frames of a clip that is mostly silence or steady noise, so windows drawn uniformly
// teach the decoders the silence and not the knock.
int64_t draw_segment(const TinyClip& clip, at::Generator& gen, int64_t total, int64_t seg,
                     int64_t hop, double impact_bias) {
  const int64_t last = total - seg;
  int64_t first = draw_index(gen, last + 1);
  if (!clip.impacts.empty() && at::rand({1}, gen).item<double>() < impact_bias) {
    const double t = clip.impacts[draw_index(gen, static_cast<int64_t>(clip.impacts.size()))];
    const auto frame = static_cast<int64_t>(t * 16000.0 / static_cast<double>(hop));
    first = std::clamp<int64_t>(frame - draw_index(gen, seg), 0, last);
  }
  return first;
}

}  // namespace

void train_audio_vae(const TrainContext& ctx) {
  const json& st = stage_of(ctx, "audio_vae");
  const auto cfg = audio_vae_config(component_config(ctx, "audio_vae"));
  const ShapeMap shapes = shapes_of([&](WeightStore& s) { mmaudio::MMAudioVae(s, cfg); });
  ParamMap params = init_params(shapes, InitFamily::kMMAudioVae, recipe_seed(ctx));
  const mmaudio::MelConverter mel(mmaudio::mel_16k());
  const auto options = scene_options(ctx);
  const int64_t frames = st.at("mel_frames"), batch = st.at("batch");
  const int64_t seg = st.value("segment_frames", int64_t{0}), hop = mel.config().hop_size;
  const double impact_bias = st.value("impact_fraction", 0.0);
  DUET_CHECK(seg % 2 == 0 && seg <= frames, "{}: stages.audio_vae.segment_frames must be even and "
             "at most mel_frames ({}), got {}", ctx.recipe_path, frames, seg);
  // data_mean / data_std: the training set's per-bin log-mel statistics (MMAudio's are those
  // of its own data); buffers, not trained.
  {
    at::Generator gen = step_generator(recipe_seed(ctx), 99, 0);
    std::vector<at::Tensor> mels;
    for (uint64_t seed : draw_seeds(gen, st.at("stat_clips"))) {
      mels.push_back(clip_mel(mel, training_clip(seed, options).audio, frames));
    }
    const at::Tensor all = at::cat(mels, 1);  // [80, N T]
    params["data_mean"] = all.mean(1).view({1, -1, 1});
    params["data_std"] = all.std(1).clamp_min(0.1).view({1, -1, 1});
  }
  AdamW opt(params,
            keys_where(params, [](const std::string& k) { return k.rfind("data_", 0) != 0; }),
            adam_options(st));
  const double noise = st.at("latent_noise"), moment_w = st.at("moment_weight");
  run_stage(ctx, "audio_vae", st, params, opt, [&](int64_t, at::Generator& gen) -> Losses {
    std::vector<at::Tensor> mels;
    for (uint64_t seed : draw_seeds(gen, batch)) {
      const TinyClip clip = training_clip(seed, options);
      const at::Tensor m = clip_mel(mel, clip.audio, frames);
      // Optional windows (the VAE is convolutional): on whole clips it learnt the silence and
      // the steady rolling noise and dropped the impacts (BENCHMARKS.md, duet-tiny).
      mels.push_back(
          seg > 0 ? m.narrow(1, draw_segment(clip, gen, frames, seg, hop, impact_bias), seg) : m);
    }
    const at::Tensor x = at::stack(mels);  // [B, 80, T or segment_frames]
    WeightStore store = WeightStore::from_tensors(params);
    const mmaudio::MMAudioVae vae(store, cfg);
    const at::Tensor z = vae.encode(x);  // [B, 20, T / 2]
    const at::Tensor y = vae.decode(z + noise * at::randn(z.sizes(), gen));
    const at::Tensor l1 = (y - x).abs().mean();
    const at::Tensor moment = unit_moment_penalty(z);
    (l1 + moment_w * moment).backward();
    return {{"l1", item(l1)}, {"z_rms", item(z.pow(2).mean().sqrt())}};
  });
}

// --- vocoder ----------------------------------------------------------------------------------

namespace {

// Floors of the log spectra the vocoder is trained on, about 80 dB under an impact's peak,
// added to the magnitudes (log(m + floor)). The scenes hold long stretches of digital silence:
// with the converters' own floors (1e-5) a vocoder output 100 dB down in a silent stretch cost
// as much as a missing impact, and gradients of 60 to 900 from silence drowned the sound. The
// floor is added, not clamped: a clamp passes no gradient where the output is below it, so a
// silent vocoder would never be pulled back towards the sound (measured: the first recipe's
// vocoder settled on -84 dBFS whatever its input).
constexpr double kStftFloor = 1e-2;  // STFT magnitude; an impact peaks near 1e2
constexpr double kMelFloor = 1e-4;   // mel magnitude (MelConverter, Slaney filters); peaks near 1

struct StftLosses {
  at::Tensor log_l1;        // mean L1 of log(|S| + floor)
  at::Tensor convergence;   // ||S_y| - |S_x||_F / ||S_x||_F over the batch
};

// Multi-resolution STFT distances, each averaged over three window sizes. The log distance sees
// every bin alike, so a short impact (a few frames of a half-second segment) weighs little
// against the silence and noise around it; spectral convergence (Parallel WaveGAN's term) is a
// ratio of linear magnitudes, dominated by the loudest bins, which are the impacts. Measured
// with the log distance alone: impact-only scenes came back at -70 dBFS against -25.
StftLosses stft_losses(const at::Tensor& y, const at::Tensor& x) {
  at::Tensor log_l1 = at::zeros({}, y.options()), conv = at::zeros({}, y.options());
  for (int64_t n_fft : {256, 512, 1024}) {
    const at::Tensor window = at::hann_window(n_fft, y.options());
    auto mag = [&](const at::Tensor& s) {  // [B, n_fft / 2 + 1, frames]
      return at::stft(s, n_fft, n_fft / 4, n_fft, window, /*center=*/true, "reflect",
                      /*normalized=*/false, /*onesided=*/true, /*return_complex=*/true)
          .abs();
    };
    const at::Tensor my = mag(y), mx = mag(x);
    log_l1 = log_l1 + (at::log(my + kStftFloor) - at::log(mx + kStftFloor)).abs().mean();
    // Over the whole batch, as Parallel WaveGAN does: a silent segment alone has no scale to
    // be relative to. The floor (per bin) keeps an all-silent batch finite.
    const double floor_energy = kStftFloor * kStftFloor * static_cast<double>(mx.numel());
    conv = conv + (my - mx).pow(2).sum().add(floor_energy).sqrt() /
                      mx.pow(2).sum().add(floor_energy).sqrt();
  }
  return {log_l1 / 3, conv / 3};
}

}  // namespace

void train_vocoder(const TrainContext& ctx) {
  const json& st = stage_of(ctx, "vocoder");
  const auto cfg = mmaudio::BigVganConfig::from_json(component_config(ctx, "vocoder"), "vocoder");
  const ShapeMap shapes = shapes_of([&](WeightStore& s) { mmaudio::BigVgan(s.scope(""), cfg); });
  ParamMap params = init_params(shapes, InitFamily::kBigVgan, recipe_seed(ctx));
  AdamW opt(params,
            keys_where(params,
                       [](const std::string& k) { return k.find(".filter") == std::string::npos; }),
            adam_options(st));
  const mmaudio::MelConverter mel(mmaudio::mel_16k());
  const auto options = scene_options(ctx);
  const int64_t batch = st.at("batch"), seg = st.at("segment_frames");
  const int64_t hop = cfg.hop_length();
  const double impact_bias = st.at("impact_fraction");
  run_stage(ctx, "vocoder", st, params, opt, [&](int64_t, at::Generator& gen) -> Losses {
    std::vector<at::Tensor> mels, wavs;
    for (uint64_t seed : draw_seeds(gen, batch)) {
      const TinyClip clip = training_clip(seed, options);
      at::Tensor m;
      {
        at::NoGradGuard no_grad;
        m = mel.forward(clip.audio.unsqueeze(0))[0];  // [80, T]
      }
      const int64_t first = draw_segment(clip, gen, m.size(1), seg, hop, impact_bias);
      mels.push_back(m.narrow(1, first, seg));
      wavs.push_back(clip.audio.narrow(0, first * hop, seg * hop));
    }
    const at::Tensor x_mel = at::stack(mels), x = at::stack(wavs);  // [B, 80, seg], [B, seg hop]
    WeightStore store = WeightStore::from_tensors(params);
    const mmaudio::BigVgan voc(store.scope(""), cfg);
    const at::Tensor y = voc.forward(x_mel).squeeze(1);  // [B, seg hop]
    // MelConverter gives log(max(mel, 1e-5)); back to magnitudes, then the soft floor.
    auto log_mel = [&](const at::Tensor& s) { return at::log(mel.forward(s).exp() + kMelFloor); };
    const at::Tensor mel_l1 = (log_mel(y) - log_mel(x)).abs().mean();
    const auto [spec, convergence] = stft_losses(y, x);
    const at::Tensor wave = (y - x).abs().mean();
    // Spectral losses barely see a constant offset (one STFT bin); without this term the vocoder
    // drifted to a DC level of about 0.2, which is silent to the ear but not to an RMS meter.
    const at::Tensor dc = (y.mean(-1) - x.mean(-1)).abs().mean();
    // On one fixed batch of impacts, the log terms at full weight keep the output quiet (the
    // silence around a ring costs as much as the ring); convergence at 1 with the log terms at
    // 0.1 fits it (BENCHMARKS.md, duet-tiny).
    (st.value("log_weight", 1.0) * (mel_l1 + spec) +
     st.value("convergence_weight", 0.0) * convergence +
     st.value("wave_weight", 1.0) * wave + st.value("dc_weight", 10.0) * dc)
        .backward();
    return {{"mel_l1", item(mel_l1)}, {"stft", item(spec)}, {"sc", item(convergence)},
            {"wave_l1", item(wave)}, {"dc", item(dc)}};
  });
}

// --- fusion + text encoder --------------------------------------------------------------------

namespace {

struct LatentSet {
  std::vector<at::Tensor> video;    // [48, F', h, w] normalised
  std::vector<at::Tensor> audio;    // [20, L]
  std::vector<at::Tensor> objects;  // [F', h, w] fp32 in {0, 1}: latent cells showing an object
  std::vector<std::string> captions;
};

// Which latent cells show an object: a cell counts when any pixel of any frame it encodes
// differs from the backdrop. The Wan VAE's causal time axis puts frame 0 alone in latent frame
// 0 and each following `stride` frames in one latent frame.
// -> [F', h, w] fp32 in {0, 1}
at::Tensor object_cells(const TinyClip& clip, int64_t latent_frames, int64_t h, int64_t w) {
  const int64_t frames = clip.video.size(1);
  const int64_t stride = (frames - 1) / (latent_frames - 1);
  DUET_CHECK(1 + stride * (latent_frames - 1) == frames,
             "{} frames do not map onto {} causal latent frames", frames, latent_frames);
  // [3, F, H, W] -> [F, H, W]: any channel off the backdrop by more than a rounding step
  const at::Tensor pixels =
      (clip.video - clip.backdrop.unsqueeze(1)).abs().amax(0).gt(0.5 / 127.5).to(at::kFloat);
  const at::Tensor first = pixels.narrow(0, 0, 1);
  const at::Tensor rest = pixels.narrow(0, 1, frames - 1)
                              .view({latent_frames - 1, stride, pixels.size(1), pixels.size(2)})
                              .amax(1);
  const at::Tensor per_frame = at::cat({first, rest});  // [F', H, W]
  return std::get<0>(at::adaptive_max_pool2d(per_frame, {h, w})).contiguous();
}

// Runs work(i) for every i in [0, count) on `workers` threads of one intra-op thread each;
// make_worker() builds one worker's state and returns its work function. The first failure is
// rethrown once every worker has stopped.
template <typename MakeWorker>
void for_each_clip(int workers, int64_t count, const std::string& what, MakeWorker make_worker) {
  const int main_threads = at::get_num_threads();
  const auto start = std::chrono::steady_clock::now();
  std::atomic<int64_t> next{0}, done{0};
  std::mutex log_mutex;
  std::exception_ptr failure;
  std::atomic<bool> failed{false};
  auto run = [&] {
    try {
      at::set_num_threads(1);
      at::NoGradGuard no_grad;
      auto work = make_worker();
      for (int64_t i = next++; i < count && !failed; i = next++) {
        work(i);
        if (const int64_t n = ++done; n % 50 == 0) {
          const double s =
              std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
          const std::lock_guard lock(log_mutex);
          spdlog::info("fusion: {} {}/{} clips ({:.2f} s per clip, {} workers)", what, n, count,
                       s / static_cast<double>(n), workers);
        }
      }
    } catch (...) {
      const std::lock_guard lock(log_mutex);
      if (!failure) failure = std::current_exception();
      failed = true;
    }
  };
  std::vector<std::thread> pool;
  for (int w = 0; w < workers; ++w) pool.emplace_back(run);
  for (auto& t : pool) t.join();
  at::set_num_threads(main_threads);
  if (failure) std::rethrow_exception(failure);
}

// One worker's VAEs: the causal video VAE keeps per-call caches in its modules, so workers
// never share instances.
struct LatentEncoder {
  explicit LatentEncoder(const TrainContext& ctx)
      : vstore({weights_of(ctx, "video_vae")}),
        vae(wan::make_wan_vae(
            vstore, wan::WanVaeConfig::from_json(component_config(ctx, "video_vae"), "video_vae"))),
        astore({weights_of(ctx, "audio_vae")}),
        avae(astore, audio_vae_config(component_config(ctx, "audio_vae"))),
        mel(mmaudio::mel_16k()),
        audio_latents(ctx.recipe.at("package").at("components").at("fusion").at("config")
                          .at("spec").at("audio_latents")) {}

  // -> video [48, F', h, w], audio [20, L]
  std::pair<at::Tensor, at::Tensor> encode(const TinyClip& clip) const {
    at::Tensor v = vae->encode(clip.video.unsqueeze(0))[0].contiguous();
    at::Tensor a =
        avae.encode(mel.forward(clip.audio.unsqueeze(0)).narrow(2, 0, 2 * audio_latents))[0]
            .contiguous();
    return {v, a};
  }

  WeightStore vstore;
  std::unique_ptr<wan::WanVae> vae;
  WeightStore astore;
  mmaudio::MMAudioVae avae;
  mmaudio::MelConverter mel;
  int64_t audio_latents;
};

// Encodes `count` training clips with the trained VAEs and finds their object cells, cached in
// <dir>/latents.safetensors. The VAEs' small convolutions gain nothing from intra-op threads
// (2.9 s per 121-frame clip on one thread or two), so clips are spread over single-threaded
// workers instead. The clip seeds are successive draws of one generator, so a cache of fewer
// clips is the start of a larger set: its clips are kept and only the rest encoded. A cached
// clip without object cells (kept before they were) gets them by rendering its scene again.
LatentSet encode_latents(const TrainContext& ctx, const std::string& dir, int64_t count) {
  const std::string cache = dir + "/latents.safetensors";
  const int workers = ctx.threads > 0 ? ctx.threads : at::get_num_threads();
  const auto options = scene_options(ctx);
  at::Generator gen = step_generator(recipe_seed(ctx), 77, 0);
  const std::vector<uint64_t> seeds = draw_seeds(gen, count);
  LatentSet set;
  set.video.resize(seeds.size());
  set.audio.resize(seeds.size());
  set.objects.resize(seeds.size());
  set.captions.resize(seeds.size());
  if (fs::exists(cache)) {
    std::map<std::string, std::string> meta;
    const ParamMap all = load_tensors(cache, &meta);
    const json captions = json::parse(meta.at("captions"));
    for (size_t i = 0; i < captions.size() && i < seeds.size(); ++i) {
      set.video[i] = all.at(fmt::format("video.{}", i));
      set.audio[i] = all.at(fmt::format("audio.{}", i));
      set.captions[i] = captions[i];
      if (const auto it = all.find(fmt::format("objects.{}", i)); it != all.end()) {
        set.objects[i] = it->second;
      }
    }
  }
  std::vector<int64_t> todo;
  for (int64_t i = 0; i < count; ++i) {
    if (!set.objects[i].defined()) todo.push_back(i);
  }
  if (todo.empty()) return set;
  const bool encoding = std::any_of(todo.begin(), todo.end(),
                                    [&](int64_t i) { return !set.video[i].defined(); });
  for_each_clip(workers, static_cast<int64_t>(todo.size()),
                encoding ? "encoded" : "found objects in", [&] {
    auto enc = encoding ? std::make_shared<LatentEncoder>(ctx) : nullptr;
    return [&, enc](int64_t n) {
      const int64_t i = todo[n];
      const TinyClip clip = training_clip(seeds[i], options);
      if (!set.video[i].defined()) {
        std::tie(set.video[i], set.audio[i]) = enc->encode(clip);
        set.captions[i] = clip.caption;
      }
      const at::Tensor& v = set.video[i];  // [48, F', h, w]
      set.objects[i] = object_cells(clip, v.size(1), v.size(2), v.size(3));
    };
  });
  ParamMap all;
  json captions = json::array();
  for (size_t i = 0; i < seeds.size(); ++i) {
    all[fmt::format("video.{}", i)] = set.video[i];
    all[fmt::format("audio.{}", i)] = set.audio[i];
    all[fmt::format("objects.{}", i)] = set.objects[i];
    captions.push_back(set.captions[i]);
  }
  save_tensors(cache, all, at::kFloat, {{"captions", captions.dump()}});
  return set;
}

// umT5 contexts as the pipeline builds them: each prompt encoded alone, zero rows past its
// tokens up to text_len. -> [B, text_len, dim]
at::Tensor encode_prompts(const Umt5Encoder& t5, const Umt5Tokenizer& tok,
                          const std::vector<std::string>& prompts) {
  const int64_t len = tok.config().text_len;
  std::vector<at::Tensor> rows;
  for (const auto& p : prompts) {
    const auto ids = tok.encode(p).ids;
    const at::Tensor y = t5.forward(at::tensor(ids, at::kLong).unsqueeze(0))[0];  // [n, dim]
    rows.push_back(at::constant_pad_nd(y, {0, 0, 0, len - y.size(0)}));
  }
  return at::stack(rows);
}

int64_t round_up(int64_t n, int64_t m) { return (n + m - 1) / m * m; }

}  // namespace

void train_fusion(const TrainContext& ctx) {
  const json& st = stage_of(ctx, "fusion");
  const std::string dir = stage_dir(ctx, "fusion");
  fs::create_directories(dir);
  const Umt5Tokenizer tok(stage_dir(ctx, "tokenizer") + "/tokenizer.model",
                          {.text_len = 512, .extra_ids = 300});
  const Umt5Config tcfg = t5_config(component_config(ctx, "text_encoder"),
                                    round_up(tok.vocab_size(), 64));
  const auto fcfg = ovi::OviFusionConfig::from_json(component_config(ctx, "fusion"), "fusion");
  ParamMap params = with_prefix(
      init_params(shapes_of([&](WeightStore& s) { ovi::OviFusionModel::load(fcfg, s); }),
                  InitFamily::kWanDit, recipe_seed(ctx)),
      "fusion.");
  for (auto& [k, t] : with_prefix(
           init_params(shapes_of([&](WeightStore& s) { Umt5Encoder(tcfg, s); }),
                       InitFamily::kUmt5, recipe_seed(ctx)),
           "text.")) {
    params[k] = t;
  }
  AdamW opt(params, keys_where(params, [](const std::string&) { return true; }), adam_options(st));
  const LatentSet data = encode_latents(ctx, dir, st.at("clips"));
  const int64_t batch = st.at("batch");
  const double shift = st.at("shift"), drop = st.at("caption_dropout");
  const double audio_w = st.value("audio_weight", 1.0);
  // The objects cover a few of a frame's 64 latent cells; at weight 1 the backdrop dominates the
  // loss and the model learned it while drawing the objects as faint blobs.
  const double object_w = st.value("object_weight", 1.0);
  // bf16 matrix products with fp32 weights, optimiser and loss, where the CPU multiplies bf16
  // natively (AVX512-BF16, AMX) or on a GPU.
  const bool mixed = st.value("autocast", std::string("off")) == "bf16";
  const std::string neg_video = st.at("negative_prompt"), neg_audio = st.at("audio_negative_prompt");
  const auto& v0 = data.video.front();
  const int64_t seq_video = v0.size(1) * (v0.size(2) / fcfg.video.patch_size[1]) *
                            (v0.size(3) / fcfg.video.patch_size[2]);
  const int64_t seq_audio = data.audio.front().size(1);
  run_stage(ctx, "fusion", st, params, opt, [&](int64_t, at::Generator& gen) -> Losses {
    std::vector<at::Tensor> xv, xa, obj;
    std::vector<std::string> pv, pa;
    for (int64_t i = 0; i < batch; ++i) {
      const int64_t j = draw_index(gen, static_cast<int64_t>(data.video.size()));
      xv.push_back(data.video[j]);
      xa.push_back(data.audio[j]);
      obj.push_back(data.objects[j]);
      // The unconditional branch at sampling time sees the negative prompts.
      const bool dropped = at::rand({1}, gen).item<double>() < drop;
      pv.push_back(dropped ? neg_video : data.captions[j]);
      pa.push_back(dropped ? neg_audio : data.captions[j]);
    }
    const at::Tensor x0v = at::stack(xv), x0a = at::stack(xa);
    // Flow matching at the sampler's shifted noise levels: x_t = (1 - s) x0 + s e, target e - x0.
    const at::Tensor u = at::rand({batch}, gen);
    const at::Tensor sigma = shift * u / (1 + (shift - 1) * u);
    const at::Tensor ev = at::randn(x0v.sizes(), gen), ea = at::randn(x0a.sizes(), gen);
    const at::Tensor sv = sigma.view({batch, 1, 1, 1, 1}), sa = sigma.view({batch, 1, 1});
    const at::Tensor xtv = (1 - sv) * x0v + sv * ev, xta = (1 - sa) * x0a + sa * ea;
    WeightStore store = WeightStore::from_tensors(params);
    const auto model = ovi::OviFusionModel::load(fcfg, store, "fusion.");
    WeightStore tstore = WeightStore::from_tensors(strip_prefix(params, "text."));
    const Umt5Encoder t5(tcfg, tstore);
    const AutocastScope autocast(mixed);
    const at::Tensor cv = encode_prompts(t5, tok, pv);
    const at::Tensor ca = pv == pa ? cv : encode_prompts(t5, tok, pa);
    const auto [ov16, oa16] = model.forward({.x_video = xtv, .x_audio = xta, .t_video = sigma * 1000,
                                         .t_audio = sigma * 1000, .context_video = cv,
                                         .context_audio = ca, .seq_len_video = seq_video,
                                         .seq_len_audio = seq_audio},
                                        {.skip_block = std::nullopt,
                                         .attention = {.backend = nn::AttentionBackend::kSdpa,
                                                       .scale = std::nullopt}});
    const at::Tensor ov = ov16.to(at::kFloat), oa = oa16.to(at::kFloat);
    // [B, 48, F', h, w] squared errors; weights [B, 1, F', h, w], normalised to mean 1 so the
    // loss keeps its scale
    const at::Tensor err = (ov - (ev - x0v)).pow(2);
    const at::Tensor cells = at::stack(obj).unsqueeze(1);
    const at::Tensor weight = 1 + (object_w - 1) * cells;
    const at::Tensor lv = (err * weight).mean() / weight.mean();
    const at::Tensor la = (oa - (ea - x0a)).pow(2).mean();
    (lv + audio_w * la).backward();
    const at::NoGradGuard no_grad;
    const double on_objects =
        item((err.mean(1, true) * cells).sum() / cells.sum().clamp_min(1));
    return {{"video", item(lv)}, {"objects", on_objects}, {"audio", item(la)}};
  });
}

// --- package ----------------------------------------------------------------------------------

void write_package(const TrainContext& ctx, const std::string& out) {
  fs::create_directories(out);
  json manifest = ctx.recipe.at("package");
  const auto dtype = ctx.recipe.value("package_dtype", std::string("fp32")) == "bf16"
                         ? at::kBFloat16 : at::kFloat;
  const ParamMap fusion = load_tensors(weights_of(ctx, "fusion"));
  save_tensors(out + "/fusion.safetensors", strip_prefix(fusion, "fusion."), dtype);
  save_tensors(out + "/text_encoder.safetensors", strip_prefix(fusion, "text."), dtype);
  save_tensors(out + "/video_vae.safetensors", load_tensors(weights_of(ctx, "video_vae")), dtype);
  // MMAudio bakes its weight norm in fp32 from what is stored: keep its file in fp32.
  save_tensors(out + "/audio_vae.safetensors", load_tensors(weights_of(ctx, "audio_vae")));
  save_tensors(out + "/vocoder.safetensors", load_tensors(weights_of(ctx, "vocoder")), dtype);
  fs::copy_file(stage_dir(ctx, "tokenizer") + "/tokenizer.model", out + "/tokenizer.model",
                fs::copy_options::overwrite_existing);
  const Umt5Tokenizer tok(out + "/tokenizer.model", {.text_len = 512, .extra_ids = 300});
  auto& comps = manifest.at("components");
  comps.at("tokenizer").at("config")["vocab_size"] = tok.vocab_size() - 300;
  comps.at("text_encoder").at("config")["vocab_size"] = round_up(tok.vocab_size(), 64);
  std::ofstream(out + "/duet.json") << manifest.dump(2) << '\n';
  spdlog::info("package written to {}", out);
}

}  // namespace duet::train
