// The video VAE stage (Wan2.2 layout) of duet-tiny's training.
#include <ATen/ATen.h>

#include <algorithm>

#include "models/wan/vae.h"
#include "stage_common.h"
#include "tiny_data.h"

namespace duet::train {

using nlohmann::json;

// --- video VAE --------------------------------------------------------------------------------

at::Tensor motion_weights(const at::Tensor& x, double moving) {
  const int64_t t = x.size(2);
  if (moving == 1.0 || t < 2) return at::ones_like(x.narrow(1, 0, 1));
  const at::Tensor changed =
      (x.narrow(2, 1, t - 1) - x.narrow(2, 0, t - 1)).abs().amax(1, true).gt(0.5 / 127.5);
  const at::Tensor mask = at::cat({at::zeros_like(x.narrow(1, 0, 1).narrow(2, 0, 1)),
                                   changed.to(x.scalar_type())}, 2);
  const at::Tensor w = 1 + (moving - 1) * mask;
  return w / w.mean();
}

void train_video_vae(const TrainContext& ctx) {
  const json& st = stage_of(ctx, "video_vae");
  const auto cfg = wan::WanVaeConfig::from_json(component_config(ctx, "video_vae"), "video_vae");
  const ShapeMap shapes = shapes_of([&](WeightStore& s) { wan::make_wan_vae(s, cfg); });
  ParamMap params = init_params(shapes, InitFamily::kWanVae, recipe_seed(ctx));
  AdamW opt(params, keys_where(params, [](const std::string&) { return true; }), adam_options(st));
  const auto options = scene_options(ctx);
  const int64_t batch = st.at("batch"), frames = st.at("frames");
  const double noise = st.at("latent_noise"), moment_w = st.at("moment_weight");
  const int64_t crop = st.value("crop", int64_t{0});
  const double object_crops = st.value("object_crops", 0.7);
  // Pixels that change from the frame before (a moving object's old and new place) weigh
  // `motion_weight` against 1 elsewhere: at equal weights the decoded bounces came 2-4 frames
  // late, a small error in a loss spread over the still backdrop.
  const double motion_w = st.value("motion_weight", 1.0);
  run_stage(ctx, "video_vae", st, params, opt, [&](int64_t, at::Generator& gen) -> Losses {
    std::vector<at::Tensor> clips;
    for (uint64_t seed : draw_seeds(gen, batch)) {
      const int64_t first = draw_index(gen, options.frames - frames + 1);
      TinyClip clip = training_clip(seed, options, static_cast<int>(first + frames));
      at::Tensor video = clip.video.narrow(1, first, frames);  // [3, T, H, W]
      if (crop > 0) {
        // Convolutions do not care where the frame ends: crops (on the VAE's 16-pixel grid)
        // cost a quarter and, centred near the object most of the time, spend the loss on it.
        const auto [cx, cy] = clip.centre.at(static_cast<size_t>(first));
        const bool near = at::rand({1}, gen).item<double>() < object_crops;
        auto origin = [&](double c, int64_t size) {
          const int64_t span = size - crop;
          int64_t o = near ? static_cast<int64_t>(c) - crop / 2 + draw_index(gen, 33) - 16
                           : draw_index(gen, span + 1);
          return std::clamp<int64_t>(o / 16 * 16, 0, span);
        };
        const int64_t x0 = origin(cx, options.width), y0 = origin(cy, options.height);
        video = video.narrow(2, y0, crop).narrow(3, x0, crop);
      }
      clips.push_back(video);
    }
    const at::Tensor x = at::stack(clips);  // [B, 3, T, H, W]
    WeightStore store = WeightStore::from_tensors(params);
    const auto vae = wan::make_wan_vae(store, cfg);
    const at::Tensor z = vae->encode(x);  // [B, z, 1 + (T - 1) / 4, h, w]
    const at::Tensor y = vae->decode(z + noise * at::randn(z.sizes(), gen));
    const at::Tensor w = motion_weights(x, motion_w);  // [B, 1, T, H, W], mean 1
    const at::Tensor l1 = ((y - x).abs() * w).mean();
    const at::Tensor mse = ((y - x).pow(2) * w).mean();
    const at::Tensor moment = unit_moment_penalty(z);
    (l1 + mse + moment_w * moment).backward();
    return {{"l1", item(l1)}, {"mse", item(mse)}, {"z_rms", item(z.pow(2).mean().sqrt())}};
  });
}

}  // namespace duet::train
