#pragma once
// Weight store: the strict, lazy bridge from checkpoint files to torch tensors.
//
//   WeightStore store({"Ovi/model.safetensors"}, {.dtype = at::kBFloat16, .device = dev});
//   WeightScope video = store.scope("video_model.");
//   auto w = video.get("patch_embedding.weight", {dim, 48, 1, 2, 2});   // checks the shape
//   auto b = video.get_optional("patch_embedding.bias", {dim});          // may be absent
//   video.finish();   // error when the file holds tensors under the scope nobody asked for
//
// Files are opened (headers parsed, data mapped) on the first lookup, and tensor bytes are
// only touched when a tensor is requested, so a component's weights are read when it is
// built. Module names equal checkpoint keys; other layouts plug in a KeyMap that translates
// our (original-layout) names into the file's names.
//
// WeightStore::meta() reads no file: it lets a model's own loader describe the model's tensors
// without allocating them (parameter counts of 14B models in tests):
//
//   WeightStore store = WeightStore::meta();
//   WanDiT dit = WanDiT::load(config, store);          // every tensor is an at::kMeta tensor
//   for (const auto& [key, shape] : store.meta_shapes()) ...
//
// WeightStore::random() reads no file either: it answers every key with seeded random numbers
// of the requested shape, so a real architecture at real size runs without weights (`duet
// bench --arch`). Values: normal * 0.02 (a typical init scale, keeps activations finite through
// many blocks), norm weights 1 and norm biases 0; each tensor's generator is seeded from the
// store's seed and a hash of its key, so the same key gets the same values in any load order.
//
//   WeightStore store = WeightStore::random(2026, {.dtype = at::kBFloat16, .device = dev});
//   WanDiT dit = WanDiT::load(config, store);          // real tensors, on `dev`
#include <ATen/ATen.h>

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "io/checkpoint.h"

namespace duet {

struct WeightOptions {
  // Floating tensors are converted to this type; std::nullopt keeps the stored type.
  // Integer and bool tensors always keep theirs.
  std::optional<at::ScalarType> dtype;
  at::Device device = at::Device(at::kCPU);
};

// Translates an original-layout name (what modules ask for) into the file's key.
// Returning std::nullopt means "no such tensor in this layout".
using KeyMap = std::function<std::optional<std::string>(const std::string& original)>;

class WeightScope;

class WeightStore {
 public:
  WeightStore(std::vector<std::string> files, WeightOptions options = {}, KeyMap key_map = {});
  // A store without files: WeightScope::get answers every key with an uninitialised tensor on
  // at::kMeta of the requested shape (options.dtype, fp32 by default) and records the key and
  // shape. It holds no tensors, so contains() is false, get_optional() returns std::nullopt
  // and get_any_shape() throws; a loader's optional tensors are therefore not counted.
  static WeightStore meta(WeightOptions options = {}, KeyMap key_map = {});
  // Like meta(), but every tensor is real: seeded random values (see the comment at the top)
  // in options.dtype (fp32 by default) on options.device. contains() is false here too.
  static WeightStore random(uint64_t seed, WeightOptions options = {}, KeyMap key_map = {});
  // A store over tensors already in memory (training: the optimiser's parameters). get()
  // returns the held tensor itself, without conversion or copy, after the usual shape check, so
  // a model built from it computes with those tensors and autograd reaches them; loaders that
  // derive weights at load (weight norm, exp of log-scales) are simply rebuilt per step.
  static WeightStore from_tensors(std::map<std::string, at::Tensor> tensors,
                                  std::string name = "<tensors in memory>");

  WeightScope scope(std::string prefix);

  bool contains(const std::string& name);
  // All tensor names present in the files (opens them).
  std::vector<std::string> names();
  const TensorRecord& record(const std::string& name);

  // Converts a record into a tensor per the options: zero copy on the CPU when the dtype is
  // kept and the bytes are aligned for it; otherwise a converted copy.
  at::Tensor load(const std::string& name);

  const std::vector<std::string>& files() const { return files_; }
  const WeightOptions& options() const { return options_; }
  // File keys handed out so far (for strictness checks).
  const std::set<std::string>& used() const { return used_; }
  std::optional<std::string> file_key(const std::string& original) const;
  void mark_used(const std::string& file_key) { used_.insert(file_key); }
  bool has_key_map() const { return static_cast<bool>(key_map_); }

  bool is_meta() const { return meta_ && !random_; }
  bool is_held() const { return !held_.empty(); }
  // from_tensors() stores: the tensor under `file_key` (duet::Error when absent).
  const at::Tensor& held(const std::string& file_key) const;
  bool is_random() const { return random_; }
  // Meta and random stores: file key -> shape of every tensor handed out.
  const std::map<std::string, std::vector<int64_t>>& meta_shapes() const { return meta_shapes_; }
  // Meta stores: a meta tensor of `shape` for `file_key` (random stores: a random one); asking
  // again for the same key with another shape throws.
  at::Tensor meta_tensor(const std::string& file_key, const std::vector<int64_t>& shape);

 private:
  WeightStore() = default;
  void ensure_open();
  std::vector<std::string> files_;
  WeightOptions options_;
  KeyMap key_map_;
  bool opened_ = false;
  TensorMap tensors_;
  std::map<std::string, std::string> origin_;  // tensor -> file it came from
  std::set<std::string> used_;
  bool meta_ = false;    // no files: tensors are made from the requested shapes
  bool random_ = false;  // ... with random values (implies meta_)
  uint64_t seed_ = 0;
  std::map<std::string, std::vector<int64_t>> meta_shapes_;
  std::map<std::string, at::Tensor> held_;  // from_tensors(): returned as they are
};

class WeightScope {
 public:
  WeightScope(WeightStore& store, std::string prefix) : store_(&store), prefix_(std::move(prefix)) {}

  WeightScope sub(const std::string& name) const { return WeightScope(*store_, prefix_ + name); }
  const std::string& prefix() const { return prefix_; }

  // Missing tensor or wrong shape: duet::Error naming the key, file and both shapes.
  // `hint` is appended to shape errors, e.g. "(config dim=3072)".
  at::Tensor get(const std::string& name, const std::vector<int64_t>& expected_shape,
                 const std::string& hint = "");
  std::optional<at::Tensor> get_optional(const std::string& name,
                                         const std::vector<int64_t>& expected_shape,
                                         const std::string& hint = "");
  // For tensors whose shape the caller derives from the file (config inference).
  at::Tensor get_any_shape(const std::string& name);
  bool contains(const std::string& name) const;

  // Throws when the files hold tensors under this prefix that were never requested.
  void finish() const;

 private:
  WeightStore* store_;
  std::string prefix_;
};

}  // namespace duet
