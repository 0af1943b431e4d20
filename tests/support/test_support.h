#pragma once
// Helpers shared by tests: paths to fixtures and scratch folders, relative error, running the
// duet binary. Fresh random inputs come from seeded generators so failures reproduce.
#include <filesystem>
#include <string>
#include <vector>

namespace at { class Tensor; }

namespace duet::test {

std::filesystem::path source_dir();
std::filesystem::path data_dir();
std::filesystem::path tiny_dir();          // tiny checkpoints made by tools/make_tiny_model.py
std::filesystem::path duet_binary();

// A fresh empty folder under the system temp dir, removed when the object dies.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

 private:
  std::filesystem::path path_;
};

std::string read_file(const std::filesystem::path& path);
void write_file(const std::filesystem::path& path, const std::string& bytes);

// ||out - ref|| / ||ref|| in float64.
double relative_error(const at::Tensor& out, const at::Tensor& ref);

struct CommandResult {
  int exit_code = -1;
  std::string out;  // stdout
  std::string err;  // stderr
};
// Runs a command line through /bin/sh, capturing stdout and stderr separately.
CommandResult run_command(const std::string& command_line);
// Runs the duet binary with the given arguments (each argument is shell-quoted).
CommandResult run_duet(const std::vector<std::string>& args);

}  // namespace duet::test
