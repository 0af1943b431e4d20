#include "core/paths.h"

#include <cstdlib>
#include <string>
#include <system_error>

#include "core/error.h"

#ifndef DUET_SOURCE_CONFIG_DIR
#define DUET_SOURCE_CONFIG_DIR ""
#endif

namespace duet {
namespace fs = std::filesystem;

std::vector<fs::path> config_search_dirs() {
  std::vector<fs::path> dirs;
  if (const char* env = std::getenv("DUET_CONFIG_DIR"); env != nullptr && *env != '\0') {
    dirs.emplace_back(env);
  }
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) dirs.push_back(exe.parent_path().parent_path() / "share" / "duet" / "configs");
  if (std::string(DUET_SOURCE_CONFIG_DIR).size() > 0) dirs.emplace_back(DUET_SOURCE_CONFIG_DIR);
  return dirs;
}

fs::path config_dir() {
  std::string looked;
  for (const auto& dir : config_search_dirs()) {
    std::error_code ec;
    if (fs::is_directory(dir, ec)) return dir;
    looked += (looked.empty() ? "" : ", ") + dir.string();
  }
  DUET_FAIL("duet's configs folder was not found (looked in: {}); set DUET_CONFIG_DIR to it",
            looked.empty() ? "nowhere" : looked);
}

}  // namespace duet
