#pragma once
// Host float32 scalar math that reproduces the reference's 0-d float32 CPU tensors bit for bit.
// The reference schedulers compute their step coefficients from `self.sigmas[i]` (float32
// tensors kept on the CPU). + - * / on such tensors round like IEEE float32 arithmetic in C++,
// but log/exp/expm1 go through torch's CPU kernels (MKL VML or Sleef), which can differ from
// libm in the last bit, so those are routed through the same kernels here.
#include <ATen/ATen.h>

namespace duet::flow {

// A coefficient as the reference holds it: a 0-d float32 tensor, on the CPU (where Wan keeps
// its sigmas) unless `device` says otherwise. Tensor ops with such a tensor round differently
// from ops with a C++ double: for a bf16 tensor on the CPU, `coef * x` first casts the
// coefficient to bf16 while `x / coef` keeps it in float32, and CUDA differs again. Applying
// coefficients as 0-d tensors in the reference's operand order reproduces each case.
at::Tensor coef(float value, at::Device device = at::Device(at::kCPU));

float log_f32(float x);
float exp_f32(float x);
float expm1_f32(float x);

// Half log-SNR of flow matching, log(alpha) - log(sigma) with alpha = 1 - sigma, in the
// reference's order of operations. +inf at sigma = 0, -inf at sigma = 1.
float lambda_f32(float sigma);

}  // namespace duet::flow
