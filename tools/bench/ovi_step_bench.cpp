// One joint denoising step of Ovi's fusion model and one audio decode (MMAudio VAE + BigVGAN),
// timed, with their peak memory, for the figures in BENCHMARKS.md ("Ovi joint step on the
// CPU"). tools/bench/ovi_step_compare.py writes the weights and inputs and runs Ovi's own code
// on the same files; run that, not this, for the table.
//
//   duet_ovi_bench step --weights model.safetensors --inputs in.safetensors --out out.safetensors
//                       [--threads 2] [--dtype bf16|fp32] [--slg 2] [--repeats 2]
//   duet_ovi_bench audio --vae v1-16.safetensors --vocoder bigvgan.safetensors [--latents 157]
//                        [--threads 2] [--repeats 2]
//
// step: inputs.safetensors holds video [48, F, h, w] and audio [L, 20] latents (fp32),
// context_cond, context_video_neg, context_audio_neg [1, 512, 4096] (zero padded) and timestep
// [1] int64. The step is OviPipeline::denoise's (src/pipeline/ovi_t2av.cpp): cond pass, uncond
// pass with fused block --slg skipped, CFG 4 (video) / 3 (audio), one UniPC step per modality
// at index 0 of 50 steps, shift 5. It runs --repeats times from the same inputs (fresh
// schedulers): the first run and the warm ones are reported apart. out.safetensors gets the
// first run's cond / uncond velocities and new latents (fp32).
// audio: decodes random latents [--latents, 20] (157: Ovi's 5.02 s clip) to 16 kHz PCM, VAE and
// vocoder in fp32 as the pipeline runs them on the CPU; real-time factor = decode s / clip s.
//
// Both print a summary and, last, "RESULT {json}". Peak RSS is VmHWM: of the whole process, and
// of the timed part alone (reset through /proc/self/clear_refs before it; weights included).
#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Parallel.h>
#include <nlohmann/json.hpp>

#include <time.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <map>
#include <string>

#include "core/error.h"
#include "core/process_memory.h"
#include "io/safetensors.h"
#include "io/weight_store.h"
#include "models/flops.h"
#include "models/mmaudio/bigvgan.h"
#include "models/mmaudio/vae.h"
#include "models/ovi/ovi_fusion.h"
#include "sampling/guidance.h"
#include "sampling/scheduler.h"

namespace {

using namespace duet;
using Clock = std::chrono::steady_clock;

// CPU seconds of the whole process (all threads): on a loaded machine wall time stretches with
// the other work, CPU time hardly does.
double process_cpu_s() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
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
    DUET_CHECK(it != values.end(), "{} needs --{}; see ovi_step_bench.cpp", mode, key);
    return it->second;
  }
};

Args parse_args(int argc, char** argv) {
  DUET_CHECK(argc >= 2, "usage: duet_ovi_bench step|audio --option value ...");
  Args a;
  a.mode = argv[1];
  DUET_CHECK(a.mode == "step" || a.mode == "audio", "unknown mode '{}' (step or audio)", a.mode);
  for (int i = 2; i < argc; ++i) {
    std::string k = argv[i];
    DUET_CHECK(k.rfind("--", 0) == 0 && i + 1 < argc, "expected '--name value', got '{}'", k);
    a.values[k.substr(2)] = argv[++i];
  }
  at::set_num_threads(std::stoi(a.get("threads", "2")));
  return a;
}

at::Tensor input(WeightStore& store, const std::string& name) {
  DUET_CHECK(store.contains(name), "{} holds no tensor '{}'", store.files().front(), name);
  return store.load(name).clone();
}

void print_result(const nlohmann::json& j) {
  std::printf("RESULT %s\n", j.dump().c_str());
  std::fflush(stdout);
}

int run_step(const Args& args) {
  const at::ScalarType dt = args.get("dtype", "bf16") == "fp32" ? at::kFloat : at::kBFloat16;
  const int64_t slg = std::stoll(args.get("slg", "2"));
  const int repeats = std::stoi(args.get("repeats", "2"));
  WeightStore inputs({args.require("inputs")});
  const at::Tensor video0 = input(inputs, "video"), audio0 = input(inputs, "audio");
  const at::Tensor ctx = at::cat({input(inputs, "context_cond"), input(inputs, "context_video_neg"),
                                  input(inputs, "context_audio_neg")})
                             .to(dt);
  const double timestep_in = input(inputs, "timestep").to(at::kDouble).item<double>();

  auto start = Clock::now();
  WeightOptions wo;
  wo.dtype = dt;
  const ovi::OviFusionModel model = ovi::OviFusionModel::load_file(args.require("weights"), wo);
  const double load_s = seconds_since(start);
  const double load_peak = proc_status_mib("VmHWM"), rss_after_load = proc_status_mib("VmRSS");
  const auto& cfg = model.config();
  DUET_CHECK(slg > 0 && slg < cfg.video.num_layers, "--slg {} is not a block of {}", slg,
             cfg.video.num_layers);
  const int64_t seq_v = video0.size(1) * (video0.size(2) / 2) * (video0.size(3) / 2);
  const int64_t seq_a = audio0.size(0);
  std::printf("loaded %s (%lld fused blocks, dim %lld) in %.1f s, RSS %.0f MiB, %d threads\n",
              args.require("weights").c_str(), static_cast<long long>(cfg.video.num_layers),
              static_cast<long long>(cfg.video.dim), load_s, rss_after_load, at::get_num_threads());

  std::map<std::string, at::Tensor> out;
  std::vector<double> step_s, cond_s, uncond_s, sched_s, cpu_s;
  const bool hwm = reset_peak_rss();
  at::InferenceMode guard;
  for (int r = 0; r < repeats; ++r) {
    auto video_sched = make_scheduler("unipc"), audio_sched = make_scheduler("unipc");
    video_sched->set_timesteps(50, 5.0);
    audio_sched->set_timesteps(50, 5.0);
    const at::Tensor t = video_sched->timesteps().narrow(0, 0, 1);
    DUET_CHECK(t.item<double>() == timestep_in,
               "inputs have timestep {}, the schedule starts at {}", timestep_in, t.item<double>());
    const at::Tensor video = video0.to(dt), audio = audio0.to(dt);
    const auto t0 = Clock::now();
    const double c0 = process_cpu_s();
    ovi::OviInputs in{.x_video = video.unsqueeze(0),
                      .x_audio = audio.t().unsqueeze(0),
                      .t_video = t,
                      .t_audio = t,
                      .context_video = ctx.narrow(0, 0, 1),
                      .context_audio = ctx.narrow(0, 0, 1),
                      .seq_len_video = seq_v,
                      .seq_len_audio = seq_a};
    auto [vc, ac] = model.forward(in);
    const double c_s = seconds_since(t0);
    const auto t1 = Clock::now();
    in.context_video = ctx.narrow(0, 1, 1);
    in.context_audio = ctx.narrow(0, 2, 1);
    ovi::OviForwardOptions skip;
    skip.skip_block = slg;
    const auto un = model.forward(in, skip);
    const double u_s = seconds_since(t1);
    const auto t2 = Clock::now();
    const at::Tensor vu = un[0][0].to(dt), au = un[1][0].t().to(dt);
    const at::Tensor gv = apply_cfg(vc[0].to(dt), vu, 4.0);
    const at::Tensor ga = apply_cfg(ac[0].t().to(dt), au, 3.0);
    const at::Tensor nv = video_sched->step(gv.unsqueeze(0), 0, video.unsqueeze(0)).squeeze(0);
    const at::Tensor na = audio_sched->step(ga.unsqueeze(0), 0, audio.unsqueeze(0)).squeeze(0);
    sched_s.push_back(seconds_since(t2));
    step_s.push_back(seconds_since(t0));
    cpu_s.push_back(process_cpu_s() - c0);
    cond_s.push_back(c_s);
    uncond_s.push_back(u_s);
    std::printf("step %d: %.2f s (cond %.2f, uncond %.2f, cfg + unipc %.4f), %.1f CPU s\n", r + 1,
                step_s.back(), c_s, u_s, sched_s.back(), cpu_s.back());
    std::fflush(stdout);
    if (r == 0) {
      out = {{"cond_video", vc[0]}, {"cond_audio", ac[0].t()},
             {"uncond_video", vu},  {"uncond_audio", au},
             {"video", nv},         {"audio", na}};
    }
  }
  const double step_peak = hwm ? proc_status_mib("VmHWM") : -1;
  const double peak = std::max(load_peak, proc_status_mib("VmHWM"));

  std::vector<at::Tensor> keep;
  std::vector<TensorToWrite> files;
  for (const auto& [name, t] : out) {
    keep.push_back(t.to(at::kFloat).contiguous());
    files.push_back({name, DType::F32, keep.back().sizes().vec(), keep.back().data_ptr(),
                     keep.back().nbytes()});
  }
  write_safetensors(args.require("out"), files);
  const double flops =
      ovi_fusion_flops(cfg, seq_v, seq_a).total() + ovi_fusion_flops(cfg, seq_v, seq_a, 1).total();
  const double warm = repeats > 1 ? *std::min_element(step_s.begin() + 1, step_s.end()) : step_s[0];
  std::printf("peak RSS %.0f MiB (steps %.0f MiB); %.3g FLOP per step, %.3f TFLOP/s warm\n", peak,
              step_peak, flops, flops / warm / 1e12);
  print_result({{"impl", "duet"},
                {"threads", at::get_num_threads()},
                {"load_s", load_s},
                {"step_s", step_s},
                {"step_cpu_s", cpu_s},
                {"cond_s", cond_s},
                {"uncond_s", uncond_s},
                {"scheduler_s", sched_s},
                {"first_step_s", step_s[0]},
                {"warm_step_s", warm},
                {"rss_after_load_mib", rss_after_load},
                {"load_peak_rss_mib", load_peak},
                {"step_peak_rss_mib", step_peak},
                {"peak_rss_mib", peak},
                {"seq_len_video", seq_v},
                {"seq_len_audio", seq_a},
                {"fused_blocks", cfg.video.num_layers},
                {"flops_per_step", flops},
                {"per_block_flops", ovi_fused_block_flops(cfg, seq_v, seq_a)},
                {"timestep", timestep_in}});
  return 0;
}

int run_audio(const Args& args) {
  const int64_t latents = std::stoll(args.get("latents", "157"));
  const int repeats = std::stoi(args.get("repeats", "2"));
  auto start = Clock::now();
  WeightOptions fp32;
  fp32.dtype = at::kFloat;
  auto vae = mmaudio::load_mmaudio_vae(args.require("vae"), fp32);
  auto vocoder = mmaudio::load_bigvgan(args.require("vocoder"), fp32);
  const double load_s = seconds_since(start);
  const double load_peak = proc_status_mib("VmHWM");
  auto gen = at::make_generator<at::CPUGeneratorImpl>(2026);
  const at::Tensor z = at::randn({1, 20, latents}, gen);
  const double clip_s = static_cast<double>(latents) * 512 / 16000.0;
  const bool hwm = reset_peak_rss();
  at::InferenceMode guard;
  std::vector<double> vae_s, voc_s, total_s, cpu_s;
  int64_t samples = 0;
  for (int r = 0; r < repeats; ++r) {
    const auto t0 = Clock::now();
    const double c0 = process_cpu_s();
    const at::Tensor mel = vae->decode(z);
    const double v = seconds_since(t0);
    const auto t1 = Clock::now();
    const at::Tensor pcm = vocoder->forward(mel.to(vocoder->dtype()));
    samples = pcm.numel();
    voc_s.push_back(seconds_since(t1));
    vae_s.push_back(v);
    total_s.push_back(seconds_since(t0));
    cpu_s.push_back(process_cpu_s() - c0);
    std::printf("decode %d: VAE %.2f s + BigVGAN %.2f s = %.2f s for %.2f s of sound (RTF %.2f)\n",
                r + 1, v, voc_s.back(), total_s.back(), clip_s, total_s.back() / clip_s);
  }
  const double peak = hwm ? proc_status_mib("VmHWM") : -1;
  print_result({{"impl", "duet"},
                {"threads", at::get_num_threads()},
                {"load_s", load_s},
                {"latents", latents},
                {"samples", samples},
                {"clip_s", clip_s},
                {"vae_s", vae_s},
                {"vocoder_s", voc_s},
                {"total_s", total_s},
                {"decode_cpu_s", cpu_s},
                {"load_peak_rss_mib", load_peak},
                {"decode_peak_rss_mib", peak},
                {"peak_rss_mib", std::max(load_peak, proc_status_mib("VmHWM"))}});
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    Args args = parse_args(argc, argv);
    return args.mode == "step" ? run_step(args) : run_audio(args);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "duet_ovi_bench: %s\n", e.what());
    return 1;
  }
}
