// The procedural scene generator is duet-tiny's data and its evaluation oracle: the physics,
// the picture and the sound must agree with each other and with the caption.
#include "scenes/scene.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <set>

namespace duet::scenes {
namespace {

ObjectSpec ball(Material m, Motion motion) {
  ObjectSpec o;
  o.shape = Shape::kBall;
  o.color = object_colors()[0];  // red
  o.material = m;
  o.motion = motion;
  o.size = 0.15;
  return o;
}

SceneSpec one(const ObjectSpec& o) {
  SceneSpec s;
  s.background = {"backdrop", 210, 218, 226};
  s.floor = floor_colors()[0];  // gray
  s.objects = {o};
  return s;
}

// Onsets found from the sound alone: 4 ms windows whose energy jumps to three times the
// previous window's (a new impact over a decaying ring) and above a floor.
std::vector<double> audio_onsets(const std::vector<float>& audio, int rate) {
  const size_t win = static_cast<size_t>(rate / 250);
  std::vector<double> out;
  double prev = 0;
  for (size_t i = 0; i + win <= audio.size(); i += win) {
    double e = 0;
    for (size_t j = i; j < i + win; ++j) e += double(audio[j]) * audio[j];
    e /= win;
    if (e > 1e-4 && e > 3 * prev && (out.empty() || i / double(rate) - out.back() > 0.05)) {
      out.push_back(i / double(rate));
    }
    prev = e;
  }
  return out;
}

TEST(Scenes, SameSpecSameScene) {
  const SceneSpec s = random_scene(7, {});
  const Scene a = render_scene(s), b = render_scene(s);
  EXPECT_EQ(a.frames, b.frames);
  EXPECT_EQ(a.audio, b.audio);
  EXPECT_EQ(a.frames.size(), 121u * 64 * 64 * 3);
  EXPECT_EQ(a.audio.size(), static_cast<size_t>(std::llround(121 / 24.0 * 16000)));
}

TEST(Scenes, EveryBounceIsHeardWithinOneFrame) {
  for (Material m : {Material::kRubber, Material::kWood, Material::kMetal}) {
    ObjectSpec o = ball(m, Motion::kFalls);
    o.y = 1.4;
    const Scene s = render_scene(one(o));
    ASSERT_GE(s.impacts.size(), 2u) << material_name(m);
    for (size_t i = 1; i < s.impacts.size(); ++i) EXPECT_GT(s.impacts[i].time, s.impacts[i - 1].time);
    const auto onsets = audio_onsets(s.audio, 16000);
    for (const Impact& im : s.impacts) {
      if (im.speed < 1.0) continue;  // faint late bounces may merge into the previous ring
      double best = 1e9;
      for (double t : onsets) best = std::min(best, std::abs(t - im.time));
      EXPECT_LE(best, 1.0 / 24.0) << material_name(m) << " impact at " << im.time;
    }
    // And nothing is heard where nothing hit.
    for (double t : onsets) {
      double best = 1e9;
      for (const Impact& im : s.impacts) best = std::min(best, std::abs(t - im.time));
      EXPECT_LE(best, 1.0 / 24.0) << material_name(m) << " onset at " << t;
    }
    // The first impact: a drop from 1.4 - 0.15 lands after sqrt(2 h / g).
    EXPECT_NEAR(s.impacts.front().time, std::sqrt(2 * 1.25 / 9.81), 1.0 / 480 + 1e-9);
  }
}

TEST(Scenes, StillScenesAreSilent) {
  ObjectSpec o = ball(Material::kMetal, Motion::kStill);
  o.y = o.size;  // resting on the floor
  const Scene s = render_scene(one(o));
  EXPECT_TRUE(s.impacts.empty());
  float peak = 0;
  for (float v : s.audio) peak = std::max(peak, std::abs(v));
  EXPECT_EQ(peak, 0.0f);
  EXPECT_EQ(s.frames.size(), 121u * 64 * 64 * 3);
}

TEST(Scenes, PictureShowsTheObjectWhereThePhysicsPutsIt) {
  ObjectSpec o = ball(Material::kRubber, Motion::kRollsRight);
  o.y = o.size;
  o.x = -0.5;
  o.vx = 0.8;
  const Scene s = render_scene(one(o));
  const auto& c0 = s.centres.front()[0];
  const uint8_t* p = s.frame(0) + (static_cast<size_t>(c0.second) * 64 + static_cast<size_t>(c0.first)) * 3;
  EXPECT_NEAR(p[0], 220, 30);  // red at the centre
  EXPECT_LT(p[1], 80);
  EXPECT_LT(p[2], 80);
  // Rolling right: the centre moves right, and the floor rumbles while it does.
  EXPECT_GT(s.centres[24][0].first, c0.first + 5);
  double rms = 0;
  for (size_t i = 0; i < 16000; ++i) rms += double(s.audio[i]) * s.audio[i];
  EXPECT_GT(std::sqrt(rms / 16000), 0.005);
  // The floor colour below the object, the backdrop above it.
  EXPECT_EQ(s.frame(0)[(63 * 64 + 2) * 3], 128);
  EXPECT_EQ(s.frame(0)[(2 * 64 + 2) * 3], 210);
}

TEST(Scenes, TheBackdropIsTheFrameWithoutItsObjects) {
  // duet-tiny's fusion training weights latent cells by where frames differ from the backdrop.
  ObjectSpec o = ball(Material::kRubber, Motion::kFalls);
  o.y = 1.0;
  const Scene s = render_scene(one(o));
  const std::vector<uint8_t> backdrop = render_backdrop(s.spec);
  ASSERT_EQ(backdrop.size(), 64u * 64 * 3);
  const double radius_px = o.size * 64 / 2.0;  // the view is 2 world units wide
  for (const int f : {0, 20, 60}) {
    const auto [cx, cy] = s.centres[f][0];
    int off = 0;
    for (int y = 0; y < 64; ++y) {
      for (int x = 0; x < 64; ++x) {
        const size_t i = (static_cast<size_t>(y) * 64 + x) * 3;
        const bool differs = !std::equal(backdrop.begin() + i, backdrop.begin() + i + 3,
                                         s.frame(f) + i);
        if (!differs) continue;
        ++off;
        EXPECT_LE(std::hypot(x + 0.5 - cx, y + 0.5 - cy), radius_px + 1.5)
            << "frame " << f << " pixel " << x << "," << y;
      }
    }
    // Nearly the whole disc differs (the red ball is far from both backdrop colours).
    EXPECT_GT(off, 0.8 * M_PI * radius_px * radius_px) << "frame " << f;
  }
}

TEST(Scenes, CaptionsNameColourShapeMotionAndSound) {
  SceneSpec s = one(ball(Material::kWood, Motion::kFalls));
  EXPECT_EQ(caption_of(s),
            "A small red wooden ball falls and bounces on a gray floor. <AUDCAP>wooden knocks at "
            "every bounce<ENDAUDCAP>");
  s.objects[0].shape = Shape::kBox;
  s.objects[0].motion = Motion::kRollsLeft;
  s.objects[0].size = 0.28;
  EXPECT_EQ(caption_of(s),
            "A large red wooden box slides to the left on a gray floor. <AUDCAP>a scraping "
            "sound<ENDAUDCAP>");
}

TEST(Scenes, RandomScenesCoverTheVocabulary) {
  std::set<std::string> colours, motions, shapes;
  for (uint64_t seed = 0; seed < 300; ++seed) {
    const SceneSpec s = random_scene(seed, {});
    ASSERT_EQ(s.objects.size(), 1u);
    const ObjectSpec& o = s.objects[0];
    colours.insert(o.color.name);
    motions.insert(motion_name(o.motion));
    shapes.insert(shape_name(o.shape));
    EXPECT_NE(o.color.name, s.floor.name);
    EXPECT_LE(std::abs(o.x) + o.size, 1.0);
  }
  EXPECT_EQ(colours.size(), object_colors().size());
  EXPECT_EQ(motions.size(), 4u);
  EXPECT_EQ(shapes.size(), 2u);
}

}  // namespace
}  // namespace duet::scenes
