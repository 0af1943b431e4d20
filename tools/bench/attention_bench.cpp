// Attention backends on the CPU: time per call and peak memory of the tiled online-softmax
// kernel beside libtorch's SDPA with and without a key mask, at video-sized sequence lengths.
// Figures in BENCHMARKS.md ("Attention on the CPU").
//
//   duet_attention_bench [--lens 4096,15000] [--heads 24] [--dim 128] [--dtypes bf16,fp32]
//                        [--backends tiled,sdpa_masked,sdpa] [--reps 3] [--threads N]
//                        [--keep 1.0]
//
// Shapes are B = 1, q/k/v [1, L, H, D] (self-attention, Lq = Lk = L). "tiled" and "sdpa_masked"
// get k_lens = [round(keep·L)]; with the default keep = 1 the mask keeps every key, so all three
// do the same arithmetic and the masked rows show only what passing a mask costs. keep < 1 is
// padding (as in Wan's text cross-attention: 512 slots, a few dozen real tokens). Threads:
// at::get_num_threads() unless --threads.
//
// Method. Every (backend, dtype, L) runs in a fresh process (this binary re-executed with
// --one), so allocator caches and oneDNN's JIT state of one configuration cannot hide or inflate
// another's memory. In that process: inputs are made, VmRSS is read, the peak (VmHWM) is reset
// to it through /proc/self/clear_refs, one untimed call runs, and "peak MiB" is VmHWM minus that
// VmRSS: everything the call itself touched at its high point, its output included (listed
// separately), inputs excluded. Then --reps calls are timed; the medians of wall time and of
// process CPU time are printed. CPU time is given because a shared machine's wall time depends
// on its other load; on an idle machine wall ≈ CPU / threads.
#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/process_memory.h"
#include "bench_util.h"
#include "nn/attention.h"

namespace {

using namespace duet;
using Clock = std::chrono::steady_clock;
using bench::median;
using bench::split_commas;

double process_cpu_seconds() {
  timespec t{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_nsec) * 1e-9;
}

at::ScalarType parse_dtype(const std::string& s) {
  if (s == "fp32") return at::kFloat;
  if (s == "bf16") return at::kBFloat16;
  DUET_FAIL("dtype must be fp32 or bf16, got '{}'", s);
}

struct Config {
  std::string backend, dtype;
  int64_t len = 0, heads = 24, dim = 128;
  int reps = 3;
  int threads = 0;    // 0: libtorch's default
  double keep = 1.0;  // fraction of keys the mask keeps
};

struct Result {
  double wall_ms = 0, cpu_ms = 0, peak_mib = 0, out_mib = 0;
  int threads = 0;
};

// One configuration in this process: the --one mode.
Result run_one(const Config& c) {
  if (c.threads > 0) at::set_num_threads(c.threads);
  const auto dtype = parse_dtype(c.dtype);
  auto gen = at::make_generator<at::CPUGeneratorImpl>(1);
  const std::vector<int64_t> shape{1, c.len, c.heads, c.dim};
  const auto q = at::randn(shape, gen).to(dtype), k = at::randn(shape, gen).to(dtype),
             v = at::randn(shape, gen).to(dtype);
  nn::AttentionOptions opts;
  const auto kept =
      std::clamp<int64_t>(std::llround(c.keep * static_cast<double>(c.len)), 1, c.len);
  std::optional<at::Tensor> k_lens;
  if (c.backend == "tiled") {
    opts.backend = nn::AttentionBackend::kTiled;
    k_lens = at::tensor(std::vector<int64_t>{kept}, at::kLong);
  } else if (c.backend == "sdpa_masked" || c.backend == "sdpa") {
    opts.backend = nn::AttentionBackend::kSdpa;
    if (c.backend == "sdpa_masked") k_lens = at::tensor(std::vector<int64_t>{kept}, at::kLong);
  } else {
    DUET_FAIL("backend must be tiled, sdpa_masked or sdpa, got '{}'", c.backend);
  }

  Result r;
  r.threads = at::get_num_threads();
  const double rss_before = proc_status_mib("VmRSS");
  const bool reset = reset_peak_rss();
  {
    const auto out = nn::attention(q, k, v, k_lens, opts);
    r.out_mib = static_cast<double>(out.nbytes()) / (1024.0 * 1024.0);
    r.peak_mib = reset ? proc_status_mib("VmHWM") - rss_before : -1;
  }
  std::vector<double> wall, cpu;
  for (int i = 0; i < c.reps; ++i) {
    const auto start = Clock::now();
    const double cpu_start = process_cpu_seconds();
    const auto out = nn::attention(q, k, v, k_lens, opts);
    cpu.push_back(process_cpu_seconds() - cpu_start);
    wall.push_back(std::chrono::duration<double>(Clock::now() - start).count());
  }
  r.wall_ms = median(wall) * 1e3;
  r.cpu_ms = median(cpu) * 1e3;
  return r;
}

// Runs one configuration in a fresh copy of this binary and reads back its RESULT line.
Result run_in_child(const std::string& self, const Config& c) {
  const std::string cmd = fmt::format(
      "'{}' --one {} --dtypes {} --lens {} --heads {} --dim {} --reps {} --threads {} --keep {}",
      self, c.backend, c.dtype, c.len, c.heads, c.dim, c.reps, c.threads, c.keep);
  FILE* pipe = popen(cmd.c_str(), "r");
  DUET_CHECK(pipe != nullptr, "cannot run '{}'", cmd);
  char line[512];
  Result r;
  bool found = false;
  while (std::fgets(line, sizeof line, pipe)) {
    found = found || std::sscanf(line, "RESULT %lf %lf %lf %lf %d", &r.wall_ms, &r.cpu_ms,
                                 &r.peak_mib, &r.out_mib, &r.threads) == 5;
  }
  const int status = pclose(pipe);
  DUET_CHECK(status == 0 && found, "'{}' failed (status {})", cmd, status);
  return r;
}

std::map<std::string, std::string> parse_args(int argc, char** argv) {
  std::map<std::string, std::string> values;
  for (int i = 1; i < argc; ++i) {
    const std::string key = argv[i];
    DUET_CHECK(key.rfind("--", 0) == 0 && i + 1 < argc, "expected '--name value', got '{}'", key);
    values[key.substr(2)] = argv[++i];
  }
  return values;
}

std::string get(const std::map<std::string, std::string>& args, const std::string& key,
                const std::string& fallback) {
  const auto it = args.find(key);
  return it == args.end() ? fallback : it->second;
}

int run(int argc, char** argv) {
  const auto args = parse_args(argc, argv);
  Config base;
  base.heads = std::stoll(get(args, "heads", "24"));
  base.dim = std::stoll(get(args, "dim", "128"));
  base.reps = std::stoi(get(args, "reps", "3"));
  base.threads = std::stoi(get(args, "threads", "0"));
  base.keep = std::stod(get(args, "keep", "1"));
  DUET_CHECK(base.heads > 0 && base.dim > 0 && base.reps > 0 && base.threads >= 0,
             "--heads, --dim, --reps must be positive and --threads >= 0");
  DUET_CHECK(base.keep > 0 && base.keep <= 1, "--keep must be in (0, 1], got {}", base.keep);
  if (args.count("one")) {
    base.backend = args.at("one");
    base.dtype = get(args, "dtypes", "bf16");
    base.len = std::stoll(get(args, "lens", "4096"));
    const Result r = run_one(base);
    std::printf("RESULT %.3f %.3f %.1f %.1f %d\n", r.wall_ms, r.cpu_ms, r.peak_mib, r.out_mib,
                r.threads);
    return 0;
  }
  std::printf(
      "| L | dtype | backend | threads | wall ms/call | CPU ms/call | peak MiB | of which output "
      "|\n");
  std::printf("|---|---|---|---|---|---|---|---|\n");
  for (const auto& len : split_commas(get(args, "lens", "4096,15000"))) {
    for (const auto& dtype : split_commas(get(args, "dtypes", "bf16,fp32"))) {
      for (const auto& backend : split_commas(get(args, "backends", "tiled,sdpa_masked,sdpa"))) {
        Config c = base;
        c.backend = backend;
        c.dtype = dtype;
        c.len = std::stoll(len);
        const Result r = run_in_child(argv[0], c);
        std::printf("| %lld | %s | %s | %d | %.1f | %.1f | %.1f | %.1f |\n",
                    static_cast<long long>(c.len), dtype.c_str(), backend.c_str(), r.threads,
                    r.wall_ms, r.cpu_ms, r.peak_mib, r.out_mib);
        std::fflush(stdout);
      }
    }
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "duet_attention_bench: %s\n", e.what());
    return 1;
  }
}
