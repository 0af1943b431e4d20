#include "core/log.h"

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

namespace duet {

void init_logging(int verbosity) {
  // Logs go to stderr so stdout stays clean for --json output and piping.
  auto logger = spdlog::get("duet");
  if (!logger) logger = spdlog::stderr_color_mt("duet");
  spdlog::set_default_logger(logger);
  spdlog::set_pattern(verbosity >= 1 ? "[%H:%M:%S.%e] [%^%l%$] %v" : "[%^%l%$] %v");
  if (verbosity < 0) {
    spdlog::set_level(spdlog::level::err);
  } else if (verbosity == 0) {
    spdlog::set_level(spdlog::level::info);
  } else if (verbosity == 1) {
    spdlog::set_level(spdlog::level::debug);
  } else {
    spdlog::set_level(spdlog::level::trace);
  }
}

}  // namespace duet
