#pragma once
// PyTorch .pth / .pt / .bin / .ckpt files in the zip format torch.save writes since 1.6:
// "<archive>/data.pkl" (pickle protocol 2) describing the object, "<archive>/data/<key>"
// holding the raw storages. We never execute pickle code: a restricted unpickler accepts only
// an allow-list of globals (tensor/storage rebuilds, OrderedDict, storage dtypes) and turns
// everything else into an error naming the global.
#include <memory>
#include <string>

#include "io/mapped_file.h"
#include "io/tensor_record.h"

namespace duet {

struct PthFile {
  std::string path;
  // Nested dicts are flattened with '.', e.g. {"generator": {"conv_pre.weight": t}} gives
  // "generator.conv_pre.weight". Non-tensor leaves (ints, strings, ...) are skipped.
  TensorMap tensors;
};

PthFile read_pth(const std::string& path);
PthFile parse_pth(std::shared_ptr<const MappedFile> file);

}  // namespace duet
