#pragma once
// Each subcommand registers its options on the app and returns a runner. Adding a command
// (generate, batch, bench) means one new file and one line in make_commands().
#include <CLI/CLI.hpp>

#include <functional>
#include <vector>

namespace duet::cli {

struct Command {
  CLI::App* app = nullptr;
  std::function<int()> run;
};

Command add_generate_command(CLI::App& app);
Command add_batch_command(CLI::App& app);
Command add_import_prompts_command(CLI::App& app);
Command add_info_command(CLI::App& app);
Command add_convert_command(CLI::App& app);
Command add_bench_command(CLI::App& app);

std::vector<Command> make_commands(CLI::App& app);

}  // namespace duet::cli
