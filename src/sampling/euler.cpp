#include "sampling/euler.h"

#include "sampling/flow_scalars.h"

namespace duet {

at::Tensor FlowEuler::step_impl(const at::Tensor& model_output, int64_t index,
                                const at::Tensor& sample) {
  // diffusers keeps these sigmas on the sample's device (unlike Wan's solvers), which decides
  // how a bf16 model output is scaled by the float32 dt.
  const float dt = sigma(index + 1) - sigma(index);
  const at::Tensor prev =
      sample.to(at::kFloat) + flow::coef(dt, model_output.device()) * model_output;
  return prev.to(model_output.scalar_type());
}

}  // namespace duet
