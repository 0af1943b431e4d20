#include "sampling/sigma_schedule.h"

#include <cmath>

#include "core/error.h"

namespace duet {
namespace {

// Every reference uses the 1000-step training table.
constexpr double kTrainTimesteps = 1000.0;
// Far above any real use (the reference allows duplicate integer timesteps beyond 1000); the
// bound only keeps a typo from allocating gigabytes.
constexpr int64_t kMaxSteps = 10000;

// The float32 twin of shift_sigma, as torch evaluates `shift * sigmas / (1 + (shift - 1) *
// sigmas)` on a float32 tensor: Python-float operands are rounded to float32 first.
float shift_sigma_f32(float sigma, double shift) {
  const float numerator = static_cast<float>(shift) * sigma;
  const float slope = static_cast<float>(shift - 1.0) * sigma;
  const float denominator = 1.0f + slope;
  return numerator / denominator;
}

// Shifted float64 sigmas -> float32 sigmas with the final 0, int64 timesteps = trunc(s * 1000)
// (numpy multiplies in float64; torch's .to(int64) truncates toward zero).
SigmaSchedule integer_schedule(SigmaScheduleKind kind, double shift, const std::vector<double>& s) {
  SigmaSchedule out;
  out.kind = kind;
  out.shift = shift;
  out.integer_timesteps = true;
  for (double sigma : s) {
    out.sigmas.push_back(static_cast<float>(sigma));
    out.timesteps.push_back(std::trunc(sigma * kTrainTimesteps));
  }
  out.sigmas.push_back(0.0f);
  return out;
}

std::vector<double> shifted(std::vector<double> sigmas, double shift) {
  for (double& sigma : sigmas) sigma = shift_sigma(sigma, shift);
  return sigmas;
}

// Wan FlowUniPCMultistepScheduler(num_train_timesteps=1000, shift=1).set_timesteps(n, shift=s).
// The constructor's table is 1 - linspace(1, 1/1000, 1000)[::-1] cast to float32, so its first
// entry, sigma_max, is float32(0.999) = 0.99900001287...; sigma_min is 0. The constructor's
// own shift of 1 leaves the table unchanged.
SigmaSchedule wan_unipc(int64_t steps, double shift) {
  const double sigma_max = static_cast<float>(1.0 - 1.0 / kTrainTimesteps);
  std::vector<double> s = numpy_linspace(sigma_max, 0.0, steps + 1);
  s.pop_back();
  return integer_schedule(SigmaScheduleKind::kWanUniPC, shift, shifted(std::move(s), shift));
}

// Wan get_sampling_sigmas(n, s) = shift(linspace(1, 0, n + 1)[:n]), then set_timesteps(sigmas=)
// of a scheduler built with shift=1, whose second shift is the identity. The first sigma is
// exactly 1 (alpha 0), which DPM-Solver++'s first-order first step tolerates.
SigmaSchedule wan_dpm(int64_t steps, double shift) {
  std::vector<double> s = numpy_linspace(1.0, 0.0, steps + 1);
  s.pop_back();
  return integer_schedule(SigmaScheduleKind::kWanDpm, shift, shifted(std::move(s), shift));
}

// diffusers UniPCMultistepScheduler(use_flow_sigmas=True, flow_shift=s).set_timesteps(n).
SigmaSchedule diffusers_flow(int64_t steps, double shift) {
  std::vector<double> s = numpy_linspace(1.0, 1.0 / kTrainTimesteps, steps + 1);
  s.pop_back();
  s = shifted(std::move(s), shift);
  // diffusers nudges a first sigma of 1 down so that log(alpha) stays finite in UniPC.
  constexpr double kEps = 1e-6;
  if (std::fabs(s[0] - 1.0) < kEps) s[0] -= kEps;
  return integer_schedule(SigmaScheduleKind::kDiffusersFlow, shift, s);
}

// diffusers FlowMatchEulerDiscreteScheduler(shift=s), retrieve_timesteps(scheduler, n).
// The constructor shifts its float32 training table (timesteps 1000..1 / 1000); set_timesteps
// spaces timesteps linearly between that table's ends and shifts again in float64.
SigmaSchedule flow_match_euler(int64_t steps, double shift) {
  const double sigma_max = shift_sigma_f32(1000.0f / 1000.0f, shift);
  const double sigma_min = shift_sigma_f32(1.0f / 1000.0f, shift);
  const std::vector<double> t =
      numpy_linspace(sigma_max * kTrainTimesteps, sigma_min * kTrainTimesteps, steps);
  SigmaSchedule out;
  out.kind = SigmaScheduleKind::kFlowMatchEuler;
  out.shift = shift;
  out.integer_timesteps = false;
  for (double timestep : t) {
    const float sigma = static_cast<float>(shift_sigma(timestep / kTrainTimesteps, shift));
    out.sigmas.push_back(sigma);
    out.timesteps.push_back(sigma * 1000.0f);  // float32 product, as torch computes it
  }
  out.sigmas.push_back(0.0f);
  return out;
}

}  // namespace

std::string_view schedule_kind_name(SigmaScheduleKind kind) {
  switch (kind) {
    case SigmaScheduleKind::kWanUniPC:
      return "wan_unipc";
    case SigmaScheduleKind::kWanDpm:
      return "wan_dpm";
    case SigmaScheduleKind::kDiffusersFlow:
      return "diffusers_flow";
    case SigmaScheduleKind::kFlowMatchEuler:
      return "flow_match_euler";
  }
  DUET_FAIL("unknown sigma schedule kind {}", static_cast<int>(kind));
}

SigmaScheduleKind parse_schedule_kind(std::string_view name) {
  for (auto kind : {SigmaScheduleKind::kWanUniPC, SigmaScheduleKind::kWanDpm,
                    SigmaScheduleKind::kDiffusersFlow, SigmaScheduleKind::kFlowMatchEuler}) {
    if (schedule_kind_name(kind) == name) return kind;
  }
  DUET_FAIL(
      "unknown sigma schedule '{}' (valid: wan_unipc, wan_dpm, diffusers_flow, "
      "flow_match_euler)",
      name);
}

double shift_sigma(double sigma, double shift) {
  // Separate statements so no compiler fuses a multiply-add the reference does not have.
  const double numerator = shift * sigma;
  const double slope = (shift - 1.0) * sigma;
  const double denominator = 1.0 + slope;
  return numerator / denominator;
}

std::vector<double> numpy_linspace(double start, double stop, int64_t num) {
  DUET_CHECK(num >= 0, "linspace: number of samples must be >= 0, got {}", num);
  std::vector<double> y(static_cast<size_t>(num));
  const int64_t div = num - 1;
  const double delta = stop - start;
  const double step = div > 0 ? delta / static_cast<double>(div) : 0.0;
  for (int64_t i = 0; i < num; ++i) {
    double v = static_cast<double>(i);
    if (div > 0 && step != 0.0) {
      v = v * step;
    } else if (div > 0) {  // numpy's path for denormal steps
      v = v / static_cast<double>(div);
      v = v * delta;
    } else {
      v = v * delta;
    }
    y[static_cast<size_t>(i)] = v + start;
  }
  if (num > 1) y.back() = stop;
  return y;
}

SigmaSchedule make_sigma_schedule(SigmaScheduleKind kind, int64_t steps, double shift) {
  DUET_CHECK(steps >= 1 && steps <= kMaxSteps, "sampling steps must be in [1, {}], got {}",
             kMaxSteps, steps);
  DUET_CHECK(std::isfinite(shift) && shift > 0.0, "sampling shift must be > 0, got {}", shift);
  switch (kind) {
    case SigmaScheduleKind::kWanUniPC:
      return wan_unipc(steps, shift);
    case SigmaScheduleKind::kWanDpm:
      return wan_dpm(steps, shift);
    case SigmaScheduleKind::kDiffusersFlow:
      return diffusers_flow(steps, shift);
    case SigmaScheduleKind::kFlowMatchEuler:
      return flow_match_euler(steps, shift);
  }
  DUET_FAIL("unknown sigma schedule kind {}", static_cast<int>(kind));
}

at::Tensor SigmaSchedule::timesteps_tensor() const {
  if (integer_timesteps) {
    std::vector<int64_t> values(timesteps.begin(), timesteps.end());
    return at::tensor(values, at::kLong);
  }
  std::vector<float> values(timesteps.begin(), timesteps.end());
  return at::tensor(values, at::kFloat);
}

at::Tensor SigmaSchedule::sigmas_tensor() const { return at::tensor(sigmas, at::kFloat); }

}  // namespace duet
