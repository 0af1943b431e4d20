#pragma once
// Flow-matching noise schedules: the sigmas a sampler walks through and the timesteps the
// denoiser is conditioned on, bit for bit as the reference schedulers compute them.
//
//   SigmaSchedule s = make_sigma_schedule(SigmaScheduleKind::kWanUniPC, 50, 5.0);
//   s.sigmas      // 51 float32 values, 0.99980 ... 0 (the last one is always 0)
//   s.timesteps   // 50 values, 999 ... (integers for every kind but kFlowMatchEuler)
//
// Flow matching interpolates x_sigma = (1 - sigma) * x0 + sigma * noise; the model predicts the
// velocity v = noise - x0. Every kind spaces sigmas linearly, then applies the resolution
// "shift" s * sigma / (1 + (s - 1) * sigma) (s > 1 spends more steps at high noise). The kinds
// differ in endpoints and in float64/float32 rounding, which moves integer timesteps by one
// here and there, so each reference is reproduced exactly rather than approximated:
//
//   kind              reference                                    sigmas before the shift
//   kWanUniPC         Wan FlowUniPCMultistepScheduler.set_timesteps linspace(f32(0.999), 0,
//   n+1)[:-1]
//                     (Wan 2.1/2.2 and Ovi "unipc")
//   kWanDpm           Wan get_sampling_sigmas + retrieve_timesteps  linspace(1, 0, n+1)[:n]
//                     (Wan 2.1/2.2 and Ovi "dpm++")
//   kDiffusersFlow    diffusers UniPCMultistepScheduler with        linspace(1, 1/1000, n+1)[:-1],
//                     use_flow_sigmas (the Wan *-Diffusers          then sigma[0] -= 1e-6 when it
//                     checkpoints' scheduler_config.json)           is within 1e-6 of 1
//   kFlowMatchEuler   diffusers FlowMatchEulerDiscreteScheduler     linspace(1, shift(0.001), n):
//                     (Ovi "euler")                                 the shift is applied twice,
//                     once
//                                                                   to the training table (float32)
//                                                                   and once here, as diffusers
//                                                                   does
//
// All but kFlowMatchEuler compute in float64 and truncate sigma * 1000 to int64 timesteps;
// kFlowMatchEuler rounds sigmas to float32 first and keeps timesteps = sigma * 1000 in float32.
// Sigmas are stored as float32 in every case, as the references do.
//
// Wan's own scheduler and the diffusers one named by the Wan *-Diffusers folders are the same
// solver on slightly different grids: for 4 steps at shift 5, Wan gives sigmas 0.99980,
// 0.93727, 0.83306, 0.62469 and timesteps 999, 937, 833, 624; diffusers gives 0.999999,
// 0.93758, 0.83361, 0.62594 and 999, 937, 833, 625. Use the kind of the folder being run.
#include <ATen/ATen.h>

#include <cstdint>
#include <string_view>
#include <vector>

namespace duet {

enum class SigmaScheduleKind { kWanUniPC, kWanDpm, kDiffusersFlow, kFlowMatchEuler };

// "wan_unipc", "wan_dpm", "diffusers_flow", "flow_match_euler" (also the fixture names).
std::string_view schedule_kind_name(SigmaScheduleKind kind);
// Inverse of schedule_kind_name; unknown names are a duet::Error listing the valid ones.
SigmaScheduleKind parse_schedule_kind(std::string_view name);

struct SigmaSchedule {
  SigmaScheduleKind kind = SigmaScheduleKind::kWanUniPC;
  double shift = 1.0;
  std::vector<float> sigmas;      // steps + 1 values; sigmas.back() == 0
  std::vector<double> timesteps;  // steps values; exact (integers, or float32 values)
  bool integer_timesteps = true;  // false only for kFlowMatchEuler

  int64_t steps() const { return static_cast<int64_t>(timesteps.size()); }
  // The timesteps as the reference hands them to the model: int64 [steps], or float32 [steps]
  // for kFlowMatchEuler.
  at::Tensor timesteps_tensor() const;
  at::Tensor sigmas_tensor() const;  // float32 [steps + 1]
};

// steps >= 1 and shift > 0 (finite); otherwise a duet::Error naming the value.
SigmaSchedule make_sigma_schedule(SigmaScheduleKind kind, int64_t steps, double shift);

// s * sigma / (1 + (s - 1) * sigma) in float64, evaluated in the reference's order.
double shift_sigma(double sigma, double shift);

// numpy.linspace(start, stop, num) (endpoint=True) in float64, with numpy's rounding: the
// i-th value is i * step + start and the last one is `stop` exactly.
std::vector<double> numpy_linspace(double start, double stop, int64_t num);

}  // namespace duet
