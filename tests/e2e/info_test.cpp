// `duet info` and `duet convert` on tiny checkpoints in every real layout, checked against
// an independent count made by the reference readers (safetensors / torch.load in Python).
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "support/test_support.h"

namespace duet {
namespace {

namespace fs = std::filesystem;
using test::run_command;
using test::run_duet;
using test::TempDir;

// Python: parameter count per (file, key prefix), read with torch.load(weights_only=True) or
// safetensors; sharded index files are followed.
const char* kCountScript = R"PY(
import json, os, sys, torch
from safetensors.torch import load_file
def tensors(path):
    if path.endswith('.index.json'):
        idx = json.load(open(path)); out = {}
        for shard in sorted(set(idx['weight_map'].values())):
            out.update(load_file(os.path.join(os.path.dirname(path), shard)))
        return out
    if path.endswith('.safetensors'):
        return load_file(path)
    obj = torch.load(path, map_location='cpu', weights_only=True)
    flat = {}
    def walk(prefix, o):
        if isinstance(o, torch.Tensor): flat[prefix[:-1]] = o
        elif isinstance(o, dict):
            for k, v in o.items(): walk(prefix + str(k) + '.', v)
    walk('', obj)
    return flat
res = {}
for arg in sys.argv[1:]:
    path, prefix = arg.split('::')
    res[arg] = sum(t.numel() for k, t in tensors(path).items() if k.startswith(prefix))
print(json.dumps(res))
)PY";

std::string quote(const std::string& s) { return "'" + s + "'"; }

nlohmann::json python_counts(const std::vector<std::string>& specs) {
  TempDir tmp;
  test::write_file(tmp / "count.py", kCountScript);
  std::string cmd = std::string(DUET_PYTHON) + " " + quote((tmp / "count.py").string());
  for (const auto& s : specs) cmd += " " + quote(s);
  auto r = run_command(cmd);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return nlohmann::json::parse(r.out);
}

struct LayoutCase {
  std::string folder;
  std::string family;
  std::string layout;
  std::vector<std::string> components;
};
void PrintTo(const LayoutCase& c, std::ostream* os) { *os << c.folder; }

class InfoLayouts : public ::testing::TestWithParam<LayoutCase> {};

TEST_P(InfoLayouts, DescribesEveryComponentWithExactParameterCounts) {
  const auto& c = GetParam();
  const auto dir = test::tiny_dir() / c.folder;
  auto r = run_duet({"info", "--json", dir.string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto info = nlohmann::json::parse(r.out);
  EXPECT_EQ(info["family"], c.family);
  EXPECT_EQ(info["layout"], c.layout);
  std::vector<std::string> names, specs;
  for (const auto& comp : info["components"]) {
    names.push_back(comp["name"]);
    EXPECT_TRUE(comp["present"].get<bool>()) << comp.dump();
    if (comp.contains("stats")) {
      EXPECT_GT(comp["stats"]["parameters"].get<int64_t>(), 0);
      std::string prefix = comp["name"] == "vocoder" && c.layout == "Ovi checkpoint folder" ? "generator." : "";
      specs.push_back(comp["files"][0].get<std::string>() + "::" + prefix);
    }
  }
  for (const auto& want : c.components) {
    EXPECT_NE(std::find(names.begin(), names.end(), want), names.end()) << want;
  }
  const auto counts = python_counts(specs);
  size_t i = 0;
  uint64_t bf16_sum = 0;
  for (const auto& comp : info["components"]) {
    if (!comp.contains("stats")) continue;
    EXPECT_EQ(comp["stats"]["parameters"].get<int64_t>(), counts[specs[i]].get<int64_t>())
        << specs[i];
    if (comp["role"] != "text_encoder") bf16_sum += comp["stats"]["bf16_bytes"].get<uint64_t>();
    ++i;
  }
  EXPECT_EQ(info["memory_bf16"]["denoise_bytes"].get<uint64_t>(), bf16_sum);

  // The table form names the same things for people.
  auto table = run_duet({"info", dir.string()});
  ASSERT_EQ(table.exit_code, 0) << table.err;
  EXPECT_NE(table.out.find(c.layout), std::string::npos) << table.out;
  EXPECT_NE(table.out.find("peak"), std::string::npos);
}

INSTANTIATE_TEST_SUITE_P(
    Tiny, InfoLayouts,
    ::testing::Values(
        LayoutCase{"ovi", "ovi", "Ovi checkpoint folder",
                   {"fusion", "video_vae", "text_encoder", "tokenizer", "audio_vae", "vocoder"}},
        LayoutCase{"wan21", "wan", "Wan original", {"transformer", "vae", "text_encoder", "tokenizer"}},
        LayoutCase{"wan22-ti2v", "wan", "Wan original", {"transformer", "vae", "text_encoder", "tokenizer"}},
        LayoutCase{"wan-diffusers", "wan", "Wan diffusers",
                   {"transformer", "vae", "text_encoder", "tokenizer", "scheduler"}},
        LayoutCase{"duet-package", "ovi", "duet package",
                   {"fusion", "video_vae", "audio_vae", "vocoder", "text_encoder", "tokenizer"}}),
    [](const auto& info) {
      std::string n = info.param.folder;
      std::replace(n.begin(), n.end(), '-', '_');
      return n;
    });

TEST(InfoFile, SingleCheckpointFile) {
  const auto file = test::tiny_dir() / "ovi/MMAudio/ext_weights/best_netG.pt";
  auto r = run_duet({"info", "--json", file.string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto info = nlohmann::json::parse(r.out);
  EXPECT_EQ(info["format"], "PyTorch zip");
  const auto counts = python_counts({file.string() + "::"});
  EXPECT_EQ(info["stats"]["parameters"].get<int64_t>(), counts.begin()->get<int64_t>());
}

// ---- damaged files: one line on stderr naming the file, exit code 1, no crash ----------

struct Damage {
  std::string folder;
  std::string file;  // relative to the folder
  std::string how;   // "truncate" or "garble"
};
void PrintTo(const Damage& d, std::ostream* os) { *os << d.folder << "/" << d.file << " " << d.how; }

class DamagedFiles : public ::testing::TestWithParam<Damage> {};

TEST_P(DamagedFiles, GiveOneLineErrorNamingTheFile) {
  const auto& d = GetParam();
  TempDir tmp;
  const auto copy = tmp / "model";
  fs::copy(test::tiny_dir() / d.folder, copy, fs::copy_options::recursive);
  const auto target = copy / d.file;
  std::string bytes = test::read_file(target);
  ASSERT_GT(bytes.size(), 16u);
  if (d.how == "truncate") {
    bytes.resize(bytes.size() / 2);
  } else {
    // Overwrite bytes 8..71 (safetensors JSON header, JSON text): tensor data carries no
    // checksum, so damage there is invisible by design; headers are what must be caught.
    for (size_t i = 8; i < 72 && i < bytes.size(); ++i) bytes[i] = static_cast<char>(0xA5 ^ i);
  }
  test::write_file(target, bytes);
  auto r = run_duet({"info", copy.string()});
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  ASSERT_FALSE(r.err.empty());
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_EQ(r.err.rfind("duet: error: ", 0), 0u) << r.err;
  EXPECT_NE(r.err.find(target.filename().string()), std::string::npos) << r.err;
}

INSTANTIATE_TEST_SUITE_P(
    Tiny, DamagedFiles,
    ::testing::Values(Damage{"ovi", "Ovi/model.safetensors", "truncate"},
                      Damage{"ovi", "Ovi/model.safetensors", "garble"},
                      Damage{"ovi", "Wan2.2-TI2V-5B/Wan2.2_VAE.pth", "truncate"},
                      Damage{"ovi", "Wan2.2-TI2V-5B/models_t5_umt5-xxl-enc-bf16.pth", "truncate"},
                      Damage{"ovi", "MMAudio/ext_weights/best_netG.pt", "truncate"},
                      Damage{"wan22-ti2v", "diffusion_pytorch_model.safetensors.index.json", "truncate"},
                      Damage{"wan21", "config.json", "truncate"},
                      Damage{"wan-diffusers", "model_index.json", "garble"},
                      Damage{"duet-package", "duet.json", "truncate"},
                      Damage{"duet-package", "fusion.safetensors", "garble"}),
    [](const auto& info) { return "case" + std::to_string(info.index); });

// ---- convert -------------------------------------------------------------------------------

TEST(Convert, PthToSafetensorsMatchesTorchLoadExactly) {
  TempDir tmp;
  const auto src = test::tiny_dir() / "ovi/Wan2.2-TI2V-5B/models_t5_umt5-xxl-enc-bf16.pth";
  const auto out = tmp / "t5.safetensors";
  auto r = run_duet({"convert", src.string(), out.string(), "--dtype", "fp32"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string script =
      "import sys, torch\nfrom safetensors.torch import load_file\n"
      "a = torch.load(sys.argv[1], weights_only=True); b = load_file(sys.argv[2])\n"
      "assert sorted(a) == sorted(b), 'key sets differ'\n"
      "bad = [k for k in a if b[k].dtype != torch.float32 or not torch.equal(a[k].float(), b[k])]\n"
      "assert not bad, bad\nprint(len(a))\n";
  test::write_file(tmp / "cmp.py", script);
  auto cmp = run_command(std::string(DUET_PYTHON) + " " + quote((tmp / "cmp.py").string()) + " " +
                         quote(src.string()) + " " + quote(out.string()));
  EXPECT_EQ(cmp.exit_code, 0) << cmp.err;
  EXPECT_GT(std::stoi(cmp.out), 0);

  // Refuses to overwrite without --force, then succeeds with it.
  r = run_duet({"convert", src.string(), out.string()});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("--force"), std::string::npos) << r.err;
  EXPECT_EQ(run_duet({"convert", src.string(), out.string(), "--force"}).exit_code, 0);
}

TEST(Convert, PrefixSelectsAndStripsNestedKeys) {
  TempDir tmp;
  const auto src = test::tiny_dir() / "ovi/MMAudio/ext_weights/best_netG.pt";
  const auto out = tmp / "vocoder.safetensors";
  auto r = run_duet({"convert", src.string(), out.string(), "--prefix", "generator.", "--dtype", "bf16"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto info = run_duet({"info", "--json", "--tensors", out.string()});
  ASSERT_EQ(info.exit_code, 0) << info.err;
  const auto j = nlohmann::json::parse(info.out);
  EXPECT_EQ(j["stats"]["dtypes"].size(), 1u);
  EXPECT_TRUE(j["stats"]["dtypes"].contains("BF16"));
  const auto counts = python_counts({src.string() + "::generator."});
  EXPECT_EQ(j["stats"]["parameters"].get<int64_t>(), counts.begin()->get<int64_t>());
  EXPECT_EQ(j["metadata"]["source"], "best_netG.pt");
}

TEST(Cli, VersionHelpAndUnknownPaths) {
  auto v = run_duet({"--version"});
  EXPECT_EQ(v.exit_code, 0);
  EXPECT_EQ(v.out.rfind("duet ", 0), 0u) << v.out;
  auto h = run_duet({"--help"});
  EXPECT_EQ(h.exit_code, 0);
  EXPECT_NE(h.out.find("info"), std::string::npos);
  EXPECT_NE(h.out.find("convert"), std::string::npos);
  auto missing = run_duet({"info", "/nonexistent/model"});
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_NE(missing.err.find("/nonexistent/model"), std::string::npos) << missing.err;
}

}  // namespace
}  // namespace duet
