#include "tiny_data.h"

#include "core/error.h"

namespace duet::train {

TinyClip training_clip(uint64_t seed, const scenes::SceneOptions& options, int frames) {
  TinyClip clip;
  scenes::SceneSpec spec = scenes::next_scene(seed, options, /*held_out=*/false, &clip.seed);
  clip.caption = scenes::caption_of(spec);
  if (frames > 0) spec.frames = frames;
  const scenes::Scene scene = scenes::render_scene(spec);
  const int64_t f = spec.frames, h = spec.height, w = spec.width;
  at::Tensor pixels =
      at::from_blob(const_cast<uint8_t*>(scene.frames.data()), {f, h, w, 3}, at::kByte);
  // [F, H, W, 3] uint8 -> [3, F, H, W] in [-1, 1]
  clip.video = pixels.permute({3, 0, 1, 2}).to(at::kFloat).div(127.5).sub(1.0).contiguous();
  std::vector<uint8_t> backdrop = scenes::render_backdrop(spec);
  clip.backdrop = at::from_blob(backdrop.data(), {h, w, 3}, at::kByte)
                      .permute({2, 0, 1}).to(at::kFloat).div(127.5).sub(1.0).contiguous();
  clip.audio = at::from_blob(const_cast<float*>(scene.audio.data()),
                             {static_cast<int64_t>(scene.audio.size())}, at::kFloat)
                   .clone();
  for (const auto& impact : scene.impacts) clip.impacts.push_back(impact.time);
  for (const auto& per_object : scene.centres) {
    if (!per_object.empty()) clip.centre.push_back(per_object.front());
  }
  clip.still = !spec.objects.empty() && spec.objects.front().motion == scenes::Motion::kStill;
  return clip;
}

int64_t draw_index(at::Generator& gen, int64_t n) {
  DUET_CHECK(n > 0, "draw_index needs a positive range, got {}", n);
  return at::randint(n, {1}, gen, at::kLong).item<int64_t>();
}

std::vector<uint64_t> draw_seeds(at::Generator& gen, int64_t count) {
  std::vector<uint64_t> out;
  for (int64_t i = 0; i < count; ++i) {
    out.push_back(static_cast<uint64_t>(draw_index(gen, 1'000'000'000)));
  }
  return out;
}

}  // namespace duet::train
