#include "sampling/flow_scalars.h"

#include <ATen/ATen.h>

namespace duet::flow {
namespace {

template <typename Op>
float via_torch(float x, Op op) {
  return op(at::scalar_tensor(x, at::kFloat)).template item<float>();
}

}  // namespace

at::Tensor coef(float value, at::Device device) {
  return at::scalar_tensor(value, at::TensorOptions().dtype(at::kFloat).device(device));
}

float log_f32(float x) {
  return via_torch(x, [](const at::Tensor& t) { return at::log(t); });
}

float exp_f32(float x) {
  return via_torch(x, [](const at::Tensor& t) { return at::exp(t); });
}

float expm1_f32(float x) {
  return via_torch(x, [](const at::Tensor& t) { return at::expm1(t); });
}

float lambda_f32(float sigma) {
  const float alpha = 1.0f - sigma;
  return log_f32(alpha) - log_f32(sigma);
}

}  // namespace duet::flow
