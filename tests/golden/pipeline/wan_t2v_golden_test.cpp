// Whole text-to-video runs against the reference pipelines on the tiny checkpoints: Wan2.1's
// WanT2V.generate, Wan2.2's WanTI2V.t2v and two-expert WanT2V (A14B), and diffusers'
// WanPipeline. Same prompt, seed and settings; we compare the initial noise (bit for bit), the
// text context, the latents after every step (fp32: <= 1e-4 relative error over the 4-step
// run, as the issue asks) and the decoded video. Fixtures:
// tools/fixtures/make_golden_wan_t2v.py -> tests/data/golden/wan_t2v/.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "io/model_dir.h"
#include "io/safetensors.h"
#include "io/weight_store.h"
#include "pipeline/preset.h"
#include "pipeline/wan_t2v.h"
#include "support/test_support.h"

namespace duet {
namespace {

using test::relative_error;

struct Fixture {
  nlohmann::json request;
  at::Tensor noise, context, context_null, timesteps, latents, video;
};

Fixture load_fixture(const std::string& name) {
  const std::string path = (test::data_dir() / "golden/wan_t2v" / (name + ".safetensors")).string();
  Fixture f;
  f.request = nlohmann::json::parse(read_safetensors(path).metadata.at("request"));
  WeightStore store({path});
  f.noise = store.load("noise").clone();
  f.context = store.load("context").clone();
  f.context_null = store.load("context_null").clone();
  f.timesteps = store.load("timesteps").clone();
  f.latents = store.load("latents").clone();
  f.video = store.load("video").clone();
  return f;
}

WanT2VRequest request_of(const nlohmann::json& j) {
  WanT2VRequest r;
  r.prompt = j.at("prompt");
  r.negative_prompt = j.at("negative_prompt").get<std::string>();
  r.width = j.at("width");
  r.height = j.at("height");
  r.frames = j.at("frames");
  r.steps = j.at("steps");
  r.shift = j.at("shift");
  r.sampler = j.at("solver");
  r.seed = j.at("seed");
  const auto& g = j.at("guide_scale");
  if (g.is_array()) {
    r.guidance = g.at(0);
    r.guidance_high_noise = g.at(1);
  } else {
    r.guidance = g;
  }
  return r;
}

// The fixtures hold each prompt's real rows (Wan cuts them to the length and its DiT pads
// them; diffusers pads them, and the generator stored the real rows). Ours is always padded to
// text_len: compare the real rows, require zeros after them, and return the error.
double context_error(const at::Tensor& ours, const at::Tensor& ref, double tol,
                     const std::string& label) {
  const at::Tensor r = ref.dim() == 3 ? ref[0] : ref;  // [L, dim]
  const int64_t n = r.size(0);
  EXPECT_LE(n, ours.size(0));
  const double err = relative_error(ours.narrow(0, 0, n).to(at::kFloat), r.to(at::kFloat));
  std::printf("  %-14s rel err %.3g\n", label.c_str(), err);
  EXPECT_LE(err, tol) << label;
  if (n < ours.size(0)) {
    EXPECT_EQ(ours.narrow(0, n, ours.size(0) - n).abs().max().item<float>(), 0.0f) << label;
  }
  return err;
}

// [L, dim] real rows -> [text_len, dim] zero padded, in `like`'s dtype.
at::Tensor pad_context(const at::Tensor& ref, const at::Tensor& like) {
  at::Tensor out = at::zeros_like(like);
  const at::Tensor r = ref.dim() == 3 ? ref[0] : ref;
  out.narrow(0, 0, r.size(0)).copy_(r);
  return out;
}

class WanT2VGolden : public ::testing::TestWithParam<std::string> {};

TEST_P(WanT2VGolden, MatchesReferencePipeline) {
  const Fixture f = load_fixture(GetParam());
  const auto& req = f.request;
  const ModelDir dir = detect_model_dir((test::tiny_dir() / req.at("layout").get<std::string>()).string());
  std::vector<at::Tensor> steps;
  WanT2VOptions options;
  options.dtype = at::kFloat;
  options.on_step = [&](int64_t, const at::Tensor& x) { steps.push_back(x.to(at::kCPU).clone()); };
  WanT2VPipeline pipe(dir, options, load_presets(test::source_dir() / "configs"));
  const WanT2VSettings s = pipe.resolve(request_of(req));
  EXPECT_EQ(schedule_kind_name(s.schedule), req.at("schedule").get<std::string>());

  const at::Tensor noise = pipe.initial_noise(s);
  ASSERT_TRUE(at::equal(noise[0], f.noise)) << "noise differs from torch.randn with the seed";

  at::Tensor context = pipe.encode_text(s).to(at::kCPU);
  ASSERT_EQ(context.size(0), 2);
  // Wan's own T5 and ours do the same bf16 arithmetic: identical. transformers' UMT5 (diffusers
  // folders) rounds its bf16 sums in another order (the generator saw up to 0.03 apart between
  // the two references): within the bf16 tolerance, and the denoising check then starts from
  // the reference's context so that it measures the DiT, sampler and VAE, not that rounding.
  const bool hf_text = dir.find("text_encoder")->key_layout == "hf_umt5";
  const double tol = hf_text ? 1e-2 : 1e-5;
  context_error(context[0], f.context, tol, "context");
  context_error(context[1], f.context_null, tol, "context_null");
  if (hf_text) {
    context = at::stack({pad_context(f.context, context[0]), pad_context(f.context_null, context[1])});
  }

  const at::Tensor latents = pipe.denoise(s, noise, context);
  ASSERT_EQ(static_cast<int64_t>(steps.size()), f.latents.size(0));
  double worst = 0;
  for (size_t i = 0; i < steps.size(); ++i) {
    const double err = relative_error(steps[i][0], f.latents[static_cast<int64_t>(i)]);
    std::printf("  step %zu (t=%lld) rel err %.3g\n", i,
                static_cast<long long>(f.timesteps[static_cast<int64_t>(i)].item<int64_t>()), err);
    worst = std::max(worst, err);
  }
  EXPECT_LE(worst, 1e-4);

  std::vector<at::Tensor> chunks;
  const int64_t frames = pipe.decode(latents, [&](const at::Tensor& c) { chunks.push_back(c.to(at::kCPU)); });
  const at::Tensor video = at::cat(chunks, 2)[0];
  ASSERT_EQ(frames, f.video.size(1));
  ASSERT_EQ(video.sizes(), f.video.sizes());
  const double verr = relative_error(video, f.video);
  std::printf("  video rel err %.3g\n", verr);
  EXPECT_LE(verr, 1e-4);
}

INSTANTIATE_TEST_SUITE_P(Cases, WanT2VGolden,
                         ::testing::Values("wan21_t2v", "wan22_ti2v", "wan22_a14b",
                                           "wan_diffusers"));

// The original and diffusers layouts of the same tiny weights run through the same pipeline
// give identical latents once the same schedule is used (the layouts' default schedules
// differ: Wan's own UniPC grid vs diffusers' flow sigmas).
TEST(WanT2VLayouts, OriginalAndDiffusersGiveIdenticalLatents) {
  const auto presets = load_presets(test::source_dir() / "configs");
  WanT2VRequest r;
  r.prompt = "a red ball bounces on a gray floor";
  r.width = 64;
  r.height = 48;
  r.frames = 5;
  r.steps = 3;
  r.seed = 11;
  r.shift = 5.0;
  r.sampler = "unipc";
  at::Tensor out[2];
  const char* layouts[2] = {"wan21", "wan-diffusers"};
  for (int i = 0; i < 2; ++i) {
    WanT2VOptions o;
    o.dtype = at::kFloat;
    o.text_dtype = at::kFloat;
    WanT2VPipeline pipe(detect_model_dir((test::tiny_dir() / layouts[i]).string()), o, presets);
    WanT2VSettings s = pipe.resolve(r);
    s.schedule = SigmaScheduleKind::kWanUniPC;
    out[i] = pipe.denoise(s, pipe.initial_noise(s), pipe.encode_text(s));
  }
  EXPECT_TRUE(at::equal(out[0], out[1])) << "max diff " << (out[0] - out[1]).abs().max().item<float>();
}

}  // namespace
}  // namespace duet
