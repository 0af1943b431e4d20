#include "nn/layers.h"

#include "core/error.h"

namespace duet::nn {

void Linear::load(WeightScope scope, const std::string& name, int64_t in, int64_t out, bool has_bias) {
  weight = scope.get(name + ".weight", {out, in});
  if (has_bias) bias = scope.get(name + ".bias", {out});
}

at::Tensor Linear::forward(const at::Tensor& x) const {
  return bias.defined() ? at::linear(x, weight, bias) : at::linear(x, weight);
}

void RMSNorm::load(WeightScope scope, const std::string& name, int64_t dim, double eps_) {
  weight = scope.get(name + ".weight", {dim});
  eps = eps_;
}

at::Tensor RMSNorm::forward(const at::Tensor& x) const {
  const auto xf = x.to(at::kFloat);
  const auto normed = xf * at::rsqrt(xf.pow(2).mean(-1, /*keepdim=*/true) + eps);
  return (normed.to(x.scalar_type()) * weight).to(x.scalar_type());
}

void LayerNorm::load(WeightScope scope, const std::string& name, int64_t dim_, double eps_, bool affine) {
  dim = dim_;
  eps = eps_;
  if (affine) {
    weight = scope.get(name + ".weight", {dim});
    bias = scope.get(name + ".bias", {dim});
  }
}

void LayerNorm::init_plain(int64_t dim_, double eps_) {
  dim = dim_;
  eps = eps_;
}

at::Tensor LayerNorm::forward(const at::Tensor& x) const {
  DUET_CHECK(x.size(-1) == dim, "layer norm expects last dim {}, got {}", dim, x.size(-1));
  const auto w = weight.defined() ? weight.to(at::kFloat) : at::Tensor();
  const auto b = bias.defined() ? bias.to(at::kFloat) : at::Tensor();
  return at::layer_norm(x.to(at::kFloat), {dim}, w, b, eps).to(x.scalar_type());
}

}  // namespace duet::nn
