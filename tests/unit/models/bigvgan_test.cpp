// BigVGAN vocoder behaviour the golden fixtures do not pin down: both checkpoint layouts,
// strict loading errors that name keys, a best_netG.pt holding more than the generator, input
// shape errors, config checks, the real-size parameter count and a CPU real-time-factor print.
#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/error.h"
#include "io/json_util.h"
#include "io/safetensors.h"
#include "io/weight_store.h"
#include "models/mmaudio/bigvgan.h"
#include "support/test_support.h"

namespace duet::mmaudio {
namespace {

namespace fs = std::filesystem;
using duet::test::relative_error;
using duet::test::tiny_dir;

std::string ovi_path() { return (tiny_dir() / "ovi/MMAudio/ext_weights/best_netG.pt").string(); }
std::string package_path() { return (tiny_dir() / "duet-package/vocoder.safetensors").string(); }

std::string error_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const duet::Error& e) {
    return e.what();
  }
  return "(no error)";
}

void write_tensors(const std::string& path, const std::map<std::string, at::Tensor>& tensors) {
  std::vector<TensorToWrite> out;
  for (const auto& [name, t] : tensors) {
    out.push_back(
        {name, DType::F32, t.sizes().vec(), t.data_ptr(), static_cast<size_t>(t.nbytes())});
  }
  write_safetensors(path, out);
}

// The tiny best_netG.pt rewritten as safetensors (keys keep "generator.") after `edit`.
std::string rewrite(const test::TempDir& dir,
                    const std::function<void(std::map<std::string, at::Tensor>&)>& edit) {
  WeightStore store({ovi_path()});
  std::map<std::string, at::Tensor> tensors;
  for (const auto& name : store.names()) tensors[name] = store.load(name).contiguous();
  edit(tensors);
  const std::string path = (dir / "best_netG.safetensors").string();
  write_tensors(path, tensors);
  return path;
}

at::Tensor random_mel(int64_t batch, int64_t frames, uint64_t seed) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  return at::randn({batch, 80, frames}, gen) * 1.5 - 2.0;
}

TEST(BigVgan, ConfigFromTinyCheckpoint) {
  auto vocoder = load_bigvgan(ovi_path());
  const auto& c = vocoder->config();
  EXPECT_EQ(c.num_mels, 80);
  EXPECT_EQ(c.upsample_initial_channel, 64);
  EXPECT_EQ(c.hop_length(), 256);
  EXPECT_EQ(c.sampling_rate, 16000);
  EXPECT_EQ(vocoder->dtype(), at::kFloat);
}

TEST(BigVgan, OviFolderAndDuetPackageAgree) {
  // Same values in both layouts ("generator." inside a .pt vs bare keys in a safetensors).
  auto a = load_bigvgan(ovi_path());
  auto b = load_bigvgan(package_path());
  const at::Tensor mel = random_mel(2, 5, 1);
  const at::Tensor ya = a->forward(mel);
  EXPECT_EQ(ya.sizes(), (std::vector<int64_t>{2, 1, 5 * 256}));
  EXPECT_EQ(ya.scalar_type(), at::kFloat);
  EXPECT_TRUE(at::equal(ya, b->forward(mel)));
  // The manifest's config is the one read from the weights.
  const auto manifest = read_json_file((tiny_dir() / "duet-package/duet.json").string());
  const auto cfg =
      BigVganConfig::from_json(manifest["components"]["vocoder"]["config"], "duet.json");
  EXPECT_EQ(cfg.upsample_initial_channel, a->config().upsample_initial_channel);
  EXPECT_EQ(cfg.upsample_rates, a->config().upsample_rates);
  EXPECT_EQ(cfg.resblock_dilation_sizes, a->config().resblock_dilation_sizes);
}

TEST(BigVgan, BatchItemsAreIndependent) {
  auto vocoder = load_bigvgan(package_path());
  const at::Tensor mel = random_mel(3, 4, 2);
  const at::Tensor whole = vocoder->forward(mel);
  for (int64_t i = 0; i < 3; ++i) {
    EXPECT_LE(relative_error(vocoder->forward(mel.narrow(0, i, 1)), whole.narrow(0, i, 1)), 1e-6);
  }
}

TEST(BigVgan, Bf16RunsAndStaysClose) {
  auto ref = load_bigvgan(package_path());
  auto half = load_bigvgan(package_path(), {.dtype = at::kBFloat16});
  EXPECT_EQ(half->dtype(), at::kBFloat16);
  const at::Tensor mel = random_mel(1, 6, 3);
  const at::Tensor y = half->forward(mel);
  EXPECT_EQ(y.scalar_type(), at::kFloat);
  const at::Tensor r = ref->forward(mel);
  // The tiny model's output is nearly constant (conv_post's bias); compare the whole signal.
  EXPECT_LE(relative_error(y, r), 2e-2);
}

TEST(BigVgan, MissingMisShapedAndUnexpectedKeysAreNamed) {
  test::TempDir dir;
  const std::string gone = "generator.resblocks.7.convs1.2.weight_v";
  auto path = rewrite(dir, [&](auto& t) { t.erase(gone); });
  EXPECT_NE(error_of([&] { load_bigvgan(path); }).find(gone), std::string::npos);

  const std::string filt = "generator.resblocks.3.activations.4.downsample.lowpass.filter";
  path = rewrite(dir, [&](auto& t) { t.erase(filt); });
  EXPECT_NE(error_of([&] { load_bigvgan(path); }).find(filt), std::string::npos);

  const std::string bad = "generator.ups.2.0.weight_v";  // [16, 8, 4]
  path = rewrite(dir, [&](auto& t) { t[bad] = at::zeros({16, 9, 4}); });
  std::string msg = error_of([&] { load_bigvgan(path); });
  EXPECT_NE(msg.find(bad), std::string::npos) << msg;
  EXPECT_NE(msg.find("[16, 8, 4]"), std::string::npos) << msg;
  EXPECT_NE(msg.find("[16, 9, 4]"), std::string::npos) << msg;

  const std::string alpha = "generator.activation_post.act.alpha";  // [1]: 64 >> 6
  path = rewrite(dir, [&](auto& t) { t[alpha] = at::zeros({2}); });
  msg = error_of([&] { load_bigvgan(path); });
  EXPECT_NE(msg.find(alpha), std::string::npos) << msg;

  const std::string extra = "generator.resblocks.0.convs3.0.weight";
  path = rewrite(dir, [&](auto& t) { t[extra] = at::zeros({2}); });
  msg = error_of([&] { load_bigvgan(path); });
  EXPECT_NE(msg.find("unexpected"), std::string::npos) << msg;
  EXPECT_NE(msg.find(extra), std::string::npos) << msg;

  // No conv_pre at all: not a BigVGAN checkpoint.
  path = rewrite(dir, [&](auto& t) {
    t.erase("generator.conv_pre.weight_v");
    t.erase("generator.conv_pre.weight_g");
  });
  msg = error_of([&] { load_bigvgan(path); });
  EXPECT_NE(msg.find("not a BigVGAN checkpoint"), std::string::npos) << msg;
  EXPECT_NE(msg.find("conv_pre.weight_v"), std::string::npos) << msg;
}

TEST(BigVgan, OnlyTheGeneratorIsRead) {
  // Training checkpoints also hold discriminators and optimizer state next to 'generator'.
  test::TempDir dir;
  const auto path = rewrite(dir, [&](auto& t) {
    t["mpd.discriminators.0.convs.0.weight_v"] = at::ones({4, 1, 5, 1});
    t["optim_g.state.0.exp_avg"] = at::ones({3});
  });
  auto vocoder = load_bigvgan(path);
  auto ref = load_bigvgan(ovi_path());
  const at::Tensor mel = random_mel(1, 3, 4);
  EXPECT_TRUE(at::equal(vocoder->forward(mel), ref->forward(mel)));
}

TEST(BigVgan, TrainingCheckpointWrittenByTorchLoads) {
  // A torch.save'd {"generator", "optim_g" (Adam state: int keys, param_groups), "steps",
  // "epoch"} as BigVGAN's training script writes them: the .pt reader must get past the
  // optimizer state, and only the generator is loaded.
  if (!fs::exists(DUET_PYTHON)) GTEST_SKIP() << "no Python at " << DUET_PYTHON;
  test::TempDir dir;
  test::write_file(dir / "script.py", R"(
import sys, torch
g = torch.load(sys.argv[1], map_location="cpu", weights_only=True)["generator"]
p = torch.nn.Parameter(torch.ones(3))
opt = torch.optim.AdamW([p], 1e-4, betas=(0.8, 0.99))
p.sum().backward()
opt.step()
torch.save({"generator": g, "optim_g": opt.state_dict(), "steps": 7, "epoch": 1}, sys.argv[2])
)");
  const std::string out = (dir / "best_netG.pt").string();
  const auto r = test::run_command(fmt::format("'{}' '{}' '{}' '{}'", DUET_PYTHON,
                                               (dir / "script.py").string(), ovi_path(), out));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto vocoder = load_bigvgan(out);
  auto ref = load_bigvgan(ovi_path());
  const at::Tensor mel = random_mel(1, 2, 5);
  EXPECT_TRUE(at::equal(vocoder->forward(mel), ref->forward(mel)));
}

TEST(BigVgan, FoldedWeightsLoadLikeWeightNorm) {
  // A checkpoint saved after remove_weight_norm holds <conv>.weight; it gives the same output.
  test::TempDir dir;
  const auto path = rewrite(dir, [&](auto& t) {
    std::vector<std::string> gs;
    for (const auto& [k, v] : t) {
      if (k.ends_with(".weight_g")) gs.push_back(k.substr(0, k.size() - 2));
    }
    for (const auto& base : gs) {
      t[base] = at::_weight_norm(t[base + "_v"], t[base + "_g"], 0).contiguous();
      t.erase(base + "_g");
      t.erase(base + "_v");
    }
  });
  auto folded = load_bigvgan(path);
  auto ref = load_bigvgan(ovi_path());
  const at::Tensor mel = random_mel(1, 3, 6);
  EXPECT_TRUE(at::equal(folded->forward(mel), ref->forward(mel)));
}

TEST(BigVgan, BadInputShapesGiveOneLineErrors) {
  auto vocoder = load_bigvgan(package_path());
  const std::vector<std::pair<at::Tensor, std::string>> cases = {
      {at::zeros({80, 4}), "[80, 4]"},
      {at::zeros({1, 64, 4}), "[1, 64, 4]"},
      {at::zeros({1, 80, 0}), "[1, 80, 0]"},
      {at::zeros({0, 80, 3}), "[0, 80, 3]"},
      {at::zeros({1, 1, 80, 3}), "[1, 1, 80, 3]"},
      {at::zeros({1, 80, 3}, at::kLong), "Long"},
      {at::Tensor(), "got []"},
  };
  for (const auto& [mel, expected] : cases) {
    const std::string msg = error_of([&] { vocoder->forward(mel); });
    EXPECT_NE(msg.find(expected), std::string::npos) << msg;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
  }
}

TEST(BigVgan, ConfigChecks) {
  const auto err = [](const nlohmann::json& j) {
    return error_of([&] { BigVganConfig::from_json(j, "cfg.json"); });
  };
  EXPECT_EQ(BigVganConfig::from_json(nlohmann::json::object(), "cfg.json").hop_length(), 256);
  EXPECT_NE(err({{"resblock", "2"}}).find("resblock"), std::string::npos);
  EXPECT_NE(err({{"activation", "snake"}}).find("snakebeta"), std::string::npos);
  EXPECT_NE(err({{"snake_logscale", false}}).find("snake_logscale"), std::string::npos);
  EXPECT_NE(err({{"upsample_kernel_sizes", {8, 8, 4, 4, 4}}}).find("one upsample kernel size"),
            std::string::npos);
  EXPECT_NE(err({{"upsample_kernel_sizes", {7, 8, 4, 4, 4, 4}}}).find("kernel - rate even"),
            std::string::npos);
  EXPECT_NE(err({{"upsample_initial_channel", 100}}).find("divisible by 2^6"), std::string::npos);
  EXPECT_NE(err({{"resblock_dilation_sizes", {{1, 3}, {1, 3}, {1, 3}}}}).find("3 dilations"),
            std::string::npos);
  EXPECT_NE(err({{"resblock_kernel_sizes", {3, 8, 11}}}).find("odd"), std::string::npos);
  EXPECT_NE(err({{"upsample_rates", "4,4"}}).find("'upsample_rates'"), std::string::npos);
  EXPECT_NE(err({{"resblock_dilation_sizes", {{1, "x", 5}}}}).find("resblock_dilation_sizes"),
            std::string::npos);
}

TEST(BigVgan, RealSizeParameterCount) {
  // best_netG.pt at width 1536: the reference's state dict (tools/fixtures/make_golden_bigvgan.py).
  const auto counts =
      read_json_file((test::data_dir() / "golden/bigvgan/param_counts.json").string());
  const auto& want = counts["generator_1536"];
  WeightStore store = WeightStore::meta();
  make_bigvgan(store, BigVganConfig{}, "generator.");
  int64_t elements = 0;
  for (const auto& [key, shape] : store.meta_shapes()) {
    EXPECT_TRUE(key.starts_with("generator.")) << key;
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    elements += n;
  }
  EXPECT_EQ(static_cast<int64_t>(store.meta_shapes().size()), want["tensors"].get<int64_t>());
  EXPECT_EQ(elements, want["elements"].get<int64_t>());
  EXPECT_EQ(store.meta_shapes().at("generator.conv_pre.weight_v"),
            want["conv_pre.weight_v"].get<std::vector<int64_t>>());
}

// Seconds per second of 16 kHz audio for `frames` mel frames (best of `runs`).
double real_time_factor(const BigVgan& vocoder, int64_t frames, int runs) {
  const at::Tensor mel = random_mel(1, frames, 7);
  vocoder.forward(random_mel(1, 8, 8));  // warm-up
  double best = 1e30;
  for (int i = 0; i < runs; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    vocoder.forward(mel);
    best = std::min(best,
                    std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  const double audio_s = static_cast<double>(frames * vocoder.config().hop_length()) /
                         static_cast<double>(vocoder.config().sampling_rate);
  return best / audio_s;
}

TEST(BigVgan, TinyRealTimeFactor) {
  // Printed, not asserted: CPU speed varies. 313 frames = 5 s of audio.
  auto vocoder = load_bigvgan(package_path());
  std::printf("  tiny BigVGAN (width 64) CPU RTF %.4f (%d threads, 5 s of audio)\n",
              real_time_factor(*vocoder, 313, 3), at::get_num_threads());
}

// Real width (1536) with random weights: ~450 MB of weights written to a temporary file. Run
// by hand: duet_unit_tests --gtest_also_run_disabled_tests --gtest_filter='*RealSizeRealTime*'
// (DUET_BIGVGAN_RTF_FRAMES sets the clip length in mel frames, default 313 = 5 s).
TEST(BigVgan, DISABLED_RealSizeRealTimeFactor) {
  test::TempDir dir;
  WeightStore meta = WeightStore::meta();
  make_bigvgan(meta, BigVganConfig{}, "");
  auto gen = at::make_generator<at::CPUGeneratorImpl>(9);
  std::map<std::string, at::Tensor> tensors;
  for (const auto& [key, shape] : meta.meta_shapes()) {
    if (key.ends_with(".weight_g")) continue;
    if (key.ends_with(".filter")) {
      tensors[key] = at::full(shape, 1.0 / 12);  // values do not matter for timing
    } else if (key.ends_with(".weight_v")) {
      // Unit gain keeps activations O(1) (no denormals, tanh unsaturated).
      const at::Tensor v = at::randn(shape, gen);
      const bool up = key.starts_with("ups.");
      const double fan_in = up ? static_cast<double>(shape[0] * shape[2]) / 2.0
                               : static_cast<double>(shape[1] * shape[2]);
      const std::string base = key.substr(0, key.size() - 2);
      tensors[key] = v;
      tensors[base + "_g"] =
          (v.flatten(1).norm(2, {1}) * (0.7 / std::sqrt(fan_in))).view({shape[0], 1, 1});
    } else {
      tensors[key] = at::randn(shape, gen) * 0.01;
    }
  }
  const std::string path = (dir / "vocoder.safetensors").string();
  write_tensors(path, tensors);
  tensors.clear();
  auto vocoder = load_bigvgan(path);
  const char* env = std::getenv("DUET_BIGVGAN_RTF_FRAMES");
  const int64_t frames = env ? std::atoll(env) : 313;
  std::printf("  real-size BigVGAN (width 1536) CPU RTF %.3f (%d threads, %lld frames)\n",
              real_time_factor(*vocoder, frames, 1), at::get_num_threads(),
              static_cast<long long>(frames));
}

}  // namespace
}  // namespace duet::mmaudio
