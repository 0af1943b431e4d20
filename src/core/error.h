#pragma once
// Errors that reach users. Library code throws duet::Error with a message a user can act on;
// the command line prints it on one line and exits non-zero. The source location is kept for
// debug logs only, because users care about the file/key/field, not about our line numbers.
#include <fmt/format.h>

#include <stdexcept>
#include <string>

namespace duet {

class Error : public std::runtime_error {
 public:
  Error(std::string message, const char* file = "", int line = 0);
  const char* file() const { return file_; }
  int line() const { return line_; }

 private:
  const char* file_;
  int line_;
};

// Logs "file:line: message" at debug level, then throws Error(message).
[[noreturn]] void throw_error(const char* file, int line, std::string message);

}  // namespace duet

// DUET_CHECK(cond, "tensor '{}' has shape {}, expected {}", name, got, want)
#define DUET_CHECK(cond, ...)                                                 \
  do {                                                                        \
    if (!(cond)) ::duet::throw_error(__FILE__, __LINE__, fmt::format(__VA_ARGS__)); \
  } while (0)

#define DUET_FAIL(...) ::duet::throw_error(__FILE__, __LINE__, fmt::format(__VA_ARGS__))
