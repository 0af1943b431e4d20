#include "cli/commands.h"

namespace duet::cli {

std::vector<Command> make_commands(CLI::App& app) {
  std::vector<Command> commands;
  (void)app;
  return commands;
}

}  // namespace duet::cli
