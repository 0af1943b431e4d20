#include "models/mmaudio/mel.h"

#include <cmath>
#include <vector>

#include "core/error.h"

namespace duet::mmaudio {

namespace {

// librosa's Slaney mel scale (htk=False): linear below 1 kHz, logarithmic above, written with
// the same float64 operations as librosa.core.convert.
constexpr double kMinLogHz = 1000.0;
double f_sp() { return 200.0 / 3; }
double min_log_mel() { return (kMinLogHz - 0.0) / f_sp(); }
double logstep() { return std::log(6.4) / 27.0; }

double hz_to_mel(double hz) {
  if (hz >= kMinLogHz) return min_log_mel() + std::log(hz / kMinLogHz) / logstep();
  return (hz - 0.0) / f_sp();
}

double mel_to_hz(double mel) {
  if (mel >= min_log_mel()) return kMinLogHz * std::exp(logstep() * (mel - min_log_mel()));
  return 0.0 + f_sp() * mel;
}

// librosa.mel_frequencies: n points equally spaced in mel (np.linspace, last point exact).
std::vector<double> mel_frequencies(int64_t n, double fmin, double fmax) {
  const double lo = hz_to_mel(fmin), hi = hz_to_mel(fmax);
  const double step = (hi - lo) / static_cast<double>(n - 1);
  std::vector<double> hz(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    const double mel = i == n - 1 ? hi : static_cast<double>(i) * step + lo;
    hz[static_cast<size_t>(i)] = mel_to_hz(mel);
  }
  return hz;
}

}  // namespace

void MelConfig::validate() const {
  DUET_CHECK(sampling_rate > 0 && n_fft > 0 && num_mels > 0 && hop_size > 0 && win_size > 0,
             "mel config: sampling_rate, n_fft, num_mels, hop_size and win_size must be positive");
  DUET_CHECK(win_size <= n_fft, "mel config: win_size {} exceeds n_fft {}", win_size, n_fft);
  DUET_CHECK(hop_size <= n_fft, "mel config: hop_size {} exceeds n_fft {}", hop_size, n_fft);
  DUET_CHECK(0 <= fmin && fmin < fmax && fmax <= sampling_rate / 2,
             "mel config: need 0 <= fmin ({}) < fmax ({}) <= sampling_rate / 2 ({})", fmin, fmax,
             sampling_rate / 2);
}

int64_t MelConfig::frames(int64_t samples) const {
  const int64_t padded = samples + 2 * pad();
  return padded < n_fft ? 0 : (padded - n_fft) / hop_size + 1;
}

MelConfig mel_16k() { return {}; }

MelConfig mel_44k() {
  return {.sampling_rate = 44100,
          .n_fft = 2048,
          .num_mels = 128,
          .hop_size = 512,
          .win_size = 2048,
          .fmin = 0,
          .fmax = 44100.0 / 2,
          .natural_log = true};
}

at::Tensor slaney_mel_filterbank(double sampling_rate, int64_t n_fft, int64_t num_mels, double fmin,
                                 double fmax) {
  const int64_t bins = n_fft / 2 + 1;
  // np.fft.rfftfreq(n_fft, 1 / sr): k * (1 / (n_fft * (1 / sr)))
  const double bin_hz = 1.0 / (static_cast<double>(n_fft) * (1.0 / sampling_rate));
  const std::vector<double> mel_f = mel_frequencies(num_mels + 2, fmin, fmax);
  at::Tensor weights = at::zeros({num_mels, bins}, at::kFloat);
  float* w = weights.data_ptr<float>();
  for (int64_t i = 0; i < num_mels; ++i) {
    const auto m = static_cast<size_t>(i);
    const double fdiff_lo = mel_f[m + 1] - mel_f[m];
    const double fdiff_hi = mel_f[m + 2] - mel_f[m + 1];
    const double enorm = 2.0 / (mel_f[m + 2] - mel_f[m]);
    for (int64_t k = 0; k < bins; ++k) {
      const double f = static_cast<double>(k) * bin_hz;
      const double lower = -(mel_f[m] - f) / fdiff_lo;
      const double upper = (mel_f[m + 2] - f) / fdiff_hi;
      // librosa stores the triangle in fp32, then scales the fp32 array by the float64 enorm.
      const auto tri = static_cast<float>(std::max(0.0, std::min(lower, upper)));
      w[i * bins + k] = static_cast<float>(static_cast<double>(tri) * enorm);
    }
  }
  return weights;
}

MelConverter::MelConverter(MelConfig config, at::Device device) : config_(config) {
  config_.validate();
  mel_basis_ = slaney_mel_filterbank(config_.sampling_rate, config_.n_fft, config_.num_mels,
                                     config_.fmin, config_.fmax)
                   .to(device);
  window_ = at::hann_window(config_.win_size, at::TensorOptions().dtype(at::kFloat).device(device));
}

at::Tensor MelConverter::forward(const at::Tensor& pcm) const {
  DUET_CHECK(
      pcm.defined() && (pcm.dim() == 1 || pcm.dim() == 2), "mel: expects PCM [B, S] or [S], got {}",
      pcm.defined() ? fmt::format("[{}]", fmt::join(pcm.sizes(), ", ")) : "an undefined tensor");
  DUET_CHECK(at::isFloatingType(pcm.scalar_type()), "mel: PCM must be floating point, got {}",
             c10::toString(pcm.scalar_type()));
  DUET_CHECK(pcm.device() == mel_basis_.device(), "mel: PCM is on {}, the converter on {}",
             pcm.device().str(), mel_basis_.device().str());
  const at::Tensor x2 = pcm.dim() == 1 ? pcm.unsqueeze(0) : pcm;
  const int64_t samples = x2.size(1), pad = config_.pad();
  // Reflect padding needs more samples than it pads; the STFT needs one full window.
  DUET_CHECK(x2.size(0) >= 1 && samples > pad && config_.frames(samples) >= 1,
             "mel: PCM of {} samples is too short (needs at least {} at n_fft {}, hop {})", samples,
             std::max(pad + 1, config_.n_fft - 2 * pad), config_.n_fft, config_.hop_size);
  // [B, S] -> [B, S + 2 pad]
  const at::Tensor x =
      at::reflection_pad1d(x2.to(at::kFloat).clamp(-1.0, 1.0).unsqueeze(1), {pad, pad}).squeeze(1);
  // [B, S'] -> [B, n_fft / 2 + 1, T] complex
  const at::Tensor spec = at::stft(x, config_.n_fft, config_.hop_size, config_.win_size, window_,
                                   /*normalized=*/false, /*onesided=*/true,
                                   /*return_complex=*/true);
  const at::Tensor mag = at::sqrt(at::view_as_real(spec).pow(2).sum(-1) + 1e-9);
  // [M, F] x [B, F, T] -> [B, M, T]
  const at::Tensor mel = at::matmul(mel_basis_, mag).clamp_min(1e-5);
  return config_.natural_log ? at::log(mel) : at::log10(mel);
}

}  // namespace duet::mmaudio
