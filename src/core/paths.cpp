#include "core/paths.h"

#include <cstdlib>
#include <string>
#include <system_error>

#include "core/error.h"

#ifndef DUET_SOURCE_CONFIG_DIR
#define DUET_SOURCE_CONFIG_DIR ""
#endif
#ifndef DUET_SOURCE_MODELS_DIR
#define DUET_SOURCE_MODELS_DIR ""
#endif

namespace duet {
namespace fs = std::filesystem;

namespace {

// $env, then <prefix>/share/duet/<name> next to the running binary, then the source tree's.
std::vector<fs::path> data_search_dirs(const char* env_name, const char* name,
                                       const std::string& source_dir) {
  std::vector<fs::path> dirs;
  if (const char* env = std::getenv(env_name); env != nullptr && *env != '\0') {
    dirs.emplace_back(env);
  }
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) dirs.push_back(exe.parent_path().parent_path() / "share" / "duet" / name);
  if (!source_dir.empty()) dirs.emplace_back(source_dir);
  return dirs;
}

}  // namespace

std::vector<fs::path> config_search_dirs() {
  return data_search_dirs("DUET_CONFIG_DIR", "configs", DUET_SOURCE_CONFIG_DIR);
}

fs::path default_model_dir() {
  std::string looked;
  for (const auto& dir : data_search_dirs("DUET_MODELS_DIR", "models", DUET_SOURCE_MODELS_DIR)) {
    std::error_code ec;
    if (fs::is_regular_file(dir / "duet-tiny" / "duet.json", ec)) return dir / "duet-tiny";
    looked += (looked.empty() ? "" : ", ") + (dir / "duet-tiny").string();
  }
  DUET_FAIL("the embedded model duet-tiny was not found (looked in: {}); pass --model or set "
            "DUET_MODELS_DIR to the folder holding duet-tiny/", looked.empty() ? "nowhere" : looked);
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
