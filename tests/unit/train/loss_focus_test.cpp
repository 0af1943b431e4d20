// duet-tiny's loss focus: the fusion stage's extra weight sits on the latent cells the main
// object is in and on the audio latents where its impacts start, and nowhere else.
#include "loss_focus.h"

#include <gtest/gtest.h>

#include <cmath>

#include "support/test_support.h"

namespace duet::train {
namespace {

constexpr int64_t kLatentFrames = 31, kCells = 8, kAudioLatents = 157;
constexpr double kObjectWeight = 8, kImpactWeight = 4;

// The first training scene from `seed` whose main object moves and makes impacts.
TinyClip moving_clip_with_impacts(uint64_t seed) {
  const scenes::SceneOptions options{.width = 128, .height = 128, .frames = 121, .fps = 24.0};
  for (;; ++seed) {
    TinyClip clip = training_clip(seed, options);
    if (!clip.still && clip.impacts.size() >= 2) return clip;
    seed = clip.seed;
  }
}

TEST(LossFocus, TheObjectWeightPeaksOnTheCellHoldingTheObject) {
  const TinyClip clip = moving_clip_with_impacts(4242);
  const LossFocus f = loss_focus(clip, kLatentFrames, kAudioLatents);
  const FocusWeights w = focus_weights(f.track.unsqueeze(0), f.onsets.unsqueeze(0), kCells, kCells,
                                       kObjectWeight, kImpactWeight);
  ASSERT_EQ(w.video.sizes(), (at::IntArrayRef{1, 1, kLatentFrames, kCells, kCells}));
  int moved = 0;
  for (int64_t k = 0; k < kLatentFrames; ++k) {
    // The cell of the object's centre in the last pixel frame of latent frame k (the object
    // moves at most a few pixels within the four frames a latent frame holds).
    const auto [px, py] = clip.centre.at(static_cast<size_t>(4 * k));
    const at::Tensor map = w.video[0][0][k];  // [h, w]
    const int64_t peak = map.argmax().item<int64_t>();
    const int64_t want_x = std::clamp<int64_t>(static_cast<int64_t>(px / 16), 0, kCells - 1);
    const int64_t want_y = std::clamp<int64_t>(static_cast<int64_t>(py / 16), 0, kCells - 1);
    EXPECT_LE(std::abs(peak % kCells - want_x), 1) << "latent frame " << k;
    EXPECT_LE(std::abs(peak / kCells - want_y), 1) << "latent frame " << k;
    EXPECT_GT(map.max().item<double>(), 1 + 0.4 * kObjectWeight) << "latent frame " << k;
    // Four cells or more from the object the weight is the plain 1.
    for (int64_t y = 0; y < kCells; ++y) {
      for (int64_t x = 0; x < kCells; ++x) {
        if (std::hypot(x - px / 16 + 0.5, y - py / 16 + 0.5) < 4.5) continue;
        EXPECT_LT(map[y][x].item<double>(), 1.01) << "frame " << k << " cell " << x << "," << y;
      }
    }
    if (k > 0 && !at::equal(map, w.video[0][0][k - 1])) ++moved;
  }
  EXPECT_GT(moved, 0) << "the weights follow the object";
}

TEST(LossFocus, TheImpactWeightCoversEachImpactsOnsetAndNothingFar) {
  const TinyClip clip = moving_clip_with_impacts(777);
  const LossFocus f = loss_focus(clip, kLatentFrames, kAudioLatents);
  const at::Tensor a = focus_weights(f.track.unsqueeze(0), f.onsets.unsqueeze(0), kCells, kCells,
                                     kObjectWeight, kImpactWeight)
                           .audio[0][0];  // [L]
  std::vector<int64_t> onset_latents;
  for (double t : clip.impacts) onset_latents.push_back(static_cast<int64_t>(t * 16000 / 512));
  for (int64_t i : onset_latents) {
    if (i >= kAudioLatents) continue;
    EXPECT_DOUBLE_EQ(a[i].item<double>(), 1 + kImpactWeight) << "impact at latent " << i;
  }
  for (int64_t i = 0; i < kAudioLatents; ++i) {
    bool near = false;
    for (int64_t j : onset_latents) near = near || std::abs(i - j) <= 2;
    if (!near) EXPECT_DOUBLE_EQ(a[i].item<double>(), 1.0) << "latent " << i;
  }
}

TEST(LossFocus, WeightedMseKeepsThePlainMeansScaleAndSelectsWhereWeighted) {
  at::manual_seed(31);
  const at::Tensor out = at::randn({2, 5, 3, 4, 4}), target = at::randn({2, 5, 3, 4, 4});
  const at::Tensor plain = (out - target).pow(2).mean();
  EXPECT_LT(test::relative_error(weighted_mse(out, target, at::ones({2, 1, 3, 4, 4})), plain), 1e-6);
  const at::Tensor w = at::rand({2, 1, 3, 4, 4}) + 0.1;
  EXPECT_LT(test::relative_error(weighted_mse(out, target, 3 * w), weighted_mse(out, target, w)),
            1e-6);
  // All the weight on one cell: the mean squared error over that cell's channels.
  at::Tensor one = at::zeros({2, 1, 3, 4, 4});
  one[1][0][2][3][1] = 1;
  const at::Tensor cell = (out - target).select(0, 1).select(1, 2).select(1, 3).select(1, 1);
  EXPECT_LT(test::relative_error(weighted_mse(out, target, one), cell.pow(2).mean()), 1e-6);
}

}  // namespace
}  // namespace duet::train
