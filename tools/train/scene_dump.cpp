// duet_scenes: writes procedural training scenes (src/scenes/scene.h) as MP4 clips with sound,
// and DIR/scenes.jsonl with one line per clip: file, seed, caption, impacts (time, object,
// speed, wall) and per-object motion, the ground truth duet-tiny's evaluation checks against.
//
//   duet_scenes --count 8 --out /tmp/scenes [--first-seed 0] [--size 64] [--frames 121] [--strips]
#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "core/error.h"
#include "media/image_reader.h"
#include "media/scene_clip.h"
#include "scenes/scene.h"

namespace {

using namespace duet;

// Every `step`-th frame side by side, for a quick look at a scene.
void write_strip(const scenes::Scene& s, const std::string& path, int step) {
  const int w = s.spec.width, h = s.spec.height;
  const int n = (s.spec.frames + step - 1) / step;
  media::RgbImage strip;
  strip.width = w * n;
  strip.height = h;
  strip.pixels.assign(static_cast<size_t>(strip.width) * h * 3, 0);
  for (int k = 0; k < n; ++k) {
    const uint8_t* f = s.frame(k * step);
    for (int y = 0; y < h; ++y) {
      std::copy(f + static_cast<size_t>(y) * w * 3, f + static_cast<size_t>(y + 1) * w * 3,
                strip.pixels.begin() + (static_cast<size_t>(y) * strip.width + static_cast<size_t>(k) * w) * 3);
    }
  }
  media::write_png(path, strip);
}

nlohmann::json truth_of(const scenes::Scene& s) {
  nlohmann::json impacts = nlohmann::json::array(), objects = nlohmann::json::array();
  for (const auto& im : s.impacts) {
    impacts.push_back({{"time", im.time}, {"object", im.object}, {"speed", im.speed}, {"wall", im.wall}});
  }
  for (const auto& o : s.spec.objects) {
    objects.push_back({{"shape", scenes::shape_name(o.shape)}, {"color", o.color.name},
                       {"material", scenes::material_name(o.material)},
                       {"motion", scenes::motion_name(o.motion)}, {"size", o.size}});
  }
  return {{"impacts", impacts}, {"objects", objects}};
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app("Writes duet-tiny's procedural training scenes as MP4 clips with sound");
  int count = 8, size = 64, frames = 121;
  uint64_t first_seed = 0;
  std::string out;
  app.add_option("--count", count, "Number of scenes")->capture_default_str();
  app.add_option("--first-seed", first_seed, "Seed of the first scene")->capture_default_str();
  app.add_option("--size", size, "Width and height in pixels")->capture_default_str();
  app.add_option("--frames", frames, "Frames per scene (24 fps)")->capture_default_str();
  app.add_option("--out", out, "Output folder")->required();
  bool want_strip = false;
  app.add_flag("--strips", want_strip, "Also write every 12th frame of each scene as OUT/scene-NNNNN.png");
  CLI11_PARSE(app, argc, argv);
  try {
    DUET_CHECK(count > 0, "--count must be positive");
    std::filesystem::create_directories(out);
    std::ofstream index(std::filesystem::path(out) / "scenes.jsonl");
    for (int i = 0; i < count; ++i) {
      const uint64_t seed = first_seed + static_cast<uint64_t>(i);
      const scenes::SceneSpec spec = scenes::random_scene(seed, {.width = size, .height = size, .frames = frames});
      const scenes::Scene s = scenes::render_scene(spec);
      const std::string caption = scenes::caption_of(spec);
      const std::string file = fmt::format("scene-{:05}.mp4", seed);
      // near-lossless (crf 12): the colours are what is learned and measured
      media::write_scene_clip(s, (std::filesystem::path(out) / file).string(), caption, 12);
      if (want_strip) {
        write_strip(s, (std::filesystem::path(out) / fmt::format("scene-{:05}.png", seed)).string(), 12);
      }
      nlohmann::json line = {{"file", file}, {"seed", seed}, {"caption", caption}};
      line.update(truth_of(s));
      index << line.dump() << "\n";
      std::printf("%s  %s\n", file.c_str(), caption.c_str());
    }
    DUET_CHECK(index.good(), "cannot write '{}/scenes.jsonl'", out);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "duet_scenes: error: %s\n", e.what());
    return 1;
  }
  return 0;
}
