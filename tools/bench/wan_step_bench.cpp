// One denoising step of the Wan DiT and one VAE decode, timed, with their peak memory, so the
// figures in BENCHMARKS.md ("Wan2.1-1.3B step and VAE decode on the CPU") can be compared
// against diffusers on the same weights and inputs (tools/bench/wan_step_compare.py drives
// both sides and writes the inputs; run that, not this, for the table).
//
//   duet_wan_bench step --weights dit.safetensors --config config.json --inputs in.safetensors
//                       --out out.safetensors [--threads N] [--dtype fp32|bf16]
//                       [--schedule wan_unipc|diffusers_flow] [--guidance 5]
//   duet_wan_bench vae --weights Wan2.1_VAE.safetensors [--frames 17] [--height 480]
//                      [--width 832] [--threads N] [--dtype fp32|bf16]
//
// step: inputs.safetensors holds latents [1, 16, F, h, w] fp32, context_cond and
// context_uncond [1, text_len, text_dim] (zero padded, as the pipelines pass them) and
// timestep [1] int64. The step is the pipeline's (src/pipeline/wan_t2v.cpp denoise): cond pass,
// uncond pass, apply_cfg, one UniPC step at index 0 of 50 steps, shift 5. out.safetensors gets
// `latents` (after the step) and `cond` / `uncond` (the velocities, fp32).
// vae: decodes random normalised latents [1, 16, (frames - 1) / 4 + 1, height / 8, width / 8]
// with decode_stream, dropping the frames.
//
// Both print a human summary and, last, one line "RESULT {json}" for the driver. Peak RSS is
// the process's VmHWM: up to the end of loading, and of the timed part alone (reset through
// /proc/self/clear_refs before it; -1 where the kernel refuses), weights included in both.
// ru_maxrss is printed too, but it is no better than its launcher: at exec the kernel carries
// the launching process's peak over into it, so a launcher holding gigabytes inflates it.
#include <sys/resource.h>

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Parallel.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <map>
#include <string>

#include "core/error.h"
#include "core/process_memory.h"
#include "io/json_util.h"
#include "io/safetensors.h"
#include "io/weight_store.h"
#include "models/wan/vae.h"
#include "models/wan/wan_dit.h"
#include "sampling/guidance.h"
#include "sampling/scheduler.h"
#include "sampling/sigma_schedule.h"

namespace {

using namespace duet;
using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

double ru_maxrss_mib() {
  struct rusage u {};
  getrusage(RUSAGE_SELF, &u);
  return u.ru_maxrss / 1024.0;  // KiB on Linux
}

struct Args {
  std::string mode;
  std::map<std::string, std::string> values;

  std::string get(const std::string& key, const std::string& fallback = "") const {
    auto it = values.find(key);
    return it == values.end() ? fallback : it->second;
  }
  std::string require(const std::string& key) const {
    auto it = values.find(key);
    DUET_CHECK(it != values.end(),
               "{} needs --{}; see the comment at the top of wan_step_bench.cpp", mode, key);
    return it->second;
  }
};

Args parse_args(int argc, char** argv) {
  DUET_CHECK(argc >= 2, "usage: duet_wan_bench step|vae --option value ...");
  Args a;
  a.mode = argv[1];
  DUET_CHECK(a.mode == "step" || a.mode == "vae", "unknown mode '{}' (expected step or vae)",
             a.mode);
  for (int i = 2; i < argc; ++i) {
    std::string k = argv[i];
    DUET_CHECK(k.rfind("--", 0) == 0 && i + 1 < argc, "expected '--name value', got '{}'", k);
    a.values[k.substr(2)] = argv[++i];
  }
  return a;
}

at::ScalarType parse_dtype(const std::string& s) {
  if (s == "fp32") return at::kFloat;
  if (s == "bf16") return at::kBFloat16;
  DUET_FAIL("--dtype must be fp32 or bf16, got '{}'", s);
}

void set_threads(const Args& args) {
  const int threads = std::stoi(args.get("threads", "2"));
  DUET_CHECK(threads >= 1, "--threads must be >= 1");
  at::set_num_threads(threads);
}

// A copy, so the inputs do not stay mapped from the file.
at::Tensor input(WeightStore& store, const std::string& name) {
  DUET_CHECK(store.contains(name), "{} holds no tensor '{}'", store.files().front(), name);
  return store.load(name).clone();
}

void write_outputs(const std::string& path, const std::map<std::string, at::Tensor>& tensors) {
  std::vector<at::Tensor> keep;
  std::vector<TensorToWrite> out;
  for (const auto& [name, t] : tensors) {
    keep.push_back(t.to(at::kFloat).contiguous());
    const at::Tensor& c = keep.back();
    out.push_back({name, DType::F32, c.sizes().vec(), c.data_ptr(), c.nbytes()});
  }
  write_safetensors(path, out);
}

void print_result(const nlohmann::json& j) {
  std::printf("RESULT %s\n", j.dump().c_str());
  std::fflush(stdout);
}

int run_step(const Args& args) {
  set_threads(args);
  const at::ScalarType dtype = parse_dtype(args.get("dtype", "fp32"));
  const double guidance = std::stod(args.get("guidance", "5"));
  const SigmaScheduleKind schedule = parse_schedule_kind(args.get("schedule", "wan_unipc"));

  WeightStore inputs({args.require("inputs")});
  const at::Tensor latents = input(inputs, "latents");
  const at::Tensor context_cond = input(inputs, "context_cond");
  const at::Tensor context_uncond = input(inputs, "context_uncond");
  const at::Tensor timestep_in = input(inputs, "timestep");

  auto start = Clock::now();
  auto config =
      wan::WanDiTConfig::from_json(read_json_file(args.require("config")), args.require("config"));
  // The store (and its file mapping) goes away after loading, as in the pipeline: with a
  // converted dtype nothing of the fp32 file stays mapped.
  wan::WanDiT dit = [&] {
    WeightStore store({args.require("weights")}, {.dtype = dtype});
    return wan::WanDiT::load(config, store);
  }();
  const double load_s = seconds_since(start);
  const double load_peak = proc_status_mib("VmHWM");
  const double rss_after_load = proc_status_mib("VmRSS");
  std::printf("loaded %s (%s, %d threads) in %.2f s, RSS %.0f MiB\n",
              args.require("weights").c_str(), dtype == at::kFloat ? "fp32" : "bf16",
              at::get_num_threads(), load_s, rss_after_load);

  auto scheduler = make_scheduler("unipc", schedule);
  scheduler->set_timesteps(50, 5.0);
  const at::Tensor t = scheduler->timesteps().narrow(0, 0, 1);  // [1]
  DUET_CHECK(t.item<double>() == timestep_in.to(at::kDouble).item<double>(),
             "inputs.safetensors has timestep {}, the {} schedule starts at {}",
             timestep_in.to(at::kDouble).item<double>(), schedule_kind_name(schedule),
             t.item<double>());
  const auto& p = dit.config().patch_size;
  const int64_t seq_len =
      latents.size(2) / p[0] * (latents.size(3) / p[1]) * (latents.size(4) / p[2]);

  const bool hwm = reset_peak_rss();
  at::InferenceMode guard;
  auto t0 = Clock::now();
  const at::Tensor cond = dit.forward(latents, t, context_cond, seq_len);
  const double cond_s = seconds_since(t0);
  auto t1 = Clock::now();
  const at::Tensor uncond = dit.forward(latents, t, context_uncond, seq_len);
  const double uncond_s = seconds_since(t1);
  auto t2 = Clock::now();
  const at::Tensor next = scheduler->step(apply_cfg(cond, uncond, guidance), 0, latents);
  const double sched_s = seconds_since(t2);
  const double step_s = seconds_since(t0);
  const double step_peak = hwm ? proc_status_mib("VmHWM") : -1;
  const double peak = std::max(load_peak, proc_status_mib("VmHWM"));

  write_outputs(args.require("out"), {{"latents", next}, {"cond", cond}, {"uncond", uncond}});
  std::printf("step: %.2f s (cond %.2f s, uncond %.2f s, cfg + unipc %.4f s), seq_len %lld\n",
              step_s, cond_s, uncond_s, sched_s, static_cast<long long>(seq_len));
  std::printf("peak RSS: %.0f MiB whole process, %.0f MiB during the step\n", peak, step_peak);
  print_result({{"impl", "duet"},
                {"threads", at::get_num_threads()},
                {"load_s", load_s},
                {"step_s", step_s},
                {"cond_s", cond_s},
                {"uncond_s", uncond_s},
                {"scheduler_s", sched_s},
                {"rss_after_load_mib", rss_after_load},
                {"load_peak_rss_mib", load_peak},
                {"step_peak_rss_mib", step_peak},
                {"peak_rss_mib", peak},
                {"ru_maxrss_mib", ru_maxrss_mib()},
                {"seq_len", seq_len},
                {"timestep", t.item<double>()}});
  return 0;
}

int run_vae(const Args& args) {
  set_threads(args);
  const at::ScalarType dtype = parse_dtype(args.get("dtype", "fp32"));
  const int64_t frames = std::stoll(args.get("frames", "17"));
  const int64_t height = std::stoll(args.get("height", "480"));
  const int64_t width = std::stoll(args.get("width", "832"));
  DUET_CHECK(frames >= 1 && (frames - 1) % 4 == 0, "--frames must be 4k + 1, got {}", frames);
  DUET_CHECK(height % 8 == 0 && width % 8 == 0, "--height and --width must be multiples of 8");

  auto start = Clock::now();
  auto vae = wan::load_wan_vae(args.require("weights"), {.dtype = dtype});
  const double load_s = seconds_since(start);
  const double load_peak = proc_status_mib("VmHWM");
  const double rss_after_load = proc_status_mib("VmRSS");
  const int64_t z = vae->config().z_dim, s = vae->config().spatial_stride();
  auto gen = at::make_generator<at::CPUGeneratorImpl>(2026);
  const at::Tensor latents =
      at::randn({1, z, (frames - 1) / 4 + 1, height / s, width / s}, gen, at::kFloat).to(dtype);

  const bool hwm = reset_peak_rss();
  at::InferenceMode guard;
  int64_t decoded = 0;
  double checksum = 0;
  auto t0 = Clock::now();
  vae->decode_stream(latents, [&](const at::Tensor& chunk) {
    decoded += chunk.size(2);
    checksum += chunk.to(at::kFloat).abs().mean().item<double>();  // touches every frame
  });
  const double decode_s = seconds_since(t0);
  const double decode_peak = hwm ? proc_status_mib("VmHWM") : -1;
  const double peak = std::max(load_peak, proc_status_mib("VmHWM"));
  DUET_CHECK(decoded == frames, "decoded {} frames, expected {}", decoded, frames);

  std::printf("vae decode %lld frames %lldx%lld (%d threads): %.2f s, load %.2f s\n",
              static_cast<long long>(frames), static_cast<long long>(width),
              static_cast<long long>(height), at::get_num_threads(), decode_s, load_s);
  std::printf("peak RSS: %.0f MiB whole process, %.0f MiB during the decode\n", peak, decode_peak);
  print_result({{"impl", "duet"},
                {"threads", at::get_num_threads()},
                {"frames", frames},
                {"height", height},
                {"width", width},
                {"load_s", load_s},
                {"decode_s", decode_s},
                {"rss_after_load_mib", rss_after_load},
                {"load_peak_rss_mib", load_peak},
                {"decode_peak_rss_mib", decode_peak},
                {"peak_rss_mib", peak},
                {"ru_maxrss_mib", ru_maxrss_mib()},
                {"checksum", checksum}});
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    Args args = parse_args(argc, argv);
    return args.mode == "step" ? run_step(args) : run_vae(args);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "duet_wan_bench: %s\n", e.what());
    return 1;
  }
}
