#include "io/weight_store.h"

#include <ATen/CPUGeneratorImpl.h>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "core/device.h"
#include "core/error.h"
#include "core/hash.h"

namespace duet {

WeightStore::WeightStore(std::vector<std::string> files, WeightOptions options, KeyMap key_map)
    : files_(std::move(files)), options_(options), key_map_(std::move(key_map)) {
  DUET_CHECK(!files_.empty(), "weight store created without checkpoint files");
}

WeightStore WeightStore::meta(WeightOptions options, KeyMap key_map) {
  WeightStore store;
  store.options_ = options;
  store.key_map_ = std::move(key_map);
  store.meta_ = true;
  store.opened_ = true;  // nothing to open: no tensors
  return store;
}

WeightStore WeightStore::random(uint64_t seed, WeightOptions options, KeyMap key_map) {
  WeightStore store = meta(options, std::move(key_map));
  store.random_ = true;
  store.seed_ = seed;
  return store;
}

WeightStore WeightStore::from_tensors(std::map<std::string, at::Tensor> tensors,
                                      std::string name) {
  DUET_CHECK(!tensors.empty(), "weight store created from no tensors");
  WeightStore store;
  store.files_ = {std::move(name)};
  store.opened_ = true;
  for (const auto& [key, t] : tensors) {
    DUET_CHECK(t.defined(), "tensor '{}' handed to the weight store is undefined", key);
    store.origin_.emplace(key, store.files_.front());
  }
  store.held_ = std::move(tensors);
  return store;
}

namespace {

// Norm weights (norm_q, norm3, pre_attn_norm_fusion, ...) are 1 and their biases 0, as a fresh
// model's: random scales there would shrink or blow up every activation.
at::Tensor random_tensor(const std::string& key, const std::vector<int64_t>& shape,
                         at::ScalarType dtype, at::Device device, uint64_t seed) {
  const auto options = at::TensorOptions().dtype(dtype);
  const size_t last = key.rfind('.');
  const std::string module = last == std::string::npos ? key : key.substr(0, last);
  if (module.find("norm") != std::string::npos) {
    if (key.ends_with(".weight")) return at::ones(shape, options.device(device));
    if (key.ends_with(".bias")) return at::zeros(shape, options.device(device));
  }
  // Drawn on the CPU (one generator per key: same values on every device), in the target dtype
  // so a bf16 model never holds an fp32 copy.
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed ^ fnv1a64(key));
  at::Tensor t = at::randn(shape, gen, options);
  t.mul_(0.02);
  return device.is_cpu() ? t : t.to(device);
}

}  // namespace

at::Tensor WeightStore::meta_tensor(const std::string& file_key,
                                    const std::vector<int64_t>& shape) {
  DUET_CHECK(meta_, "tensor '{}' requested as a meta tensor from a store with files", file_key);
  const auto [it, inserted] = meta_shapes_.emplace(file_key, shape);
  DUET_CHECK(inserted || it->second == shape, "tensor '{}' requested with shapes {} and {}",
             file_key, shape_to_string(it->second), shape_to_string(shape));
  used_.insert(file_key);
  if (random_) {
    return random_tensor(file_key, shape, options_.dtype.value_or(at::kFloat), options_.device,
                         seed_);
  }
  return at::empty(
      shape, at::TensorOptions().dtype(options_.dtype.value_or(at::kFloat)).device(at::kMeta));
}

const at::Tensor& WeightStore::held(const std::string& file_key) const {
  auto it = held_.find(file_key);
  DUET_CHECK(it != held_.end(), "tensor '{}' not found in {}", file_key, files_.front());
  return it->second;
}

WeightScope WeightStore::scope(std::string prefix) { return WeightScope(*this, std::move(prefix)); }

void WeightStore::ensure_open() {
  if (opened_) return;
  for (const auto& path : files_) {
    Checkpoint ckpt = open_checkpoint(path);
    spdlog::debug("opened {} ({}, {} tensors)", path, checkpoint_format_name(ckpt.format),
                  ckpt.tensors.size());
    for (auto& [name, rec] : ckpt.tensors) {
      auto [it, inserted] = origin_.emplace(name, path);
      DUET_CHECK(inserted, "tensor '{}' appears in both '{}' and '{}'", name, it->second, path);
      tensors_.emplace(name, std::move(rec));
    }
  }
  opened_ = true;
}

std::optional<std::string> WeightStore::file_key(const std::string& original) const {
  if (!key_map_) return original;
  return key_map_(original);
}

bool WeightStore::contains(const std::string& name) {
  ensure_open();
  auto key = file_key(name);
  return key && (tensors_.count(*key) > 0 || held_.count(*key) > 0);
}

std::vector<std::string> WeightStore::names() {
  ensure_open();
  std::vector<std::string> out;
  out.reserve(tensors_.size());
  for (const auto& [name, rec] : tensors_) out.push_back(name);
  for (const auto& [name, t] : held_) out.push_back(name);
  return out;
}

const TensorRecord& WeightStore::record(const std::string& file_key) {
  ensure_open();
  auto it = tensors_.find(file_key);
  DUET_CHECK(it != tensors_.end(), "tensor '{}' not found in {}", file_key,
             fmt::join(files_, ", "));
  return it->second;
}

namespace {

// A CPU tensor viewing the mapped bytes; the deleter keeps the mapping alive.
at::Tensor view_record(const TensorRecord& rec) {
  auto keep_alive = new std::shared_ptr<const MappedFile>(rec.file);
  auto* base = const_cast<uint8_t*>(rec.data);
  const auto options = at::TensorOptions().dtype(to_scalar_type(rec.dtype)).device(at::kCPU);
  // The storage covers the whole record storage so strided views (.pth) stay in bounds.
  const auto elements = static_cast<int64_t>(rec.storage_bytes / dtype_size(rec.dtype));
  at::Tensor storage = at::from_blob(
      base, {elements}, [keep_alive](void*) { delete keep_alive; }, options);
  return storage.as_strided(rec.shape, rec.strides, rec.storage_offset);
}

bool aligned_for(const TensorRecord& rec) {
  return reinterpret_cast<uintptr_t>(rec.data) % dtype_size(rec.dtype) == 0;
}

}  // namespace

at::Tensor WeightStore::load(const std::string& file_key) {
  const TensorRecord& rec = record(file_key);
  at::Tensor t;
  if (aligned_for(rec)) {
    t = view_record(rec);
  } else {
    // Unaligned bytes (safetensors only promises byte offsets): copy into an aligned buffer.
    auto bytes = at::empty({static_cast<int64_t>(rec.storage_bytes)}, at::kByte);
    std::memcpy(bytes.data_ptr(), rec.data, rec.storage_bytes);
    t = bytes.view(to_scalar_type(rec.dtype)).as_strided(rec.shape, rec.strides, rec.storage_offset);
  }
  const bool convert = options_.dtype && dtype_is_float(rec.dtype) && t.scalar_type() != *options_.dtype;
  if (convert) t = t.to(*options_.dtype);
  if (options_.device != t.device()) t = t.to(options_.device);
  if (!t.is_contiguous()) t = t.contiguous();
  return t;
}

at::Tensor WeightScope::get(const std::string& name, const std::vector<int64_t>& expected_shape,
                            const std::string& hint) {
  const std::string full = prefix_ + name;
  auto key = store_->file_key(full);
  if (store_->is_meta() || store_->is_random()) {
    DUET_CHECK(key, "tensor '{}' has no name in this layout", full);
    return store_->meta_tensor(*key, expected_shape);
  }
  DUET_CHECK(key && store_->contains(full), "missing tensor '{}'{} in {}", full,
             key && *key != full ? fmt::format(" (file key '{}')", *key) : std::string(),
             fmt::join(store_->files(), ", "));
  if (store_->is_held()) {
    const at::Tensor t = store_->held(*key);
    DUET_CHECK(t.sizes().vec() == expected_shape, "tensor '{}' has shape {}, expected {}{}{}",
               *key, shape_to_string(t.sizes().vec()), shape_to_string(expected_shape),
               hint.empty() ? "" : " ", hint);
    store_->mark_used(*key);
    return t;
  }
  const TensorRecord& rec = store_->record(*key);
  DUET_CHECK(rec.shape == expected_shape, "tensor '{}' has shape {}, expected {}{}{}", *key,
             shape_to_string(rec.shape), shape_to_string(expected_shape),
             hint.empty() ? "" : " ", hint);
  store_->mark_used(*key);
  return store_->load(*key);
}

at::Tensor WeightScope::get_any_shape(const std::string& name) {
  const std::string full = prefix_ + name;
  DUET_CHECK(!store_->is_meta() && !store_->is_random(),
             "tensor '{}' has its shape from the file; a store without files has none", full);
  auto key = store_->file_key(full);
  DUET_CHECK(key && store_->contains(full), "missing tensor '{}' in {}", full,
             fmt::join(store_->files(), ", "));
  store_->mark_used(*key);
  return store_->is_held() ? store_->held(*key) : store_->load(*key);
}

std::optional<at::Tensor> WeightScope::get_optional(const std::string& name,
                                                    const std::vector<int64_t>& expected_shape,
                                                    const std::string& hint) {
  if (!contains(name)) return std::nullopt;
  return get(name, expected_shape, hint);
}

bool WeightScope::contains(const std::string& name) const { return store_->contains(prefix_ + name); }

void WeightScope::finish() const {
  std::vector<std::string> unexpected;
  // With a key map the file's names do not share our prefixes, so every file key counts.
  const std::string file_prefix = store_->has_key_map() ? std::string() : prefix_;
  for (const auto& name : store_->names()) {
    if (name.compare(0, file_prefix.size(), file_prefix) == 0 && store_->used().count(name) == 0) {
      unexpected.push_back(name);
    }
  }
  if (unexpected.empty()) return;
  const size_t shown = std::min<size_t>(unexpected.size(), 5);
  DUET_FAIL("{} unexpected tensor(s){} in {}: {}{}", unexpected.size(),
            prefix_.empty() ? "" : fmt::format(" under '{}'", prefix_),
            fmt::join(store_->files(), ", "),
            fmt::join(unexpected.begin(), unexpected.begin() + static_cast<long>(shown), ", "),
            unexpected.size() > shown ? ", ..." : "");
}

}  // namespace duet
