#include "loss_focus.h"

namespace duet::train {

namespace {
constexpr double kPixelsPerCell = 16.0;    // Wan2.2 VAE: 16x spatial compression
constexpr double kSamplesPerLatent = 512;  // MMAudio 16 kHz: 2 mel frames of 256 samples
constexpr double kSampleRate = 16000;
constexpr double kObjectSigma = 0.75;      // cells: the object and the cells it straddles
}  // namespace

LossFocus loss_focus(const TinyClip& clip, int64_t latent_frames, int64_t audio_latents) {
  at::Tensor track = at::zeros({latent_frames, 2});
  const auto n = static_cast<int64_t>(clip.centre.size());
  for (int64_t k = 0; k < latent_frames; ++k) {
    // Latent frame 0 is pixel frame 0; latent frame k > 0 holds pixel frames 4k - 3 .. 4k.
    const int64_t first = k == 0 ? 0 : 4 * k - 3, last = k == 0 ? 0 : 4 * k;
    double x = 0, y = 0;
    int count = 0;
    for (int64_t f = first; f <= last && f < n; ++f, ++count) {
      x += clip.centre[static_cast<size_t>(f)].first;
      y += clip.centre[static_cast<size_t>(f)].second;
    }
    if (count == 0) continue;
    // Cell i spans pixels 16 i .. 16 i + 15: its centre is at 16 i + 8.
    track[k][0] = x / count / kPixelsPerCell - 0.5;
    track[k][1] = y / count / kPixelsPerCell - 0.5;
  }
  at::Tensor onsets = at::zeros({audio_latents});
  for (double t : clip.impacts) {
    const auto i = static_cast<int64_t>(t * kSampleRate / kSamplesPerLatent);
    if (i >= 0 && i < audio_latents) onsets[i] = 1.0;
  }
  return {track, onsets};
}

FocusWeights focus_weights(const at::Tensor& track, const at::Tensor& onsets, int64_t h, int64_t w,
                           double object_weight, double impact_weight) {
  const at::Tensor ys = at::arange(h, at::kFloat).view({1, 1, h, 1});
  const at::Tensor xs = at::arange(w, at::kFloat).view({1, 1, 1, w});
  const at::Tensor cx = track.select(2, 0).unsqueeze(-1).unsqueeze(-1);  // [B, F', 1, 1]
  const at::Tensor cy = track.select(2, 1).unsqueeze(-1).unsqueeze(-1);
  const at::Tensor d2 = (xs - cx).pow(2) + (ys - cy).pow(2);              // [B, F', h, w]
  const at::Tensor video =
      1 + object_weight * at::exp(-d2 / (2 * kObjectSigma * kObjectSigma));
  const at::Tensor near = at::max_pool1d(onsets.unsqueeze(1), {5}, {1}, {2});  // [B, 1, L]
  return {video.unsqueeze(1), 1 + impact_weight * near};
}

at::Tensor weighted_mse(const at::Tensor& out, const at::Tensor& target, const at::Tensor& weight) {
  const at::Tensor w = weight.expand_as(out);
  return ((out - target).pow(2) * w).sum() / w.sum();
}

}  // namespace duet::train
