#include "pipeline/ovi_spec.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "io/json_util.h"

namespace duet {
namespace {

// Python's int(round(x)): halves go to the even neighbour (std::nearbyint in the default
// rounding mode does the same).
int64_t py_round(double x) { return static_cast<int64_t>(std::nearbyint(x)); }

constexpr std::string_view kAudcapOpen = "<AUDCAP>";
constexpr std::string_view kAudcapClose = "<ENDAUDCAP>";
constexpr std::string_view kAudioPrefix = "Audio:";

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

size_t count_of(const std::string& text, std::string_view what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + what.size())) ++n;
  return n;
}

}  // namespace

OviSpec OviSpec::from_json(const nlohmann::json& j, const std::string& source) {
  DUET_CHECK(j.is_object(), "{}: 'spec' must be an object", source);
  OviSpec s;
  s.name = json_string(j, "name", source, "custom");
  if (j.contains("area")) {
    s.area = json_int(j, "area", source);
  } else {
    s.area = json_int(j, "width", source) * json_int(j, "height", source);
  }
  s.video_latent_frames = json_int(j, "video_latent_frames", source);
  s.audio_latents = json_int(j, "audio_latents", source);
  s.fps = json_number(j, "fps", source, 24.0);
  const std::string caption = json_string(j, "caption", source, "audcap");
  DUET_CHECK(caption == "audcap" || caption == "audio_prefix",
             "{}: field 'caption' must be \"audcap\" or \"audio_prefix\", found \"{}\"", source,
             caption);
  s.caption = caption == "audcap" ? OviCaptionFormat::kAudcapTags : OviCaptionFormat::kAudioPrefix;
  DUET_CHECK(s.area >= 32 * 32 && s.area <= 8192 * 8192, "{}: field 'area' must be in [1024, 8192^2]",
             source);
  DUET_CHECK(s.video_latent_frames >= 1 && s.video_latent_frames <= 1024,
             "{}: field 'video_latent_frames' must be in 1..1024", source);
  DUET_CHECK(s.audio_latents >= 1 && s.audio_latents <= 16384,
             "{}: field 'audio_latents' must be in 1..16384", source);
  DUET_CHECK(std::isfinite(s.fps) && s.fps > 0 && s.fps <= 240, "{}: field 'fps' must be in (0, 240]",
             source);
  return s;
}

const std::vector<std::string>& ovi_spec_names() {
  static const std::vector<std::string> names{"720x720_5s", "960x960_5s", "960x960_10s"};
  return names;
}

OviSpec ovi_spec_named(std::string_view name) {
  OviSpec s;
  s.name = std::string(name);
  if (name == "720x720_5s") {
    s.area = 720 * 720;
    s.caption = OviCaptionFormat::kAudcapTags;
  } else if (name == "960x960_5s" || name == "960x960_10s") {
    s.area = 960 * 960;
    s.caption = OviCaptionFormat::kAudioPrefix;
    if (name == "960x960_10s") {
      s.video_latent_frames = 61;
      s.audio_latents = 314;
    }
  } else {
    DUET_FAIL("unknown Ovi checkpoint spec '{}'; known: 720x720_5s, 960x960_5s, 960x960_10s",
              name);
  }
  return s;
}

std::string format_ovi_prompt(const std::string& prompt, const OviSpec& spec) {
  if (spec.caption == OviCaptionFormat::kAudcapTags) {
    // re.sub(r"Audio:\s*(.*)", r"<AUDCAP>\1<ENDAUDCAP>", text, flags=re.S): the greedy group
    // runs to the end, so only the first "Audio:" is rewritten.
    const size_t at = prompt.find(kAudioPrefix);
    if (at == std::string::npos) return prompt;
    size_t start = at + kAudioPrefix.size();
    while (start < prompt.size() && is_space(prompt[start])) ++start;
    return prompt.substr(0, at) + std::string(kAudcapOpen) + prompt.substr(start) +
           std::string(kAudcapClose);
  }
  // re.sub(r"<AUDCAP>(.*?)<ENDAUDCAP>", r"Audio: \1", text, flags=re.S): every closed pair.
  std::string out;
  size_t pos = 0;
  while (true) {
    const size_t open = prompt.find(kAudcapOpen, pos);
    if (open == std::string::npos) break;
    const size_t body = open + kAudcapOpen.size();
    const size_t close = prompt.find(kAudcapClose, body);
    if (close == std::string::npos) break;
    out += prompt.substr(pos, open - pos) + "Audio: " + prompt.substr(body, close - body);
    pos = close + kAudcapClose.size();
  }
  return out + prompt.substr(pos);
}

bool has_audio_caption(const std::string& prompt) {
  const size_t open = prompt.find(kAudcapOpen);
  return prompt.find(kAudioPrefix) != std::string::npos ||
         (open != std::string::npos && prompt.find(kAudcapClose, open) != std::string::npos);
}

bool speech_tags_balanced(const std::string& prompt) {
  int depth = 0;
  for (size_t i = 0; i < prompt.size(); ++i) {
    if (prompt.compare(i, 3, "<S>") == 0) {
      if (depth++ != 0) return false;
    } else if (prompt.compare(i, 3, "<E>") == 0) {
      if (depth-- != 1) return false;
    }
  }
  return depth == 0 && count_of(prompt, "<S>") == count_of(prompt, "<E>");
}

std::array<int64_t, 2> snap_ovi_size(int64_t height, int64_t width, int64_t area) {
  DUET_CHECK(height > 0 && width > 0, "size {}x{} must be positive", width, height);
  double h = static_cast<double>(height), w = static_cast<double>(width);
  if (area > 0) {
    const double scale = std::sqrt(static_cast<double>(area) / (h * w));
    h = static_cast<double>(py_round(h * scale));
    w = static_cast<double>(py_round(w * scale));
  }
  auto n32 = [](double x) { return std::max<int64_t>(32, py_round(x / 32.0) * 32); };
  return {n32(h), n32(w)};
}

std::array<int64_t, 2> ovi_image_size(int64_t height, int64_t width, int64_t area) {
  DUET_CHECK(height > 0 && width > 0, "image size {}x{} must be positive", width, height);
  constexpr int64_t m = 32;
  if (area <= 0) return {std::max(m, height / m * m), std::max(m, width / m * m)};
  const double h = static_cast<double>(height), w = static_cast<double>(width);
  const double ratio_wh = w / h;
  const int64_t target_units = std::max<int64_t>(1, area / (m * m));
  const int64_t p0 = std::max<int64_t>(
      1, py_round(std::sqrt(static_cast<double>(target_units) / std::max(ratio_wh, 1e-8))));
  std::vector<std::array<int64_t, 2>> candidates;
  for (int64_t dp = -3; dp <= 3; ++dp) {
    const int64_t p = std::max<int64_t>(1, p0 + dp);
    const int64_t q = std::max<int64_t>(1, py_round(static_cast<double>(p) * ratio_wh));
    candidates.push_back({p * m, q * m});
  }
  const double scale = std::sqrt(static_cast<double>(area) / (h * w));
  candidates.push_back({std::max(m, py_round(h * scale / m) * m), std::max(m, py_round(w * scale / m) * m)});
  // min() over (|area - target|, |aspect - ratio|), the first of equals winning.
  auto score = [&](const std::array<int64_t, 2>& c) {
    return std::make_pair(std::abs(c[0] * c[1] - area),
                          std::abs(static_cast<double>(c[1]) / std::max<double>(c[0], 1e-8) - ratio_wh));
  };
  std::array<int64_t, 2> best = candidates.front();
  for (const auto& c : candidates) {
    if (score(c) < score(best)) best = c;
  }
  return best;
}

}  // namespace duet
