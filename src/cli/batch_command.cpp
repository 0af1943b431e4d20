// `duet batch FILE`: many clips with one model load. Every item is validated before any
// compute; a failing item is reported and the rest continue; finished outputs are skipped on a
// re-run (outputs only ever appear complete, so a killed run resumes where it stopped); a JSON
// summary is rewritten after every item. `duet import-prompts` turns Ovi's prompt CSVs into
// batch files.
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>

#include "cli/clip_runner.h"
#include "cli/commands.h"
#include "core/error.h"
#include "io/json_util.h"
#include "media/temp_file.h"
#include "pipeline/batch_file.h"

namespace duet::cli {
namespace {
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

struct BatchArgs {
  std::string file;
  RunArgs run;
  GenerateSpec defaults;
  std::string out_dir = ".";
  std::string shard = "0/1";
  std::string summary;
  bool check_only = false;
};

// Writes `text` to `path` through a temporary file, so readers never see half a summary.
void write_atomically(const fs::path& path, const std::string& text) {
  media::AtomicOutputFile file(path);
  {
    std::ofstream out(file.temp_path(), std::ios::binary | std::ios::trunc);
    out << text;
    DUET_CHECK(out.good(), "cannot write '{}'", path.string());
  }
  file.commit();
}

struct Job {
  BatchItem item;
  GenerateSpec spec;  // item merged over the command-line defaults
  fs::path output;
  ClipPlan plan;
};

int report_problems(const std::vector<BatchProblem>& problems) {
  for (const auto& p : problems) std::fprintf(stderr, "duet: error: %s\n", p.message.c_str());
  std::fprintf(stderr, "duet: error: %zu invalid item%s; nothing was generated\n", problems.size(),
               problems.size() == 1 ? "" : "s");
  return 1;
}

int run_batch(BatchArgs a) {
  install_interrupt_handler();
  const Shard shard = parse_shard(a.shard);
  if (a.defaults.size) parse_size(*a.defaults.size, "--size");
  BatchFile file = read_batch_file(a.file);
  std::vector<BatchProblem> problems = file.problems;
  ClipContext ctx = make_clip_context(a.run, /*keep_models_loaded=*/true);

  // Validation of every item of this shard before any compute.
  std::vector<Job> jobs;
  std::set<fs::path> outputs;
  for (const auto& item : file.items) {
    if (!shard.contains(item.index)) continue;
    Job job{item, item.spec.merged_over(a.defaults), {}, {}};
    const std::string where = fmt::format("{}: {}", a.file, BatchProblem{item.index, item.line, ""}.where());
    try {
      job.output = fs::path(a.out_dir) / job.spec.output.value_or(fmt::format("{:05}.mp4", item.index));
      job.spec.output = job.output.string();
      job.plan = resolve_clip(ctx, job.spec);
      DUET_CHECK(outputs.insert(fs::absolute(job.output).lexically_normal()).second,
                 "output '{}' is also the output of an earlier item", job.output.string());
      jobs.push_back(std::move(job));
    } catch (const Cancelled&) {
      throw;
    } catch (const Error& e) {
      problems.push_back({item.index, item.line, fmt::format("{}: {}", where, e.what())});
    }
  }
  if (!problems.empty()) return report_problems(problems);
  if (a.check_only) {
    std::printf("%s: %zu items valid (shard %s: %zu)\n", a.file.c_str(), file.items.size(),
                a.shard.c_str(), jobs.size());
    return 0;
  }
  DUET_CHECK(fs::is_directory(a.out_dir), "output folder '{}' does not exist", a.out_dir);
  const fs::path summary_path =
      !a.summary.empty() ? fs::path(a.summary)
      : shard.count == 1 ? fs::path(a.out_dir) / "batch-summary.json"
                         : fs::path(a.out_dir) / fmt::format("batch-summary.shard-{}-of-{}.json",
                                                             shard.index, shard.count);

  nlohmann::json summary = {{"batch_file", a.file},
                            {"model", ctx.engine->model_path()},
                            {"variant", ctx.engine->model_variant()},
                            {"shard", a.shard},
                            {"items", nlohmann::json::array()}};
  int64_t ok = 0, skipped = 0, failed = 0;
  const auto start = Clock::now();
  for (size_t k = 0; k < jobs.size(); ++k) {
    const Job& job = jobs[k];
    nlohmann::json entry = {{"index", job.item.index}, {"output", job.output.string()},
                            {"seed", job.plan.seed}};
    if (fs::exists(job.output)) {
      entry["status"] = "skipped";
      entry["reason"] = "output exists (finished earlier)";
      ++skipped;
    } else {
      std::fprintf(stderr, "[%zu/%zu] item %lld -> %s\n", k + 1, jobs.size(),
                   static_cast<long long>(job.item.index), job.output.string().c_str());
      try {
        const GenerateResult r = render_clip(ctx, job.plan);
        entry["status"] = "ok";
        entry["seconds"] = r.total_seconds;
        for (const auto& [stage, seconds] : r.stage_seconds) entry["stages"][stage] = seconds;
        ++ok;
      } catch (const Cancelled&) {
        throw;
      } catch (const Error& e) {
        entry["status"] = "failed";
        entry["error"] = e.what();
        std::fprintf(stderr, "duet: item %lld failed: %s\n", static_cast<long long>(job.item.index),
                     e.what());
        ++failed;
      }
    }
    summary["items"].push_back(entry);
    summary["counts"] = {{"ok", ok}, {"skipped", skipped}, {"failed", failed},
                         {"pending", static_cast<int64_t>(jobs.size() - k - 1)}};
    summary["seconds"] = std::chrono::duration<double>(Clock::now() - start).count();
    write_atomically(summary_path, summary.dump(2) + "\n");
  }
  std::printf("batch %s: %lld ok, %lld skipped, %lld failed; summary %s\n", a.file.c_str(),
              static_cast<long long>(ok), static_cast<long long>(skipped),
              static_cast<long long>(failed), summary_path.string().c_str());
  return failed > 0 ? 1 : 0;
}

struct ImportArgs {
  std::string csv;
  std::string output;
  double duration = 0;
  std::string stem;
  bool skip_invalid = false;
};

int run_import(const ImportArgs& a) {
  const std::string csv = read_file_bytes(a.csv);
  const std::string stem = a.stem.empty() ? fs::path(a.csv).stem().string() : a.stem;
  const BatchFile b = batch_from_ovi_csv(csv, a.csv, stem, a.duration);
  for (const auto& p : b.problems) {
    std::fprintf(stderr, "duet: %s: %s\n", a.skip_invalid ? "skipped" : "error", p.message.c_str());
  }
  if (!b.problems.empty() && !a.skip_invalid) {
    std::fprintf(stderr, "duet: error: %zu malformed row%s; nothing written (--skip-invalid "
                 "writes the valid ones)\n", b.problems.size(), b.problems.size() == 1 ? "" : "s");
    return 1;
  }
  DUET_CHECK(!b.items.empty(), "'{}' holds no prompts", a.csv);
  std::string text;
  for (const auto& item : b.items) text += item.spec.to_json().dump() + "\n";
  write_atomically(a.output, text);
  std::printf("wrote %s: %zu jobs\n", a.output.c_str(), b.items.size());
  return 0;
}

}  // namespace

Command add_batch_command(CLI::App& app) {
  auto a = std::make_shared<BatchArgs>();
  CLI::App* sub = app.add_subcommand(
      "batch", "Generate every item of a JSON array or JSON Lines file (configs/batch.schema.json)");
  sub->add_option("file", a->file, "Batch file: JSON array or JSONL of {\"prompt\": ..., ...}")
      ->required();
  sub->add_option("--out-dir", a->out_dir, "Folder for outputs named relative")->capture_default_str();
  sub->add_option("--shard", a->shard, "i/n: only items with index % n == i (one per GPU or "
                  "Slurm array task)")->capture_default_str();
  sub->add_option("--summary", a->summary, "Summary JSON (default OUT_DIR/batch-summary.json)");
  sub->add_flag("--check", a->check_only, "Validate every item and stop");
  add_spec_options(sub, a->defaults);
  add_run_options(sub, a->run);
  return {sub, [a] { return run_batch(*a); }};
}

Command add_import_prompts_command(CLI::App& app) {
  auto a = std::make_shared<ImportArgs>();
  CLI::App* sub = app.add_subcommand(
      "import-prompts", "Turn a prompt CSV (Ovi's prompts_*.csv, column text_prompt) into a batch file");
  sub->add_option("csv", a->csv, "CSV with a text_prompt column")->required();
  sub->add_option("-o,--output", a->output, "Batch file to write (JSONL)")->required();
  sub->add_option("--duration", a->duration, "Seconds per clip to store in each item (0: model default)");
  sub->add_option("--stem", a->stem, "Output names STEM-NNN.mp4 (default: the CSV's name)");
  sub->add_flag("--skip-invalid", a->skip_invalid, "Write the valid rows, report the others");
  return {sub, [a] { return run_import(*a); }};
}

}  // namespace duet::cli
