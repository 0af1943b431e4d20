#pragma once
// Progress of long work, reported by the library as events and drawn by the caller.
//
//   ProgressPrinter printer;                      // stderr; a bar on a terminal, else lines
//   options.progress = [&](const ProgressEvent& e) { printer.update(e); };
//
// On a terminal the printer redraws one line per stage:
//   denoise  [##########----------]  12/50  0.42 it/s  ETA 1:30
// otherwise (logs, CI, pipes) it prints the first step, then at most one line every
// `line_interval_seconds`, and the last step, so a log stays readable for long runs.
// Cancellation (Ctrl-C) is cooperative: stages call throw_if_cancelled() between steps, so
// writers unwind and discard their temporary files.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <string>

#include "core/error.h"
#include "duet/duet.h"

namespace duet {

// The public API's progress event (duet::Progress: stage, step done of total) and callback.
using ProgressEvent = Progress;

class ProgressPrinter {
 public:
  explicit ProgressPrinter(std::FILE* out = stderr);
  ProgressPrinter(std::FILE* out, bool terminal, double line_interval_seconds = 10.0);

  void update(const ProgressEvent& event);
  // The line update() would draw for `event` after `elapsed` seconds of its stage.
  static std::string format_line(const ProgressEvent& event, double elapsed_seconds, bool bar);

 private:
  using Clock = std::chrono::steady_clock;
  std::FILE* out_;
  bool terminal_;
  double line_interval_;
  std::string stage_;
  Clock::time_point stage_start_;
  Clock::time_point last_line_;
};

// Thrown by throw_if_cancelled(); the command line exits with status 130 on it.
class Cancelled : public Error {
 public:
  Cancelled() : Error("cancelled") {}
};

// Async-signal-safe: only sets an atomic flag (SIGINT handlers call it).
void request_cancel() noexcept;
bool cancel_requested() noexcept;
void reset_cancel() noexcept;
void throw_if_cancelled();

}  // namespace duet
