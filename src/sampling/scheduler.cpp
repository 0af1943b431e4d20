#include "sampling/scheduler.h"

#include "core/error.h"
#include "sampling/dpmpp.h"
#include "sampling/euler.h"
#include "sampling/unipc.h"

namespace duet {
namespace {

constexpr std::string_view kValidNames = "unipc, euler, dpm++";

std::string shape_string(const at::Tensor& t) {
  std::string out = "[";
  for (int64_t d = 0; d < t.dim(); ++d) out += (d ? ", " : "") + std::to_string(t.size(d));
  return out + "]";
}

}  // namespace

void Scheduler::set_timesteps(int64_t steps, double shift) {
  schedule_ = make_sigma_schedule(kind_, steps, shift);
  reset();
}

const SigmaSchedule& Scheduler::schedule() const {
  DUET_CHECK(schedule_.has_value(), "sampler '{}': set_timesteps() was not called", name());
  return *schedule_;
}

void Scheduler::reset() {
  next_index_ = -1;
  steps_done_ = 0;
  reset_state();
}

at::Tensor Scheduler::step(const at::Tensor& model_output, int64_t index,
                           const at::Tensor& sample) {
  const int64_t steps = num_steps();
  DUET_CHECK(index >= 0 && index < steps, "sampler '{}': step index {} is outside [0, {})", name(),
             index, steps);
  DUET_CHECK(
      next_index_ < 0 || index == next_index_,
      "sampler '{}': step {} follows step {}; steps must be consecutive (reset() starts over)",
      name(), index, next_index_ - 1);
  DUET_CHECK(model_output.defined() && sample.defined(), "sampler '{}': undefined tensor", name());
  DUET_CHECK(model_output.sizes() == sample.sizes(),
             "sampler '{}': model output shape {} differs from sample shape {}", name(),
             shape_string(model_output), shape_string(sample));
  DUET_CHECK(
      at::isFloatingType(model_output.scalar_type()) && at::isFloatingType(sample.scalar_type()),
      "sampler '{}': model output and sample must be floating point", name());
  at::Tensor out = step_impl(model_output, index, sample);
  next_index_ = index + 1;
  ++steps_done_;
  return out;
}

SigmaScheduleKind default_schedule_kind(std::string_view solver_name) {
  if (solver_name == "unipc") return SigmaScheduleKind::kWanUniPC;
  if (solver_name == "dpm++") return SigmaScheduleKind::kWanDpm;
  if (solver_name == "euler") return SigmaScheduleKind::kFlowMatchEuler;
  DUET_FAIL("unknown sampler '{}' (valid: {})", solver_name, kValidNames);
}

std::unique_ptr<Scheduler> make_scheduler(std::string_view name) {
  return make_scheduler(name, default_schedule_kind(name));
}

std::unique_ptr<Scheduler> make_scheduler(std::string_view name, SigmaScheduleKind schedule) {
  if (name == "unipc") return std::make_unique<FlowUniPCMultistep>(schedule);
  if (name == "dpm++") return std::make_unique<FlowDPMSolverMultistep>(schedule);
  if (name == "euler") return std::make_unique<FlowEuler>(schedule);
  DUET_FAIL("unknown sampler '{}' (valid: {})", name, kValidNames);
}

}  // namespace duet
