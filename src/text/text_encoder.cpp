#include "text/text_encoder.h"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "core/error.h"
#include "io/json_util.h"

namespace duet {
namespace fs = std::filesystem;

namespace {

// The checkpoint files of a weights path: the file itself, or a folder's index / safetensors.
std::vector<std::string> weight_files(const fs::path& path) {
  if (fs::is_regular_file(path)) return {path.string()};
  DUET_CHECK(fs::is_directory(path), "text encoder weights '{}' not found", path.string());
  std::vector<std::string> files;
  for (const auto& entry : fs::directory_iterator(path)) {
    const auto name = entry.path().filename().string();
    if (name.ends_with(".safetensors.index.json")) return {entry.path().string()};
    if (name.ends_with(".safetensors") || name.ends_with(".pth"))
      files.push_back(entry.path().string());
  }
  DUET_CHECK(!files.empty(), "text encoder folder '{}' holds no .safetensors or .pth file",
             path.string());
  std::sort(files.begin(), files.end());
  return files;
}

}  // namespace

std::unique_ptr<Umt5Encoder> load_umt5(const fs::path& weights, const WeightOptions& options,
                                       std::unique_ptr<WeightStore>& store) {
  const auto files = weight_files(weights);
  WeightStore probe(files);
  const Umt5Layout layout = detect_umt5_layout(probe.names());
  store = std::make_unique<WeightStore>(
      files, options, layout == Umt5Layout::kTransformers ? umt5_transformers_key_map() : KeyMap{});
  Umt5Config config;
  const fs::path config_json = fs::is_directory(weights) ? weights / "config.json" : fs::path();
  if (!config_json.empty() && fs::is_regular_file(config_json)) {
    config = Umt5Config::from_json(read_json_file(config_json.string()), config_json.string());
  } else {
    config = Umt5Config::from_weights(*store);
  }
  spdlog::info("umT5 encoder ({} layout): dim {}, ffn {}, heads {}, layers {}, vocab {}",
               layout == Umt5Layout::kWan ? "Wan" : "transformers", config.dim, config.dim_ffn,
               config.num_heads, config.num_layers, config.vocab_size);
  return std::make_unique<Umt5Encoder>(config, *store);
}

TextEncoder::TextEncoder(const fs::path& weights, const fs::path& tokenizer,
                         TextEncoderOptions options)
    : options_(options), tokenizer_(Umt5Tokenizer::from_dir(tokenizer, options.tokenizer)) {
  encoder_ = load_umt5(weights, WeightOptions{options_.dtype, options_.device}, store_);
  DUET_CHECK(tokenizer_.vocab_size() <= encoder_->config().vocab_size,
             "tokenizer has {} tokens but the text encoder's embedding only {} rows",
             tokenizer_.vocab_size(), encoder_->config().vocab_size);
}

TokenBatch TextEncoder::tokenize(const std::vector<std::string>& prompts) const {
  const int64_t b = static_cast<int64_t>(prompts.size()), len = tokenizer_.config().text_len;
  TokenBatch batch;
  batch.ids = at::full({b, len}, tokenizer_.pad_id(), at::kLong);
  batch.mask = at::zeros({b, len}, at::kLong);
  for (int64_t i = 0; i < b; ++i) {
    const auto ids = tokenizer_.encode(prompts[i]).ids;
    const auto n = static_cast<int64_t>(ids.size());
    batch.ids[i].narrow(0, 0, n).copy_(at::tensor(ids, at::kLong));
    batch.mask[i].narrow(0, 0, n).fill_(1);
    batch.lengths.push_back(n);
  }
  return batch;
}

TextEncoding TextEncoder::encode(const std::vector<std::string>& prompts) const {
  // prompts: B strings -> context [B, text_len, dim] on output_device
  const TokenBatch batch = tokenize(prompts);
  const int64_t b = batch.ids.size(0), len = batch.ids.size(1);
  TextEncoding out;
  out.lengths = batch.lengths;
  out.context = at::zeros({b, len, encoder_->config().dim},
                          at::TensorOptions().dtype(options_.dtype).device(options_.output_device));
  for (int64_t i = 0; i < b; ++i) {
    const int64_t n = batch.lengths[i];
    const auto y = encoder_->forward(batch.ids[i].narrow(0, 0, n).unsqueeze(0));  // [1, n, dim]
    out.context[i].narrow(0, 0, n).copy_(y[0]);
  }
  return out;
}

}  // namespace duet
