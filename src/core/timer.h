#pragma once
// Scoped timers: each named stage accumulates wall time and a call count in a registry that
// `duet bench` and the end-of-run summary read. Thread-safe, cheap enough for per-step use.
#include <chrono>
#include <map>
#include <mutex>
#include <string>

namespace duet {

struct TimerStat {
  double total_seconds = 0.0;
  int64_t count = 0;
};

class TimerRegistry {
 public:
  static TimerRegistry& global();
  void add(const std::string& name, double seconds);
  std::map<std::string, TimerStat> snapshot() const;
  void clear();

 private:
  mutable std::mutex mutex_;
  std::map<std::string, TimerStat> stats_;
};

class ScopedTimer {
 public:
  explicit ScopedTimer(std::string name, TimerRegistry& registry = TimerRegistry::global());
  ~ScopedTimer();
  ScopedTimer(const ScopedTimer&) = delete;
  ScopedTimer& operator=(const ScopedTimer&) = delete;
  double elapsed_seconds() const;

 private:
  std::string name_;
  TimerRegistry& registry_;
  std::chrono::steady_clock::time_point start_;
};

}  // namespace duet
