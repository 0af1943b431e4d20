#include "scenes/scene.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <random>

#include "core/error.h"
#include "core/hash.h"

namespace duet::scenes {
namespace {

constexpr double kGravity = 9.81;
constexpr double kWall = 1.0;
constexpr double kViewBottom = -0.25, kViewTop = 1.75;
// Radius (ball) or half side (box) of the two object sizes: 20 and 36 pixels across at 128x128,
// so a small object still covers more than one 16x16-pixel cell of the tiny model's latent grid
// (at 0.12 / 0.22 a small object was a few pixels of one cell and the model never drew it).
constexpr double kSmallSize = 0.16, kLargeSize = 0.28;
constexpr int kSubsteps = 20;             // physics steps per video frame
constexpr double kAudibleSpeed = 0.2;     // slower contacts make no impact sound
constexpr double kRestSpeed = 0.15;       // a bounce slower than this comes to rest
constexpr double kTwoPi = 6.283185307179586;

struct MaterialSound {
  double restitution_ball, restitution_box, friction;  // bounce; sliding friction coefficient
  double f0;                                           // impact pitch of a 0.15-size object, Hz
  double ratios[3];                                    // modal frequency ratios
  double decay;                                        // seconds
  double roll_brightness;                              // one-pole low-pass coefficient
};

const MaterialSound& sound_of(Material m) {
  static const MaterialSound rubber{0.75, 0.45, 0.6, 180.0, {1.0, 1.6, 2.3}, 0.045, 0.08};
  static const MaterialSound wood{0.55, 0.15, 0.4, 600.0, {1.0, 2.4, 4.1}, 0.06, 0.15};
  static const MaterialSound metal{0.65, 0.25, 0.25, 1400.0, {1.0, 2.76, 5.4}, 0.25, 0.35};
  return m == Material::kRubber ? rubber : m == Material::kWood ? wood : metal;
}

struct Body {
  ObjectSpec spec;
  double x, y, vx, vy;
  bool resting = false;
};

bool on_floor(const Body& b) { return b.resting || (b.y - b.spec.size <= 1e-6 && std::abs(b.vy) < 1e-9); }

// One physics step; impacts are appended with their time.
void step_body(Body& b, int index, double t, double dt, std::vector<Impact>& impacts) {
  const MaterialSound& m = sound_of(b.spec.material);
  const double r = b.spec.size;
  const bool ball = b.spec.shape == Shape::kBall;
  if (!b.resting) {
    b.vy -= kGravity * dt;
    b.y += b.vy * dt;
    if (b.y - r <= 0 && b.vy < 0) {
      const double speed = -b.vy;
      if (speed > kAudibleSpeed) impacts.push_back({t, index, speed, false});
      b.y = r;
      b.vy = speed * (ball ? m.restitution_ball : m.restitution_box);
      if (b.vy < kRestSpeed) {
        b.vy = 0;
        b.resting = true;
      }
    }
  }
  // Along the floor: balls roll with little loss, boxes slide against friction.
  if (b.resting && b.vx != 0) {
    const double decel = (ball ? 0.12 : m.friction * kGravity) * dt;
    b.vx = std::abs(b.vx) <= decel ? 0.0 : b.vx - std::copysign(decel, b.vx);
  }
  b.x += b.vx * dt;
  if (std::abs(b.x) + r > kWall && b.x * b.vx > 0) {
    const double speed = std::abs(b.vx);
    if (speed > kAudibleSpeed) impacts.push_back({t, index, speed, true});
    b.x = std::copysign(kWall - r, b.x);
    b.vx = -b.vx * (ball ? m.restitution_ball : m.restitution_box);
  }
}

// Damped modal ring of one impact, added into `audio` from sample `start`.
void add_impact(std::vector<float>& audio, int sample_rate, int64_t start, const ObjectSpec& o,
                double speed) {
  const MaterialSound& m = sound_of(o.material);
  const double pitch = m.f0 * (0.15 / o.size);
  const double amplitude = 0.45 * std::min(1.0, speed / 4.0);
  const int64_t length = static_cast<int64_t>(std::min(1.0, 6.0 * m.decay) * sample_rate);
  for (int64_t i = 0; i < length && start + i < static_cast<int64_t>(audio.size()); ++i) {
    const double t = static_cast<double>(i) / sample_rate;
    double v = 0;
    for (int k = 0; k < 3; ++k) {
      v += std::sin(kTwoPi * pitch * m.ratios[k] * t) * std::exp(-t * (k + 1) / m.decay) / (k + 1);
    }
    // A 2 ms attack so the onset is sharp but click-free.
    v *= std::min(1.0, t / 0.002);
    audio[static_cast<size_t>(start + i)] += static_cast<float>(amplitude * v);
  }
}

void draw_body(std::vector<uint8_t>& img, int w, int h, const Body& b) {
  const double sx = w / (2 * kWall), sy = h / (kViewTop - kViewBottom);
  const double cx = (b.x + kWall) * sx, cy = (kViewTop - b.y) * sy;
  const double rx = b.spec.size * sx, ry = b.spec.size * sy;
  const int x0 = std::max(0, static_cast<int>(cx - rx - 1)), x1 = std::min(w - 1, static_cast<int>(cx + rx + 1));
  const int y0 = std::max(0, static_cast<int>(cy - ry - 1)), y1 = std::min(h - 1, static_cast<int>(cy + ry + 1));
  for (int y = y0; y <= y1; ++y) {
    for (int x = x0; x <= x1; ++x) {
      // Coverage from 2x2 sub-samples: smooth edges at tiny sizes.
      double cover = 0, shade = 0;
      for (int s = 0; s < 4; ++s) {
        const double px = (x + 0.25 + 0.5 * (s % 2) - cx) / rx, py = (y + 0.25 + 0.5 * (s / 2) - cy) / ry;
        const bool inside = b.spec.shape == Shape::kBall ? px * px + py * py <= 1.0
                                                         : std::abs(px) <= 1.0 && std::abs(py) <= 1.0;
        if (!inside) continue;
        cover += 0.25;
        // Light from the upper left: a gentle highlight on balls, a lit top face on boxes.
        shade += 0.25 * (b.spec.shape == Shape::kBall ? 1.0 - 0.25 * (px + py) / 2.0 : (py < -0.6 ? 1.15 : 1.0));
      }
      if (cover == 0) continue;
      const double k = shade / cover;
      uint8_t* p = img.data() + (static_cast<size_t>(y) * w + x) * 3;
      const uint8_t rgb[3] = {b.spec.color.r, b.spec.color.g, b.spec.color.b};
      for (int c = 0; c < 3; ++c) {
        const double v = std::clamp(rgb[c] * k, 0.0, 255.0);
        p[c] = static_cast<uint8_t>(std::lround(p[c] * (1 - cover) + v * cover));
      }
    }
  }
}

void draw_frame(std::vector<uint8_t>& img, const SceneSpec& spec, const std::vector<Body>& bodies) {
  const int w = spec.width, h = spec.height;
  const int floor_row = static_cast<int>(std::lround((kViewTop - 0.0) / (kViewTop - kViewBottom) * h));
  for (int y = 0; y < h; ++y) {
    const NamedColor& c = y < floor_row ? spec.background : spec.floor;
    for (int x = 0; x < w; ++x) {
      uint8_t* p = img.data() + (static_cast<size_t>(y) * w + x) * 3;
      p[0] = c.r;
      p[1] = c.g;
      p[2] = c.b;
    }
  }
  for (const auto& b : bodies) draw_body(img, w, h, b);
}

double pick(std::mt19937_64& rng, double lo, double hi) {
  return std::uniform_real_distribution<double>(lo, hi)(rng);
}

template <typename T>
const T& pick_one(std::mt19937_64& rng, const std::vector<T>& items) {
  return items[std::uniform_int_distribution<size_t>(0, items.size() - 1)(rng)];
}

}  // namespace

const std::vector<NamedColor>& object_colors() {
  static const std::vector<NamedColor> c{
      {"red", 220, 30, 30},     {"orange", 245, 140, 20}, {"yellow", 240, 220, 30},
      {"green", 40, 170, 60},   {"blue", 35, 80, 220},    {"purple", 140, 50, 190},
      {"pink", 245, 130, 190},  {"white", 245, 245, 245}, {"black", 25, 25, 25},
      {"brown", 130, 80, 40}};
  return c;
}

const std::vector<NamedColor>& floor_colors() {
  static const std::vector<NamedColor> c{{"gray", 128, 128, 128}, {"beige", 215, 200, 170},
                                         {"dark", 60, 60, 70},    {"light blue", 170, 200, 230},
                                         {"green", 90, 140, 90}};
  return c;
}

const char* shape_name(Shape s) { return s == Shape::kBall ? "ball" : "box"; }
const char* material_name(Material m) {
  return m == Material::kRubber ? "rubber" : m == Material::kWood ? "wooden" : "metal";
}
const char* motion_name(Motion m) {
  switch (m) {
    case Motion::kFalls: return "falls";
    case Motion::kRollsLeft: return "moves left";
    case Motion::kRollsRight: return "moves right";
    case Motion::kStill: return "still";
  }
  return "?";
}

SceneSpec random_scene(uint64_t seed, const SceneOptions& o) {
  DUET_CHECK(o.width >= 16 && o.height >= 16 && o.frames >= 1 && o.fps > 0 && o.max_objects >= 1,
             "scene options: size >= 16x16, frames >= 1, fps > 0, max_objects >= 1");
  std::mt19937_64 rng(seed);
  SceneSpec s;
  s.width = o.width;
  s.height = o.height;
  s.frames = o.frames;
  s.fps = o.fps;
  s.noise_seed = seed ^ 0x9e3779b97f4a7c15ULL;
  s.floor = pick_one(rng, floor_colors());
  // A pale backdrop, so every object colour stands out against it.
  const int base = static_cast<int>(pick(rng, 185, 235));
  s.background = {"backdrop", static_cast<uint8_t>(base), static_cast<uint8_t>(base + 8),
                  static_cast<uint8_t>(std::min(255, base + 16))};
  const int n = std::uniform_int_distribution<int>(1, o.max_objects)(rng);
  for (int i = 0; i < n; ++i) {
    ObjectSpec obj;
    obj.shape = pick(rng, 0, 1) < 0.5 ? Shape::kBall : Shape::kBox;
    do {
      obj.color = pick_one(rng, object_colors());
    } while (obj.color.name == s.floor.name);
    obj.material = static_cast<Material>(std::uniform_int_distribution<int>(0, 2)(rng));
    obj.size = pick(rng, 0, 1) < 0.5 ? kSmallSize : kLargeSize;
    obj.motion = static_cast<Motion>(std::uniform_int_distribution<int>(0, 3)(rng));
    const double lane = n == 1 ? 0.0 : -0.5 + static_cast<double>(i) / (n - 1);
    switch (obj.motion) {
      case Motion::kFalls:
        obj.x = n == 1 ? pick(rng, -0.5, 0.5) : lane;
        obj.y = pick(rng, 1.0, 1.45);
        break;
      case Motion::kRollsLeft:
      case Motion::kRollsRight: {
        const double dir = obj.motion == Motion::kRollsRight ? 1.0 : -1.0;
        obj.x = -dir * pick(rng, 0.3, 0.6);
        obj.y = obj.size;
        obj.vx = dir * pick(rng, 0.5, 0.9) * (obj.shape == Shape::kBox ? 3.0 : 1.0);
        break;
      }
      case Motion::kStill:
        obj.x = n == 1 ? pick(rng, -0.5, 0.5) : lane;
        obj.y = obj.size;
        break;
    }
    s.objects.push_back(obj);
  }
  return s;
}

std::vector<uint8_t> render_backdrop(const SceneSpec& spec) {
  std::vector<uint8_t> image(static_cast<size_t>(spec.width) * spec.height * 3);
  draw_frame(image, spec, {});
  return image;
}

Scene render_scene(const SceneSpec& spec) {
  DUET_CHECK(!spec.objects.empty(), "a scene needs at least one object");
  Scene scene;
  scene.spec = spec;
  std::vector<Body> bodies;
  for (const auto& o : spec.objects) {
    Body b{o, o.x, o.y, o.vx, o.vy};
    b.resting = o.y - o.size <= 1e-6 && o.vy == 0;
    if (b.resting) b.y = o.size;
    bodies.push_back(b);
  }
  const size_t frame_bytes = static_cast<size_t>(spec.width) * spec.height * 3;
  scene.frames.resize(frame_bytes * static_cast<size_t>(spec.frames));
  const int64_t samples = std::llround(spec.frames / spec.fps * spec.sample_rate);
  scene.audio.assign(static_cast<size_t>(samples), 0.0f);
  std::mt19937_64 noise_rng(spec.noise_seed);
  std::normal_distribution<double> white(0.0, 1.0);
  std::vector<double> lowpass(bodies.size(), 0.0);

  const double dt = 1.0 / (spec.fps * kSubsteps);
  const double samples_per_step = spec.sample_rate * dt;
  std::vector<uint8_t> image(frame_bytes);
  for (int f = 0; f < spec.frames; ++f) {
    draw_frame(image, spec, bodies);
    std::copy(image.begin(), image.end(), scene.frames.begin() + static_cast<std::ptrdiff_t>(frame_bytes * f));
    std::vector<std::pair<double, double>> centres;
    for (const auto& b : bodies) {
      centres.emplace_back((b.x + kWall) * spec.width / (2 * kWall),
                           (kViewTop - b.y) * spec.height / (kViewTop - kViewBottom));
    }
    scene.centres.push_back(centres);
    for (int k = 0; k < kSubsteps; ++k) {
      const int64_t step = static_cast<int64_t>(f) * kSubsteps + k;
      const double t = step * dt;
      const size_t before = scene.impacts.size();
      for (size_t i = 0; i < bodies.size(); ++i) step_body(bodies[i], static_cast<int>(i), t + dt, dt, scene.impacts);
      for (size_t j = before; j < scene.impacts.size(); ++j) {
        const Impact& im = scene.impacts[j];
        add_impact(scene.audio, spec.sample_rate, std::llround(im.time * spec.sample_rate),
                   bodies[static_cast<size_t>(im.object)].spec, im.speed);
      }
      // Rolling / scraping noise while an object moves along the floor.
      const int64_t s0 = std::llround(step * samples_per_step), s1 = std::llround((step + 1) * samples_per_step);
      for (size_t i = 0; i < bodies.size(); ++i) {
        const Body& b = bodies[i];
        if (!on_floor(b) || std::abs(b.vx) < 0.02) continue;
        const bool box = b.spec.shape == Shape::kBox;
        const double a = (box ? 0.5 : 1.0) * sound_of(b.spec.material).roll_brightness;
        const double gain = (box ? 0.25 : 0.12) * std::min(1.0, std::abs(b.vx) / 1.0);
        for (int64_t n = s0; n < s1 && n < samples; ++n) {
          lowpass[i] += a * (white(noise_rng) - lowpass[i]);
          scene.audio[static_cast<size_t>(n)] += static_cast<float>(gain * lowpass[i]);
        }
      }
    }
  }
  for (auto& v : scene.audio) v = std::clamp(v, -1.0f, 1.0f);
  return scene;
}

std::string caption_of(const SceneSpec& spec) {
  std::string video, audio;
  for (size_t i = 0; i < spec.objects.size(); ++i) {
    const ObjectSpec& o = spec.objects[i];
    const bool ball = o.shape == Shape::kBall;
    const char* size = o.size < (kSmallSize + kLargeSize) / 2 ? "small" : "large";
    std::string motion, sound;
    switch (o.motion) {
      case Motion::kFalls:
        motion = ball ? "falls and bounces" : "falls and lands";
        sound = ball ? fmt::format("{} at every bounce", o.material == Material::kMetal ? "metallic clangs"
                                                         : o.material == Material::kWood ? "wooden knocks"
                                                                                         : "soft thuds")
                     : fmt::format("a {} knock as it lands", material_name(o.material));
        break;
      case Motion::kRollsLeft:
      case Motion::kRollsRight:
        motion = fmt::format("{} to the {}", ball ? "rolls" : "slides",
                             o.motion == Motion::kRollsLeft ? "left" : "right");
        sound = ball ? "a rolling rumble" : "a scraping sound";
        break;
      case Motion::kStill:
        motion = "rests";
        sound = "silence";
        break;
    }
    video += fmt::format("{}a {} {} {} {} {}", i == 0 ? "" : ", and ", size, o.color.name,
                         material_name(o.material), shape_name(o.shape), motion);
    audio += (i == 0 ? "" : ", ") + sound;
  }
  video[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(video[0])));
  return fmt::format("{} on a {} floor. <AUDCAP>{}<ENDAUDCAP>", video, spec.floor.name, audio);
}

bool is_held_out(const std::string& caption) { return fnv1a64(caption) % 10 == 0; }

SceneSpec next_scene(uint64_t seed, const SceneOptions& options, bool held_out, uint64_t* found) {
  for (;; ++seed) {
    SceneSpec spec = random_scene(seed, options);
    if (is_held_out(caption_of(spec)) == held_out) {
      if (found) *found = seed;
      return spec;
    }
  }
}

}  // namespace duet::scenes
