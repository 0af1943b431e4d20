#pragma once
// Procedural audiovisual scenes with physics: the training data of duet-tiny and the oracle of
// its evaluation. Balls and boxes of named colours, sizes and materials fall, bounce, roll and
// slide over a floor; the sound track is what that motion would make: an impact at every bounce
// or collision (pitch by size and material, loudness by speed), rolling or scraping noise while
// an object moves along the floor, silence when everything is still. Each scene comes with its
// caption and its ground truth (impact times, motion per object). Torch-free and deterministic:
// the same spec gives the same pixels and samples on every machine.
//
//   SceneSpec spec = random_scene(42, {});          // or build one by hand
//   Scene s = render_scene(spec);                   // frames, audio, impacts
//   std::string c = caption_of(spec);               // "a small red rubber ball bounces ..."
#include <cstdint>
#include <string>
#include <vector>

namespace duet::scenes {

struct NamedColor {
  std::string name;
  uint8_t r = 0, g = 0, b = 0;
};
// The palette captions use: red, orange, yellow, green, blue, purple, pink, white, black, brown.
const std::vector<NamedColor>& object_colors();
// Floors and backdrops: gray, beige, dark, light blue, green.
const std::vector<NamedColor>& floor_colors();

enum class Shape { kBall, kBox };
enum class Material { kRubber, kWood, kMetal };
enum class Motion {
  kFalls,       // dropped from a height: falls and bounces (balls) or lands (boxes)
  kRollsLeft,   // on the floor moving left: balls roll, boxes slide to a stop
  kRollsRight,
  kStill,       // resting on the floor
};
const char* shape_name(Shape s);
const char* material_name(Material m);
const char* motion_name(Motion m);

struct ObjectSpec {
  Shape shape = Shape::kBall;
  NamedColor color;
  Material material = Material::kRubber;
  double size = 0.15;  // radius (ball) or half side (box), in world units (the view is 2 wide)
  Motion motion = Motion::kFalls;
  double x = 0, y = 1.0;    // start of the centre; the floor is y = 0, walls at x = +-1
  double vx = 0, vy = 0;    // start velocity, world units per second
};

struct SceneSpec {
  NamedColor background, floor;
  std::vector<ObjectSpec> objects;
  int width = 64, height = 64;  // pixels; the view spans x in [-1, 1], y in [-0.25, 1.75]
  double fps = 24.0;
  int frames = 121;
  int sample_rate = 16000;
  uint64_t noise_seed = 1;  // rolling noise
};

struct Impact {
  double time = 0;   // seconds
  int object = 0;
  double speed = 0;  // normal speed at contact, world units per second
  bool wall = false;
};

struct Scene {
  SceneSpec spec;
  std::vector<uint8_t> frames;  // frames x height x width x 3, RGB
  std::vector<float> audio;     // mono, spec.sample_rate, frames / fps seconds, in [-1, 1]
  std::vector<Impact> impacts;  // in time order; audible ones only (speed above a threshold)
  // Per frame and object: centre in pixels (x right, y down), for evaluation.
  std::vector<std::vector<std::pair<double, double>>> centres;

  const uint8_t* frame(int index) const {
    return frames.data() + static_cast<size_t>(index) * spec.width * spec.height * 3;
  }
};

struct SceneOptions {
  int width = 64, height = 64;
  int frames = 121;
  double fps = 24.0;
  int max_objects = 1;
};

// A random scene: one object (or up to max_objects), random colour, size, material, motion.
SceneSpec random_scene(uint64_t seed, const SceneOptions& options);
Scene render_scene(const SceneSpec& spec);
// The scene's frame without its objects (backdrop above the floor line, floor below):
// height x width x 3, RGB. Every pixel of a rendered frame that differs from it shows an object.
std::vector<uint8_t> render_backdrop(const SceneSpec& spec);
// "A small red rubber ball falls and bounces on a gray floor. <AUDCAP>soft rubber thuds at every
// bounce<ENDAUDCAP>"
std::string caption_of(const SceneSpec& spec);

// The train / evaluation split of captions: a caption is held out (never trained on, used by
// tools/eval_tiny) when the FNV-1a hash of its text is 0 modulo 10. Splitting by caption rather
// than by seed keeps every held-out description unseen in training.
bool is_held_out(const std::string& caption);
// The scene of the first seed at or after `seed` whose caption is (or is not) held out, and that
// seed in *found.
SceneSpec next_scene(uint64_t seed, const SceneOptions& options, bool held_out, uint64_t* found);

}  // namespace duet::scenes
