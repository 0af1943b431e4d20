#include "core/error.h"

#include <spdlog/spdlog.h>

namespace duet {

Error::Error(std::string message, const char* file, int line)
    : std::runtime_error(std::move(message)), file_(file), line_(line) {}

void throw_error(const char* file, int line, std::string message) {
  spdlog::debug("{}:{}: {}", file, line, message);
  throw Error(std::move(message), file, line);
}

}  // namespace duet
