#include "media/metadata.h"

#include <fmt/format.h>

#include "duet/version.h"

namespace duet::media {

Metadata generation_metadata(const GenerationInfo& info) {
  Metadata tags;
  if (!info.prompt.empty()) tags["prompt"] = info.prompt;
  if (!info.negative_prompt.empty()) tags["negative_prompt"] = info.negative_prompt;
  if (!info.model.empty()) tags["model"] = info.model;
  if (!info.sampler.empty()) tags["sampler"] = info.sampler;
  if (info.seed) tags["seed"] = fmt::format("{}", *info.seed);
  if (info.steps) tags["steps"] = fmt::format("{}", *info.steps);
  if (info.guidance) tags["guidance"] = fmt::format("{:g}", *info.guidance);
  return tags;
}

Metadata output_tags(const Metadata& user, bool ai_generated_label) {
  Metadata tags = user;
  if (auto it = user.find("prompt"); it != user.end()) {
    tags.try_emplace("title", it->second);
    tags.try_emplace("description", it->second);
  }
  tags["duet_version"] = DUET_VERSION_STRING;
  tags.try_emplace("software", fmt::format("duet {}", DUET_VERSION_STRING));
  if (ai_generated_label) {
    tags[kAiGeneratedKey] = kAiGeneratedValue;
    tags.try_emplace("comment", fmt::format("AI-generated with duet {}", DUET_VERSION_STRING));
  }
  return tags;
}

std::string xml_escape(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      default:
        // XML 1.0 forbids most control characters even when escaped.
        if (static_cast<unsigned char>(c) < 0x20 && c != '\t' && c != '\n' && c != '\r') {
          out += ' ';
        } else {
          out += c;
        }
    }
  }
  return out;
}

std::string make_xmp_packet(const Metadata& tags, bool ai_generated_label) {
  std::string attributes = fmt::format("\n    xmp:CreatorTool=\"duet {}\"", DUET_VERSION_STRING);
  if (ai_generated_label) {
    attributes += fmt::format("\n    Iptc4xmpExt:DigitalSourceType=\"{}\"", kDigitalSourceTypeUri);
  }
  std::string description;
  if (auto it = tags.find("prompt"); it != tags.end()) {
    description = fmt::format(
        "\n   <dc:description><rdf:Alt><rdf:li xml:lang=\"x-default\">{}</rdf:li></rdf:Alt>"
        "</dc:description>",
        xml_escape(it->second));
  }
  // The BOM in begin="" is part of the XMP packet wrapper (XMP spec part 1, 7.3.2).
  return fmt::format(
      "<?xpacket begin=\"\xEF\xBB\xBF\" id=\"W5M0MpCehiHzreSzNTczkc9d\"?>\n"
      "<x:xmpmeta xmlns:x=\"adobe:ns:meta/\">\n"
      " <rdf:RDF xmlns:rdf=\"http://www.w3.org/1999/02/22-rdf-syntax-ns#\">\n"
      "  <rdf:Description rdf:about=\"\"\n"
      "    xmlns:Iptc4xmpExt=\"http://iptc.org/std/Iptc4xmpExt/2008-02-29/\"\n"
      "    xmlns:xmp=\"http://ns.adobe.com/xap/1.0/\"\n"
      "    xmlns:dc=\"http://purl.org/dc/elements/1.1/\"{}>{}\n"
      "  </rdf:Description>\n"
      " </rdf:RDF>\n"
      "</x:xmpmeta>\n"
      "<?xpacket end=\"r\"?>",
      attributes, description);
}

}  // namespace duet::media
