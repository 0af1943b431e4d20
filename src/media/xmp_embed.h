#pragma once
// Places an XMP packet (and, for PNG, text tags) into finished files whose muxers have no
// place for it. Each function edits the temporary file before it is renamed into place.
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "media/metadata.h"

namespace duet::media {

// Adobe's XMP UUID for ISO base media files.
inline constexpr uint8_t kXmpUuid[16] = {0xBE, 0x7A, 0xCF, 0xCB, 0x97, 0xA9, 0x42, 0xE8,
                                         0x9C, 0x71, 0x99, 0x94, 0x91, 0xE3, 0xAF, 0xAC};

// Appends a top-level `uuid` box. Appending keeps every chunk offset in `moov` valid, so the
// file stays fast-start (moov before mdat).
void append_mp4_xmp(const std::filesystem::path& file, const std::string& xmp);

// Appends a `_PMX` chunk and updates the RIFF size.
void append_wav_xmp(const std::filesystem::path& file, const std::string& xmp);

// Inserts the XMP application extension before the GIF trailer.
void insert_gif_xmp(const std::filesystem::path& file, const std::string& xmp);

// Appends an `XMP ` chunk, adding or updating VP8X (canvas size needed for simple files).
void add_webp_xmp(const std::filesystem::path& file, const std::string& xmp, int width, int height);

// Returns `png` with iTXt chunks for each tag and the XMP packet inserted before IEND.
std::vector<uint8_t> add_png_text(const std::vector<uint8_t>& png, const Metadata& tags,
                                  const std::string& xmp);

}  // namespace duet::media
