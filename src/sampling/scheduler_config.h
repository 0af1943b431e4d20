#pragma once
// diffusers scheduler_config.json -> the solver, schedule and shift duet runs for it. The Wan
// *-Diffusers folders ship UniPCMultistepScheduler with use_flow_sigmas and a flow_shift
// (3.0 for the 1.3B, 5.0 for the 14B and 5B); the folder's shift is the default a user's
// --shift overrides.
#include <nlohmann/json_fwd.hpp>

#include <string>

#include "sampling/sigma_schedule.h"

namespace duet {

struct SchedulerDefaults {
  std::string solver;  // "unipc", "euler", "dpm++"
  SigmaScheduleKind schedule = SigmaScheduleKind::kDiffusersFlow;
  double shift = 1.0;
};

// Accepts the flow-matching configurations duet reproduces exactly: UniPCMultistepScheduler
// (use_flow_sigmas, prediction_type flow_prediction, solver_order 2, bh2, predict_x0) and
// FlowMatchEulerDiscreteScheduler. Anything else is a duet::Error naming `source` and the field.
SchedulerDefaults scheduler_defaults_from_diffusers(const nlohmann::json& config,
                                                    const std::string& source);

}  // namespace duet
