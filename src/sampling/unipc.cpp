#include "sampling/unipc.h"

#include <algorithm>
#include <array>

#include "sampling/flow_scalars.h"

namespace duet {

using flow::coef;
using flow::expm1_f32;
using flow::lambda_f32;

// Operation order, operand order and dtypes mirror fm_solvers_unipc.py: coefficients are
// float32 0-d CPU tensors (Wan moves its sigmas to the CPU), each tensor operation is separate
// (no fused multiply-add) and results are cast back to the sample's dtype, so float32 and
// bfloat16 runs reproduce the reference exactly.

void FlowUniPCMultistep::reset_state() {
  x0_last_ = at::Tensor();
  x0_prev_ = at::Tensor();
  last_sample_ = at::Tensor();
  lower_order_nums_ = 0;
  this_order_ = 0;
}

at::Tensor FlowUniPCMultistep::step_impl(const at::Tensor& model_output, int64_t index,
                                         const at::Tensor& sample) {
  // convert_model_output (flow_prediction, predict_x0): x0 = x - sigma * v.
  at::Tensor x0 = sample - coef(sigma(index)) * model_output;
  at::Tensor x = sample;
  if (index > 0 && last_sample_.defined()) x = correct(x0, index);

  x0_prev_ = x0_last_;
  x0_last_ = x0;
  // lower_order_final: the last step is first order; warm-up: order grows with history.
  const int order = static_cast<int>(std::min<int64_t>(kSolverOrder, num_steps() - index));
  this_order_ = std::min(order, lower_order_nums_ + 1);
  last_sample_ = x;
  at::Tensor out = predict(index, x, this_order_);
  lower_order_nums_ = std::min(lower_order_nums_ + 1, kSolverOrder);
  return out;
}

at::Tensor FlowUniPCMultistep::predict(int64_t index, const at::Tensor& x, int order) const {
  const float sigma_t = sigma(index + 1);
  const float sigma_s0 = sigma(index);
  const float alpha_t = 1.0f - sigma_t;
  const float lambda_s0 = lambda_f32(sigma_s0);
  const float h = lambda_f32(sigma_t) - lambda_s0;
  const float hh = -h;  // predict_x0
  const float h_phi_1 = expm1_f32(hh);
  const float b_h = expm1_f32(hh);  // bh2
  const at::Tensor& m0 = x0_last_;

  at::Tensor x_t = coef(sigma_t / sigma_s0) * x - coef(alpha_t * h_phi_1) * m0;
  if (order == 2) {
    const float rk = (lambda_f32(sigma(index - 1)) - lambda_s0) / h;
    const at::Tensor d1 = (x0_prev_ - m0) / coef(rk);
    // rhos_p = [0.5] for order 2; 0.5 * d1 is exact in every float dtype.
    const at::Tensor pred_res = d1 * 0.5;
    x_t = x_t - coef(alpha_t * b_h) * pred_res;
  }
  return x_t.to(x.scalar_type());
}

at::Tensor FlowUniPCMultistep::correct(const at::Tensor& x0_here, int64_t index) const {
  const int order = this_order_;
  const at::Tensor& m0 = x0_last_;
  const at::Tensor& x = last_sample_;
  const float sigma_t = sigma(index);
  const float sigma_s0 = sigma(index - 1);
  const float alpha_t = 1.0f - sigma_t;
  const float lambda_s0 = lambda_f32(sigma_s0);
  const float h = lambda_f32(sigma_t) - lambda_s0;
  const float hh = -h;
  const float h_phi_1 = expm1_f32(hh);
  const float b_h = expm1_f32(hh);

  at::Tensor corr_res;
  // rhos_c = [0.5] in the sample's dtype for order 1.
  at::Tensor rho_last = at::scalar_tensor(0.5, x.options());
  if (order == 2) {
    // rhos_c solves R rho = b with R = [[1, 1], [rk, 1]] and b_i = i! * phi_{i+1}(hh) / B(h),
    // in float32 on the sample's device like the reference, then rounded to the sample's dtype.
    const float rk = (lambda_f32(sigma(index - 2)) - lambda_s0) / h;
    const float h_phi_k1 = h_phi_1 / hh - 1.0f;
    const float h_phi_k2 = h_phi_k1 / hh - 0.5f;
    const std::array<float, 2> b = {h_phi_k1 / b_h, (h_phi_k2 * 2.0f) / b_h};
    const std::array<float, 4> r = {1.0f, 1.0f, rk, 1.0f};
    const auto f32 = at::TensorOptions().dtype(at::kFloat);
    const at::Tensor rhos =
        at::linalg_solve(at::tensor(at::ArrayRef<float>(r), f32).reshape({2, 2}).to(x.device()),
                         at::tensor(at::ArrayRef<float>(b), f32).to(x.device()))
            .to(x.scalar_type());
    const at::Tensor d1 = (x0_prev_ - m0) / coef(rk);
    // einsum("k,bkc...->bc...", rhos_c[:-1], D1s) with one term: a product rounded once.
    corr_res = rhos[0] * d1;
    rho_last = rhos[1];
  }
  const at::Tensor x_t_ = coef(sigma_t / sigma_s0) * x - coef(alpha_t * h_phi_1) * m0;
  const at::Tensor d1_t = x0_here - m0;
  at::Tensor correction = rho_last * d1_t;
  if (corr_res.defined()) correction = corr_res + correction;
  const at::Tensor x_t = x_t_ - coef(alpha_t * b_h) * correction;
  return x_t.to(x.scalar_type());
}

}  // namespace duet
