#include "fusion_latents.h"

#include <ATen/Parallel.h>
#include <c10/core/GradMode.h>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <thread>

#include "core/error.h"
#include "models/mmaudio/mel.h"
#include "models/mmaudio/vae.h"
#include "models/wan/vae.h"
#include "stage_common.h"
#include "tiny_data.h"

namespace duet::train {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

// Which latent cells show an object: a cell counts when any pixel of any frame it encodes
// differs from the backdrop. The Wan VAE's causal time axis puts frame 0 alone in latent frame
// 0 and each following `stride` frames in one latent frame.
// -> [F', h, w] fp32 in {0, 1}
at::Tensor object_cells(const TinyClip& clip, int64_t latent_frames, int64_t h, int64_t w) {
  const int64_t frames = clip.video.size(1);
  const int64_t stride = (frames - 1) / (latent_frames - 1);
  DUET_CHECK(1 + stride * (latent_frames - 1) == frames,
             "{} frames do not map onto {} causal latent frames", frames, latent_frames);
  // [3, F, H, W] -> [F, H, W]: any channel off the backdrop by more than a rounding step
  const at::Tensor pixels =
      (clip.video - clip.backdrop.unsqueeze(1)).abs().amax(0).gt(0.5 / 127.5).to(at::kFloat);
  const at::Tensor first = pixels.narrow(0, 0, 1);
  const at::Tensor rest = pixels.narrow(0, 1, frames - 1)
                              .view({latent_frames - 1, stride, pixels.size(1), pixels.size(2)})
                              .amax(1);
  const at::Tensor per_frame = at::cat({first, rest});  // [F', H, W]
  return std::get<0>(at::adaptive_max_pool2d(per_frame, {h, w})).contiguous();
}

// Runs work(i) for every i in [0, count) on `workers` threads of one intra-op thread each;
// make_worker() builds one worker's state and returns its work function. The first failure is
// rethrown once every worker has stopped.
template <typename MakeWorker>
void for_each_clip(int workers, int64_t count, const std::string& what, MakeWorker make_worker) {
  const int main_threads = at::get_num_threads();
  const auto start = std::chrono::steady_clock::now();
  std::atomic<int64_t> next{0}, done{0};
  std::mutex log_mutex;
  std::exception_ptr failure;
  std::atomic<bool> failed{false};
  auto run = [&] {
    try {
      at::set_num_threads(1);
      at::NoGradGuard no_grad;
      auto work = make_worker();
      for (int64_t i = next++; i < count && !failed; i = next++) {
        work(i);
        if (const int64_t n = ++done; n % 50 == 0) {
          const double s =
              std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
          const std::lock_guard lock(log_mutex);
          spdlog::info("fusion: {} {}/{} clips ({:.2f} s per clip, {} workers)", what, n, count,
                       s / static_cast<double>(n), workers);
        }
      }
    } catch (...) {
      const std::lock_guard lock(log_mutex);
      if (!failure) failure = std::current_exception();
      failed = true;
    }
  };
  std::vector<std::thread> pool;
  for (int w = 0; w < workers; ++w) pool.emplace_back(run);
  for (auto& t : pool) t.join();
  at::set_num_threads(main_threads);
  if (failure) std::rethrow_exception(failure);
}

// One worker's VAEs: the causal video VAE keeps per-call caches in its modules, so workers
// never share instances.
struct LatentEncoder {
  explicit LatentEncoder(const TrainContext& ctx)
      : vstore({weights_of(ctx, "video_vae")}),
        vae(wan::make_wan_vae(
            vstore, wan::WanVaeConfig::from_json(component_config(ctx, "video_vae"), "video_vae"))),
        astore({weights_of(ctx, "audio_vae")}),
        avae(astore, audio_vae_config(component_config(ctx, "audio_vae"))),
        mel(mmaudio::mel_16k()),
        audio_latents(ctx.recipe.at("package").at("components").at("fusion").at("config")
                          .at("spec").at("audio_latents")) {}

  // -> video [48, F', h, w], audio [20, L]
  std::pair<at::Tensor, at::Tensor> encode(const TinyClip& clip) const {
    at::Tensor v = vae->encode(clip.video.unsqueeze(0))[0].contiguous();
    at::Tensor a =
        avae.encode(mel.forward(clip.audio.unsqueeze(0)).narrow(2, 0, 2 * audio_latents))[0]
            .contiguous();
    return {v, a};
  }

  WeightStore vstore;
  std::unique_ptr<wan::WanVae> vae;
  WeightStore astore;
  mmaudio::MMAudioVae avae;
  mmaudio::MelConverter mel;
  int64_t audio_latents;
};

}  // namespace

LatentSet encode_latents(const TrainContext& ctx, const std::string& dir, int64_t count) {
  const std::string cache = dir + "/latents.safetensors";
  const int workers = ctx.threads > 0 ? ctx.threads : at::get_num_threads();
  const auto options = scene_options(ctx);
  at::Generator gen = step_generator(recipe_seed(ctx), 77, 0);
  const std::vector<uint64_t> seeds = draw_seeds(gen, count);
  LatentSet set;
  set.video.resize(seeds.size());
  set.audio.resize(seeds.size());
  set.objects.resize(seeds.size());
  set.captions.resize(seeds.size());
  if (fs::exists(cache)) {
    std::map<std::string, std::string> meta;
    const ParamMap all = load_tensors(cache, &meta);
    const json captions = json::parse(meta.at("captions"));
    for (size_t i = 0; i < captions.size() && i < seeds.size(); ++i) {
      set.video[i] = all.at(fmt::format("video.{}", i));
      set.audio[i] = all.at(fmt::format("audio.{}", i));
      set.captions[i] = captions[i];
      if (const auto it = all.find(fmt::format("objects.{}", i)); it != all.end()) {
        set.objects[i] = it->second;
      }
    }
  }
  std::vector<int64_t> todo;
  for (int64_t i = 0; i < count; ++i) {
    if (!set.objects[i].defined()) todo.push_back(i);
  }
  if (todo.empty()) return set;
  const bool encoding = std::any_of(todo.begin(), todo.end(),
                                    [&](int64_t i) { return !set.video[i].defined(); });
  for_each_clip(workers, static_cast<int64_t>(todo.size()),
                encoding ? "encoded" : "found objects in", [&] {
    auto enc = encoding ? std::make_shared<LatentEncoder>(ctx) : nullptr;
    return [&, enc](int64_t n) {
      const int64_t i = todo[n];
      const TinyClip clip = training_clip(seeds[i], options);
      if (!set.video[i].defined()) {
        std::tie(set.video[i], set.audio[i]) = enc->encode(clip);
        set.captions[i] = clip.caption;
      }
      const at::Tensor& v = set.video[i];  // [48, F', h, w]
      set.objects[i] = object_cells(clip, v.size(1), v.size(2), v.size(3));
    };
  });
  ParamMap all;
  json captions = json::array();
  for (size_t i = 0; i < seeds.size(); ++i) {
    all[fmt::format("video.{}", i)] = set.video[i];
    all[fmt::format("audio.{}", i)] = set.audio[i];
    all[fmt::format("objects.{}", i)] = set.objects[i];
    captions.push_back(set.captions[i]);
  }
  save_tensors(cache, all, at::kFloat, {{"captions", captions.dump()}});
  return set;
}

}  // namespace duet::train
