#pragma once
// The pieces every duet-tiny training stage shares: first values for a model's tensors (by key,
// from the shapes its own loader asks for), AdamW with state that can be saved, resumable
// stage checkpoints, and tensor maps to and from safetensors.
//
//   ParamMap params = init_params(meta_shapes, InitFamily::kWanDit, seed);
//   WeightStore store = WeightStore::from_tensors(params);  // the model computes with them
//   AdamW opt(params, trainable, {.lr = 1e-3});
//   loss.backward(); opt.step(step);
#include <ATen/ATen.h>

#include <cstdint>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

namespace duet::train {

using ParamMap = std::map<std::string, at::Tensor>;
using ShapeMap = std::map<std::string, std::vector<int64_t>>;

// Which reference initialisation the key rules follow.
enum class InitFamily { kWanVae, kMMAudioVae, kBigVgan, kUmt5, kWanDit };

// fp32 tensors for every key of `shapes`, seeded per key (same values in any order):
// LeCun-normal weights (std 1/sqrt(fan_in)), zero biases, unit norm scales, and each family's
// special cases (Wan DiT modulation randn/sqrt(dim) and a zero output head as Wan initialises
// them; MMAudio's magnitude-preserving raw weights randn and zero gains; BigVGAN's weight-norm
// pairs with g = |v|, zero log-scale snake parameters and the Kaiser-sinc anti-aliasing
// filters it keeps as buffers).
ParamMap init_params(const ShapeMap& shapes, InitFamily family, uint64_t seed);

// BigVGAN's anti-aliasing low-pass (alias_free_torch kaiser_sinc_filter1d): [1, 1, taps].
at::Tensor kaiser_sinc_filter(double cutoff, double half_width, int64_t taps);

struct AdamWOptions {
  double lr = 1e-3;
  double beta1 = 0.9, beta2 = 0.99;
  double eps = 1e-8;
  double weight_decay = 0.0;
  double clip_norm = 1.0;  // global gradient norm clip; <= 0: none
  int64_t warmup = 100;    // linear warm-up steps, then cosine decay to lr * final_fraction
  int64_t total_steps = 1000;
  double final_fraction = 0.1;
};

class AdamW {
 public:
  // Only keys in `trainable` get requires_grad and updates; the rest stay fixed (buffers).
  AdamW(ParamMap& params, const std::set<std::string>& trainable, AdamWOptions options);
  // Applies the gradients of step `step` (0-based) and clears them; returns the gradient norm
  // before clipping.
  double step(int64_t step);
  double lr_at(int64_t step) const;
  // Moments, keyed "m." / "v." + parameter key.
  ParamMap state() const;
  void load_state(const ParamMap& state);

 private:
  ParamMap* params_;
  std::vector<std::string> keys_;
  std::map<std::string, at::Tensor> m_, v_;
  AdamWOptions options_;
};

// The keys of `params` that `keep` accepts (the trainable ones; the rest stay fixed buffers).
std::set<std::string> keys_where(const ParamMap& params,
                                 const std::function<bool(const std::string&)>& keep);

// Tensor maps in safetensors files: written atomically; `dtype` converts floating tensors.
void save_tensors(const std::string& path, const ParamMap& tensors,
                  at::ScalarType dtype = at::kFloat,
                  const std::map<std::string, std::string>& metadata = {});
ParamMap load_tensors(const std::string& path, std::map<std::string, std::string>* metadata = nullptr);

// A stage's resumable state in `<dir>/state.safetensors`: parameters ("p." keys), optimiser
// moments and the next step in the metadata.
void save_stage(const std::string& dir, const ParamMap& params, const AdamW& opt, int64_t next_step);
// False when the directory holds no state (fresh start); otherwise fills params and opt.
bool load_stage(const std::string& dir, ParamMap& params, AdamW& opt, int64_t* next_step);

// Mixed precision for a training step: while it lives (and `on`), libtorch's CPU autocast runs
// matrix products and attention in bf16 on the fp32 parameters, whose gradients stay fp32; the
// autocast state it found is restored after. About 16% less time per fusion step on an
// AVX512-BF16 CPU (BENCHMARKS.md, duet-tiny).
class AutocastScope {
 public:
  explicit AutocastScope(bool on);
  ~AutocastScope();
  AutocastScope(const AutocastScope&) = delete;
  AutocastScope& operator=(const AutocastScope&) = delete;

 private:
  bool on_;
  bool was_enabled_ = false;
  at::ScalarType was_dtype_ = at::kBFloat16;
};

// A CPU generator for (seed, stream, step): the same random numbers for a step on every
// resume, whatever came before.
at::Generator step_generator(uint64_t seed, uint64_t stream, int64_t step);

}  // namespace duet::train
