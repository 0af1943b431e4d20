#include "core/timer.h"

namespace duet {

TimerRegistry& TimerRegistry::global() {
  static TimerRegistry registry;
  return registry;
}

void TimerRegistry::add(const std::string& name, double seconds) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto& stat = stats_[name];
  stat.total_seconds += seconds;
  stat.count += 1;
}

std::map<std::string, TimerStat> TimerRegistry::snapshot() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return stats_;
}

void TimerRegistry::clear() {
  std::lock_guard<std::mutex> lock(mutex_);
  stats_.clear();
}

ScopedTimer::ScopedTimer(std::string name, TimerRegistry& registry)
    : name_(std::move(name)), registry_(registry), start_(std::chrono::steady_clock::now()) {}

ScopedTimer::~ScopedTimer() { registry_.add(name_, elapsed_seconds()); }

double ScopedTimer::elapsed_seconds() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
}

}  // namespace duet
