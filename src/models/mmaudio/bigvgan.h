#pragma once
// BigVGAN vocoder as Ovi uses it for 16 kHz audio (MMAudio's ext/bigvgan: Make-An-Audio 2's
// BigVGAN v1 generator, bigvgan_vocoder.yml): log-mel [B, 80, T] -> waveform [B, 1, 256 T].
//
//   auto vocoder = load_bigvgan("MMAudio/ext_weights/best_netG.pt");   // prefix "generator."
//   at::Tensor audio = vocoder->forward(mel);                          // [B, 1, 256 T] in [-1, 1]
//
// The checkpoint keeps the legacy weight-norm parametrisation (<conv>.weight_g, .weight_v); the
// weights are computed once at load, w = g v / ||v|| in fp32, as the reference's
// remove_weight_norm() does before inference. Checkpoints holding plain <conv>.weight (weight
// norm already removed) load too. Module members are named after the checkpoint keys.
#include <ATen/ATen.h>

#include <memory>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <vector>

#include "io/weight_store.h"

namespace duet::mmaudio {

// bigvgan_vocoder.yml. Only the variant Ovi ships is implemented: resblock "1" (AMPBlock1),
// activation "snakebeta" with snake_logscale, Activation1d with 2x up / down and 12-tap filters.
struct BigVganConfig {
  int64_t num_mels = 80;
  std::vector<int64_t> upsample_rates{4, 4, 2, 2, 2, 2};
  std::vector<int64_t> upsample_kernel_sizes{8, 8, 4, 4, 4, 4};
  int64_t upsample_initial_channel = 1536;
  std::vector<int64_t> resblock_kernel_sizes{3, 7, 11};
  std::vector<std::vector<int64_t>> resblock_dilation_sizes{{1, 3, 5}, {1, 3, 5}, {1, 3, 5}};
  int64_t sampling_rate = 16000;

  // The yml / duet package fields above, plus resblock, activation and snake_logscale, which
  // must name the implemented variant. Missing fields keep the defaults.
  static BigVganConfig from_json(const nlohmann::json& j, const std::string& source);
  // best_netG.pt carries no config: the 16 kHz defaults, with num_mels and the initial width
  // read from conv_pre (its weight_v or weight) under `prefix`.
  static BigVganConfig from_weights(WeightStore& store, const std::string& prefix);
  void validate() const;

  int64_t hop_length() const;  // product of the upsample rates: output samples per mel frame
  int64_t channels(size_t level) const { return upsample_initial_channel >> (level + 1); }
};

// A Conv1d / ConvTranspose1d of the checkpoint with its weight norm folded in.
struct WnConv1d {
  at::Tensor weight;  // Conv1d [out, in, k]; ConvTranspose1d [in, out, k]
  at::Tensor bias;    // [out]
  int64_t stride = 1;
  int64_t padding = 0;
  int64_t dilation = 1;
  bool transposed = false;

  void load(WeightScope scope, const std::string& name, int64_t in, int64_t out, int64_t kernel,
            int64_t dilation = 1);
  void load_transposed(WeightScope scope, const std::string& name, int64_t in, int64_t out,
                       int64_t kernel, int64_t stride);
  // x: [B, in, L] -> [B, out, L'] (L' = L for the padded Conv1d, L stride for ups)
  at::Tensor forward(const at::Tensor& x) const;
};

// Activation1d(SnakeBeta(log-scale)): 2x upsample (replicate pad, kaiser-sinc transposed conv),
// x + 1/exp(beta) sin^2(exp(alpha) x), 2x downsample (replicate pad, low-pass stride 2).
struct AntiAliasedSnakeBeta {
  at::Tensor alpha;        // [1, C, 1]: exp(act.alpha)
  at::Tensor inv_beta;     // [1, C, 1]: 1 / (exp(act.beta) + 1e-9), the reference's no_div_by_zero
  at::Tensor up_filter;    // [1, 1, 12]: upsample.filter
  at::Tensor down_filter;  // [1, 1, 12]: downsample.lowpass.filter

  void load(WeightScope scope, const std::string& name, int64_t channels);
  // x: [B, C, L] -> [B, C, L]
  at::Tensor forward(const at::Tensor& x) const;
};

// AMPBlock1: three (act, dilated conv, act, conv) residual units.
struct AmpBlock1 {
  std::vector<WnConv1d> convs1;                   // dilations 1, 3, 5
  std::vector<WnConv1d> convs2;                   // dilation 1
  std::vector<AntiAliasedSnakeBeta> activations;  // 2 per unit: before convs1[i], convs2[i]

  void load(WeightScope scope, int64_t channels, int64_t kernel,
            const std::vector<int64_t>& dilations);
  // x: [B, C, L] -> [B, C, L]
  at::Tensor forward(const at::Tensor& x) const;
};

class BigVgan {
 public:
  // Loads every tensor of the generator from `scope` (e.g. store.scope("generator.")).
  BigVgan(WeightScope scope, BigVganConfig config);
  const BigVganConfig& config() const { return config_; }
  at::ScalarType dtype() const { return conv_pre_.weight.scalar_type(); }

  // Casts the weights (computed in fp32 at load) to `dtype`; the filters and snake parameters
  // follow, as they would with module.to(dtype).
  void to(at::ScalarType dtype);

  // mel: [B, num_mels, T] log10 magnitudes -> [B, 1, hop T] float, in [-1, 1]
  at::Tensor forward(const at::Tensor& mel) const;

 private:
  BigVganConfig config_;
  WnConv1d conv_pre_;                     // "conv_pre", k 7
  std::vector<WnConv1d> ups_;             // "ups.<i>.0"
  std::vector<AmpBlock1> resblocks_;      // "resblocks.<i * kernels + j>"
  AntiAliasedSnakeBeta activation_post_;  // "activation_post"
  WnConv1d conv_post_;                    // "conv_post", k 7, no tanh inside
};

// Builds the vocoder from an opened store (keys under `prefix`) and checks that nothing else
// is stored under it. Throws naming the first missing or mis-shaped key.
std::unique_ptr<BigVgan> make_bigvgan(WeightStore& store, const BigVganConfig& config,
                                      const std::string& prefix = "");

// Loads best_netG.pt ({"generator": state_dict, ...}: only the generator is read) or a
// safetensors of the bare generator keys (the duet package's vocoder). `prefix` defaults to
// "generator." for .pt / .pth files and "" otherwise. Weights are computed in fp32 on
// options.device, then cast to options.dtype when given.
std::unique_ptr<BigVgan> load_bigvgan(const std::string& path, WeightOptions options = {},
                                      std::optional<std::string> prefix = std::nullopt);

}  // namespace duet::mmaudio
