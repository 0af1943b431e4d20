#include "models/wan/vae.h"

#include <spdlog/spdlog.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "io/json_util.h"
#include "io/tensor_record.h"
#include "models/wan/vae21.h"
#include "models/wan/vae22.h"

namespace duet::wan {

namespace {

// Wan2.1 vae.py WanVAE.mean / .std and Wan2.2 vae2_2.py Wan2_2_VAE mean / std
// (= shared/reference/constants.json "wan2.1_vae" / "wan2.2_vae").
const std::vector<float> kMean21{-0.7571, -0.7089, -0.9113, 0.1075,  -0.1745, 0.9653,
                                 -0.1517, 1.5508,  0.4134,  -0.0715, 0.5517,  -0.3632,
                                 -0.1922, -0.9497, 0.2503,  -0.2921};
const std::vector<float> kStd21{2.8184, 1.4541, 2.3275, 2.6558, 1.2196, 1.7708, 2.6052, 2.0743,
                                3.2687, 2.1526, 2.8652, 1.5579, 1.6382, 1.1253, 2.8251, 1.9160};
const std::vector<float> kMean22{
    -0.2289, -0.0052, -0.1323, -0.2339, -0.2799, 0.0174,  0.1838,  0.1557,  -0.1382, 0.0542,
    0.2813,  0.0891,  0.1570,  -0.0098, 0.0375,  -0.1825, -0.2246, -0.1207, -0.0698, 0.5109,
    0.2665,  -0.2108, -0.2158, 0.2502,  -0.2055, -0.0322, 0.1109,  0.1567,  -0.0729, 0.0899,
    -0.2799, -0.1230, -0.0313, -0.1649, 0.0117,  0.0723,  -0.2839, -0.2083, -0.0520, 0.3748,
    0.0152,  0.1957,  0.1433,  -0.2944, 0.3573,  -0.0548, -0.1681, -0.0667};
const std::vector<float> kStd22{
    0.4765, 1.0364, 0.4514, 1.1677, 0.5313, 0.4990, 0.4818, 0.5013, 0.8158, 1.0344, 0.5894, 1.0901,
    0.6885, 0.6165, 0.8454, 0.4978, 0.5759, 0.3523, 0.7135, 0.6804, 0.5833, 1.4146, 0.8986, 0.5659,
    0.7069, 0.5338, 0.4889, 0.4917, 0.4069, 0.4999, 0.6866, 0.4093, 0.5709, 0.6065, 0.6415, 0.4944,
    0.5726, 1.2042, 0.5458, 1.6887, 0.3971, 1.0600, 0.3943, 0.5537, 0.5444, 0.4089, 0.7468, 0.7744};

std::vector<float> json_floats(const nlohmann::json& j, const char* key,
                               const std::string& source) {
  if (!j.contains(key)) return {};
  DUET_CHECK(j[key].is_array(), "{}: field '{}' must be a list of numbers", source, key);
  std::vector<float> out;
  for (const auto& v : j[key]) {
    DUET_CHECK(v.is_number(), "{}: field '{}' must be a list of numbers", source, key);
    out.push_back(v.get<float>());
  }
  return out;
}

}  // namespace

const std::vector<float>& wan_vae_latents_mean(WanVaeVersion v) {
  return v == WanVaeVersion::k22 ? kMean22 : kMean21;
}
const std::vector<float>& wan_vae_latents_std(WanVaeVersion v) {
  return v == WanVaeVersion::k22 ? kStd22 : kStd21;
}

WanVaeConfig WanVaeConfig::defaults(WanVaeVersion version) {
  WanVaeConfig c;
  c.version = version;
  if (version == WanVaeVersion::k22) {
    c.dim = 160;
    c.dec_dim = 256;
    c.z_dim = 48;
  }
  return c;
}

WanVaeConfig WanVaeConfig::from_json(const nlohmann::json& j, const std::string& source) {
  DUET_CHECK(j.is_object(), "{}: expected a JSON object", source);
  const bool residual =
      j.contains("is_residual") && j["is_residual"].is_boolean() && j["is_residual"].get<bool>();
  WanVaeConfig c = defaults(residual ? WanVaeVersion::k22 : WanVaeVersion::k21);
  c.dim = json_int(j, "base_dim", source, c.dim);
  c.dec_dim = c.dim;
  if (j.contains("decoder_base_dim") && !j["decoder_base_dim"].is_null()) {
    c.dec_dim = json_int(j, "decoder_base_dim", source);
  }
  c.z_dim = json_int(j, "z_dim", source, c.z_dim);
  c.num_res_blocks = json_int(j, "num_res_blocks", source, c.num_res_blocks);
  if (j.contains("dim_mult")) {
    c.dim_mult.clear();
    for (const auto& v : j["dim_mult"]) {
      DUET_CHECK(v.is_number_integer(), "{}: field 'dim_mult' must be a list of integers", source);
      c.dim_mult.push_back(v.get<int64_t>());
    }
  }
  if (j.contains("temperal_downsample")) {
    c.temperal_downsample.clear();
    for (const auto& v : j["temperal_downsample"]) {
      DUET_CHECK(v.is_boolean(), "{}: field 'temperal_downsample' must be a list of booleans",
                 source);
      c.temperal_downsample.push_back(v.get<bool>());
    }
  }
  if (j.contains("attn_scales")) {
    DUET_CHECK(j["attn_scales"].is_array() && j["attn_scales"].empty(),
               "{}: field 'attn_scales' must be empty (Wan VAEs have no attention in their levels)",
               source);
  }
  const int64_t patch = j.contains("patch_size") && !j["patch_size"].is_null()
                            ? json_int(j, "patch_size", source)
                            : 1;
  DUET_CHECK(patch == c.patch_size(),
             "{}: field 'patch_size' is {}, expected {} for is_residual={}", source, patch,
             c.patch_size(), residual);
  const int64_t in = json_int(j, "in_channels", source, 3);
  DUET_CHECK(in == 3 || in == c.io_channels(), "{}: field 'in_channels' is {}, expected {}", source,
             in, c.io_channels());
  c.latents_mean = json_floats(j, "latents_mean", source);
  c.latents_std = json_floats(j, "latents_std", source);
  c.validate();
  return c;
}

WanVaeConfig WanVaeConfig::from_weights(WeightStore& store) {
  const char* kIn = "encoder.conv1.weight";
  DUET_CHECK(store.contains(kIn), "'{}' is not a Wan VAE checkpoint: tensor '{}' is missing",
             fmt::join(store.files(), ", "), kIn);
  const auto& enc = store.record(*store.file_key(kIn)).shape;  // [dim, 3 or 12, 3, 3, 3]
  DUET_CHECK(enc.size() == 5 && (enc[1] == 3 || enc[1] == 12),
             "tensor '{}' has shape {}, expected [dim, 3 or 12, 3, 3, 3]", kIn,
             shape_to_string(enc));
  WanVaeConfig c = defaults(enc[1] == 12 ? WanVaeVersion::k22 : WanVaeVersion::k21);
  c.dim = enc[0];
  const char* kZ = "conv2.weight";
  DUET_CHECK(store.contains(kZ), "missing tensor '{}' in {}", kZ, fmt::join(store.files(), ", "));
  c.z_dim = store.record(*store.file_key(kZ)).shape.at(0);  // [z, z, 1, 1, 1]
  const char* kDec = "decoder.conv1.weight";
  DUET_CHECK(store.contains(kDec), "missing tensor '{}' in {}", kDec,
             fmt::join(store.files(), ", "));
  const auto& dec = store.record(*store.file_key(kDec)).shape;  // [dec_dim * 4, z, 3, 3, 3]
  DUET_CHECK(dec.size() == 5 && dec[0] % c.dim_mult.back() == 0,
             "tensor '{}' has shape {}, expected [4 * dec_dim, z, 3, 3, 3]", kDec,
             shape_to_string(dec));
  c.dec_dim = dec[0] / c.dim_mult.back();
  c.validate();
  return c;
}

void WanVaeConfig::validate() const {
  DUET_CHECK(dim > 0 && dec_dim > 0 && z_dim > 0,
             "Wan VAE config: dim {}, dec_dim {}, z_dim {} must be positive", dim, dec_dim, z_dim);
  DUET_CHECK(dim_mult == std::vector<int64_t>({1, 2, 4, 4}),
             "Wan VAE config: dim_mult must be [1, 2, 4, 4] (the only one Wan ships)");
  DUET_CHECK(num_res_blocks > 0, "Wan VAE config: num_res_blocks must be positive");
  DUET_CHECK(temperal_downsample == std::vector<bool>({false, true, true}),
             "Wan VAE config: temperal_downsample must be [false, true, true] (4x in time)");
  const auto n = static_cast<size_t>(z_dim);
  DUET_CHECK(latents_mean.empty() || latents_mean.size() == n,
             "Wan VAE config: latents_mean has {} values, expected z_dim = {}", latents_mean.size(),
             n);
  DUET_CHECK(latents_std.empty() || latents_std.size() == n,
             "Wan VAE config: latents_std has {} values, expected z_dim = {}", latents_std.size(),
             n);
  if (latents_mean.empty() || latents_std.empty()) {
    DUET_CHECK(wan_vae_latents_mean(version).size() == n,
               "Wan VAE config: z_dim {} has no published latent statistics; give latents_mean/std",
               n);
  }
}

void WanVaeTiling::validate(int64_t spatial_stride, int64_t patch) const {
  DUET_CHECK(min_height > 0 && min_width > 0 && stride_height > 0 && stride_width > 0,
             "VAE tiling: tile sizes and strides must be positive");
  DUET_CHECK(stride_height <= min_height && stride_width <= min_width,
             "VAE tiling: stride ({}x{}) larger than the tile ({}x{})", stride_height, stride_width,
             min_height, min_width);
  for (int64_t v : {min_height, min_width, stride_height, stride_width}) {
    DUET_CHECK(v % spatial_stride == 0 && v % patch == 0,
               "VAE tiling: tile size / stride {} is not a multiple of the VAE stride {}", v,
               spatial_stride);
  }
}

WanVae::WanVae(WanVaeConfig config) : config_(std::move(config)) {
  config_.validate();
  const auto& mean =
      config_.latents_mean.empty() ? wan_vae_latents_mean(config_.version) : config_.latents_mean;
  const auto& stdv =
      config_.latents_std.empty() ? wan_vae_latents_std(config_.version) : config_.latents_std;
  mean_ = at::tensor(at::ArrayRef<float>(mean), at::kFloat);
  inv_std_ = 1.0 / at::tensor(at::ArrayRef<float>(stdv), at::kFloat);
}

void WanVae::load_quant_convs(WeightScope scope) {
  const int64_t z = config_.z_dim;
  conv1_.load(scope, "conv1", 2 * z, 2 * z, {1, 1, 1});
  conv2_.load(scope, "conv2", z, z, {1, 1, 1});
}

at::Tensor WanVae::denormalise(const at::Tensor& z) const {
  DUET_CHECK(z.dim() == 5 && z.size(1) == config_.z_dim,
             "Wan VAE decode expects latents [B, {}, T, h, w], got {}", config_.z_dim,
             shape_to_string(z.sizes().vec()));
  DUET_CHECK(z.size(2) >= 1, "Wan VAE decode: latents have no frames");
  const auto view = [&](const at::Tensor& t) { return t.to(z.device()).view({1, -1, 1, 1, 1}); };
  // As the reference: z / scale[1] + scale[0] with scale[1] = 1 / std.
  return (z / view(inv_std_) + view(mean_)).to(z.scalar_type());
}

at::Tensor WanVae::finish_frames(const at::Tensor& x) const {
  return unpatchify(x, config_.patch_size()).clamp(-1.0, 1.0);
}

void WanVae::decode_stream(const at::Tensor& latents, const VideoChunkSink& sink,
                           const WanVaeTiling& tiling) const {
  const at::Tensor z = denormalise(latents);
  const int64_t s = config_.spatial_stride();
  if (tiling.enabled) {
    tiling.validate(s, config_.patch_size());
    if (z.size(3) > tiling.min_height / s || z.size(4) > tiling.min_width / s) {
      decode_tiled(z, sink, tiling);
      return;
    }
  }
  nn::FeatureCache cache;
  for (int64_t t = 0; t < z.size(2); ++t) {
    cache.begin_chunk();
    const at::Tensor x = conv2_.forward(z.narrow(2, t, 1));
    sink(finish_frames(decode_chunk(x, cache, t == 0)));
  }
}

namespace {

// diffusers' blend_v / blend_h: the first `extent` rows (columns) of b fade in over the last
// ones of a, in place, row by row with the same scalar weights.
void blend(const at::Tensor& a, at::Tensor& b, int64_t extent, int64_t dim) {
  extent = std::min({a.size(dim), b.size(dim), extent});
  for (int64_t y = 0; y < extent; ++y) {
    const double wb = static_cast<double>(y) / static_cast<double>(extent);
    b.select(dim, y).copy_(a.select(dim, a.size(dim) - extent + y) * (1.0 - wb) +
                           b.select(dim, y) * wb);
  }
}

}  // namespace

void WanVae::decode_tiled(const at::Tensor& z, const VideoChunkSink& sink,
                          const WanVaeTiling& t) const {
  const int64_t s = config_.spatial_stride(), p = config_.patch_size();
  const int64_t h = z.size(3), w = z.size(4);
  const int64_t lat_min_h = t.min_height / s, lat_min_w = t.min_width / s;
  const int64_t lat_stride_h = t.stride_height / s, lat_stride_w = t.stride_width / s;
  // Blending and cropping happen in the decoder's (patchified) output space, as in diffusers.
  const int64_t out_stride_h = t.stride_height / p, out_stride_w = t.stride_width / p;
  const int64_t blend_h = t.min_height / p - out_stride_h, blend_w = t.min_width / p - out_stride_w;
  const int64_t out_h = h * s / p, out_w = w * s / p;
  std::vector<int64_t> rows, cols;
  for (int64_t i = 0; i < h; i += lat_stride_h) rows.push_back(i);
  for (int64_t j = 0; j < w; j += lat_stride_w) cols.push_back(j);
  // Every tile keeps its own temporal cache, so tiles stream through time side by side.
  std::vector<nn::FeatureCache> caches(rows.size() * cols.size());
  for (int64_t k = 0; k < z.size(2); ++k) {
    std::vector<std::vector<at::Tensor>> tiles(rows.size());
    std::vector<at::Tensor> out_rows;
    for (size_t r = 0; r < rows.size(); ++r) {
      std::vector<at::Tensor> out_row;
      for (size_t c = 0; c < cols.size(); ++c) {
        nn::FeatureCache& cache = caches[r * cols.size() + c];
        cache.begin_chunk();
        const at::Tensor tile_z = z.narrow(2, k, 1)
                                      .narrow(3, rows[r], std::min(lat_min_h, h - rows[r]))
                                      .narrow(4, cols[c], std::min(lat_min_w, w - cols[c]));
        at::Tensor tile = decode_chunk(conv2_.forward(tile_z), cache, k == 0);
        if (r > 0) blend(tiles[r - 1][c], tile, blend_h, 3);
        if (c > 0) blend(tiles[r][c - 1], tile, blend_w, 4);
        tiles[r].push_back(tile);
        out_row.push_back(tile.narrow(3, 0, std::min(out_stride_h, tile.size(3)))
                              .narrow(4, 0, std::min(out_stride_w, tile.size(4))));
      }
      out_rows.push_back(at::cat(out_row, 4));
      if (r > 0) tiles[r - 1].clear();  // only the row above is blended against
    }
    const at::Tensor frames = at::cat(out_rows, 3);
    sink(finish_frames(frames.narrow(3, 0, std::min(out_h, frames.size(3)))
                           .narrow(4, 0, std::min(out_w, frames.size(4)))));
  }
}

at::Tensor WanVae::decode(const at::Tensor& latents, const WanVaeTiling& tiling) const {
  std::vector<at::Tensor> chunks;
  decode_stream(
      latents, [&](const at::Tensor& frames) { chunks.push_back(frames); }, tiling);
  return at::cat(chunks, 2);
}

at::Tensor WanVae::encode(const at::Tensor& video, const WanVaeTiling& tiling) const {
  const int64_t s = config_.spatial_stride(), p = config_.patch_size();
  DUET_CHECK(video.dim() == 5 && video.size(1) == 3,
             "Wan VAE encode expects video [B, 3, F, H, W], got {}",
             shape_to_string(video.sizes().vec()));
  const int64_t frames = video.size(2);
  DUET_CHECK(frames >= 1 && (frames - 1) % 4 == 0,
             "Wan VAE encode: video has {} frames, expected 1 + 4k", frames);
  DUET_CHECK(video.size(3) % s == 0 && video.size(4) % s == 0,
             "Wan VAE encode: frame size {}x{} is not a multiple of {}", video.size(3),
             video.size(4), s);
  at::Tensor mu;
  if (tiling.enabled) tiling.validate(s, p);
  // diffusers compares the patchified frame with the tile (see WanVaeTiling).
  if (tiling.enabled &&
      (video.size(3) / p > tiling.min_height || video.size(4) / p > tiling.min_width)) {
    mu = encode_tiled(video, tiling);
  } else {
    mu = encode_mean(video);
  }
  const auto view = [&](const at::Tensor& t) { return t.to(mu.device()).view({1, -1, 1, 1, 1}); };
  return ((mu - view(mean_)) * view(inv_std_)).to(mu.scalar_type());
}

at::Tensor WanVae::encode_mean(const at::Tensor& video) const {
  // video: [B, 3, 1 + 4k, H, W] -> [B, z, 1 + k, H/s, W/s]
  nn::FeatureCache cache;
  std::vector<at::Tensor> mus;
  // Chunks of 1, 4, 4, ... frames, as the reference encodes.
  for (int64_t start = 0; start < video.size(2); start += (start == 0 ? 1 : 4)) {
    const int64_t n = start == 0 ? 1 : 4;
    cache.begin_chunk();
    const at::Tensor x = patchify(video.narrow(2, start, n), config_.patch_size());
    mus.push_back(conv1_.forward(encode_chunk(x, cache)).narrow(1, 0, config_.z_dim));
  }
  return at::cat(mus, 2);
}

at::Tensor WanVae::encode_tiled(const at::Tensor& video, const WanVaeTiling& t) const {
  // diffusers' tiled_encode works on the patchified frame: tile sizes and strides count
  // patchified pixels, which the encoder reduces by s / p. Each tile runs through all frames
  // with its own cache; blending the latent mean alone equals blending diffusers' moments, as
  // the blend is per element.
  const int64_t p = config_.patch_size(), enc_s = config_.spatial_stride() / p;
  const int64_t h = video.size(3) / p, w = video.size(4) / p;
  const int64_t lat_stride_h = t.stride_height / enc_s, lat_stride_w = t.stride_width / enc_s;
  const int64_t blend_h = t.min_height / enc_s - lat_stride_h;
  const int64_t blend_w = t.min_width / enc_s - lat_stride_w;
  std::vector<at::Tensor> above, out_rows;  // the row above, blended; finished rows
  for (int64_t i = 0; i < h; i += t.stride_height) {
    std::vector<at::Tensor> row, out_row;
    for (int64_t j = 0; j < w; j += t.stride_width) {
      const at::Tensor tile_x = video.narrow(3, p * i, p * std::min(t.min_height, h - i))
                                    .narrow(4, p * j, p * std::min(t.min_width, w - j));
      at::Tensor tile = encode_mean(tile_x);
      if (!above.empty()) blend(above[row.size()], tile, blend_h, 3);
      if (!row.empty()) blend(row.back(), tile, blend_w, 4);
      row.push_back(tile);
      out_row.push_back(tile.narrow(3, 0, std::min(lat_stride_h, tile.size(3)))
                            .narrow(4, 0, std::min(lat_stride_w, tile.size(4))));
    }
    out_rows.push_back(at::cat(out_row, 4));
    above = std::move(row);
  }
  const at::Tensor mu = at::cat(out_rows, 3);
  return mu.narrow(3, 0, std::min(h / enc_s, mu.size(3)))
      .narrow(4, 0, std::min(w / enc_s, mu.size(4)));
}

std::unique_ptr<WanVae> make_wan_vae(WeightStore& store, const WanVaeConfig& config) {
  std::unique_ptr<WanVae> vae;
  if (config.version == WanVaeVersion::k22) {
    vae = std::make_unique<Wan22Vae>(store, config);
  } else {
    vae = std::make_unique<Wan21Vae>(store, config);
  }
  store.scope("").finish();
  return vae;
}

std::unique_ptr<WanVae> load_wan_vae(const std::string& path, WeightOptions options) {
  namespace fs = std::filesystem;
  if (fs::is_directory(path)) {
    const fs::path dir(path);
    const std::string cfg_path = (dir / "config.json").string();
    const fs::path weights = dir / "diffusion_pytorch_model.safetensors";
    DUET_CHECK(fs::exists(cfg_path) && fs::exists(weights),
               "'{}' is not a diffusers VAE folder (needs config.json and "
               "diffusion_pytorch_model.safetensors)",
               path);
    WanVaeConfig config = WanVaeConfig::from_json(read_json_file(cfg_path), cfg_path);
    WeightStore store({weights.string()}, options, wan_vae_diffusers_key_map(config));
    spdlog::info("Wan VAE {} (diffusers layout): dim {}, decoder dim {}, z {}",
                 config.version == WanVaeVersion::k22 ? "2.2" : "2.1", config.dim, config.dec_dim,
                 config.z_dim);
    return make_wan_vae(store, config);
  }
  WeightStore store({path}, options);
  const WanVaeConfig config = WanVaeConfig::from_weights(store);
  spdlog::info("Wan VAE {} (original layout): dim {}, decoder dim {}, z {}",
               config.version == WanVaeVersion::k22 ? "2.2" : "2.1", config.dim, config.dec_dim,
               config.z_dim);
  return make_wan_vae(store, config);
}

}  // namespace duet::wan
