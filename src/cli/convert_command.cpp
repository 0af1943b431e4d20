// `duet convert IN OUT`: .pth (or any checkpoint) to safetensors, with an optional dtype change.
#include <spdlog/spdlog.h>

#include "cli/commands.h"
#include "cli/format.h"
#include "core/device.h"
#include "core/timer.h"
#include "io/convert.h"

namespace duet::cli {
namespace {

struct ConvertArgs {
  std::string input;
  std::string output;
  std::string dtype = "keep";
  std::string prefix;
  bool force = false;
};

int run_convert(const ConvertArgs& args) {
  ConvertOptions options;
  if (args.dtype != "keep") options.dtype = to_scalar_type(parse_compute_dtype(args.dtype));
  options.prefix = args.prefix;
  options.overwrite = args.force;
  ScopedTimer timer("convert");
  const ConvertResult r = convert_checkpoint(args.input, args.output, options);
  spdlog::info("wrote {}: {} tensors, {} parameters, {} in {:.1f} s", args.output, r.tensors,
               human_count(r.parameters), human_bytes(r.bytes_written), timer.elapsed_seconds());
  return 0;
}

}  // namespace

Command add_convert_command(CLI::App& app) {
  auto args = std::make_shared<ConvertArgs>();
  CLI::App* sub = app.add_subcommand(
      "convert", "Convert a checkpoint (.pth/.pt, safetensors, sharded) to one safetensors file");
  sub->add_option("input", args->input, "Checkpoint to read")->required();
  sub->add_option("output", args->output, "safetensors file to write")->required();
  sub->add_option("--dtype", args->dtype, "Cast floating tensors: keep, fp32, bf16 or fp16")
      ->capture_default_str();
  sub->add_option("--prefix", args->prefix,
                  "Keep only tensors under this key prefix and strip it (e.g. generator.)");
  sub->add_flag("--force", args->force, "Overwrite the output if it exists");
  return {sub, [args] { return run_convert(*args); }};
}

}  // namespace duet::cli
