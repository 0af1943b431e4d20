// configs/ presets: every shipped preset parses, carries the reference defaults of its model,
// and a model folder finds its preset from the recognised variant.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "pipeline/preset.h"
#include "support/test_support.h"

namespace duet {
namespace {

std::vector<Preset> shipped() { return load_presets(test::source_dir() / "configs"); }

TEST(Preset, ShippedWanPresetsCarryTheReferenceDefaults) {
  const auto presets = shipped();
  const Preset small = find_preset(presets, "wan2.1-t2v-1.3b");
  EXPECT_EQ(small.width, 832);
  EXPECT_EQ(small.height, 480);
  EXPECT_EQ(small.frames, 81);
  EXPECT_EQ(small.fps, 16);
  EXPECT_EQ(small.steps, 50);
  EXPECT_FALSE(small.boundary.has_value());
  const Preset ti2v = find_preset(presets, "wan2.2-ti2v-5b");
  EXPECT_EQ(ti2v.width, 1280);
  EXPECT_EQ(ti2v.height, 704);
  EXPECT_EQ(ti2v.frames, 121);
  EXPECT_EQ(ti2v.fps, 24);
  EXPECT_EQ(ti2v.shift, 5.0);
  const Preset moe = find_preset(presets, "wan2.2-t2v-a14b");
  EXPECT_EQ(moe.steps, 40);
  EXPECT_EQ(moe.shift, 12.0);
  EXPECT_EQ(moe.guidance, 3.0);
  ASSERT_TRUE(moe.guidance_high_noise && moe.boundary);
  EXPECT_EQ(*moe.guidance_high_noise, 4.0);
  EXPECT_EQ(*moe.boundary, 0.875);
  for (const auto& p : presets) {
    if (p.family != "wan") continue;
    SCOPED_TRACE(p.name);
    EXPECT_EQ(p.sampler, "unipc");
    EXPECT_FALSE(p.negative_prompt.empty());
    EXPECT_FALSE(p.trained_sizes.empty());
    EXPECT_FALSE(p.model_env.empty());
  }
}

TEST(Preset, WanPresetsUseWansDefaultNegativePrompt) {
  const std::string wan_default =
      test::read_file(test::data_dir() / "golden/wan_t2v/wan_default_negative.txt");
  for (const auto& p : shipped()) {
    if (p.family == "wan") EXPECT_EQ(p.negative_prompt, wan_default) << p.name;
  }
}

TEST(Preset, VariantsFindTheirPreset) {
  const auto presets = shipped();
  bool exact = false;
  EXPECT_EQ(find_preset_for_variant(presets, "Wan2.1 T2V 14B", "wan", &exact).name,
            "wan2.1-t2v-14b");
  EXPECT_TRUE(exact);
  EXPECT_EQ(find_preset_for_variant(presets, "Wan2.2 T2V A14B", "wan").name, "wan2.2-t2v-a14b");
  EXPECT_EQ(find_preset_for_variant(presets, "Wan2.2 T2V 5B", "wan").name, "wan2.2-ti2v-5b");
  EXPECT_EQ(find_preset_for_variant(presets, "Wan2.1 T2V dim 256", "wan", &exact).name,
            "wan2.1-t2v-1.3b");
  EXPECT_FALSE(exact);
  EXPECT_THROW(find_preset_for_variant(presets, "Something else", "wan"), Error);
  try {
    find_preset(presets, "wan3");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("wan2.1-t2v-1.3b"), std::string::npos) << e.what();
  }
}

TEST(Preset, SizesParseInBothSpellings) {
  EXPECT_EQ(parse_size("832x480", "--size"), (std::array<int64_t, 2>{832, 480}));
  EXPECT_EQ(parse_size("1280*720", "--size"), (std::array<int64_t, 2>{1280, 720}));
  for (const char* bad : {"832", "x480", "832x", "-8x4", "8x4x2", "axb", "0x16"}) {
    try {
      parse_size(bad, "--size");
      ADD_FAILURE() << bad << " accepted";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("--size"), std::string::npos) << e.what();
    }
  }
}

TEST(Preset, BadPresetsNameTheField) {
  nlohmann::json j = {{"name", "x"},
                      {"family", "wan"},
                      {"defaults",
                       {{"width", 832}, {"height", 480}, {"frames", 81}, {"fps", 16},
                        {"steps", 50}, {"shift", 5.0}, {"guidance", 5.0}}}};
  EXPECT_NO_THROW(Preset::from_json(j, "x.json"));
  auto expect_error = [](nlohmann::json bad, const std::string& needle) {
    try {
      Preset::from_json(bad, "x.json");
      ADD_FAILURE() << "accepted: " << bad.dump();
    } catch (const Error& e) {
      const std::string msg = e.what();
      EXPECT_NE(msg.find("x.json"), std::string::npos) << msg;
      EXPECT_NE(msg.find(needle), std::string::npos) << msg;
    }
  };
  auto bad = j;
  bad["defaults"]["steps"] = "fifty";
  expect_error(bad, "steps");
  bad = j;
  bad["defaults"].erase("fps");
  expect_error(bad, "fps");
  bad = j;
  bad["defaults"]["boundary"] = 0.9;
  expect_error(bad, "guidance_high_noise");
  bad = j;
  bad["trained_sizes"] = {"832y480"};
  expect_error(bad, "trained_sizes");
}

}  // namespace
}  // namespace duet
