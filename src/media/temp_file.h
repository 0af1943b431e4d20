#pragma once
// Outputs are written to a hidden temporary file in the target's folder and renamed over the
// target at the end, so a crash or an error never leaves a partial file under the final name
// (rename(2) within one folder is atomic).
#include <filesystem>

namespace duet::media {

class AtomicOutputFile {
 public:
  // Checks the folder and reserves the temporary name (creating the empty file), so an
  // unwritable folder fails here, before any encoding work. Throws duet::Error.
  explicit AtomicOutputFile(std::filesystem::path target);
  ~AtomicOutputFile();  // removes the temporary file unless committed
  AtomicOutputFile(const AtomicOutputFile&) = delete;
  AtomicOutputFile& operator=(const AtomicOutputFile&) = delete;

  const std::filesystem::path& target() const { return target_; }
  const std::filesystem::path& temp_path() const { return temp_; }
  bool committed() const { return committed_; }

  void commit();   // rename temp -> target (replacing an existing target)
  void abandon();  // remove the temporary file now

 private:
  std::filesystem::path target_;
  std::filesystem::path temp_;
  bool committed_ = false;
};

// Throws a one-line error when `target` cannot be created: missing folder, a folder in its
// place, or a folder we may not write to.
void check_output_path(const std::filesystem::path& target);

}  // namespace duet::media
