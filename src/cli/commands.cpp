#include "cli/commands.h"

namespace duet::cli {

std::vector<Command> make_commands(CLI::App& app) {
  std::vector<Command> commands;
  commands.push_back(add_generate_command(app));
  commands.push_back(add_batch_command(app));
  commands.push_back(add_import_prompts_command(app));
  commands.push_back(add_info_command(app));
  commands.push_back(add_convert_command(app));
  commands.push_back(add_bench_command(app));
  return commands;
}

}  // namespace duet::cli
