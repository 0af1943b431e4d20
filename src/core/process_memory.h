#pragma once
// The process's own memory figures, for benchmarks: current and peak resident size from
// /proc/self/status, and a reset of the peak so a timed part can be measured on its own.
#include <string>

namespace duet {

// A field of /proc/self/status ("VmRSS", "VmHWM") in MiB; -1 when absent.
double proc_status_mib(const std::string& field);

// Writes "5" to /proc/self/clear_refs, which resets VmHWM to the current RSS (Linux >= 4.0);
// false where the kernel refuses.
bool reset_peak_rss();

}  // namespace duet
