// Batch files (JSON array / JSONL), shards, the CSV reader and Ovi's prompt CSVs, the batch
// schema kept in step with the fields the reader accepts, and prompt styles.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "io/json_util.h"
#include "pipeline/batch_file.h"
#include "pipeline/generate_spec.h"
#include "support/test_support.h"

namespace duet {
namespace {

TEST(BatchFile, JsonArrayAndJsonLinesGiveTheSameItems) {
  const std::string array = R"([{"prompt": "a cat", "steps": 30, "seed": 7},
                               {"prompt": "a dog", "size": "832x480", "output": "dog.mp4"}])";
  const std::string lines =
      "# two clips\n{\"prompt\": \"a cat\", \"steps\": 30, \"seed\": 7}\n\n"
      "{\"prompt\": \"a dog\", \"size\": \"832*480\", \"output\": \"dog.mp4\"}\n";
  for (const auto& text : {array, lines}) {
    const BatchFile b = parse_batch_text(text, "jobs");
    ASSERT_TRUE(b.problems.empty()) << b.problems[0].message;
    ASSERT_EQ(b.items.size(), 2u);
    EXPECT_EQ(b.items[0].spec.prompt, "a cat");
    EXPECT_EQ(b.items[0].spec.steps.value_or(0), 30);
    EXPECT_EQ(b.items[0].spec.seed.value_or(0), 7u);
    EXPECT_EQ(b.items[1].spec.output.value_or(""), "dog.mp4");
    EXPECT_EQ(b.items[1].index, 1);
  }
  EXPECT_EQ(parse_batch_text(lines, "jobs").items[1].line, 4);
}

TEST(BatchFile, EveryBadItemIsReportedWithIndexAndField) {
  const std::string lines =
      "{\"prompt\": \"ok\"}\n"
      "{\"prompt\": \"x\", \"stpes\": 3}\n"
      "{\"prompt\": \"x\", \"steps\": \"many\"}\n"
      "not json\n"
      "{\"negative_prompt\": \"no prompt\"}\n"
      "{\"prompt\": \"x\", \"frames\": 81, \"duration\": 5}\n"
      "{\"prompt\": \"x\", \"size\": \"big\"}\n"
      "[1, 2]\n"
      "{\"prompt\": \"x\", \"seed\": -3}\n";
  const BatchFile b = parse_batch_text(lines, "jobs.jsonl");
  EXPECT_EQ(b.total, 9);
  ASSERT_EQ(b.items.size(), 1u);
  ASSERT_EQ(b.problems.size(), 8u);
  const std::vector<std::string> needles = {"did you mean 'steps'", "'steps' must be an integer",
                                            "line 4", "'prompt' is missing", "not both",
                                            "field 'size'", "must be an object", "'seed'"};
  for (size_t i = 0; i < needles.size(); ++i) {
    SCOPED_TRACE(i);
    EXPECT_EQ(b.problems[i].index, static_cast<int64_t>(i + 1));
    EXPECT_EQ(b.problems[i].line, static_cast<int64_t>(i + 2));
    EXPECT_NE(b.problems[i].message.find(needles[i]), std::string::npos) << b.problems[i].message;
    EXPECT_NE(b.problems[i].message.find("jobs.jsonl"), std::string::npos);
  }
  EXPECT_FALSE(parse_batch_text("", "empty").problems.empty());
  EXPECT_FALSE(parse_batch_text("[", "cut").problems.empty());
  EXPECT_FALSE(parse_batch_text("[]", "none").problems.empty());
}

TEST(BatchFile, SpecsRoundTripAndMergeOverDefaults) {
  GenerateSpec d;
  d.steps = 20;
  d.size = "832x480";
  d.seed = 1;
  GenerateSpec item = GenerateSpec::from_json({{"prompt", "p"}, {"width", 640}, {"height", 368},
                                               {"seed", 9}, {"duration", 2.5}},
                                              "x");
  const GenerateSpec m = item.merged_over(d);
  EXPECT_EQ(m.steps.value_or(0), 20);
  EXPECT_FALSE(m.size.has_value());  // the item's width/height win over the default size
  EXPECT_EQ(m.width.value_or(0), 640);
  EXPECT_EQ(m.seed.value_or(0), 9u);
  const GenerateSpec back = GenerateSpec::from_json(m.to_json(), "round trip");
  EXPECT_EQ(back.to_json(), m.to_json());
}

TEST(BatchFile, Shards) {
  const Shard s = parse_shard("1/3");
  EXPECT_FALSE(s.contains(0));
  EXPECT_TRUE(s.contains(1));
  EXPECT_TRUE(s.contains(4));
  for (const char* bad : {"3/3", "-1/2", "1", "a/b", "0/0", "1/2/3"}) {
    EXPECT_THROW(parse_shard(bad), Error) << bad;
  }
}

TEST(BatchFile, CsvQuotingAndMalformedRows) {
  const std::string csv =
      "\xEF\xBB\xBFtext_prompt,seconds\r\n"
      "\"He says, \"\"hi\"\"\nand leaves\",5\r\n"
      "plain,10\n"
      "too,many,fields\n"
      "\n"
      "\"unterminated,5\n";
  const CsvTable t = parse_csv(csv, "p.csv");
  ASSERT_EQ(t.header, (std::vector<std::string>{"text_prompt", "seconds"}));
  ASSERT_EQ(t.rows.size(), 2u);
  EXPECT_EQ(t.rows[0].fields[0], "He says, \"hi\"\nand leaves");
  EXPECT_EQ(t.rows[0].line, 2);
  EXPECT_EQ(t.rows[1].line, 4);
  ASSERT_EQ(t.problems.size(), 2u);
  EXPECT_NE(t.problems[0].message.find("line 5: 3 fields"), std::string::npos) << t.problems[0].message;
  EXPECT_NE(t.problems[1].message.find("line 7: unterminated"), std::string::npos) << t.problems[1].message;
}

TEST(BatchFile, OvisPromptCsvsConvert) {
  for (const auto& [name, rows, duration] :
       {std::tuple{"prompts_5s_t2v.csv", 12, 5.0}, std::tuple{"prompts_10s_t2v.csv", 14, 10.0}}) {
    SCOPED_TRACE(name);
    const auto path = test::data_dir() / "prompts" / name;  // copies of Ovi's example CSVs
    const BatchFile b = batch_from_ovi_csv(test::read_file(path), path.string(), "ovi", duration);
    EXPECT_TRUE(b.problems.empty()) << b.problems[0].message;
    ASSERT_EQ(static_cast<int>(b.items.size()), rows);
    for (const auto& item : b.items) {
      EXPECT_NE(item.spec.prompt.find("<S>"), std::string::npos);
      EXPECT_NE(item.spec.prompt.front(), '"') << item.spec.prompt;  // quotes removed
      EXPECT_NE(item.spec.prompt.back(), '"') << item.spec.prompt;
      EXPECT_EQ(item.spec.duration.value_or(0), duration);
      // What import-prompts writes is a valid batch item again.
      EXPECT_NO_THROW(GenerateSpec::from_json(item.spec.to_json(), "converted"));
    }
    EXPECT_EQ(b.items[3].spec.output.value_or(""), "ovi-003.mp4");
  }
  const BatchFile bad = batch_from_ovi_csv("prompt\nx\n", "bad.csv", "o", 0);
  ASSERT_EQ(bad.problems.size(), 1u);
  EXPECT_NE(bad.problems[0].message.find("text_prompt"), std::string::npos);
  const BatchFile empty = batch_from_ovi_csv("text_prompt\n\"  \"\nok\n", "e.csv", "o", 0);
  EXPECT_EQ(empty.items.size(), 1u);
  ASSERT_EQ(empty.problems.size(), 1u);
  EXPECT_NE(empty.problems[0].message.find("line 2: empty text_prompt"), std::string::npos);
}

TEST(BatchFile, SchemaListsExactlyTheAcceptedFields) {
  const auto path = (test::source_dir() / "configs/batch.schema.json").string();
  const auto schema = read_json_file(path);
  const auto& props = schema.at("$defs").at("item").at("properties");
  std::vector<std::string> names;
  for (const auto& [k, v] : props.items()) names.push_back(k);
  std::vector<std::string> fields = generate_spec_fields();
  std::sort(names.begin(), names.end());
  std::sort(fields.begin(), fields.end());
  EXPECT_EQ(names, fields);
  EXPECT_EQ(schema.at("$defs").at("item").at("additionalProperties"), false);
}

TEST(PromptStyles, ApplyPrefixSuffixAndNegatives) {
  const auto styles = load_styles((test::source_dir() / "configs/styles.json").string());
  for (const char* name : {"cinematic", "photorealistic", "animation", "anime", "documentary"}) {
    EXPECT_NO_THROW(find_style(styles, name)) << name;
  }
  GenerateSpec s;
  s.prompt = "a fox in the snow";
  s.style = "anime";
  const auto& anime = find_style(styles, "anime");
  WanT2VRequest r = make_wan_request(s, 16, "blurry", styles);
  EXPECT_EQ(r.prompt, anime.prefix + "a fox in the snow" + anime.suffix);
  EXPECT_EQ(r.negative_prompt.value_or(""), "blurry, " + anime.negative);
  s.negative_prompt = "dark";
  r = make_wan_request(s, 16, "blurry", styles);
  EXPECT_EQ(r.negative_prompt.value_or(""), "dark, " + anime.negative);
  s.style = "vaporwave9";
  try {
    make_wan_request(s, 16, "", styles);
    FAIL() << "unknown style accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("cinematic"), std::string::npos) << e.what();
  }
  GenerateSpec d;
  d.prompt = "x";
  d.duration = 5.0;
  EXPECT_EQ(make_wan_request(d, 16, "", styles).frames.value_or(0), 81);  // 80 -> 4k + 1
  d.fps = 24;
  EXPECT_EQ(make_wan_request(d, 16, "", styles).frames.value_or(0), 121);
}

}  // namespace
}  // namespace duet
