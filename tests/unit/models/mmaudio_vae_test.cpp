// MMAudio mel VAE and mel front end behaviour that the golden fixtures do not pin down: config
// from weights, the real-size key layout, shapes, dtypes, strict loading and input errors.
#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/error.h"
#include "io/safetensors.h"
#include "io/weight_store.h"
#include "models/mmaudio/mel.h"
#include "models/mmaudio/vae.h"
#include "support/test_support.h"

namespace duet::mmaudio {
namespace {

using duet::test::data_dir;
using duet::test::relative_error;
using duet::test::tiny_dir;

std::string vae_path() { return (tiny_dir() / "ovi/MMAudio/ext_weights/v1-16.pth").string(); }

const MMAudioVae& tiny_vae() {
  static auto model = load_mmaudio_vae(vae_path());
  return *model;
}

std::string error_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const duet::Error& e) {
    return e.what();
  }
  return "(no error)";
}

#define EXPECT_ERROR_HAS(stmt, text) \
  EXPECT_THAT(error_of([&] { stmt; }), ::testing::HasSubstr(text))

TEST(MMAudioVae, ConfigFromWeights) {
  WeightStore store({vae_path()});
  const auto c = MMAudioVaeConfig::from_weights(store);
  EXPECT_EQ(c.data_dim, 80);
  EXPECT_EQ(c.embed_dim, 20);
  EXPECT_EQ(c.hidden_dim, 8);
  EXPECT_EQ(c.kernel_size, 3);
  EXPECT_EQ(c.temporal_stride(), 2);
}

// The loader asks for exactly the tensors of the reference's real-size state dicts
// (VAE_16k = v1-16.pth, VAE_44k = v1-44.pth), with their shapes.
TEST(MMAudioVae, RealSizeKeysMatchReference) {
  const auto ref =
      nlohmann::json::parse(test::read_file(data_dir() / "golden/mmaudio/vae_keys.json"));
  MMAudioVaeConfig c16;
  MMAudioVaeConfig c44;
  c44.data_dim = 128;
  c44.embed_dim = 40;
  c44.hidden_dim = 512;
  for (const auto& [tag, config] : {std::pair{"16k", c16}, std::pair{"44k", c44}}) {
    WeightStore store = WeightStore::meta();
    MMAudioVae vae(store, config);
    std::map<std::string, std::vector<int64_t>> want;
    for (const auto& [key, shape] : ref[tag].items()) want[key] = shape.get<std::vector<int64_t>>();
    EXPECT_EQ(store.meta_shapes(), want) << tag;
  }
}

TEST(MMAudioVae, Shapes) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(31);
  const at::Tensor mel = tiny_vae().decode(at::randn({2, 20, 5}, gen));
  EXPECT_EQ(mel.sizes(), (std::vector<int64_t>{2, 80, 10}));
  EXPECT_EQ(mel.scalar_type(), at::kFloat);
  // Odd mel lengths drop the last frame (average pooling), as the reference.
  const auto post = tiny_vae().encode_posterior(at::randn({1, 80, 9}, gen));
  EXPECT_EQ(post.mean.sizes(), (std::vector<int64_t>{1, 20, 4}));
  EXPECT_EQ(post.std.sizes(), post.mean.sizes());
  EXPECT_TRUE((post.std > 0).all().item<bool>());
  EXPECT_EQ(tiny_vae().encode(at::randn({1, 80, 2}, gen)).sizes(),
            (std::vector<int64_t>{1, 20, 1}));
}

TEST(MMAudioVae, BatchRowsAreIndependent) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(32);
  const at::Tensor z = at::randn({3, 20, 6}, gen);
  const at::Tensor all = tiny_vae().decode(z);
  EXPECT_LE(relative_error(all[1], tiny_vae().decode(z.narrow(0, 1, 1))[0]), 1e-6);
}

TEST(MMAudioVae, Bf16BakesInFp32) {
  auto model = load_mmaudio_vae(vae_path(), {.dtype = at::kBFloat16});
  EXPECT_EQ(model->dtype(), at::kBFloat16);
  auto gen = at::make_generator<at::CPUGeneratorImpl>(33);
  const at::Tensor z = at::randn({1, 20, 8}, gen);
  const at::Tensor out = model->decode(z);
  EXPECT_EQ(out.scalar_type(), at::kBFloat16);
  EXPECT_LE(relative_error(out.to(at::kFloat), tiny_vae().decode(z)), 2e-2);
}

TEST(MMAudioVae, BadInputsAreOneLineErrors) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(34);
  const MMAudioVae& vae = tiny_vae();
  EXPECT_ERROR_HAS(vae.decode(at::randn({1, 16, 4}, gen)), "expects latents [B, 20, L]");
  EXPECT_ERROR_HAS(vae.decode(at::randn({20, 4}, gen)), "got [20, 4]");
  EXPECT_ERROR_HAS(vae.decode(at::zeros({1, 20, 0})), "too short");
  EXPECT_ERROR_HAS(vae.decode(at::zeros({1, 20, 4}, at::kLong)), "floating point");
  EXPECT_ERROR_HAS(vae.encode(at::randn({1, 80, 1}, gen)), "length >= 2");
  EXPECT_ERROR_HAS(vae.encode(at::randn({1, 128, 8}, gen)), "expects mel [B, 80, T]");
  EXPECT_ERROR_HAS(vae.decode(at::Tensor()), "undefined");
  for (const std::string& e : {error_of([&] {
                                 vae.decode(at::randn({1, 16, 4}, gen));
                               }),
                               error_of([&] {
                                 vae.encode(at::randn({1, 80, 1}, gen));
                               })}) {
    EXPECT_EQ(e.find('\n'), std::string::npos) << e;
  }
}

// Rewrites the tiny checkpoint as safetensors after `edit`.
std::string rewrite(const test::TempDir& dir,
                    const std::function<void(std::map<std::string, at::Tensor>&)>& edit) {
  WeightStore store({vae_path()});
  std::map<std::string, at::Tensor> tensors;
  for (const auto& name : store.names()) tensors[name] = store.load(name).contiguous();
  edit(tensors);
  std::vector<TensorToWrite> out;
  for (const auto& [name, t] : tensors) {
    out.push_back(
        {name, DType::F32, t.sizes().vec(), t.data_ptr(), static_cast<size_t>(t.nbytes())});
  }
  const std::string path = (dir / "vae.safetensors").string();
  write_safetensors(path, out);
  return path;
}

TEST(MMAudioVae, SafetensorsCopyLoadsTheSame) {
  test::TempDir dir;
  const auto path = rewrite(dir, [](auto&) {});
  auto gen = at::make_generator<at::CPUGeneratorImpl>(35);
  const at::Tensor z = at::randn({1, 20, 3}, gen);
  EXPECT_TRUE(at::equal(load_mmaudio_vae(path)->decode(z), tiny_vae().decode(z)));
}

TEST(MMAudioVae, StrictLoadingNamesKeys) {
  test::TempDir dir;
  for (const std::string key : {"decoder.up.1.upsample.conv.weight", "encoder.learnable_gain",
                                "data_std", "encoder.down.1.block.0.nin_shortcut.weight"}) {
    const auto path = rewrite(dir, [&](auto& t) { t.erase(key); });
    EXPECT_ERROR_HAS(load_mmaudio_vae(path), "'" + key + "'");
  }
  // Wrong shape: names the key and both shapes.
  auto path = rewrite(dir, [](auto& t) {
    t["decoder.mid.attn_1.qkv.weight"] = at::zeros({96, 32, 3});
  });
  const std::string err = error_of([&] { load_mmaudio_vae(path); });
  EXPECT_THAT(err, ::testing::HasSubstr("decoder.mid.attn_1.qkv.weight"));
  EXPECT_THAT(err, ::testing::HasSubstr("[96, 32, 1]"));
  // A tensor the model does not use.
  path = rewrite(dir, [](auto& t) { t["decoder.up.0.attn.0.qkv.weight"] = at::zeros({24, 8, 1}); });
  EXPECT_ERROR_HAS(load_mmaudio_vae(path), "decoder.up.0.attn.0.qkv.weight");
  // Not a VAE at all.
  path = rewrite(dir, [](auto& t) { t.erase("encoder.conv_in.weight"); });
  EXPECT_ERROR_HAS(load_mmaudio_vae(path), "not an MMAudio VAE checkpoint");
  // Encoder / decoder widths that disagree.
  path = rewrite(dir, [](auto& t) { t["decoder.conv_in.weight"] = at::zeros({16, 20, 3}); });
  EXPECT_ERROR_HAS(load_mmaudio_vae(path), "decoder.conv_in.weight");
}

TEST(MMAudioMel, FramesAndShapes) {
  const MelConfig c = mel_16k();
  EXPECT_EQ(c.pad(), 384);
  EXPECT_EQ(c.frames(16000), 62);
  EXPECT_EQ(c.frames(255), 0);
  MelConverter mel;
  auto gen = at::make_generator<at::CPUGeneratorImpl>(36);
  EXPECT_EQ(mel.forward(at::rand({2, 5 * 256 + 17}, gen)).sizes(),
            (std::vector<int64_t>{2, 80, 5}));
  const at::Tensor one = at::rand({1000}, gen) * 2 - 1;
  const at::Tensor out = mel.forward(one);
  EXPECT_EQ(out.sizes(), (std::vector<int64_t>{1, 80, 3}));
  EXPECT_TRUE(at::equal(out, mel.forward(one.unsqueeze(0))));
  // Silence hits the log floor log10(1e-5) = -5 (the 1e-9 inside the root is below it).
  EXPECT_NEAR(mel.forward(at::zeros({1, 1024})).max().item<double>(), -5.0, 1e-6);
  // Slaney filters: non-negative, one per mel bin, each with a non-empty support.
  EXPECT_EQ(mel.mel_basis().sizes(), (std::vector<int64_t>{80, 513}));
  EXPECT_TRUE((mel.mel_basis() >= 0).all().item<bool>());
  EXPECT_TRUE((std::get<0>(mel.mel_basis().max(1)) > 0).all().item<bool>());
  EXPECT_EQ(MelConverter(mel_44k()).mel_basis().sizes(), (std::vector<int64_t>{128, 1025}));
}

TEST(MMAudioMel, BadInputsAreOneLineErrors) {
  MelConverter mel;
  EXPECT_ERROR_HAS(mel.forward(at::zeros({1, 384})), "384 samples is too short");
  EXPECT_ERROR_HAS(mel.forward(at::zeros({1, 1, 4096})), "expects PCM [B, S] or [S]");
  EXPECT_ERROR_HAS(mel.forward(at::zeros({1, 4096}, at::kShort)), "floating point");
  MelConfig bad = mel_16k();
  bad.fmax = 9000;
  EXPECT_ERROR_HAS(MelConverter{bad}, "fmax");
}

}  // namespace
}  // namespace duet::mmaudio
