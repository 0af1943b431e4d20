// duet command line: one binary, CLI11 subcommands. Library errors arrive as duet::Error and
// are printed here on one line; nothing below this file calls exit().
#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>

#include <cstdio>
#include <exception>

#include "cli/commands.h"
#include "core/error.h"
#include "core/log.h"
#include "core/progress.h"
#include "duet/version.h"

int main(int argc, char** argv) {
  CLI::App app{"duet: text to video with synchronized sound, written as one MP4", "duet"};
  app.set_version_flag("--version", std::string("duet ") + DUET_VERSION_STRING);
  app.require_subcommand(1);
  app.fallthrough();

  int verbose = 0;
  bool quiet = false;
  app.add_flag("-v,--verbose", verbose, "More logging (-vv for trace)");
  app.add_flag("-q,--quiet", quiet, "Only errors");

  std::vector<duet::cli::Command> commands = duet::cli::make_commands(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  duet::init_logging(quiet ? -1 : verbose);

  try {
    for (auto& command : commands) {
      if (command.app->parsed()) return command.run();
    }
    return 1;
  } catch (const duet::Cancelled&) {
    std::fprintf(stderr, "\nduet: cancelled; no output was written\n");
    return 130;
  } catch (const duet::Error& e) {
    std::fprintf(stderr, "duet: error: %s\n", e.what());
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "duet: internal error: %s\n", e.what());
    return 2;
  }
}
