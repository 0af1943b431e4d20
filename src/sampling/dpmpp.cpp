#include "sampling/dpmpp.h"

#include <algorithm>

#include "sampling/flow_scalars.h"

namespace duet {

using flow::coef;
using flow::exp_f32;
using flow::lambda_f32;

// As in unipc.cpp: float32 0-d CPU tensor coefficients in the reference's operand order, one
// tensor operation per reference operation.

void FlowDPMSolverMultistep::reset_state() {
  x0_last_ = at::Tensor();
  x0_prev_ = at::Tensor();
  lower_order_nums_ = 0;
}

at::Tensor FlowDPMSolverMultistep::step_impl(const at::Tensor& model_output, int64_t index,
                                             const at::Tensor& sample) {
  // With final sigma 0 the last step is always first order (the reference's lower_order_final
  // condition is true through final_sigmas_type == "zero"); lower_order_second only matters
  // for order 3.
  const bool final_step = index == num_steps() - 1;
  const at::Tensor x0 = sample - coef(sigma(index)) * model_output;
  x0_prev_ = x0_last_;
  x0_last_ = x0;
  const at::Tensor sample_f32 = sample.to(at::kFloat);  // "upcast to avoid precision issues"
  at::Tensor out = (lower_order_nums_ < 1 || final_step) ? first_order(index, sample_f32)
                                                         : second_order(index, sample_f32);
  lower_order_nums_ = std::min(lower_order_nums_ + 1, 2);
  return out.to(x0.scalar_type());
}

at::Tensor FlowDPMSolverMultistep::first_order(int64_t index, const at::Tensor& sample) const {
  const float sigma_t = sigma(index + 1);
  const float sigma_s = sigma(index);
  const float alpha_t = 1.0f - sigma_t;
  const float h = lambda_f32(sigma_t) - lambda_f32(sigma_s);
  // x_t = (sigma_t / sigma_s) x - alpha_t (e^-h - 1) x0; at sigma_s = 1 (alpha 0) h is +inf.
  return coef(sigma_t / sigma_s) * sample - coef(alpha_t * (exp_f32(-h) - 1.0f)) * x0_last_;
}

at::Tensor FlowDPMSolverMultistep::second_order(int64_t index, const at::Tensor& sample) const {
  const float sigma_t = sigma(index + 1);
  const float sigma_s0 = sigma(index);
  const float alpha_t = 1.0f - sigma_t;
  const float lambda_t = lambda_f32(sigma_t);
  const float lambda_s0 = lambda_f32(sigma_s0);
  const float lambda_s1 = lambda_f32(sigma(index - 1));
  const float h = lambda_t - lambda_s0;
  const float h_0 = lambda_s0 - lambda_s1;
  const float r0 = h_0 / h;
  const at::Tensor& d0 = x0_last_;
  // (1.0 / r0) is reciprocal(r0) * 1.0 in torch: the same float32 quotient.
  const at::Tensor d1 = coef(1.0f / r0) * (x0_last_ - x0_prev_);
  const float c = alpha_t * (exp_f32(-h) - 1.0f);
  // midpoint: x_t = (sigma_t / sigma_s0) x - c D0 - 0.5 c D1
  return coef(sigma_t / sigma_s0) * sample - coef(c) * d0 - coef(0.5f * c) * d1;
}

}  // namespace duet
