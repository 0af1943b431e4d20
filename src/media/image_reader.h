#pragma once
// Still images for image-conditioned generation: PNG, JPEG and WebP (recognised by their
// first bytes, not by the extension) to packed RGB24. Other formats FFmpeg can read (BMP,
// TIFF, ...) are tried through libavformat. Alpha is dropped, as PIL's convert("RGB") does.
#include <cstdint>
#include <string>
#include <vector>

#include "media/media_types.h"

namespace duet::media {

// Throws duet::Error with one line naming the file and the problem.
RgbImage read_image(const std::string& path);

// Same, for bytes already in memory; `name` is only used in messages.
RgbImage decode_image(const uint8_t* data, size_t size, const std::string& name);

// Writes one RGB24 image as PNG (atomically), e.g. a conditioning frame for debugging.
void write_png(const std::string& path, const RgbImage& image);

}  // namespace duet::media
