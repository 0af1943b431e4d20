#include "pipeline/batch_file.h"

#include <fmt/format.h>

#include <charconv>

#include "core/error.h"
#include "io/json_util.h"

namespace duet {
namespace {

bool blank_or_comment(std::string_view line) {
  const size_t first = line.find_first_not_of(" \t\r");
  return first == std::string_view::npos || line[first] == '#';
}

void add_item(BatchFile& out, const nlohmann::json& j, int64_t index, int64_t line,
              const std::string& source) {
  ++out.total;
  const std::string where = line > 0 ? fmt::format("{}: item {} (line {})", source, index, line)
                                     : fmt::format("{}: item {}", source, index);
  try {
    out.items.push_back({index, line, GenerateSpec::from_json(j, where)});
  } catch (const Error& e) {
    out.problems.push_back({index, line, e.what()});
  }
}

}  // namespace

std::string BatchProblem::where() const {
  if (index < 0) return "file";
  return line > 0 ? fmt::format("item {} (line {})", index, line) : fmt::format("item {}", index);
}

BatchFile parse_batch_text(std::string_view text, const std::string& source) {
  BatchFile out;
  const size_t first = text.find_first_not_of(" \t\r\n");
  if (first == std::string_view::npos) {
    out.problems.push_back({-1, 0, fmt::format("{}: the batch file holds no items", source)});
    return out;
  }
  if (text[first] == '[') {
    nlohmann::json array;
    try {
      array = parse_json(text, source);
    } catch (const Error& e) {
      out.problems.push_back({-1, 0, e.what()});
      return out;
    }
    for (size_t i = 0; i < array.size(); ++i) add_item(out, array[i], static_cast<int64_t>(i), 0, source);
  } else {
    int64_t line_no = 0, index = 0;
    size_t pos = 0;
    while (pos <= text.size()) {
      const size_t end = std::min(text.find('\n', pos), text.size());
      const std::string_view line = text.substr(pos, end - pos);
      ++line_no;
      pos = end + 1;
      if (blank_or_comment(line)) continue;
      const std::string where = fmt::format("{}: line {}", source, line_no);
      try {
        add_item(out, parse_json(line, where), index, line_no, source);
      } catch (const Error& e) {
        ++out.total;
        out.problems.push_back({index, line_no, e.what()});
      }
      ++index;
    }
  }
  if (out.total == 0 && out.problems.empty()) {
    out.problems.push_back({-1, 0, fmt::format("{}: the batch file holds no items", source)});
  }
  return out;
}

BatchFile read_batch_file(const std::string& path) {
  return parse_batch_text(read_file_bytes(path, "the batch file"), path);
}

Shard parse_shard(std::string_view text) {
  Shard s;
  const size_t slash = text.find('/');
  bool ok = slash != std::string_view::npos;
  if (ok) {
    const auto a = text.substr(0, slash), b = text.substr(slash + 1);
    ok = !a.empty() && !b.empty() &&
         std::from_chars(a.data(), a.data() + a.size(), s.index).ptr == a.data() + a.size() &&
         std::from_chars(b.data(), b.data() + b.size(), s.count).ptr == b.data() + b.size() &&
         s.count >= 1 && s.index >= 0 && s.index < s.count;
  }
  DUET_CHECK(ok, "--shard '{}' must be i/n with 0 <= i < n, e.g. 0/4", text);
  return s;
}

CsvTable parse_csv(std::string_view text, const std::string& source) {
  CsvTable table;
  if (text.starts_with("\xEF\xBB\xBF")) text.remove_prefix(3);  // UTF-8 byte-order mark
  size_t pos = 0;
  int64_t line = 1;
  bool header = true;
  while (pos < text.size()) {
    CsvRow row;
    row.line = line;
    std::string field;
    bool quoted = false, in_quotes = false, done = false, bad = false;
    while (!done) {
      if (pos >= text.size()) {
        if (in_quotes) bad = true;
        done = true;
        break;
      }
      const char c = text[pos++];
      if (in_quotes) {
        if (c == '"' && pos < text.size() && text[pos] == '"') {
          field += '"';
          ++pos;
        } else if (c == '"') {
          in_quotes = false;
        } else {
          if (c == '\n') ++line;
          field += c;
        }
      } else if (c == '"' && field.empty() && !quoted) {
        in_quotes = quoted = true;
      } else if (c == ',') {
        row.fields.push_back(std::move(field));
        field.clear();
        quoted = false;
      } else if (c == '\n' || c == '\r') {
        if (c == '\r' && pos < text.size() && text[pos] == '\n') ++pos;
        ++line;
        done = true;
      } else {
        field += c;
      }
    }
    row.fields.push_back(std::move(field));
    const bool empty_line = row.fields.size() == 1 && row.fields[0].empty() && !quoted;
    if (bad) {
      table.problems.push_back({-1, row.line, fmt::format("{}: line {}: unterminated quoted field",
                                                          source, row.line)});
      break;  // the rest of the file is inside the open quote
    }
    if (empty_line) continue;
    if (header) {
      table.header = std::move(row.fields);
      header = false;
    } else if (row.fields.size() != table.header.size()) {
      table.problems.push_back({-1, row.line, fmt::format("{}: line {}: {} fields, the header has {}",
                                                          source, row.line, row.fields.size(),
                                                          table.header.size())});
    } else {
      table.rows.push_back(std::move(row));
    }
  }
  return table;
}

BatchFile batch_from_ovi_csv(std::string_view text, const std::string& source,
                             const std::string& output_stem, double duration) {
  CsvTable table = parse_csv(text, source);
  BatchFile out;
  out.problems = table.problems;
  size_t column = table.header.size();
  for (size_t i = 0; i < table.header.size(); ++i) {
    if (table.header[i] == "text_prompt") column = i;
  }
  if (column == table.header.size()) {
    out.problems.insert(out.problems.begin(),
                        {-1, 1, fmt::format("{}: no 'text_prompt' column in the header (Ovi's "
                                            "prompt CSVs have one)", source)});
    return out;
  }
  int64_t index = 0;
  for (const auto& row : table.rows) {
    ++out.total;
    const std::string& prompt = row.fields[column];
    if (prompt.find_first_not_of(" \t\r\n") == std::string::npos) {
      out.problems.push_back({index++, row.line, fmt::format("{}: line {}: empty text_prompt",
                                                             source, row.line)});
      continue;
    }
    GenerateSpec spec;
    spec.prompt = prompt;
    spec.output = fmt::format("{}-{:03}.mp4", output_stem, index);
    if (duration > 0) spec.duration = duration;
    out.items.push_back({index++, row.line, std::move(spec)});
  }
  return out;
}

}  // namespace duet
