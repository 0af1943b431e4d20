#pragma once
// MMAudio's log-mel front end (MMAudio's ext/mel_converter.py, from Make-An-Audio 2): what the
// mel VAE encodes and BigVGAN vocodes.
//
//   MelConverter mel(mel_16k(), dev);
//   at::Tensor spec = mel.forward(pcm);   // pcm: [B, S] in [-1, 1] at 16 kHz -> [B, 80, S / 256]
//
// PCM is clamped to [-1, 1], reflect-padded by (n_fft - hop) / 2 on both sides, transformed by
// an STFT without centring (periodic Hann window), and the magnitude sqrt(re^2 + im^2 + 1e-9)
// is projected onto librosa's Slaney mel filterbank and compressed: log10(max(mel, 1e-5))
// (16k; the 44.1k converter uses the natural log). Frames: T = (S + 2 pad - n_fft) / hop + 1.
#include <ATen/ATen.h>

namespace duet::mmaudio {

struct MelConfig {
  double sampling_rate = 16000;
  int64_t n_fft = 1024;
  int64_t num_mels = 80;
  int64_t hop_size = 256;
  int64_t win_size = 1024;
  double fmin = 0;
  double fmax = 8000;
  bool natural_log = false;  // false: log10 (16k), true: ln (44.1k)
  void validate() const;
  int64_t pad() const { return (n_fft - hop_size) / 2; }
  // Mel frames for `samples` PCM samples (0 when too short).
  int64_t frames(int64_t samples) const;
};

MelConfig mel_16k();  // sr 16000, n_fft 1024, hop 256, win 1024, 80 mels, 0..8000 Hz, log10
MelConfig mel_44k();  // sr 44100, n_fft 2048, hop 512, win 2048, 128 mels, 0..22050 Hz, ln

// librosa.filters.mel(sr, n_fft, n_mels, fmin, fmax) with its defaults (Slaney mel scale and
// area normalisation), computed in float64 in librosa's order and rounded to fp32 as librosa
// stores it. [num_mels, n_fft / 2 + 1] fp32 on the CPU.
at::Tensor slaney_mel_filterbank(double sampling_rate, int64_t n_fft, int64_t num_mels, double fmin,
                                 double fmax);

class MelConverter {
 public:
  explicit MelConverter(MelConfig config = mel_16k(), at::Device device = at::kCPU);
  const MelConfig& config() const { return config_; }
  const at::Tensor& mel_basis() const { return mel_basis_; }  // [num_mels, n_fft / 2 + 1]

  // pcm: [B, S] or [S] (float, on the converter's device), S > (n_fft - hop) / 2 and
  // S + 2 pad >= n_fft -> fp32 log-mel [B, num_mels, T]
  at::Tensor forward(const at::Tensor& pcm) const;

 private:
  MelConfig config_;
  at::Tensor mel_basis_;
  at::Tensor window_;  // periodic Hann, [win_size]
};

}  // namespace duet::mmaudio
