// diffusers scheduler_config.json -> solver, schedule and shift.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "io/json_util.h"
#include "sampling/scheduler_config.h"
#include "support/test_support.h"

namespace duet {
namespace {

TEST(SchedulerConfig, ReadsTheWanDiffusersFolder) {
  const auto path = (test::tiny_dir() / "wan-diffusers/scheduler/scheduler_config.json").string();
  const auto d = scheduler_defaults_from_diffusers(read_json_file(path), path);
  EXPECT_EQ(d.solver, "unipc");
  EXPECT_EQ(d.schedule, SigmaScheduleKind::kDiffusersFlow);
  EXPECT_EQ(d.shift, 3.0);
}

TEST(SchedulerConfig, FlowMatchEuler) {
  const nlohmann::json j = {{"_class_name", "FlowMatchEulerDiscreteScheduler"}, {"shift", 5.0}};
  const auto d = scheduler_defaults_from_diffusers(j, "s.json");
  EXPECT_EQ(d.solver, "euler");
  EXPECT_EQ(d.schedule, SigmaScheduleKind::kFlowMatchEuler);
  EXPECT_EQ(d.shift, 5.0);
}

TEST(SchedulerConfig, UnsupportedSettingsNameTheField) {
  const nlohmann::json good = {{"_class_name", "UniPCMultistepScheduler"},
                               {"use_flow_sigmas", true},
                               {"prediction_type", "flow_prediction"},
                               {"flow_shift", 5.0}};
  EXPECT_EQ(scheduler_defaults_from_diffusers(good, "s.json").shift, 5.0);
  const std::vector<std::pair<nlohmann::json, std::string>> cases = {
      {{{"_class_name", "DDIMScheduler"}}, "DDIMScheduler"},
      {nlohmann::json{{"use_flow_sigmas", true}}, "_class_name"},
      {[&] { auto j = good; j["use_flow_sigmas"] = false; return j; }(), "use_flow_sigmas"},
      {[&] { auto j = good; j["prediction_type"] = "epsilon"; return j; }(), "prediction_type"},
      {[&] { auto j = good; j["solver_order"] = 3; return j; }(), "solver_order"},
      {[&] { auto j = good; j["solver_type"] = "bh1"; return j; }(), "solver_type"},
      {[&] { auto j = good; j["flow_shift"] = "five"; return j; }(), "flow_shift"},
      {[&] { auto j = good; j["flow_shift"] = -1.0; return j; }(), "shift"},
      {[&] { auto j = good; j["num_train_timesteps"] = 500; return j; }(), "num_train_timesteps"},
  };
  for (const auto& [config, needle] : cases) {
    try {
      scheduler_defaults_from_diffusers(config, "s.json");
      ADD_FAILURE() << "accepted " << config.dump();
    } catch (const Error& e) {
      const std::string msg = e.what();
      EXPECT_NE(msg.find("s.json"), std::string::npos) << msg;
      EXPECT_NE(msg.find(needle), std::string::npos) << msg;
    }
  }
}

}  // namespace
}  // namespace duet
