#pragma once
// Building blocks shared by every model family. Modules are plain structs holding tensors
// loaded through a WeightScope under the checkpoint's own key names, with a const forward
// written in ATen ops; no torch::nn registration (its names cannot hold "blocks.0").
//
//   Linear q;  q.load(scope.sub("self_attn."), "q", dim, dim);   // self_attn.q.weight/.bias
//   auto y = q.forward(x);                                        // x: [..., dim] -> [..., dim]
#include <ATen/ATen.h>

#include <string>

#include "io/weight_store.h"

namespace duet::nn {

struct Linear {
  at::Tensor weight;  // [out, in]
  at::Tensor bias;    // [out] or undefined
  void load(WeightScope scope, const std::string& name, int64_t in, int64_t out, bool has_bias = true);
  // x: [..., in] -> [..., out]
  at::Tensor forward(const at::Tensor& x) const;
};

// RMSNorm over the last dim with a learned scale (Wan's norm_q/norm_k, T5 layer norms).
// Computed in fp32 and cast back, as the references do.
struct RMSNorm {
  at::Tensor weight;  // [dim]
  double eps = 1e-6;
  void load(WeightScope scope, const std::string& name, int64_t dim, double eps);
  // x: [..., dim] -> [..., dim]
  at::Tensor forward(const at::Tensor& x) const;
};

// LayerNorm over the last dim; weight/bias undefined when the reference uses no affine.
struct LayerNorm {
  at::Tensor weight;
  at::Tensor bias;
  int64_t dim = 0;
  double eps = 1e-6;
  void load(WeightScope scope, const std::string& name, int64_t dim, double eps, bool affine);
  void init_plain(int64_t dim, double eps);  // no weights in the checkpoint
  // x: [..., dim] -> [..., dim], computed in fp32
  at::Tensor forward(const at::Tensor& x) const;
};

}  // namespace duet::nn
