// tools/eval_tiny's clip analyser with the scene generator as its oracle: on fresh renders it
// must find the captioned colour and motion, the impacts the physics produced and the sounds
// they made, and it must notice when any of those is wrong (shifted audio, recoloured frames,
// a mislabelled motion). A generated clip can only be scored as well as this baseline allows.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>

#include "clip_analysis.h"
#include "scenes/scene.h"

namespace duet::eval {
namespace {

using scenes::Motion;

// Three runs of consecutive seeds, three scenes of each motion from each: 36 scenes.
constexpr uint64_t kFirstSeeds[] = {7000, 31000, 90000};
constexpr int kPerRun = 3;
constexpr int kPerMotion = kPerRun * 3;

scenes::SceneSpec scene_at(uint64_t seed) {
  return scenes::random_scene(seed, {.width = 128, .height = 128, .frames = 121, .fps = 24.0});
}

// kPerRun scenes of each motion, from consecutive seeds starting at `first`.
void add_mixed_scenes(uint64_t first, std::vector<scenes::Scene>& out) {
  int per[4] = {0, 0, 0, 0}, total = 0;
  for (uint64_t seed = first; total < 4 * kPerRun; ++seed) {
    const scenes::SceneSpec spec = scene_at(seed);
    int& n = per[static_cast<int>(spec.objects.front().motion)];
    if (n >= kPerRun) continue;
    ++n;
    ++total;
    out.push_back(scenes::render_scene(spec));
  }
}

const std::vector<scenes::Scene>& oracle_scenes() {
  static const std::vector<scenes::Scene> scenes = [] {
    std::vector<scenes::Scene> out;
    for (uint64_t first : kFirstSeeds) add_mixed_scenes(first, out);
    return out;
  }();
  return scenes;
}

ClipAnalysis analyse(const scenes::Scene& s) {
  return analyse_clip(
      {s.frames, s.spec.width, s.spec.height, s.spec.fps, s.audio, s.spec.sample_rate});
}

double tolerance(const scenes::Scene& s) { return AnalysisOptions{}.sync_frames / s.spec.fps; }

bool near_any(double t, const std::vector<double>& times, double tol) {
  return std::any_of(times.begin(), times.end(), [&](double u) { return std::abs(u - t) <= tol; });
}

// Contacts whose rebound (or run into a wall) is large enough to see: a ball's last bounces
// move it by less than a pixel, which no picture shows, though they are heard.
bool visible(const scenes::Impact& im) { return im.wall || im.speed >= 1.0; }

TEST(ClipAnalysis, PaletteColoursNameThemselves) {
  for (const auto& c : scenes::object_colors()) {
    const double rgb[3] = {static_cast<double>(c.r), static_cast<double>(c.g),
                           static_cast<double>(c.b)};
    double d = -1;
    EXPECT_EQ(nearest_color(rgb, scenes::object_colors(), &d), c.name);
    EXPECT_NEAR(d, 0.0, 1e-9);
  }
}

TEST(ClipAnalysis, OnsetMatchingAndLoudness) {
  const Sync s = match_onsets({1.0, 2.0, 3.0}, {1.05, 2.2}, 0.0625);
  EXPECT_EQ(s.impacts, 3);
  EXPECT_EQ(s.matched, 1);
  EXPECT_EQ(match_onsets({}, {1.0}, 0.1).fraction, 1.0);
  EXPECT_EQ(rms_dbfs(std::vector<float>(1600, 0.0f)), -120.0);
  EXPECT_NEAR(rms_dbfs(std::vector<float>(1600, 0.5f)), 20 * std::log10(0.5), 1e-9);
}

TEST(ClipAnalysis, OracleColourMotionAndSync) {
  int color_ok = 0, motion_ok = 0, impacts = 0, matched = 0;
  int truth = 0, seen = 0, heard = 0, detected = 0, real = 0;
  for (const auto& s : oracle_scenes()) {
    const ClipAnalysis a = analyse(s);
    const scenes::ObjectSpec& o = s.spec.objects.front();
    color_ok += a.color == o.color.name;
    motion_ok += a.motion == o.motion;
    impacts += a.sync.impacts;
    matched += a.sync.matched;
    const double tol = tolerance(s);
    for (const auto& im : s.impacts) {
      if (!visible(im)) continue;
      ++truth;
      seen += near_any(im.time, a.visual_impacts, tol);
      heard += near_any(im.time, a.audio_onsets, tol);
    }
    // Every visual impact is a real contact (of any speed).
    for (double t : a.visual_impacts) {
      ++detected;
      real += std::any_of(s.impacts.begin(), s.impacts.end(),
                          [&](const scenes::Impact& im) { return std::abs(im.time - t) <= tol; });
    }
  }
  const int n = static_cast<int>(oracle_scenes().size());
  EXPECT_GE(color_ok, 0.95 * n) << color_ok << "/" << n;
  EXPECT_GE(motion_ok, 0.90 * n) << motion_ok << "/" << n;
  // Sound is held to 85%, not 90%: a metal object's second knock comes while the first still
  // rings (0.25 s decay) at about its loudness, and no energy onset can hear it. Over 300
  // scenes the analyser hears 89% of the visible impacts, all misses such metal knocks.
  ASSERT_GT(impacts, 20);
  EXPECT_GE(matched, 0.85 * impacts) << matched << "/" << impacts;
  ASSERT_GT(truth, 20);
  EXPECT_GE(seen, 0.90 * truth) << seen << "/" << truth << " true visible impacts seen";
  EXPECT_GE(heard, 0.85 * truth) << heard << "/" << truth << " true visible impacts heard";
  EXPECT_GE(real, 0.90 * detected) << real << "/" << detected << " visual impacts are real";
}

TEST(ClipAnalysis, StillScenesAreSilentAndMotionless) {
  int stills = 0;
  for (const auto& s : oracle_scenes()) {
    if (s.spec.objects.front().motion != Motion::kStill) continue;
    ++stills;
    const ClipAnalysis a = analyse(s);
    EXPECT_EQ(a.audio_rms_dbfs, -120.0);
    EXPECT_TRUE(a.audio_onsets.empty());
    EXPECT_TRUE(a.visual_impacts.empty());
    EXPECT_EQ(a.motion, Motion::kStill);
  }
  EXPECT_EQ(stills, kPerMotion);
}

// A 3x3 box blur (two 3-tap passes) and uniform grain of +-6 levels: a stand-in for a
// generated clip's softness and noise, which the thresholds must survive.
void blur3(const uint8_t* src, uint8_t* dst, int n, int count, size_t stride, size_t step) {
  for (int line = 0; line < count; ++line) {
    for (int i = 0; i < n; ++i) {
      const size_t at = line * stride + static_cast<size_t>(i) * step;
      const size_t lo = line * stride + static_cast<size_t>(std::max(i - 1, 0)) * step;
      const size_t hi = line * stride + static_cast<size_t>(std::min(i + 1, n - 1)) * step;
      for (int c = 0; c < 3; ++c)
        dst[at + c] = static_cast<uint8_t>((src[lo + c] + src[at + c] + src[hi + c] + 1) / 3);
    }
  }
}

void soften(scenes::Scene& s, uint64_t seed) {
  const int w = s.spec.width, h = s.spec.height;
  const size_t frame_bytes = static_cast<size_t>(w) * h * 3, row = static_cast<size_t>(w) * 3;
  std::minstd_rand rng(static_cast<uint32_t>(seed));
  std::vector<uint8_t> tmp(frame_bytes);
  for (int f = 0; f < s.spec.frames; ++f) {
    uint8_t* img = s.frames.data() + f * frame_bytes;
    blur3(img, tmp.data(), w, h, row, 3);  // along rows
    blur3(tmp.data(), img, h, w, 3, row);  // along columns
    for (size_t i = 0; i < frame_bytes; ++i)
      img[i] = static_cast<uint8_t>(std::clamp(img[i] + static_cast<int>(rng() % 13) - 6, 0, 255));
  }
}

TEST(ClipAnalysis, SoftenedFramesStillScore) {
  int color_ok = 0, motion_ok = 0, impacts = 0, matched = 0;
  for (const auto& s : oracle_scenes()) {
    scenes::Scene soft = s;
    soften(soft, s.spec.noise_seed);
    const ClipAnalysis a = analyse(soft);
    color_ok += a.color == s.spec.objects.front().color.name;
    motion_ok += a.motion == s.spec.objects.front().motion;
    impacts += a.sync.impacts;
    matched += a.sync.matched;
  }
  const int n = static_cast<int>(oracle_scenes().size());
  EXPECT_GE(color_ok, 0.90 * n) << color_ok << "/" << n;
  EXPECT_GE(motion_ok, 0.90 * n) << motion_ok << "/" << n;
  EXPECT_GE(matched, 0.80 * impacts) << matched << "/" << impacts;
}

// The sound five frames late: nearly no impact keeps an onset within a frame.
TEST(ClipAnalysis, ShiftedAudioLosesSync) {
  int impacts = 0, matched = 0;
  for (const auto& s : oracle_scenes()) {
    if (s.impacts.empty()) continue;
    scenes::Scene late = s;
    const auto shift =
        static_cast<std::ptrdiff_t>(std::lround(5 / s.spec.fps * s.spec.sample_rate));
    std::fill(late.audio.begin(), late.audio.end(), 0.0f);
    std::copy(s.audio.begin(), s.audio.end() - shift, late.audio.begin() + shift);
    const ClipAnalysis a = analyse(late);
    impacts += a.sync.impacts;
    matched += a.sync.matched;
  }
  ASSERT_GT(impacts, 20);
  EXPECT_LT(matched, 0.5 * impacts) << matched << "/" << impacts;
}

// Channels rotated (r, g, b) -> (b, r, g): every colour but white and black changes name.
TEST(ClipAnalysis, RecolouredFramesMismatch) {
  int coloured = 0;
  for (const auto& s : oracle_scenes()) {
    const std::string& name = s.spec.objects.front().color.name;
    if (name == "white" || name == "black") continue;
    ++coloured;
    scenes::Scene recoloured = s;
    for (size_t i = 0; i + 2 < recoloured.frames.size(); i += 3) {
      std::rotate(recoloured.frames.begin() + static_cast<std::ptrdiff_t>(i),
                  recoloured.frames.begin() + static_cast<std::ptrdiff_t>(i + 2),
                  recoloured.frames.begin() + static_cast<std::ptrdiff_t>(i + 3));
    }
    EXPECT_NE(analyse(recoloured).color, name) << scenes::caption_of(s.spec);
  }
  EXPECT_GT(coloured, 20);
}

// A ball rolling right, captioned as rolling left, is a mismatch; mirrored, it rolls left.
TEST(ClipAnalysis, RelabelledRollMismatches) {
  int rolls = 0;
  for (const auto& s : oracle_scenes()) {
    if (s.spec.objects.front().motion != Motion::kRollsRight) continue;
    ++rolls;
    scenes::SceneSpec relabelled = s.spec;
    relabelled.objects.front().motion = Motion::kRollsLeft;
    const ClipAnalysis a = analyse(s);
    EXPECT_NE(a.motion, relabelled.objects.front().motion) << scenes::caption_of(s.spec);
    scenes::Scene mirrored = s;
    const int w = s.spec.width;
    for (size_t row = 0; row < mirrored.frames.size() / (3 * static_cast<size_t>(w)); ++row) {
      for (int x = 0; x < w; ++x) {
        for (int c = 0; c < 3; ++c) {
          mirrored.frames[(row * w + x) * 3 + c] = s.frames[(row * w + (w - 1 - x)) * 3 + c];
        }
      }
    }
    EXPECT_EQ(analyse(mirrored).motion, Motion::kRollsLeft) << scenes::caption_of(s.spec);
  }
  EXPECT_EQ(rolls, kPerMotion);
}

}  // namespace
}  // namespace duet::eval
