#pragma once
// Batch files for `duet batch`: a JSON array of items, or JSON Lines (one item per line; blank
// lines and lines starting with '#' are skipped). Each item is a GenerateSpec object
// (generate_spec.h; schema in configs/batch.schema.json). Reading never stops at the first bad
// item: every problem is reported with the item's index (and line for JSONL), so a user fixes
// the whole file at once.
//
// Also Ovi's prompt CSVs (a header with a `text_prompt` column; RFC 4180 quoting), which
// `duet import-prompts` turns into batch items.
#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "pipeline/generate_spec.h"

namespace duet {

struct BatchItem {
  int64_t index = 0;  // 0-based position among the file's items
  int64_t line = 0;   // 1-based line where it starts (0 when unknown)
  GenerateSpec spec;
};

struct BatchProblem {
  int64_t index = -1;  // -1: the file as a whole
  int64_t line = 0;
  std::string message;  // names the field
  std::string where() const;  // "item 3 (line 4)"
};

struct BatchFile {
  std::vector<BatchItem> items;        // the valid ones
  std::vector<BatchProblem> problems;  // every invalid item, in order
  int64_t total = 0;                   // items in the file, valid or not
};

// `text` is the file's content; `source` names it in messages.
BatchFile parse_batch_text(std::string_view text, const std::string& source);
BatchFile read_batch_file(const std::string& path);

// "i/n" with 0 <= i < n: the items whose index % n == i (Slurm: --shard $SLURM_ARRAY_TASK_ID/N).
struct Shard {
  int64_t index = 0, count = 1;
  bool contains(int64_t item_index) const { return item_index % count == index; }
};
Shard parse_shard(std::string_view text);

// A CSV with a header row; RFC 4180 quotes ("" inside quotes), CRLF or LF. Rows are returned
// with their 1-based starting line; a malformed row (unterminated quote, wrong field count) is
// reported in `problems` and skipped.
struct CsvRow {
  int64_t line = 0;
  std::vector<std::string> fields;
};
struct CsvTable {
  std::vector<std::string> header;
  std::vector<CsvRow> rows;
  std::vector<BatchProblem> problems;
};
CsvTable parse_csv(std::string_view text, const std::string& source);

// Ovi's prompts_*.csv -> batch items ({"prompt", "output": "<stem>-NNN.mp4"} plus `duration`
// when > 0). Rows with an empty prompt are problems too.
BatchFile batch_from_ovi_csv(std::string_view text, const std::string& source,
                             const std::string& output_stem, double duration);

}  // namespace duet
