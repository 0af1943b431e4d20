#include "models/mmaudio/vae.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include <algorithm>

#include "core/error.h"
#include "io/tensor_record.h"

namespace duet::mmaudio {

namespace {

bool contains(const std::vector<int64_t>& v, int64_t x) {
  return std::find(v.begin(), v.end(), x) != v.end();
}

std::string shape_of(const at::Tensor& t) { return shape_to_string(t.sizes().vec()); }

// The forward's `gain = learnable_gain + 1`, folded into conv_out's baked weight.
void load_gained_conv_out(WeightScope scope, MPConv1d& conv, int64_t in, int64_t out,
                          int64_t kernel, at::ScalarType dtype) {
  conv.load(scope, "conv_out", in, out, kernel, dtype);
  conv.scale_by(scope.get("learnable_gain", {}).to(dtype) + 1);
}

}  // namespace

MMAudioVaeConfig MMAudioVaeConfig::from_weights(WeightStore& store) {
  const auto shape = [&](const char* key) {
    DUET_CHECK(store.contains(key),
               "'{}' is not an MMAudio VAE checkpoint (v1-16.pth): tensor '{}' is missing",
               fmt::join(store.files(), ", "), key);
    const auto& s = store.record(*store.file_key(key)).shape;
    DUET_CHECK(s.size() == 3, "tensor '{}' has shape {}, expected [out, in, kernel]", key,
               shape_to_string(s));
    return s;
  };
  MMAudioVaeConfig c;
  const auto enc_in = shape("encoder.conv_in.weight");  // [hidden, data_dim, k]
  c.hidden_dim = enc_in[0];
  c.data_dim = enc_in[1];
  c.kernel_size = enc_in[2];
  const auto dec_in = shape("decoder.conv_in.weight");  // [hidden * ch_mult[-1], embed, k]
  c.embed_dim = dec_in[1];
  DUET_CHECK(dec_in[0] == c.hidden_dim * c.ch_mult.back(),
             "tensor 'decoder.conv_in.weight' has shape {}, expected [{}, embed, {}] (encoder "
             "hidden_dim={} x ch_mult {})",
             shape_to_string(dec_in), c.hidden_dim * c.ch_mult.back(), c.kernel_size, c.hidden_dim,
             c.ch_mult.back());
  c.validate();
  return c;
}

void MMAudioVaeConfig::validate() const {
  DUET_CHECK(data_dim > 0 && embed_dim > 0 && hidden_dim > 0,
             "MMAudio VAE config: data_dim {}, embed_dim {}, hidden_dim {} must be positive",
             data_dim, embed_dim, hidden_dim);
  DUET_CHECK(!ch_mult.empty() &&
                 std::all_of(ch_mult.begin(), ch_mult.end(), [](int64_t m) { return m > 0; }),
             "MMAudio VAE config: ch_mult must be a non-empty list of positive integers");
  DUET_CHECK(num_res_blocks > 0, "MMAudio VAE config: num_res_blocks must be positive");
  DUET_CHECK(kernel_size > 0 && kernel_size % 2 == 1,
             "MMAudio VAE config: kernel_size {} must be odd (the convolutions pad k / 2)",
             kernel_size);
  const auto levels = static_cast<int64_t>(ch_mult.size());
  for (int64_t d : down_layers) {
    DUET_CHECK(d >= 0 && d + 1 < levels,
               "MMAudio VAE config: down_layers entry {} is not a level in [0, {})", d, levels - 1);
  }
}

bool MMAudioVaeConfig::has_attention(int64_t level) const { return contains(attn_layers, level); }
bool MMAudioVaeConfig::downsamples_after(int64_t level) const {
  return contains(down_layers, level);
}

void MMAudioEncoder::load(WeightScope scope, const MMAudioVaeConfig& c, at::ScalarType dtype) {
  const int64_t k = c.kernel_size;
  clip_act = c.clip_act;
  conv_in.load(scope, "conv_in", c.data_dim, c.hidden_dim, k, dtype);
  int64_t in = c.hidden_dim;  // in_ch_mult = (1,) + ch_mult
  down.clear();
  for (size_t i = 0; i < c.ch_mult.size(); ++i) {
    const auto level = static_cast<int64_t>(i);
    const int64_t out = c.hidden_dim * c.ch_mult[i];
    const WeightScope s = scope.sub(fmt::format("down.{}.", i));
    Level lv;
    for (int64_t j = 0; j < c.num_res_blocks; ++j) {
      lv.block.emplace_back().load(s.sub(fmt::format("block.{}.", j)), in, out, k, dtype);
      in = out;
      if (c.has_attention(level))
        lv.attn.emplace_back().load(s.sub(fmt::format("attn.{}.", j)), out, dtype);
    }
    if (c.downsamples_after(level)) lv.downsample.emplace().load(s.sub("downsample."), out, dtype);
    down.push_back(std::move(lv));
  }
  mid_block_1.load(scope.sub("mid.block_1."), in, in, k, dtype);
  mid_attn_1.load(scope.sub("mid.attn_1."), in, dtype);
  mid_block_2.load(scope.sub("mid.block_2."), in, in, k, dtype);
  load_gained_conv_out(scope, conv_out, in, 2 * c.embed_dim, k, dtype);
}

at::Tensor MMAudioEncoder::forward(const at::Tensor& x) const {
  // x: [B, data_dim, T] -> [B, 2 * embed_dim, T / stride]
  at::Tensor h = conv_in.forward(x);
  for (const auto& lv : down) {
    for (size_t j = 0; j < lv.block.size(); ++j) {
      h = lv.block[j].forward(h);
      if (!lv.attn.empty()) h = lv.attn[j].forward(h);
      h = h.clamp(-clip_act, clip_act);
    }
    if (lv.downsample) h = lv.downsample->forward(h);  // not clamped, as the reference
  }
  h = mid_block_2.forward(mid_attn_1.forward(mid_block_1.forward(h)));
  h = h.clamp(-clip_act, clip_act);
  return conv_out.forward(mp_silu(h));
}

void MMAudioDecoder::load(WeightScope scope, const MMAudioVaeConfig& c, at::ScalarType dtype) {
  // The reference builds the decoder's blocks and upsampler with kernel 3 whatever kernel_size
  // is; only conv_in / conv_out take it.
  constexpr int64_t kBlockKernel = 3;
  const int64_t k = c.kernel_size;
  clip_act = c.clip_act;
  int64_t in = c.hidden_dim * c.ch_mult.back();
  conv_in.load(scope, "conv_in", c.embed_dim, in, k, dtype);
  mid_block_1.load(scope.sub("mid.block_1."), in, in, kBlockKernel, dtype);
  mid_attn_1.load(scope.sub("mid.attn_1."), in, dtype);
  mid_block_2.load(scope.sub("mid.block_2."), in, in, kBlockKernel, dtype);
  up.assign(c.ch_mult.size(), Level{});
  for (auto i = static_cast<int64_t>(c.ch_mult.size()) - 1; i >= 0; --i) {
    const int64_t out = c.hidden_dim * c.ch_mult[static_cast<size_t>(i)];
    const WeightScope s = scope.sub(fmt::format("up.{}.", i));
    Level& lv = up[static_cast<size_t>(i)];
    for (int64_t j = 0; j <= c.num_res_blocks; ++j) {
      lv.block.emplace_back().load(s.sub(fmt::format("block.{}.", j)), in, out, kBlockKernel,
                                   dtype);
      in = out;
      if (c.has_attention(i))
        lv.attn.emplace_back().load(s.sub(fmt::format("attn.{}.", j)), out, dtype);
    }
    // Decoder level i upsamples where encoder level i - 1 downsampled.
    if (i > 0 && c.downsamples_after(i - 1))
      lv.upsample.emplace().load(s.sub("upsample."), out, dtype);
  }
  load_gained_conv_out(scope, conv_out, in, c.data_dim, k, dtype);
}

at::Tensor MMAudioDecoder::forward(const at::Tensor& z) const {
  // z: [B, embed_dim, L] -> [B, data_dim, L * stride]
  at::Tensor h = conv_in.forward(z);
  h = mid_block_2.forward(mid_attn_1.forward(mid_block_1.forward(h)));
  h = h.clamp(-clip_act, clip_act);
  for (auto it = up.rbegin(); it != up.rend(); ++it) {
    for (size_t j = 0; j < it->block.size(); ++j) {
      h = it->block[j].forward(h);
      if (!it->attn.empty()) h = it->attn[j].forward(h);
      h = h.clamp(-clip_act, clip_act);
    }
    if (it->upsample) h = it->upsample->forward(h);
  }
  return conv_out.forward(mp_silu(h));
}

MMAudioVae::MMAudioVae(WeightStore& store, MMAudioVaeConfig config,
                       std::optional<at::ScalarType> dtype)
    : config_(std::move(config)) {
  config_.validate();
  const at::ScalarType dt = dtype.value_or(store.options().dtype.value_or(at::kFloat));
  DUET_CHECK(at::isFloatingType(dt), "MMAudio VAE: dtype must be floating point, got {}",
             c10::toString(dt));
  WeightScope root = store.scope("");
  const std::vector<int64_t> stats{1, config_.data_dim, 1};
  data_mean_ = root.get("data_mean", stats, fmt::format("(data_dim={})", config_.data_dim)).to(dt);
  data_std_ = root.get("data_std", stats, fmt::format("(data_dim={})", config_.data_dim)).to(dt);
  encoder_.load(root.sub("encoder."), config_, dt);
  decoder_.load(root.sub("decoder."), config_, dt);
  root.finish();
}

at::Tensor MMAudioVae::prepare(const at::Tensor& x, bool encoding) const {
  const char* what = encoding ? "encode" : "decode";
  const char* name = encoding ? "mel" : "latents";
  const int64_t channels = encoding ? config_.data_dim : config_.embed_dim;
  const int64_t min_length = encoding ? config_.temporal_stride() : 1;
  DUET_CHECK(x.defined() && x.dim() == 3 && x.size(1) == channels,
             "MMAudio VAE {} expects {} [B, {}, {}], got {}", what, name, channels,
             encoding ? "T" : "L", x.defined() ? shape_of(x) : "an undefined tensor");
  DUET_CHECK(x.size(0) >= 1 && x.size(2) >= min_length,
             "MMAudio VAE {}: {} {} is too short (needs batch >= 1 and length >= {})", what, name,
             shape_of(x), min_length);
  DUET_CHECK(at::isFloatingType(x.scalar_type()),
             "MMAudio VAE {}: {} must be floating point, got {}", what, name,
             c10::toString(x.scalar_type()));
  DUET_CHECK(x.device() == data_mean_.device(), "MMAudio VAE {}: {} are on {}, the model on {}",
             what, name, x.device().str(), data_mean_.device().str());
  return x.to(dtype());
}

at::Tensor MMAudioVae::decode(const at::Tensor& z) const {
  const at::Tensor x = prepare(z, /*encoding=*/false);
  return decoder_.forward(x) * data_std_ + data_mean_;
}

MMAudioPosterior MMAudioVae::encode_posterior(const at::Tensor& mel) const {
  const at::Tensor x = prepare(mel, /*encoding=*/true);
  const at::Tensor moments = encoder_.forward((x - data_mean_) / data_std_);
  const auto halves = moments.chunk(2, 1);
  const at::Tensor logvar = halves[1].clamp(-30.0, 20.0);
  return {halves[0], at::exp(0.5 * logvar)};
}

at::Tensor MMAudioVae::encode(const at::Tensor& mel) const { return encode_posterior(mel).mean; }

std::unique_ptr<MMAudioVae> load_mmaudio_vae(const std::string& path, WeightOptions options) {
  // Keep the stored fp32 for baking the weight norm; the model casts afterwards.
  WeightStore store({path}, {.dtype = std::nullopt, .device = options.device});
  const MMAudioVaeConfig config = MMAudioVaeConfig::from_weights(store);
  spdlog::info("MMAudio VAE: {} mel bins, {} latent channels, hidden {}", config.data_dim,
               config.embed_dim, config.hidden_dim);
  return std::make_unique<MMAudioVae>(store, config, options.dtype);
}

}  // namespace duet::mmaudio
