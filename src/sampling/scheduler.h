#pragma once
// Flow-matching samplers behind one interface, so a pipeline can hold one per modality (Ovi
// steps separate video and audio scheduler states over the same timesteps).
//
//   auto video = make_scheduler("unipc");            // "unipc" | "euler" | "dpm++"
//   auto audio = make_scheduler("unipc");
//   video->set_timesteps(50, 5.0);
//   audio->set_timesteps(50, 5.0);
//   for (int64_t i = 0; i < video->num_steps(); ++i) {
//     double t = video->schedule().timesteps[i];     // what the model is conditioned on
//     at::Tensor v = ...;                            // guided velocity at (x, t)
//     x = video->step(v, i, x);                      // x at sigmas[i] -> x at sigmas[i + 1]
//   }
//
// Semantics follow the reference schedulers (Wan's fm_solvers*.py, diffusers): the model
// predicts the flow velocity v = noise - x0, tensors keep the dtypes the reference would give
// them (Wan samples in float32; Ovi in bfloat16, where the float32 scalar coefficients still
// round every operation to bfloat16, and we reproduce that op for op). Scalar coefficients are
// computed on the host in float32 and applied as 0-d float32 tensors, as the reference's are
// (see flow_scalars.h), so both dtypes match it bit for bit on the CPU.
#include <ATen/ATen.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "sampling/sigma_schedule.h"

namespace duet {

class Scheduler {
 public:
  virtual ~Scheduler() = default;
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  // "unipc", "euler" or "dpm++" (the reference's sample_solver names).
  virtual std::string_view name() const = 0;
  SigmaScheduleKind schedule_kind() const { return kind_; }

  // Computes the schedule for `steps` model evaluations and resets the solver state.
  // steps >= 1, shift > 0; otherwise a duet::Error.
  void set_timesteps(int64_t steps, double shift);
  bool has_timesteps() const { return schedule_.has_value(); }
  const SigmaSchedule& schedule() const;
  int64_t num_steps() const { return schedule().steps(); }
  // int64 [steps] (float32 for the Euler schedule), as the reference passes them to the model.
  at::Tensor timesteps() const { return schedule().timesteps_tensor(); }

  // One solver step from sigmas[index] to sigmas[index + 1]. `model_output` is the (guided)
  // velocity predicted at (sample, timesteps[index]); both have the same shape, batch first.
  // The first call after set_timesteps()/reset() may start at any index (image-to-video
  // starts part-way, like the reference's set_begin_index); later calls must follow in order,
  // because multistep solvers keep the previous outputs.
  at::Tensor step(const at::Tensor& model_output, int64_t index, const at::Tensor& sample);

  // Forgets previous model outputs (a new sample over the same timesteps).
  void reset();

 protected:
  explicit Scheduler(SigmaScheduleKind kind) : kind_(kind) {}
  virtual at::Tensor step_impl(const at::Tensor& model_output, int64_t index,
                               const at::Tensor& sample) = 0;
  virtual void reset_state() = 0;
  float sigma(int64_t index) const { return schedule_->sigmas[static_cast<size_t>(index)]; }
  int64_t steps_done() const { return steps_done_; }  // steps since the last reset

 private:
  SigmaScheduleKind kind_;
  std::optional<SigmaSchedule> schedule_;
  int64_t next_index_ = -1;  // -1: any index may start
  int64_t steps_done_ = 0;
};

// "unipc" (FlowUniPCMultistep, Wan's default), "euler" (flow Euler, Ovi's "euler") or "dpm++"
// (FlowDPMSolverMultistep), each with its reference schedule. Anything else is a duet::Error
// listing the valid names.
std::unique_ptr<Scheduler> make_scheduler(std::string_view name);
// The same with another schedule, e.g. ("unipc", kDiffusersFlow) for Wan *-Diffusers folders.
std::unique_ptr<Scheduler> make_scheduler(std::string_view name, SigmaScheduleKind schedule);
// The schedule each solver uses in the reference pipelines.
SigmaScheduleKind default_schedule_kind(std::string_view solver_name);

}  // namespace duet
