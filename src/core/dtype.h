#pragma once
// Element types of tensors on disk and in compute. This header is torch-free so the file
// parsers (and their fuzz targets) build without libtorch; core/torch_types.h maps to torch.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace duet {

enum class DType : uint8_t {
  F64, F32, F16, BF16, F8_E4M3, F8_E5M2, I64, I32, I16, I8, U8, BOOL,
};

inline constexpr DType kAllDTypes[] = {
    DType::F64, DType::F32, DType::F16,  DType::BF16, DType::F8_E4M3, DType::F8_E5M2,
    DType::I64, DType::I32, DType::I16, DType::I8,   DType::U8,      DType::BOOL,
};

size_t dtype_size(DType dtype);
bool dtype_is_float(DType dtype);

// Safetensors spelling ("F32", "BF16", "F8_E4M3", ...), also used in logs and `duet info`.
std::string_view dtype_name(DType dtype);
std::optional<DType> dtype_from_safetensors(std::string_view name);

// User spelling for compute precision: "fp32", "bf16", "fp16" (also "float32", "bfloat16", ...).
DType parse_compute_dtype(std::string_view text);

}  // namespace duet
