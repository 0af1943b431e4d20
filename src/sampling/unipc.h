#pragma once
// FlowUniPCMultistep: UniPC (Zhao et al. 2023, arXiv 2302.04867) for flow matching, as Wan's
// wan/utils/fm_solvers_unipc.py (also Ovi's copy) and diffusers' UniPCMultistepScheduler with
// use_flow_sigmas configure it: solver_order 2, B(h) = bh2 (e^h - 1), predict_x0 (the model's
// velocity v becomes x0 = x - sigma * v), lower_order_final, the corrector on every step
// after the first, no thresholding. Each step first corrects the previous prediction with the
// new model output (UniC), then predicts the next sample (UniP).
#include "sampling/scheduler.h"

namespace duet {

class FlowUniPCMultistep final : public Scheduler {
 public:
  explicit FlowUniPCMultistep(SigmaScheduleKind schedule = SigmaScheduleKind::kWanUniPC)
      : Scheduler(schedule) {}
  std::string_view name() const override { return "unipc"; }
  // Order of the last predictor step (1 or 2); 0 before the first step.
  int last_order() const { return this_order_; }

 private:
  at::Tensor step_impl(const at::Tensor& model_output, int64_t index,
                       const at::Tensor& sample) override;
  void reset_state() override;
  // UniC: refines the sample reached by the previous predictor using the x0 prediction made
  // at it, `x0_here`, and the stored history.
  at::Tensor correct(const at::Tensor& x0_here, int64_t index) const;
  // UniP: from sample at sigmas[index] to sigmas[index + 1] with the stored x0 predictions.
  at::Tensor predict(int64_t index, const at::Tensor& sample, int order) const;

  static constexpr int kSolverOrder = 2;
  at::Tensor x0_last_;      // x0 prediction of the latest step (model_outputs[-1])
  at::Tensor x0_prev_;      // the one before (model_outputs[-2])
  at::Tensor last_sample_;  // sample the latest predictor started from (after correction)
  int lower_order_nums_ = 0;
  int this_order_ = 0;
};

}  // namespace duet
