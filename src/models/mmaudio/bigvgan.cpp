#include "models/mmaudio/bigvgan.h"

#include <ATen/core/grad_mode.h>

#include <spdlog/spdlog.h>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "io/json_util.h"

namespace duet::mmaudio {

namespace {

// alias_free_torch: UpSample1d / DownSample1d(ratio 2, kernel_size 12) inside every Activation1d.
constexpr int64_t kRatio = 2;
constexpr int64_t kTaps = 12;
constexpr int64_t kUpPad = kTaps / kRatio - 1;                                // 5
constexpr int64_t kUpCropLeft = kUpPad * kRatio + (kTaps - kRatio) / 2;       // 15
constexpr int64_t kUpCropRight = kUpPad * kRatio + (kTaps - kRatio + 1) / 2;  // 15
constexpr int64_t kDownPadLeft = kTaps / 2 - 1;                               // 5 (even taps)
constexpr int64_t kDownPadRight = kTaps / 2;                                  // 6
constexpr int64_t kPrePostKernel = 7;
constexpr int64_t kNoPad = 0;  // named: a literal 0 would also convert to conv1d's string padding
constexpr int64_t kOne = 1;    // conv_pre / conv_post

std::vector<int64_t> json_ints(const nlohmann::json& j, const char* key, const std::string& source,
                               std::vector<int64_t> fallback) {
  if (!j.contains(key)) return fallback;
  DUET_CHECK(j[key].is_array(), "{}: field '{}' must be a list of integers", source, key);
  std::vector<int64_t> out;
  for (const auto& v : j[key]) {
    DUET_CHECK(v.is_number_integer(), "{}: field '{}' must be a list of integers", source, key);
    out.push_back(v.get<int64_t>());
  }
  return out;
}

// Legacy torch.nn.utils.weight_norm(dim=0) keys, or a plain weight when the norm was removed
// before saving. The norm is taken in fp32 whatever the stored type (the reference runs fp32).
at::Tensor weight_normed(WeightScope& scope, const std::string& name,
                         const std::vector<int64_t>& shape, const std::string& hint) {
  if (scope.contains(name + ".weight")) return scope.get(name + ".weight", shape, hint);
  const at::Tensor g = scope.get(name + ".weight_g", {shape[0], 1, 1}, hint);
  const at::Tensor v = scope.get(name + ".weight_v", shape, hint);
  if (v.is_meta()) return v;
  return at::_weight_norm(v.to(at::kFloat), g.to(at::kFloat), 0).to(v.scalar_type());
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Config
// ---------------------------------------------------------------------------------------------

BigVganConfig BigVganConfig::from_json(const nlohmann::json& j, const std::string& source) {
  DUET_CHECK(j.is_object(), "{}: expected a JSON object", source);
  BigVganConfig c;
  c.num_mels = json_int(j, "num_mels", source, c.num_mels);
  c.upsample_rates = json_ints(j, "upsample_rates", source, c.upsample_rates);
  c.upsample_kernel_sizes = json_ints(j, "upsample_kernel_sizes", source, c.upsample_kernel_sizes);
  c.upsample_initial_channel =
      json_int(j, "upsample_initial_channel", source, c.upsample_initial_channel);
  c.resblock_kernel_sizes = json_ints(j, "resblock_kernel_sizes", source, c.resblock_kernel_sizes);
  if (j.contains("resblock_dilation_sizes")) {
    const auto& d = j["resblock_dilation_sizes"];
    DUET_CHECK(d.is_array(), "{}: field 'resblock_dilation_sizes' must be a list of lists", source);
    c.resblock_dilation_sizes.clear();
    for (const auto& inner : d) {
      c.resblock_dilation_sizes.push_back(
          json_ints(nlohmann::json{{"resblock_dilation_sizes", inner}}, "resblock_dilation_sizes",
                    source, {}));
    }
  }
  c.sampling_rate = json_int(j, "sampling_rate", source, c.sampling_rate);
  const std::string resblock = json_string(j, "resblock", source, "1");
  DUET_CHECK(resblock == "1", "{}: field 'resblock' is '{}'; only \"1\" (AMPBlock1) is supported",
             source, resblock);
  const std::string activation = json_string(j, "activation", source, "snakebeta");
  DUET_CHECK(activation == "snakebeta",
             "{}: field 'activation' is '{}'; only \"snakebeta\" is supported", source, activation);
  if (j.contains("snake_logscale")) {
    DUET_CHECK(j["snake_logscale"].is_boolean() && j["snake_logscale"].get<bool>(),
               "{}: field 'snake_logscale' must be true (log-scale alpha / beta)", source);
  }
  try {
    c.validate();
  } catch (const Error& e) {
    DUET_FAIL("{}: {}", source, e.what());
  }
  return c;
}

BigVganConfig BigVganConfig::from_weights(WeightStore& store, const std::string& prefix) {
  BigVganConfig c;
  std::string key = prefix + "conv_pre.weight_v";
  if (!store.contains(key)) key = prefix + "conv_pre.weight";
  DUET_CHECK(store.contains(key),
             "'{}' is not a BigVGAN checkpoint: tensor '{}conv_pre.weight_v' is missing",
             fmt::join(store.files(), ", "), prefix);
  const auto& shape = store.record(*store.file_key(key)).shape;  // [C0, num_mels, 7]
  DUET_CHECK(shape.size() == 3 && shape[2] == kPrePostKernel,
             "tensor '{}' in {} has shape [{}], expected [channels, mels, {}]", key,
             fmt::join(store.files(), ", "), fmt::join(shape, ", "), kPrePostKernel);
  c.upsample_initial_channel = shape[0];
  c.num_mels = shape[1];
  c.validate();
  return c;
}

void BigVganConfig::validate() const {
  DUET_CHECK(num_mels > 0, "BigVGAN num_mels must be positive, got {}", num_mels);
  DUET_CHECK(!upsample_rates.empty() && upsample_rates.size() == upsample_kernel_sizes.size(),
             "BigVGAN needs one upsample kernel size per rate, got {} rates and {} kernels",
             upsample_rates.size(), upsample_kernel_sizes.size());
  for (size_t i = 0; i < upsample_rates.size(); ++i) {
    const int64_t u = upsample_rates[i], k = upsample_kernel_sizes[i];
    // ConvTranspose1d(k, u, padding (k - u) / 2) makes exactly u L samples only when k - u is even.
    DUET_CHECK(u > 0 && k >= u && (k - u) % 2 == 0,
               "BigVGAN upsample {}: kernel {} and rate {} must satisfy kernel >= rate and "
               "kernel - rate even",
               i, k, u);
  }
  const int64_t levels = static_cast<int64_t>(upsample_rates.size());
  DUET_CHECK(upsample_initial_channel > 0 && levels < 62 &&
                 upsample_initial_channel % (int64_t{1} << levels) == 0,
             "BigVGAN upsample_initial_channel {} must be divisible by 2^{} (one halving per "
             "upsample)",
             upsample_initial_channel, levels);
  DUET_CHECK(!resblock_kernel_sizes.empty() &&
                 resblock_kernel_sizes.size() == resblock_dilation_sizes.size(),
             "BigVGAN needs one dilation list per resblock kernel, got {} kernels and {} lists",
             resblock_kernel_sizes.size(), resblock_dilation_sizes.size());
  for (size_t j = 0; j < resblock_kernel_sizes.size(); ++j) {
    DUET_CHECK(resblock_kernel_sizes[j] > 0 && resblock_kernel_sizes[j] % 2 == 1,
               "BigVGAN resblock kernel {} must be odd, got {}", j, resblock_kernel_sizes[j]);
    DUET_CHECK(resblock_dilation_sizes[j].size() == 3,
               "BigVGAN AMPBlock1 takes 3 dilations per kernel, got {} for kernel {}",
               resblock_dilation_sizes[j].size(), j);
    for (int64_t d : resblock_dilation_sizes[j]) {
      DUET_CHECK(d > 0, "BigVGAN dilations must be positive, got {}", d);
    }
  }
  DUET_CHECK(sampling_rate > 0, "BigVGAN sampling_rate must be positive, got {}", sampling_rate);
}

int64_t BigVganConfig::hop_length() const {
  int64_t hop = 1;
  for (int64_t u : upsample_rates) hop *= u;
  return hop;
}

// ---------------------------------------------------------------------------------------------
// Layers
// ---------------------------------------------------------------------------------------------

void WnConv1d::load(WeightScope scope, const std::string& name, int64_t in, int64_t out,
                    int64_t kernel, int64_t dilation_) {
  const std::string hint = fmt::format("(Conv1d {} -> {}, kernel {})", in, out, kernel);
  weight = weight_normed(scope, name, {out, in, kernel}, hint);
  bias = scope.get(name + ".bias", {out}, hint);
  dilation = dilation_;
  // utils.get_padding: same-length output for odd kernels
  padding = (kernel * dilation - dilation) / 2;
  transposed = false;
}

void WnConv1d::load_transposed(WeightScope scope, const std::string& name, int64_t in, int64_t out,
                               int64_t kernel, int64_t stride_) {
  const std::string hint = fmt::format("(ConvTranspose1d {} -> {}, kernel {})", in, out, kernel);
  weight = weight_normed(scope, name, {in, out, kernel}, hint);
  bias = scope.get(name + ".bias", {out}, hint);
  stride = stride_;
  padding = (kernel - stride_) / 2;
  transposed = true;
}

at::Tensor WnConv1d::forward(const at::Tensor& x) const {
  if (transposed) {
    return at::conv_transpose1d(x, weight, bias, stride, padding);
  }
  return at::conv1d(x, weight, bias, stride, padding, dilation);
}

void AntiAliasedSnakeBeta::load(WeightScope scope, const std::string& name, int64_t channels) {
  const std::string hint = fmt::format("(channels {})", channels);
  const at::Tensor a = scope.get(name + ".act.alpha", {channels}, hint);
  const at::Tensor b = scope.get(name + ".act.beta", {channels}, hint);
  up_filter = scope.get(name + ".upsample.filter", {1, 1, kTaps});
  down_filter = scope.get(name + ".downsample.lowpass.filter", {1, 1, kTaps});
  if (a.is_meta()) {
    alpha = a.view({1, channels, 1});
    inv_beta = b.view({1, channels, 1});
    return;
  }
  // snake_logscale: the parameters are logarithms. Exponentiated once here in fp32, as the
  // reference does on every call; 1e-9 is its no_div_by_zero.
  alpha = at::exp(a.to(at::kFloat)).view({1, channels, 1}).to(a.scalar_type());
  inv_beta =
      at::reciprocal(at::exp(b.to(at::kFloat)) + 1e-9).view({1, channels, 1}).to(b.scalar_type());
}

namespace {

// In-place arithmetic saves memory at inference; under autograd (duet-tiny's training) it would
// overwrite tensors the backward pass needs, so those steps are then done out of place.
bool recording(const at::Tensor& t) { return at::GradMode::is_enabled() && t.requires_grad(); }

}  // namespace

at::Tensor AntiAliasedSnakeBeta::forward(const at::Tensor& x) const {
  const int64_t channels = x.size(1);
  // UpSample1d: replicate pad, depthwise transposed conv (zero stuffing + low-pass), gain 2.
  at::Tensor y = at::conv_transpose1d(at::replication_pad1d(x, {kUpPad, kUpPad}),
                                      up_filter.expand({channels, 1, kTaps}), {}, kRatio, kNoPad,
                                      kNoPad, channels);
  y = y.mul_(static_cast<double>(kRatio))
          .narrow(2, kUpCropLeft, y.size(2) - kUpCropLeft - kUpCropRight);
  // SnakeBeta: x + 1 / beta * sin^2(alpha x)
  at::Tensor s = at::sin(y * alpha);
  if (recording(s)) {
    s = s * s * inv_beta + y;
  } else {
    s.mul_(s).mul_(inv_beta).add_(y);
  }
  // DownSample1d: replicate pad, depthwise low-pass with stride 2.
  return at::conv1d(at::replication_pad1d(s, {kDownPadLeft, kDownPadRight}),
                    down_filter.expand({channels, 1, kTaps}), {}, kRatio, kNoPad, kOne, channels);
}

void AmpBlock1::load(WeightScope scope, int64_t channels, int64_t kernel,
                     const std::vector<int64_t>& dilations) {
  convs1.assign(dilations.size(), {});
  convs2.assign(dilations.size(), {});
  activations.assign(2 * dilations.size(), {});
  for (size_t i = 0; i < dilations.size(); ++i) {
    const std::string n = std::to_string(i);
    convs1[i].load(scope, "convs1." + n, channels, channels, kernel, dilations[i]);
    convs2[i].load(scope, "convs2." + n, channels, channels, kernel);
  }
  for (size_t m = 0; m < activations.size(); ++m) {
    activations[m].load(scope, "activations." + std::to_string(m), channels);
  }
}

at::Tensor AmpBlock1::forward(const at::Tensor& x) const {
  at::Tensor out = x;
  for (size_t i = 0; i < convs1.size(); ++i) {
    at::Tensor t = activations[2 * i].forward(out);
    t = convs1[i].forward(t);
    t = activations[2 * i + 1].forward(t);
    t = convs2[i].forward(t);
    out = recording(t) ? t + out : t.add_(out);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Generator
// ---------------------------------------------------------------------------------------------

BigVgan::BigVgan(WeightScope scope, BigVganConfig config) : config_(std::move(config)) {
  config_.validate();
  const auto& c = config_;
  conv_pre_.load(scope, "conv_pre", c.num_mels, c.upsample_initial_channel, kPrePostKernel);
  const size_t kernels = c.resblock_kernel_sizes.size();
  ups_.resize(c.upsample_rates.size());
  resblocks_.resize(ups_.size() * kernels);
  for (size_t i = 0; i < ups_.size(); ++i) {
    const int64_t in = c.upsample_initial_channel >> i;
    ups_[i].load_transposed(scope, fmt::format("ups.{}.0", i), in, c.channels(i),
                            c.upsample_kernel_sizes[i], c.upsample_rates[i]);
    for (size_t j = 0; j < kernels; ++j) {
      resblocks_[i * kernels + j].load(scope.sub(fmt::format("resblocks.{}.", i * kernels + j)),
                                       c.channels(i), c.resblock_kernel_sizes[j],
                                       c.resblock_dilation_sizes[j]);
    }
  }
  const int64_t last = c.channels(ups_.size() - 1);
  activation_post_.load(scope, "activation_post", last);
  conv_post_.load(scope, "conv_post", last, 1, kPrePostKernel);
}

void BigVgan::to(at::ScalarType dtype) {
  const auto cast = [dtype](at::Tensor& t) {
    if (t.defined()) t = t.to(dtype);
  };
  const auto cast_conv = [&](WnConv1d& conv) {
    cast(conv.weight);
    cast(conv.bias);
  };
  const auto cast_act = [&](AntiAliasedSnakeBeta& act) {
    cast(act.alpha);
    cast(act.inv_beta);
    cast(act.up_filter);
    cast(act.down_filter);
  };
  cast_conv(conv_pre_);
  for (auto& up : ups_) cast_conv(up);
  for (auto& block : resblocks_) {
    for (auto& conv : block.convs1) cast_conv(conv);
    for (auto& conv : block.convs2) cast_conv(conv);
    for (auto& act : block.activations) cast_act(act);
  }
  cast_act(activation_post_);
  cast_conv(conv_post_);
}

at::Tensor BigVgan::forward(const at::Tensor& mel) const {
  const auto& c = config_;
  DUET_CHECK(mel.defined() && mel.dim() == 3 && mel.size(1) == c.num_mels && mel.size(0) > 0 &&
                 mel.size(2) > 0,
             "BigVGAN input must be a mel spectrogram [batch, {}, frames] with batch, frames >= 1, "
             "got [{}]",
             c.num_mels, mel.defined() ? fmt::format("{}", fmt::join(mel.sizes(), ", ")) : "");
  DUET_CHECK(at::isFloatingType(mel.scalar_type()),
             "BigVGAN input must be a floating-point mel spectrogram, got {}",
             c10::toString(mel.scalar_type()));
  // mel: [B, num_mels, T] -> [B, C0, T]
  at::Tensor x = conv_pre_.forward(mel.to(conv_pre_.weight.options()));
  const size_t kernels = c.resblock_kernel_sizes.size();
  for (size_t i = 0; i < ups_.size(); ++i) {
    // [B, C0 / 2^i, L] -> [B, C0 / 2^(i+1), L u_i]
    x = ups_[i].forward(x);
    // AMP blocks of kernels 3 / 7 / 11 run on the same input and are averaged.
    at::Tensor sum = resblocks_[i * kernels].forward(x);
    for (size_t j = 1; j < kernels; ++j) {
      const at::Tensor r = resblocks_[i * kernels + j].forward(x);
      sum = recording(sum) ? sum + r : sum.add_(r);
    }
    x = recording(sum) ? sum / static_cast<double>(kernels) : sum.div_(static_cast<double>(kernels));
  }
  // [B, C0 / 2^levels, hop T] -> [B, 1, hop T]
  x = conv_post_.forward(activation_post_.forward(x));
  return at::tanh(x).to(at::kFloat);
}

// ---------------------------------------------------------------------------------------------
// Loading
// ---------------------------------------------------------------------------------------------

std::unique_ptr<BigVgan> make_bigvgan(WeightStore& store, const BigVganConfig& config,
                                      const std::string& prefix) {
  auto vocoder = std::make_unique<BigVgan>(store.scope(prefix), config);
  store.scope(prefix).finish();
  return vocoder;
}

std::unique_ptr<BigVgan> load_bigvgan(const std::string& path, WeightOptions options,
                                      std::optional<std::string> prefix) {
  // Weights are read in fp32: the weight norm and the snake exponentials are computed once, at
  // full precision, and only the results are cast.
  WeightStore store({path}, {.dtype = at::kFloat, .device = options.device});
  if (!prefix) {
    // best_netG.pt is {"generator": state_dict, ...}; the duet package stores the bare keys.
    prefix = store.contains("generator.conv_pre.bias") ? "generator." : "";
  }
  const BigVganConfig config = BigVganConfig::from_weights(store, *prefix);
  spdlog::info("BigVGAN vocoder: {} mels, width {}, hop {}, {} Hz", config.num_mels,
               config.upsample_initial_channel, config.hop_length(), config.sampling_rate);
  auto vocoder = make_bigvgan(store, config, *prefix);
  if (options.dtype && *options.dtype != at::kFloat) vocoder->to(*options.dtype);
  return vocoder;
}

}  // namespace duet::mmaudio
