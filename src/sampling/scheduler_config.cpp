#include "sampling/scheduler_config.h"

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "io/json_util.h"

namespace duet {
namespace {

bool json_flag(const nlohmann::json& j, const char* key, const std::string& source, bool fallback) {
  if (!j.contains(key) || j.at(key).is_null()) return fallback;
  DUET_CHECK(j.at(key).is_boolean(), "{}: field '{}' must be true or false", source, key);
  return j.at(key).get<bool>();
}

// A field that must hold `want` (absent counts as the diffusers default `fallback`).
template <typename T>
void expect_field(const nlohmann::json& j, const char* key, const std::string& source,
                  const T& want, const T& fallback, const char* why) {
  T got = fallback;
  if (j.contains(key) && !j.at(key).is_null()) {
    try {
      got = j.at(key).get<T>();
    } catch (const nlohmann::json::exception&) {
      DUET_FAIL("{}: field '{}' has the wrong type", source, key);
    }
  }
  DUET_CHECK(got == want, "{}: field '{}' is {}, duet supports {} ({})", source, key,
             nlohmann::json(got).dump(), nlohmann::json(want).dump(), why);
}

}  // namespace

SchedulerDefaults scheduler_defaults_from_diffusers(const nlohmann::json& j,
                                                    const std::string& source) {
  DUET_CHECK(j.is_object(), "{}: a scheduler config must be a JSON object", source);
  const std::string cls = json_string(j, "_class_name", source);
  SchedulerDefaults d;
  if (cls == "UniPCMultistepScheduler") {
    d.solver = "unipc";
    d.schedule = SigmaScheduleKind::kDiffusersFlow;
    DUET_CHECK(json_flag(j, "use_flow_sigmas", source, false),
               "{}: field 'use_flow_sigmas' must be true (duet runs flow-matching Wan models)",
               source);
    expect_field<std::string>(j, "prediction_type", source, "flow_prediction", "epsilon",
                              "the model predicts the flow velocity");
    expect_field<int64_t>(j, "solver_order", source, 2, 2, "Wan's UniPC is second order");
    expect_field<std::string>(j, "solver_type", source, "bh2", "bh2", "Wan's UniPC variant");
    expect_field<bool>(j, "predict_x0", source, true, true, "Wan's UniPC predicts x0");
    d.shift = json_number(j, "flow_shift", source, 1.0);
  } else if (cls == "FlowMatchEulerDiscreteScheduler") {
    d.solver = "euler";
    d.schedule = SigmaScheduleKind::kFlowMatchEuler;
    DUET_CHECK(!json_flag(j, "use_dynamic_shifting", source, false),
               "{}: field 'use_dynamic_shifting' must be false (duet uses a fixed shift)", source);
    d.shift = json_number(j, "shift", source, 1.0);
  } else {
    DUET_FAIL("{}: scheduler '{}' is not supported; duet reads UniPCMultistepScheduler "
              "(use_flow_sigmas) and FlowMatchEulerDiscreteScheduler", source, cls);
  }
  expect_field<int64_t>(j, "num_train_timesteps", source, 1000, 1000,
                        "timesteps are sigma * 1000");
  DUET_CHECK(d.shift > 0, "{}: the shift must be positive, got {}", source, d.shift);
  return d;
}

}  // namespace duet
