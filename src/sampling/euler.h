#pragma once
// FlowEuler: the explicit Euler step of the flow ODE, x_{i+1} = x_i + (sigma_{i+1} - sigma_i) v,
// as diffusers' FlowMatchEulerDiscreteScheduler computes it (Ovi's "euler"): on a float32 copy
// of the sample, cast back to the model output's dtype. Deterministic (no stochastic
// sampling); it keeps no history.
#include "sampling/scheduler.h"

namespace duet {

class FlowEuler final : public Scheduler {
 public:
  explicit FlowEuler(SigmaScheduleKind schedule = SigmaScheduleKind::kFlowMatchEuler)
      : Scheduler(schedule) {}
  std::string_view name() const override { return "euler"; }

 private:
  at::Tensor step_impl(const at::Tensor& model_output, int64_t index,
                       const at::Tensor& sample) override;
  void reset_state() override {}
};

}  // namespace duet
