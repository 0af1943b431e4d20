// `duet batch` and `duet import-prompts` on the tiny Wan checkpoint: validation before compute,
// failing items reported while the rest continue, the JSON summary, resuming after a kill -9,
// shards, and the Ovi CSV converter.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "support/test_support.h"
#include "unit/media/media_probe.h"

namespace duet {
namespace {

namespace fs = std::filesystem;
using test::run_duet;
using test::TempDir;

const std::string kModel = (test::tiny_dir() / "wan21").string();

std::vector<std::string> batch_args(const fs::path& file, const fs::path& out_dir,
                                    std::vector<std::string> extra = {}) {
  std::vector<std::string> args = {"batch", file.string(), "--model", kModel, "--out-dir",
                                   out_dir.string(), "--size", "64x48", "--frames", "5",
                                   "--steps", "1", "--device", "cpu", "--no-progress"};
  args.insert(args.end(), extra.begin(), extra.end());
  return args;
}

nlohmann::json summary_of(const fs::path& out_dir) {
  return nlohmann::json::parse(test::read_file(out_dir / "batch-summary.json"));
}

TEST(Batch, FailingItemsAreReportedAndTheRestContinueThenResume) {
  TempDir tmp;
  const fs::path jobs = tmp / "jobs.jsonl";
  test::write_file(jobs,
                   "{\"prompt\": \"a red ball\", \"seed\": 1, \"output\": \"a.mp4\"}\n"
                   "{\"prompt\": \"a blue box\", \"output\": \"missing/b.mp4\"}\n"
                   "{\"prompt\": \"a green cone\", \"seed\": 3, \"frames\": 9}\n");
  auto r = run_duet(batch_args(jobs, tmp.path()));
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_NE(r.out.find("2 ok, 0 skipped, 1 failed"), std::string::npos) << r.out;
  EXPECT_EQ(media::probe::decode_video((tmp / "a.mp4").string()).luma.size(), 5u);
  EXPECT_EQ(media::probe::decode_video((tmp / "00002.mp4").string()).luma.size(), 9u);
  auto s = summary_of(tmp.path());
  EXPECT_EQ(s["counts"]["ok"], 2);
  EXPECT_EQ(s["counts"]["failed"], 1);
  EXPECT_EQ(s["items"][1]["status"], "failed");
  EXPECT_NE(s["items"][1]["error"].get<std::string>().find("does not exist"), std::string::npos);
  EXPECT_EQ(s["items"][0]["seed"], 1);
  EXPECT_GT(s["items"][2]["seconds"].get<double>(), 0.0);
  EXPECT_TRUE(s["items"][2]["stages"].contains("denoise"));

  r = run_duet(batch_args(jobs, tmp.path()));  // resume: finished outputs are kept
  EXPECT_NE(r.out.find("0 ok, 2 skipped, 1 failed"), std::string::npos) << r.out;
  s = summary_of(tmp.path());
  EXPECT_EQ(s["items"][0]["status"], "skipped");
}

TEST(Batch, InvalidItemsStopEverythingBeforeCompute) {
  TempDir tmp;
  const fs::path jobs = tmp / "jobs.json";
  test::write_file(jobs, R"([{"prompt": "ok"},
                             {"prompt": "bad frames", "frames": 8},
                             {"prompt": "typo", "stesp": 2},
                             {"prompt": "same name", "output": "00000.mp4"}])");
  const auto r = run_duet(batch_args(jobs, tmp.path()));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("item 1: 8 frames"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("nearest valid: 9"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("item 2"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("did you mean 'steps'"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("item 3"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("also the output of an earlier item"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("3 invalid items"), std::string::npos) << r.err;
  for (const auto& e : fs::directory_iterator(tmp.path())) {
    EXPECT_EQ(e.path().filename(), "jobs.json") << "written: " << e.path();
  }
}

TEST(Batch, ShardsSplitTheItems) {
  TempDir tmp;
  const fs::path jobs = tmp / "jobs.jsonl";
  std::string text;
  for (int i = 0; i < 5; ++i) text += "{\"prompt\": \"clip " + std::to_string(i) + "\"}\n";
  test::write_file(jobs, text);
  const auto a = run_duet(batch_args(jobs, tmp.path(), {"--shard", "0/2", "--check"}));
  const auto b = run_duet(batch_args(jobs, tmp.path(), {"--shard", "1/2", "--check"}));
  EXPECT_NE(a.out.find("shard 0/2: 3"), std::string::npos) << a.out << a.err;
  EXPECT_NE(b.out.find("shard 1/2: 2"), std::string::npos) << b.out << b.err;
  const auto bad = run_duet(batch_args(jobs, tmp.path(), {"--shard", "2/2"}));
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_NE(bad.err.find("0 <= i < n"), std::string::npos) << bad.err;
}

// kill -9 in the middle: every file under a final name is complete, and a re-run finishes the
// rest without redoing what was done.
TEST(Batch, KillNineLosesNothingFinished) {
  TempDir tmp;
  const fs::path jobs = tmp / "jobs.jsonl";
  std::string text;
  for (int i = 0; i < 4; ++i) text += "{\"prompt\": \"clip " + std::to_string(i) + "\", \"seed\": 5}\n";
  test::write_file(jobs, text);
  auto args = batch_args(jobs, tmp.path(), {"--frames", "9"});
  args.erase(std::find(args.begin(), args.end(), "--frames"), std::find(args.begin(), args.end(), "--frames") + 2);
  std::string cmd = "'" + test::duet_binary().string() + "'";
  for (const auto& a : args) cmd += " '" + a + "'";
  cmd += " >/dev/null 2>&1 & pid=$!; for i in $(seq 300); do [ -e '" + (tmp / "00000.mp4").string() +
         "' ] && break; sleep 0.1; done; kill -9 $pid; wait $pid; echo killed";
  ASSERT_NE(test::run_command(cmd).out.find("killed"), std::string::npos);
  int finished = 0;
  for (int i = 0; i < 4; ++i) {
    const fs::path p = tmp / fmt::format("{:05}.mp4", i);
    if (!fs::exists(p)) continue;
    ++finished;
    EXPECT_EQ(media::probe::decode_video(p.string()).luma.size(), 9u) << p;
  }
  EXPECT_GE(finished, 1);
  const auto r = run_duet(args);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find(fmt::format("{} ok, {} skipped", 4 - finished, finished)), std::string::npos) << r.out;
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(media::probe::decode_video((tmp / fmt::format("{:05}.mp4", i)).string()).luma.size(), 9u);
  }
}

TEST(ImportPrompts, OviCsvBecomesABatchFile) {
  TempDir tmp;
  const auto csv = test::data_dir() / "prompts/prompts_5s_t2v.csv";
  const auto out = tmp / "jobs.jsonl";
  auto r = run_duet({"import-prompts", csv.string(), "-o", out.string(), "--duration", "5"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string text = test::read_file(out);
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 12);
  const auto first = nlohmann::json::parse(text.substr(0, text.find('\n')));
  EXPECT_EQ(first["output"], "prompts_5s_t2v-000.mp4");
  EXPECT_EQ(first["duration"], 5.0);
  // The written file passes batch validation (no compute with --check).
  r = run_duet({"batch", out.string(), "--model", kModel, "--check", "--size", "64x48"});
  EXPECT_EQ(r.exit_code, 0) << r.err;

  const auto bad = tmp / "bad.csv";
  test::write_file(bad, "text_prompt\n\"a cat\"\n\"\"\n\"open quote\n");
  const auto out2 = tmp / "bad.jsonl";
  r = run_duet({"import-prompts", bad.string(), "-o", out2.string()});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("line 3: empty text_prompt"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("line 4: unterminated"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(out2));
  r = run_duet({"import-prompts", bad.string(), "-o", out2.string(), "--skip-invalid"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(test::read_file(out2), "{\"output\":\"bad-000.mp4\",\"prompt\":\"a cat\"}\n");
}

}  // namespace
}  // namespace duet

namespace duet {
namespace {

// Ovi's own prompt list through the whole path: import-prompts, then a batch with the
// embedded Ovi-family model (one shard of one item, to keep it short): an MP4 with sound
// whose prompt carries the caption in the model's format.
TEST(Batch, OviPromptsRenderWithSound) {
  TempDir tmp;
  const fs::path jobs = tmp / "jobs.jsonl";
  auto r = run_duet({"import-prompts", (test::data_dir() / "prompts/prompts_5s_t2v.csv").string(),
                     "-o", jobs.string(), "--duration", "5"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = run_duet({"batch", jobs.string(), "--out-dir", tmp.path().string(), "--shard", "0/12",
                "--steps", "1", "--no-progress"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto s = nlohmann::json::parse(test::read_file(tmp / "batch-summary.shard-0-of-12.json"));
  ASSERT_EQ(s["items"].size(), 1u);
  EXPECT_EQ(s["variant"], "duet-tiny");
  EXPECT_EQ(s["items"][0]["status"], "ok") << s.dump(2);
  EXPECT_TRUE(s["items"][0]["stages"].contains("audio"));
  const std::string out = s["items"][0]["output"];
  const auto info = media::probe::probe_file(out);
  EXPECT_EQ(info.count(AVMEDIA_TYPE_AUDIO), 1);
  EXPECT_EQ(media::probe::decode_video(out).frames(), 121u);
}

}  // namespace
}  // namespace duet
