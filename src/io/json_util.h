#pragma once
// Strict JSON access for files users hand us (config.json, model_index.json, duet.json, batch
// files). nlohmann's own accessors throw type errors with messages that name neither the file
// nor the field; these throw duet::Error saying which field of which file is wrong and what
// was expected.
#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace duet {

// `source` names the text in messages (usually its path).
nlohmann::json parse_json(std::string_view text, const std::string& source);
nlohmann::json read_json_file(const std::string& path);
// A whole file as bytes; "cannot read <what> '<path>'" when it cannot be opened.
std::string read_file_bytes(const std::string& path, std::string_view what = "");

// Field accessors: absent -> `fallback` (or an error when no fallback is given); present but
// of the wrong type -> error "<source>: field '<key>' must be a string".
std::string json_string(const nlohmann::json& obj, std::string_view key, const std::string& source,
                        std::optional<std::string> fallback = std::nullopt);
int64_t json_int(const nlohmann::json& obj, std::string_view key, const std::string& source,
                 std::optional<int64_t> fallback = std::nullopt);
double json_number(const nlohmann::json& obj, std::string_view key, const std::string& source,
                   std::optional<double> fallback = std::nullopt);
const nlohmann::json& json_object(const nlohmann::json& obj, std::string_view key,
                                  const std::string& source);

}  // namespace duet
