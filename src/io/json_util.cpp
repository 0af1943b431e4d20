#include "io/json_util.h"

#include <fstream>
#include <sstream>

#include "core/error.h"

namespace duet {

nlohmann::json parse_json(std::string_view text, const std::string& source) {
  // Depth limit: nlohmann's parser recurses, so a file of a million '[' would exhaust the
  // stack. Configs never nest deeper than a few levels.
  constexpr int kMaxDepth = 64;
  int depth = 0;
  bool too_deep = false;
  auto guard = [&](int d, nlohmann::json::parse_event_t event, nlohmann::json&) {
    if (event == nlohmann::json::parse_event_t::object_start ||
        event == nlohmann::json::parse_event_t::array_start) {
      depth = d;
      if (d > kMaxDepth) too_deep = true;
    }
    return !too_deep;
  };
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text.begin(), text.end(), guard);
  } catch (const nlohmann::json::exception& e) {
    DUET_FAIL("'{}' is not valid JSON: {}", source, e.what());
  }
  DUET_CHECK(!too_deep, "'{}' nests JSON deeper than {} levels", source, kMaxDepth);
  (void)depth;
  return j;
}

std::string read_file_bytes(const std::string& path, std::string_view what) {
  std::ifstream in(path, std::ios::binary);
  DUET_CHECK(in.good(), "cannot read {}{}'{}'", what, what.empty() ? "" : " ", path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

nlohmann::json read_json_file(const std::string& path) {
  return parse_json(read_file_bytes(path), path);
}

namespace {

const nlohmann::json* field(const nlohmann::json& obj, std::string_view key, const std::string& source) {
  DUET_CHECK(obj.is_object(), "'{}': expected a JSON object", source);
  auto it = obj.find(std::string(key));
  return it == obj.end() ? nullptr : &*it;
}

}  // namespace

std::string json_string(const nlohmann::json& obj, std::string_view key, const std::string& source,
                        std::optional<std::string> fallback) {
  const auto* f = field(obj, key, source);
  if (f == nullptr) {
    DUET_CHECK(fallback.has_value(), "'{}': field '{}' is missing (a string)", source, key);
    return *fallback;
  }
  DUET_CHECK(f->is_string(), "'{}': field '{}' must be a string", source, key);
  return f->get<std::string>();
}

int64_t json_int(const nlohmann::json& obj, std::string_view key, const std::string& source,
                 std::optional<int64_t> fallback) {
  const auto* f = field(obj, key, source);
  if (f == nullptr) {
    DUET_CHECK(fallback.has_value(), "'{}': field '{}' is missing (an integer)", source, key);
    return *fallback;
  }
  DUET_CHECK(f->is_number_integer(), "'{}': field '{}' must be an integer", source, key);
  return f->get<int64_t>();
}

double json_number(const nlohmann::json& obj, std::string_view key, const std::string& source,
                   std::optional<double> fallback) {
  const auto* f = field(obj, key, source);
  if (f == nullptr) {
    DUET_CHECK(fallback.has_value(), "'{}': field '{}' is missing (a number)", source, key);
    return *fallback;
  }
  DUET_CHECK(f->is_number(), "'{}': field '{}' must be a number", source, key);
  return f->get<double>();
}

const nlohmann::json& json_object(const nlohmann::json& obj, std::string_view key,
                                  const std::string& source) {
  const auto* f = field(obj, key, source);
  DUET_CHECK(f != nullptr && f->is_object(), "'{}': field '{}' must be an object", source, key);
  return *f;
}

}  // namespace duet
