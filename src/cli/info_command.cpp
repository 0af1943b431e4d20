// `duet info PATH`: what a model folder (or a single checkpoint file) holds, and what it
// takes to run it.
#include <spdlog/spdlog.h>

#include <filesystem>
#include <iostream>

#include "cli/commands.h"
#include "cli/format.h"
#include "io/checkpoint.h"
#include "io/model_info.h"

namespace duet::cli {
namespace {

struct InfoOptions {
  std::string path;
  bool json = false;
  bool tensors = false;
};

std::string dtype_summary(const TensorStats& s) {
  std::string out;
  for (const auto& [name, count] : s.dtype_counts) {
    if (!out.empty()) out += ",";
    out += name;
  }
  return out;
}

void print_tensor_list(const TensorMap& tensors) {
  for (const auto& [name, rec] : tensors) {
    fmt::print("  {:<60} {:<8} {}\n", name, dtype_name(rec.dtype), shape_to_string(rec.shape));
  }
}

int info_file(const InfoOptions& opt) {
  const Checkpoint ckpt = open_checkpoint(opt.path);
  TensorStats stats = tensor_stats(ckpt.tensors);
  stats.bytes_on_disk = ckpt.bytes_on_disk;
  if (opt.json) {
    nlohmann::json j = {{"path", ckpt.path},
                        {"format", std::string(checkpoint_format_name(ckpt.format))},
                        {"metadata", ckpt.metadata},
                        {"stats", to_json(stats)}};
    std::cout << j.dump(2) << "\n";
    return 0;
  }
  fmt::print("file:        {}\n", ckpt.path);
  fmt::print("format:      {}\n", checkpoint_format_name(ckpt.format));
  fmt::print("tensors:     {}\n", stats.tensors);
  fmt::print("parameters:  {} ({})\n", human_count(stats.parameters), stats.parameters);
  fmt::print("dtypes:      {}\n", dtype_summary(stats));
  fmt::print("on disk:     {}\n", human_bytes(stats.bytes_on_disk));
  fmt::print("bf16:        {}\n", human_bytes(stats.bf16_bytes));
  for (const auto& [k, v] : ckpt.metadata) fmt::print("metadata:    {} = {}\n", k, v);
  if (opt.tensors) print_tensor_list(ckpt.tensors);
  return 0;
}

std::string relative_files(const ModelComponent& c, const std::string& root) {
  if (!c.present) return "MISSING " + std::filesystem::relative(c.expected, root).string();
  if (c.files.empty()) return "";
  std::string first = std::filesystem::relative(c.files.front(), root).string();
  return c.files.size() > 1 ? fmt::format("{} (+{} files)", first, c.files.size() - 1) : first;
}

int info_folder(const InfoOptions& opt) {
  const ModelInfo info = describe_model(opt.path);
  if (opt.json) {
    std::cout << to_json(info).dump(2) << "\n";
    return 0;
  }
  fmt::print("model:    {}\n", info.dir.path);
  fmt::print("family:   {}\n", info.dir.family);
  fmt::print("layout:   {}\n", model_layout_name(info.dir.layout));
  fmt::print("variant:  {}\n\n", info.dir.variant);
  fmt::print("{:<24} {:<13} {:>10} {:>11} {:<16} {:>10} {:>10}  {}\n", "component", "role",
             "tensors", "parameters", "dtypes", "on disk", "bf16", "file");
  for (const auto& c : info.components) {
    const auto& s = c.stats;
    const bool stats = !c.format.empty();
    fmt::print("{:<24} {:<13} {:>10} {:>11} {:<16} {:>10} {:>10}  {}\n", c.component.name,
               c.component.role, stats ? std::to_string(s.tensors) : "-",
               stats ? human_count(s.parameters) : "-", stats ? dtype_summary(s) : "-",
               stats ? human_bytes(s.bytes_on_disk) : "-", stats ? human_bytes(s.bf16_bytes) : "-",
               relative_files(c.component, info.dir.path));
    if (stats && c.component.role == "denoiser" && s.part_parameters.size() <= 4) {
      for (const auto& [part, n] : s.part_parameters) {
        fmt::print("  {:<22} {:>37}\n", part, human_count(n));
      }
    }
  }
  fmt::print("\nestimated memory for weights in bf16 (activations not included):\n");
  fmt::print("  text encoder   {:>10}  (freed before denoising)\n",
             human_bytes(info.text_encoder_bf16_bytes));
  fmt::print("  denoising      {:>10}  (denoiser in use + decoders)\n",
             human_bytes(info.denoise_bf16_bytes));
  fmt::print("  peak           {:>10}\n", human_bytes(info.peak_bf16_bytes));
  const auto missing = info.dir.missing();
  for (const auto* m : missing) {
    spdlog::warn("component '{}' is missing: expected {}", m->name, m->expected);
  }
  if (opt.tensors) {
    for (const auto& c : info.components) {
      if (c.format.empty()) continue;
      fmt::print("\n[{}]\n", c.component.name);
      print_tensor_list(open_checkpoint(c.component.files.front()).tensors);
    }
  }
  return missing.empty() ? 0 : 3;
}

}  // namespace

Command add_info_command(CLI::App& app) {
  auto opt = std::make_shared<InfoOptions>();
  CLI::App* sub = app.add_subcommand(
      "info", "Describe a model folder or checkpoint file: family, layout, components, "
              "parameters, dtypes, size on disk and the memory it needs");
  sub->add_option("path", opt->path, "Model folder or checkpoint file")->required();
  sub->add_flag("--json", opt->json, "Print JSON instead of a table");
  sub->add_flag("--tensors", opt->tensors, "Also list every tensor with dtype and shape");
  return {sub, [opt] {
            return std::filesystem::is_directory(opt->path) ? info_folder(*opt) : info_file(*opt);
          }};
}

}  // namespace duet::cli
