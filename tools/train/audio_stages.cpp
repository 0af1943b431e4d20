// The audio stages of duet-tiny's training: the MMAudio VAE on log-mels and the BigVGAN vocoder.
#include <ATen/ATen.h>
#include <c10/core/GradMode.h>

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "models/mmaudio/bigvgan.h"
#include "models/mmaudio/mel.h"
#include "models/mmaudio/vae.h"
#include "stage_common.h"
#include "tiny_data.h"

namespace duet::train {

using nlohmann::json;

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

}  // namespace duet::train
