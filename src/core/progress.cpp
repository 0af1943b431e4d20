#include "core/progress.h"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>

namespace duet {
namespace {

std::atomic<bool> g_cancel{false};

std::string format_duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "--:--";
  const auto s = static_cast<int64_t>(std::llround(seconds));
  if (s >= 3600) return fmt::format("{}:{:02}:{:02}", s / 3600, (s / 60) % 60, s % 60);
  return fmt::format("{}:{:02}", s / 60, s % 60);
}

}  // namespace

ProgressPrinter::ProgressPrinter(std::FILE* out) : ProgressPrinter(out, isatty(fileno(out)) != 0) {}

ProgressPrinter::ProgressPrinter(std::FILE* out, bool terminal, double line_interval_seconds)
    : out_(out), terminal_(terminal), line_interval_(line_interval_seconds) {}

std::string ProgressPrinter::format_line(const ProgressEvent& e, double elapsed, bool bar) {
  const int64_t total = std::max<int64_t>(e.total, 1);
  const int64_t step = std::clamp<int64_t>(e.step, 0, total);
  std::string line = fmt::format("{:<8}", e.stage);
  if (bar) {
    constexpr int64_t kWidth = 24;
    const int64_t filled = step * kWidth / total;
    line += fmt::format(" [{}{}]", std::string(filled, '#'), std::string(kWidth - filled, '-'));
  }
  line += fmt::format(" {:>4}/{}", step, total);
  const double rate = elapsed > 0 && step > 0 ? static_cast<double>(step) / elapsed : 0.0;
  if (rate > 0) {
    line += rate >= 1.0 ? fmt::format("  {:.2f} it/s", rate) : fmt::format("  {:.2f} s/it", 1.0 / rate);
    line += step < total ? "  ETA " + format_duration((total - step) / rate)
                         : "  done in " + format_duration(elapsed);
  }
  return line;
}

void ProgressPrinter::update(const ProgressEvent& e) {
  const auto now = Clock::now();
  if (e.stage != stage_ || e.step == 0) {
    stage_ = e.stage;
    stage_start_ = now;
    last_line_ = now - std::chrono::hours(1);
  }
  const double elapsed = std::chrono::duration<double>(now - stage_start_).count();
  const bool last = e.step >= e.total;
  if (terminal_) {
    std::fprintf(out_, "\r%s\x1b[K%s", format_line(e, elapsed, true).c_str(), last ? "\n" : "");
    std::fflush(out_);
    return;
  }
  const double since = std::chrono::duration<double>(now - last_line_).count();
  if (e.step == 0 || (!last && since < line_interval_ && e.step != 1)) return;
  last_line_ = now;
  std::fprintf(out_, "%s\n", format_line(e, elapsed, false).c_str());
  std::fflush(out_);
}

void request_cancel() noexcept { g_cancel.store(true, std::memory_order_relaxed); }
bool cancel_requested() noexcept { return g_cancel.load(std::memory_order_relaxed); }
void reset_cancel() noexcept { g_cancel.store(false, std::memory_order_relaxed); }

void throw_if_cancelled() {
  if (cancel_requested()) throw Cancelled();
}

}  // namespace duet
