#pragma once
// What a generated file says about itself: generation parameters as container tags, and the
// IPTC "digital source type" that marks it as made by a trained model, so platforms can label
// it (https://cv.iptc.org/newscodes/digitalsourcetype/). Where the label lives per format:
//   MP4/MOV  tag ai_generated + XMP packet in a top-level `uuid` box (Adobe's XMP UUID
//            BE7ACFCB-97A9-42E8-9C71-999491E3AFAC) after `mdat`; libavformat's mov demuxer
//            returns it as the "xmp" tag when opened with export_xmp=1.
//   WebM/MKV tags ai_generated and xmp (Matroska has no XMP element).
//   WAV      INFO tags + XMP in a `_PMX` chunk (Adobe's RIFF convention).
//   PNG      iTXt chunks: one per tag, and XMP under "XML:com.adobe.xmp".
//   GIF      XMP application extension ("XMP DataXMP").
//   WebP     `XMP ` chunk with the VP8X XMP flag.
#include <cstdint>
#include <map>
#include <optional>
#include <string>

namespace duet::media {

inline constexpr const char* kDigitalSourceTypeUri =
    "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia";
inline constexpr const char* kAiGeneratedKey = "ai_generated";
inline constexpr const char* kAiGeneratedValue = "trainedAlgorithmicMedia";

// Ordered so that two runs with the same inputs write byte-identical headers.
using Metadata = std::map<std::string, std::string>;

// The parameters of one generation; unset fields are left out of the tags.
struct GenerationInfo {
  std::string prompt;
  std::string negative_prompt;
  std::string model;
  std::string sampler;
  std::optional<uint64_t> seed;
  std::optional<int> steps;
  std::optional<double> guidance;
};

// Keys: prompt, negative_prompt, model, sampler, seed, steps, guidance.
Metadata generation_metadata(const GenerationInfo& info);

// The tags written to every output: the caller's, plus title/description from the prompt,
// duet_version, software, and (when labelled) ai_generated=trainedAlgorithmicMedia.
Metadata output_tags(const Metadata& user, bool ai_generated_label);

// A complete XMP packet (UTF-8) carrying DigitalSourceType when labelled, the creator tool,
// and the prompt as dc:description.
std::string make_xmp_packet(const Metadata& tags, bool ai_generated_label);

// Escapes &, <, >, " for XML attribute and element text.
std::string xml_escape(const std::string& text);

}  // namespace duet::media
