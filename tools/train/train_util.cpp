#include "train_util.h"

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/autocast_mode.h>
#include <c10/core/GradMode.h>
#include <fmt/format.h>

#include <cmath>
#include <filesystem>

#include "core/device.h"
#include "core/error.h"
#include "core/hash.h"
#include "io/safetensors.h"
#include "io/weight_store.h"

namespace duet::train {

namespace {

uint64_t mix(uint64_t h, uint64_t v) {
  h ^= v + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2);
  return h * 0xff51afd7ed558ccdULL;
}

bool contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

at::Tensor randn(const std::vector<int64_t>& shape, const std::string& key, uint64_t seed) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(mix(seed, fnv1a64(key)));
  return at::randn(shape, gen, at::kFloat);
}

int64_t fan_in(const std::vector<int64_t>& shape) {
  int64_t n = 1;
  for (size_t i = 1; i < shape.size(); ++i) n *= shape[i];
  return std::max<int64_t>(n, 1);
}

// The module part of a key: "blocks.0.norm3.weight" -> "blocks.0.norm3".
std::string module_of(const std::string& key) {
  const size_t dot = key.rfind('.');
  return dot == std::string::npos ? key : key.substr(0, dot);
}

// Rules every family shares: unit norm scales, zero biases, LeCun-normal weights.
at::Tensor generic_init(const std::string& key, const std::vector<int64_t>& shape, uint64_t seed) {
  const std::string module = module_of(key);
  if (key.ends_with(".gamma") || (contains(module, "norm") && key.ends_with(".weight"))) {
    return at::ones(shape, at::kFloat);
  }
  if (key.ends_with(".bias") || shape.size() < 2) return at::zeros(shape, at::kFloat);
  return randn(shape, key, seed) / std::sqrt(static_cast<double>(fan_in(shape)));
}

at::Tensor wan_dit_init(const std::string& key, const std::vector<int64_t>& shape, uint64_t seed) {
  // WanModel.init_weights: modulation randn / sqrt(dim), the output head zero so a fresh model
  // predicts zero velocity.
  if (key.ends_with("modulation")) {
    return randn(shape, key, seed) / std::sqrt(static_cast<double>(shape.back()));
  }
  if (key.ends_with("head.head.weight")) return at::zeros(shape, at::kFloat);
  return generic_init(key, shape, seed);
}

at::Tensor mmaudio_init(const std::string& key, const std::vector<int64_t>& shape, uint64_t seed) {
  // MPConv1D: raw weights randn (the forward normalises them); gains start at 0 (gain 1).
  if (key == "data_mean" || key.ends_with("learnable_gain")) return at::zeros(shape, at::kFloat);
  if (key == "data_std") return at::ones(shape, at::kFloat);
  return randn(shape, key, seed);
}

at::Tensor umt5_init(const std::string& key, const std::vector<int64_t>& shape, uint64_t seed) {
  if (key == "token_embedding.weight") return randn(shape, key, seed);
  if (contains(key, "pos_embedding")) return randn(shape, key, seed) * 0.1;
  return generic_init(key, shape, seed);
}

at::Tensor bigvgan_init(const std::string& key, const std::vector<int64_t>& shape, uint64_t seed) {
  if (key.ends_with(".filter")) return kaiser_sinc_filter(0.25, 0.3, shape.back());
  if (key.ends_with(".alpha") || key.ends_with(".beta")) return at::zeros(shape, at::kFloat);
  // BigVGAN's init_weights draws normal(0, 0.01): at its real width (1536 channels first) that
  // keeps the signal's scale through the six upsampling stages, at duet-tiny's 128 it shrinks it
  // about 6x per stage (1e-5 in all), and the vocoder never left silence (measured: -84 dBFS
  // on any mel after 800 steps). So fan-in scaled (LeCun) weights instead: conv_pre at 0.1 of
  // that (log-mels are ~8 in magnitude), the second conv of each residual branch at 0.1 (the
  // identity path dominates at the start), everything else at 1. weight_g = |v| so w = v.
  if (key.ends_with(".weight_v")) {
    // [out, in, k] for Conv1d; [in, out, k] for the upsampling ConvTranspose1d, whose output
    // sums in · k / stride terms (kernel = 2 x stride in every BigVGAN configuration).
    const bool transposed = key.rfind("ups.", 0) == 0;
    const double fan_in =
        transposed ? 2.0 * static_cast<double>(shape[0]) : static_cast<double>(shape[1] * shape[2]);
    const bool damped = key.rfind("conv_pre.", 0) == 0 || key.find(".convs2.") != std::string::npos;
    return randn(shape, key, seed) * ((damped ? 0.1 : 1.0) / std::sqrt(fan_in));
  }
  if (key.ends_with(".weight_g")) return at::zeros(shape, at::kFloat);  // set from v later
  return generic_init(key, shape, seed);
}

}  // namespace

at::Tensor kaiser_sinc_filter(double cutoff, double half_width, int64_t taps) {
  const int64_t half = taps / 2;
  const double delta_f = 4 * half_width;
  const double att = 2.285 * static_cast<double>(half - 1) * M_PI * delta_f + 7.95;
  double beta = 0.0;
  if (att > 50) {
    beta = 0.1102 * (att - 8.7);
  } else if (att >= 21) {
    beta = 0.5842 * std::pow(att - 21, 0.4) + 0.07886 * (att - 21);
  }
  const at::Tensor window = at::kaiser_window(taps, /*periodic=*/false, beta, at::kFloat);
  const at::Tensor t = taps % 2 == 0 ? at::arange(-half, half, at::kFloat) + 0.5
                                     : at::arange(taps, at::kFloat) - static_cast<double>(half);
  at::Tensor f = 2 * cutoff * window * at::sinc(2 * cutoff * t);
  return (f / f.sum()).view({1, 1, taps});
}

ParamMap init_params(const ShapeMap& shapes, InitFamily family, uint64_t seed) {
  ParamMap out;
  for (const auto& [key, shape] : shapes) {
    switch (family) {
      case InitFamily::kWanDit: out[key] = wan_dit_init(key, shape, seed); break;
      case InitFamily::kMMAudioVae: out[key] = mmaudio_init(key, shape, seed); break;
      case InitFamily::kUmt5: out[key] = umt5_init(key, shape, seed); break;
      case InitFamily::kBigVgan: out[key] = bigvgan_init(key, shape, seed); break;
      case InitFamily::kWanVae: out[key] = generic_init(key, shape, seed); break;
    }
  }
  if (family == InitFamily::kBigVgan) {
    for (auto& [key, t] : out) {
      if (!key.ends_with(".weight_g")) continue;
      const at::Tensor& v = out.at(key.substr(0, key.size() - 1) + "v");
      std::vector<int64_t> dims;
      for (int64_t d = 1; d < v.dim(); ++d) dims.push_back(d);
      t = at::linalg_vector_norm(v, 2, dims, /*keepdim=*/true).view(t.sizes());
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------

AdamW::AdamW(ParamMap& params, const std::set<std::string>& trainable, AdamWOptions options)
    : params_(&params), options_(options) {
  for (const auto& key : trainable) {
    DUET_CHECK(params.count(key), "trainable tensor '{}' is not a parameter", key);
    at::Tensor& p = params.at(key);
    p.requires_grad_(true);
    keys_.push_back(key);
    m_[key] = at::zeros_like(p);
    v_[key] = at::zeros_like(p);
  }
}

double AdamW::lr_at(int64_t step) const {
  const auto& o = options_;
  if (step < o.warmup) return o.lr * static_cast<double>(step + 1) / static_cast<double>(o.warmup);
  const double span = std::max<double>(1.0, static_cast<double>(o.total_steps - o.warmup));
  const double progress = std::min(1.0, static_cast<double>(step - o.warmup) / span);
  const double cosine = 0.5 * (1 + std::cos(M_PI * progress));
  return o.lr * (o.final_fraction + (1 - o.final_fraction) * cosine);
}

double AdamW::step(int64_t step) {
  at::NoGradGuard no_grad;
  double sq = 0;
  for (const auto& key : keys_) {
    const at::Tensor& g = params_->at(key).grad();
    if (g.defined()) sq += g.pow(2).sum().item<double>();
  }
  const double norm = std::sqrt(sq);
  const double clip =
      options_.clip_norm > 0 && norm > options_.clip_norm ? options_.clip_norm / norm : 1.0;
  const double lr = lr_at(step);
  const double t = static_cast<double>(step + 1);
  const double bc1 = 1 - std::pow(options_.beta1, t), bc2 = 1 - std::pow(options_.beta2, t);
  for (const auto& key : keys_) {
    at::Tensor& p = params_->at(key);
    at::Tensor g = p.mutable_grad();
    if (!g.defined()) continue;
    if (clip != 1.0) g.mul_(clip);
    m_[key].mul_(options_.beta1).add_(g, 1 - options_.beta1);
    v_[key].mul_(options_.beta2).addcmul_(g, g, 1 - options_.beta2);
    if (options_.weight_decay > 0 && p.dim() >= 2) p.mul_(1 - lr * options_.weight_decay);
    const at::Tensor denom = (v_[key] / bc2).sqrt_().add_(options_.eps);
    p.addcdiv_(m_[key], denom, -lr / bc1);
    g.zero_();
  }
  return norm;
}

ParamMap AdamW::state() const {
  ParamMap out;
  for (const auto& [k, t] : m_) out["m." + k] = t;
  for (const auto& [k, t] : v_) out["v." + k] = t;
  return out;
}

void AdamW::load_state(const ParamMap& state) {
  at::NoGradGuard no_grad;
  for (auto& [k, t] : m_) t.copy_(state.at("m." + k));
  for (auto& [k, t] : v_) t.copy_(state.at("v." + k));
}

std::set<std::string> keys_where(const ParamMap& params,
                                 const std::function<bool(const std::string&)>& keep) {
  std::set<std::string> out;
  for (const auto& [k, t] : params) {
    if (keep(k)) out.insert(k);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------

void save_tensors(const std::string& path, const ParamMap& tensors, at::ScalarType dtype,
                  const std::map<std::string, std::string>& metadata) {
  std::vector<at::Tensor> keep;
  std::vector<TensorToWrite> out;
  for (const auto& [name, t] : tensors) {
    at::Tensor c = t.detach().to(at::kCPU);
    if (c.is_floating_point()) c = c.to(dtype);
    c = c.contiguous();
    keep.push_back(c);
    out.push_back({.name = name,
                   .dtype = from_scalar_type(c.scalar_type()),
                   .shape = c.sizes().vec(),
                   .data = c.data_ptr(),
                   .nbytes = static_cast<size_t>(c.nbytes())});
  }
  write_safetensors(path, out, metadata);
}

ParamMap load_tensors(const std::string& path, std::map<std::string, std::string>* metadata) {
  if (metadata) *metadata = read_safetensors(path).metadata;
  WeightStore store({path}, {.dtype = at::kFloat});
  ParamMap out;
  for (const auto& name : store.names()) out[name] = store.load(name).clone();
  return out;
}

void save_stage(const std::string& dir, const ParamMap& params, const AdamW& opt,
                int64_t next_step) {
  std::filesystem::create_directories(dir);
  ParamMap all = opt.state();
  for (const auto& [k, t] : params) all["p." + k] = t;
  save_tensors(dir + "/state.safetensors", all, at::kFloat,
               {{"next_step", std::to_string(next_step)}});
}

bool load_stage(const std::string& dir, ParamMap& params, AdamW& opt, int64_t* next_step) {
  const std::string path = dir + "/state.safetensors";
  if (!std::filesystem::exists(path)) return false;
  std::map<std::string, std::string> meta;
  ParamMap all = load_tensors(path, &meta);
  at::NoGradGuard no_grad;
  for (auto& [k, t] : params) {
    auto it = all.find("p." + k);
    DUET_CHECK(it != all.end(), "{}: no tensor 'p.{}' to resume from", path, k);
    DUET_CHECK(it->second.sizes() == t.sizes(), "{}: 'p.{}' has another shape than the recipe's",
               path, k);
    t.copy_(it->second);
  }
  opt.load_state(all);
  DUET_CHECK(meta.count("next_step"), "{}: no next_step in the metadata", path);
  *next_step = std::stoll(meta.at("next_step"));
  return true;
}

at::Generator step_generator(uint64_t seed, uint64_t stream, int64_t step) {
  return at::make_generator<at::CPUGeneratorImpl>(
      mix(mix(seed, stream), static_cast<uint64_t>(step)));
}

AutocastScope::AutocastScope(bool on) : on_(on) {
  if (!on_) return;
  was_enabled_ = at::autocast::is_autocast_enabled(at::kCPU);
  was_dtype_ = at::autocast::get_autocast_dtype(at::kCPU);
  at::autocast::set_autocast_dtype(at::kCPU, at::kBFloat16);
  at::autocast::set_autocast_enabled(at::kCPU, true);
}

AutocastScope::~AutocastScope() {
  if (!on_) return;
  at::autocast::set_autocast_enabled(at::kCPU, was_enabled_);
  at::autocast::set_autocast_dtype(at::kCPU, was_dtype_);
  if (!was_enabled_) at::autocast::clear_cache();
}

}  // namespace duet::train
