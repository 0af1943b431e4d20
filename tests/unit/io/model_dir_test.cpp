#include "io/model_dir.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "core/error.h"
#include "support/test_support.h"

namespace duet {
namespace {

namespace fs = std::filesystem;
using test::TempDir;

// Detection only looks at names and JSON, so empty files stand in for weights here; the
// e2e tests run the same detection on real tiny checkpoints.
void touch(const fs::path& p, const std::string& content = "") {
  fs::create_directories(p.parent_path());
  test::write_file(p, content);
}

std::string error_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

void make_tokenizer(const fs::path& dir) { touch(dir / "google/umt5-xxl/spiece.model", "x"); }

TEST(ModelDir, OviCheckpointFolder) {
  TempDir t;
  touch(t / "Ovi/model.safetensors");
  touch(t / "Ovi/model_960x960_10s.safetensors");
  touch(t / "Wan2.2-TI2V-5B/Wan2.2_VAE.pth");
  touch(t / "Wan2.2-TI2V-5B/models_t5_umt5-xxl-enc-bf16.pth");
  make_tokenizer(t / "Wan2.2-TI2V-5B");
  touch(t / "MMAudio/ext_weights/v1-16.pth");
  touch(t / "MMAudio/ext_weights/best_netG.pt");
  const ModelDir dir = detect_model_dir(t.path().string());
  EXPECT_EQ(dir.layout, ModelLayout::kOviCheckpoint);
  EXPECT_EQ(dir.family, "ovi");
  EXPECT_EQ(dir.variant, "Ovi 720x720_5s");
  ASSERT_NE(dir.find("fusion"), nullptr);
  ASSERT_NE(dir.find("fusion_960x960_10s"), nullptr);
  EXPECT_EQ(dir.find("vocoder")->key_prefix, "generator.");
  EXPECT_EQ(dir.find("audio_vae")->key_layout, "mmaudio_vae");
  EXPECT_EQ(dir.find("tokenizer")->key_layout, "sentencepiece");
  EXPECT_TRUE(dir.missing().empty());
}

TEST(ModelDir, OviFp8CommunityFileIsThe720Model) {
  TempDir t;
  touch(t / "Ovi/model_fp8_e4m3fn.safetensors");
  touch(t / "Ovi/model_960x960.safetensors");
  const ModelDir dir = detect_model_dir(t.path().string());
  // Sorted names: the 960x960 file comes first and names the variant; the fp8 file is the
  // 720x720_5s model in fp8 (Ovi's --fp8 loads it for that spec only).
  EXPECT_EQ(dir.variant, "Ovi 960x960_5s");
  const ModelComponent* fp8 = dir.find("fusion_fp8_e4m3fn");
  ASSERT_NE(fp8, nullptr);
  EXPECT_EQ(fp8->config.at("spec"), "720x720_5s");
  EXPECT_EQ(fp8->config.at("weights"), "fp8_e4m3fn");
  EXPECT_EQ(dir.find("fusion")->config.at("spec"), "960x960_5s");
}

TEST(ModelDir, OviFolderReportsMissingComponents) {
  TempDir t;
  touch(t / "Ovi/model.safetensors");
  const ModelDir dir = detect_model_dir(t.path().string());
  const auto missing = dir.missing();
  ASSERT_EQ(missing.size(), 5u);
  EXPECT_NE(dir.find("vocoder")->expected.find("MMAudio/ext_weights/best_netG.pt"), std::string::npos);
}

TEST(ModelDir, WanOriginalSingleAndSharded) {
  TempDir t;
  touch(t / "config.json", R"({"_class_name": "WanModel", "model_type": "t2v", "dim": 1536, "in_dim": 16})");
  touch(t / "diffusion_pytorch_model.safetensors");
  touch(t / "Wan2.1_VAE.pth");
  touch(t / "models_t5_umt5-xxl-enc-bf16.pth");
  make_tokenizer(t.path());
  ModelDir dir = detect_model_dir(t.path().string());
  EXPECT_EQ(dir.layout, ModelLayout::kWanOriginal);
  EXPECT_EQ(dir.variant, "Wan2.1 T2V 1.3B");
  EXPECT_EQ(dir.find("vae")->key_layout, "wan_vae21");
  EXPECT_TRUE(dir.missing().empty());

  TempDir s;
  touch(s / "config.json", R"({"model_type": "ti2v", "dim": 3072, "in_dim": 48})");
  touch(s / "diffusion_pytorch_model.safetensors.index.json", "{}");
  touch(s / "Wan2.2_VAE.pth");
  dir = detect_model_dir(s.path().string());
  EXPECT_EQ(dir.variant, "Wan2.2 TI2V 5B");
  EXPECT_EQ(dir.find("vae")->key_layout, "wan_vae22");
  EXPECT_TRUE(dir.find("transformer")->files.front().ends_with(".index.json"));
  EXPECT_EQ(dir.missing().size(), 2u);  // T5 and tokenizer
}

TEST(ModelDir, WanTwoExperts) {
  TempDir t;
  for (const char* sub : {"high_noise_model", "low_noise_model"}) {
    touch(t / sub / "config.json", R"({"model_type": "t2v", "dim": 5120, "in_dim": 16})");
    touch(t / sub / "diffusion_pytorch_model.safetensors.index.json", "{}");
  }
  const ModelDir dir = detect_model_dir(t.path().string());
  EXPECT_EQ(dir.variant, "Wan2.2 T2V A14B");
  EXPECT_NE(dir.find("transformer_high_noise"), nullptr);
  EXPECT_NE(dir.find("transformer_low_noise"), nullptr);
}

TEST(ModelDir, WanDiffusers) {
  TempDir t;
  touch(t / "model_index.json", R"({"_class_name": "WanPipeline", "_diffusers_version": "0.33.0",
    "scheduler": ["diffusers", "UniPCMultistepScheduler"], "text_encoder": ["transformers", "UMT5EncoderModel"],
    "tokenizer": ["transformers", "T5TokenizerFast"], "transformer": ["diffusers", "WanTransformer3DModel"],
    "transformer_2": [null, null], "vae": ["diffusers", "AutoencoderKLWan"]})");
  touch(t / "transformer/config.json", R"({"num_attention_heads": 12, "attention_head_dim": 128, "in_channels": 16})");
  touch(t / "transformer/diffusion_pytorch_model.safetensors");
  touch(t / "vae/config.json", "{}");
  touch(t / "vae/diffusion_pytorch_model.safetensors");
  touch(t / "text_encoder/config.json", "{}");
  touch(t / "text_encoder/model.safetensors.index.json", "{}");
  touch(t / "tokenizer/spiece.model", "x");
  touch(t / "scheduler/scheduler_config.json", R"({"flow_shift": 3.0})");
  const ModelDir dir = detect_model_dir(t.path().string());
  EXPECT_EQ(dir.layout, ModelLayout::kWanDiffusers);
  EXPECT_EQ(dir.variant, "Wan2.1 T2V 1.3B");
  EXPECT_EQ(dir.find("transformer")->key_layout, "wan_diffusers");
  EXPECT_EQ(dir.find("text_encoder")->key_layout, "hf_umt5");
  EXPECT_EQ(dir.find("scheduler")->config.value("flow_shift", 0.0), 3.0);
  EXPECT_EQ(dir.find("transformer_2"), nullptr);
  EXPECT_TRUE(dir.missing().empty());
}

TEST(ModelDir, DuetPackageValidation) {
  TempDir t;
  touch(t / "fusion.safetensors");
  touch(t / "duet.json", R"({"format": "duet-package", "format_version": 1, "name": "x", "family": "ovi",
    "components": {"fusion": {"file": "fusion.safetensors", "layout": "ovi", "role": "denoiser"}}})");
  ModelDir dir = detect_model_dir(t.path().string());
  EXPECT_EQ(dir.layout, ModelLayout::kDuetPackage);
  EXPECT_EQ(dir.variant, "x");
  EXPECT_TRUE(dir.missing().empty());

  touch(t / "duet.json", R"({"format": "duet-package", "format_version": 1, "family": "ovi",
    "components": {"fusion": {"file": "../outside.safetensors"}}})");
  auto msg = error_of([&] { detect_model_dir(t.path().string()); });
  EXPECT_NE(msg.find("components.fusion.file"), std::string::npos) << msg;

  touch(t / "duet.json", R"({"format": "duet-package", "format_version": 2, "family": "ovi", "components": {}})");
  msg = error_of([&] { detect_model_dir(t.path().string()); });
  EXPECT_NE(msg.find("format_version"), std::string::npos) << msg;

  touch(t / "duet.json", R"({"format": "duet-package", "format_version": 1, "family": "ovi", )");
  msg = error_of([&] { detect_model_dir(t.path().string()); });
  EXPECT_NE(msg.find("duet.json"), std::string::npos) << msg;
  EXPECT_NE(msg.find("not valid JSON"), std::string::npos) << msg;
}

TEST(ModelDir, UnknownFolderListsWhatWasLookedFor) {
  TempDir t;
  touch(t / "random.txt");
  const auto msg = error_of([&] { detect_model_dir(t.path().string()); });
  for (const char* what : {"duet.json", "model_index.json", "Ovi/model*.safetensors", "config.json"}) {
    EXPECT_NE(msg.find(what), std::string::npos) << msg;
  }
  EXPECT_NE(error_of([&] { detect_model_dir((t / "nope").string()); }).find("does not exist"),
            std::string::npos);
}

}  // namespace
}  // namespace duet
