#pragma once
// FlowDPMSolverMultistep: DPM-Solver++(2M) (Lu et al. 2022, arXiv 2211.01095) for flow
// matching, as Wan's wan/utils/fm_solvers.py (and Ovi's copy) configures it for "dpm++":
// algorithm dpmsolver++, solver_order 2, midpoint, lower_order_final with final sigma 0 (so
// the last step is first order), no thresholding. Data prediction x0 = x - sigma * v; the
// update runs on a float32 copy of the sample and is cast back to x0's dtype, as the
// reference does.
#include "sampling/scheduler.h"

namespace duet {

class FlowDPMSolverMultistep final : public Scheduler {
 public:
  explicit FlowDPMSolverMultistep(SigmaScheduleKind schedule = SigmaScheduleKind::kWanDpm)
      : Scheduler(schedule) {}
  std::string_view name() const override { return "dpm++"; }

 private:
  at::Tensor step_impl(const at::Tensor& model_output, int64_t index,
                       const at::Tensor& sample) override;
  void reset_state() override;
  at::Tensor first_order(int64_t index, const at::Tensor& sample) const;
  at::Tensor second_order(int64_t index, const at::Tensor& sample) const;

  at::Tensor x0_last_;  // x0 prediction of the latest step
  at::Tensor x0_prev_;  // the one before
  int lower_order_nums_ = 0;
};

}  // namespace duet
