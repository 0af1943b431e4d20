#include "io/checkpoint.h"

#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>

#include "core/error.h"
#include "io/pth.h"
#include "io/safetensors.h"

namespace duet {
namespace fs = std::filesystem;

std::string_view checkpoint_format_name(CheckpointFormat format) {
  switch (format) {
    case CheckpointFormat::kSafetensors: return "safetensors";
    case CheckpointFormat::kSafetensorsIndex: return "sharded safetensors";
    case CheckpointFormat::kPth: return "PyTorch zip";
  }
  return "?";
}

namespace {

// Up to 16 leading bytes; fewer for short files.
std::string read_head(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  DUET_CHECK(in.good(), "cannot open '{}'", path);
  std::string head(16, '\0');
  in.read(head.data(), static_cast<std::streamsize>(head.size()));
  head.resize(static_cast<size_t>(in.gcount()));
  return head;
}

uint64_t file_size_or_zero(const fs::path& path) {
  std::error_code ec;
  const auto size = fs::file_size(path, ec);
  return ec ? 0 : size;
}

}  // namespace

CheckpointFormat detect_checkpoint_format(const std::string& path) {
  std::error_code ec;
  DUET_CHECK(fs::exists(path, ec), "checkpoint '{}' does not exist", path);
  DUET_CHECK(fs::is_regular_file(path, ec), "checkpoint '{}' is not a file", path);
  if (path.ends_with(".index.json")) return CheckpointFormat::kSafetensorsIndex;
  const std::string head = read_head(path);
  if (head.size() >= 4 && std::memcmp(head.data(), "PK\x03\x04", 4) == 0) return CheckpointFormat::kPth;
  // safetensors: u64 header length, then '{'. Checked before the pickle byte: a header length
  // of 128 + 256 k starts with 0x80 too, while a legacy pickle has magic-number bytes at 8.
  if (head.size() >= 9 && head[8] == '{') return CheckpointFormat::kSafetensors;
  // Pickle protocol 2+ starts with 0x80: the legacy torch.save format. The .pth reader
  // recognises it and explains how to convert it.
  if (!head.empty() && static_cast<unsigned char>(head[0]) == 0x80) return CheckpointFormat::kPth;
  if (path.ends_with(".safetensors")) return CheckpointFormat::kSafetensors;  // reader explains
  DUET_FAIL("'{}' is not a checkpoint duet can read: expected safetensors, a "
            "*.safetensors.index.json, or a PyTorch zip file (.pth/.pt/.bin/.ckpt)", path);
}

Checkpoint open_checkpoint(const std::string& path) {
  Checkpoint ckpt;
  ckpt.path = path;
  ckpt.format = detect_checkpoint_format(path);
  switch (ckpt.format) {
    case CheckpointFormat::kSafetensors: {
      auto file = read_safetensors(path);
      ckpt.tensors = std::move(file.tensors);
      ckpt.metadata = std::move(file.metadata);
      ckpt.bytes_on_disk = file_size_or_zero(path);
      break;
    }
    case CheckpointFormat::kSafetensorsIndex: {
      const auto index = read_safetensors_index(path);
      auto merged = read_sharded_safetensors(path);
      ckpt.tensors = std::move(merged.tensors);
      ckpt.metadata = index.metadata;
      std::set<std::string> shards;
      for (const auto& [name, shard] : index.weight_map) shards.insert(shard);
      for (const auto& shard : shards) ckpt.bytes_on_disk += file_size_or_zero(shard);
      break;
    }
    case CheckpointFormat::kPth: {
      auto file = read_pth(path);
      ckpt.tensors = std::move(file.tensors);
      ckpt.bytes_on_disk = file_size_or_zero(path);
      break;
    }
  }
  return ckpt;
}

}  // namespace duet
