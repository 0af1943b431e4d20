#include "media/temp_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <system_error>

#include <fmt/format.h>

#include "core/error.h"

namespace duet::media {

namespace fs = std::filesystem;

namespace {

fs::path folder_of(const fs::path& target) {
  fs::path parent = target.parent_path();
  return parent.empty() ? fs::path(".") : parent;
}

}  // namespace

void check_output_path(const fs::path& target) {
  DUET_CHECK(!target.filename().empty(), "output path '{}' has no file name", target.string());
  fs::path folder = folder_of(target);
  std::error_code ec;
  auto status = fs::status(folder, ec);
  DUET_CHECK(fs::exists(status),
             "cannot write '{}': folder '{}' does not exist; create it or "
             "choose another output path",
             target.string(), folder.string());
  DUET_CHECK(fs::is_directory(status), "cannot write '{}': '{}' is not a folder", target.string(),
             folder.string());
  DUET_CHECK(!fs::is_directory(fs::status(target, ec)),
             "cannot write '{}': a folder has that name; choose a file name", target.string());
}

AtomicOutputFile::AtomicOutputFile(fs::path target) : target_(std::move(target)) {
  check_output_path(target_);
  static std::atomic<unsigned> counter{0};
  std::string name =
      fmt::format(".{}.part-{}-{}", target_.filename().string(), getpid(), counter.fetch_add(1));
  temp_ = folder_of(target_) / name;
  int fd = ::open(temp_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) {
    int err = errno;
    DUET_FAIL("cannot write '{}': {} in folder '{}'; choose a writable folder", target_.string(),
              std::strerror(err), folder_of(target_).string());
  }
  ::close(fd);
}

AtomicOutputFile::~AtomicOutputFile() {
  if (!committed_) abandon();
}

void AtomicOutputFile::commit() {
  DUET_CHECK(!committed_, "output '{}' was already committed", target_.string());
  std::error_code ec;
  fs::rename(temp_, target_, ec);
  DUET_CHECK(!ec, "cannot move the finished output to '{}': {}", target_.string(), ec.message());
  committed_ = true;
}

void AtomicOutputFile::abandon() {
  std::error_code ec;
  fs::remove(temp_, ec);  // best effort: nothing useful to do if the folder vanished
}

}  // namespace duet::media
