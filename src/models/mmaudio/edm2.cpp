#include "models/mmaudio/edm2.h"

#include <cmath>

namespace duet::mmaudio {

at::Tensor mp_normalize(const at::Tensor& x, int64_t dim, double eps) {
  at::Tensor norm =
      at::linalg_vector_norm(x, 2, at::IntArrayRef{dim}, /*keepdim=*/true, at::kFloat);
  // The reference's torch.add(eps, norm, alpha=sqrt(norm.numel() / x.numel())).
  const double alpha = std::sqrt(1.0 / static_cast<double>(x.size(dim)));
  norm = at::add(at::scalar_tensor(eps, norm.options()), norm, alpha);
  return x / norm.to(x.scalar_type());
}

at::Tensor mp_silu(const at::Tensor& x) { return at::silu(x) / 0.596; }

at::Tensor mp_sum(const at::Tensor& a, const at::Tensor& b, double t) {
  return at::lerp(a, b, t) / std::sqrt((1.0 - t) * (1.0 - t) + t * t);
}

void MPConv1d::load(WeightScope scope, const std::string& name, int64_t in, int64_t out,
                    int64_t kernel, at::ScalarType dtype) {
  const at::Tensor raw = scope.get(name + ".weight", {out, in, kernel});
  // normalize() over all dims but the first: per output channel.
  at::Tensor w = raw.to(at::kFloat);
  at::Tensor norm =
      at::linalg_vector_norm(w, 2, at::IntArrayRef{1, 2}, /*keepdim=*/true, at::kFloat);
  norm = at::add(at::scalar_tensor(1e-4, norm.options()), norm,
                 std::sqrt(static_cast<double>(norm.numel()) / static_cast<double>(w.numel())));
  w = w / norm;
  w = w / std::sqrt(static_cast<double>(in * kernel));
  weight = w.to(dtype);
}

void MPConv1d::scale_by(const at::Tensor& gain) { weight = weight * gain.to(weight.scalar_type()); }

at::Tensor MPConv1d::forward(const at::Tensor& x) const {
  return at::conv1d(x, weight, /*bias=*/{}, /*stride=*/1, /*padding=*/weight.size(2) / 2);
}

}  // namespace duet::mmaudio
