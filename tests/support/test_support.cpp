#include "support/test_support.h"

#include <ATen/ATen.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <fstream>
#include <random>
#include <sstream>
#include <stdexcept>

namespace duet::test {

std::filesystem::path source_dir() { return DUET_SOURCE_DIR; }
std::filesystem::path data_dir() { return DUET_TEST_DATA_DIR; }
std::filesystem::path tiny_dir() { return DUET_TINY_DIR; }
std::filesystem::path duet_binary() { return DUET_BINARY; }

TempDir::TempDir() {
  static std::atomic<int> counter{0};
  std::random_device rd;
  path_ = std::filesystem::temp_directory_path() /
          ("duet-test-" + std::to_string(::getpid()) + "-" + std::to_string(counter++) + "-" +
           std::to_string(rd() % 100000));
  std::filesystem::create_directories(path_);
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path.string());
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void write_file(const std::filesystem::path& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!out) throw std::runtime_error("cannot write " + path.string());
}

double relative_error(const at::Tensor& out, const at::Tensor& ref) {
  auto o = out.to(at::kDouble).cpu();
  auto r = ref.to(at::kDouble).cpu();
  const double denom = r.norm().item<double>();
  const double num = (o - r).norm().item<double>();
  return denom == 0.0 ? num : num / denom;
}

namespace {
std::string shell_quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) {
    if (c == '\'') q += "'\\''";
    else q += c;
  }
  return q + "'";
}
}  // namespace

CommandResult run_command(const std::string& command_line) {
  TempDir tmp;
  const auto out_path = tmp / "stdout";
  const auto err_path = tmp / "stderr";
  const std::string full = command_line + " >" + shell_quote(out_path.string()) + " 2>" +
                           shell_quote(err_path.string()) + " </dev/null";
  const int status = std::system(full.c_str());
  CommandResult result;
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  result.out = read_file(out_path);
  result.err = read_file(err_path);
  return result;
}

CommandResult run_duet(const std::vector<std::string>& args) {
  std::string line = shell_quote(duet_binary().string());
  for (const auto& a : args) line += " " + shell_quote(a);
  return run_command(line);
}

}  // namespace duet::test
