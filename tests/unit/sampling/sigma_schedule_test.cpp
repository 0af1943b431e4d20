// Unit checks of the schedule helpers; exact agreement with the references is in
// tests/golden/sampling/schedule_test.cpp.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "core/error.h"
#include "sampling/sigma_schedule.h"

namespace duet {
namespace {

const SigmaScheduleKind kKinds[] = {SigmaScheduleKind::kWanUniPC, SigmaScheduleKind::kWanDpm,
                                    SigmaScheduleKind::kDiffusersFlow,
                                    SigmaScheduleKind::kFlowMatchEuler};

TEST(SigmaSchedule, NumpyLinspace) {
  EXPECT_EQ(numpy_linspace(0.0, 1.0, 5), (std::vector<double>{0.0, 0.25, 0.5, 0.75, 1.0}));
  EXPECT_EQ(numpy_linspace(3.0, 1.0, 1), (std::vector<double>{3.0}));
  EXPECT_TRUE(numpy_linspace(0.0, 1.0, 0).empty());
  EXPECT_EQ(numpy_linspace(1.0, 0.0, 3).back(), 0.0);
  EXPECT_THROW(numpy_linspace(0.0, 1.0, -1), Error);
}

TEST(SigmaSchedule, Shift) {
  EXPECT_DOUBLE_EQ(shift_sigma(0.5, 5.0), 2.5 / 3.0);
  EXPECT_EQ(shift_sigma(0.3, 1.0), 0.3);
  EXPECT_EQ(shift_sigma(1.0, 8.0), 1.0);
  EXPECT_EQ(shift_sigma(0.0, 8.0), 0.0);
}

TEST(SigmaSchedule, ShapeAndMonotonicity) {
  for (SigmaScheduleKind kind : kKinds) {
    for (int64_t steps : {1, 2, 50}) {
      SCOPED_TRACE(std::string(schedule_kind_name(kind)) + " " + std::to_string(steps));
      const SigmaSchedule s = make_sigma_schedule(kind, steps, 5.0);
      ASSERT_EQ(s.steps(), steps);
      ASSERT_EQ(s.sigmas.size(), static_cast<size_t>(steps + 1));
      EXPECT_EQ(s.sigmas.back(), 0.0f);
      EXPECT_LE(s.sigmas.front(), 1.0f);
      for (size_t i = 0; i + 1 < s.sigmas.size(); ++i) EXPECT_GT(s.sigmas[i], s.sigmas[i + 1]);
      EXPECT_EQ(parse_schedule_kind(schedule_kind_name(kind)), kind);
    }
  }
}

// The numbers quoted in the references' configs: Wan's first timestep is 999, not 1000,
// because its table tops out at float32(0.999); get_sampling_sigmas starts at 1000.
TEST(SigmaSchedule, KnownValues) {
  const SigmaSchedule wan = make_sigma_schedule(SigmaScheduleKind::kWanUniPC, 4, 5.0);
  EXPECT_EQ(wan.timesteps, (std::vector<double>{999, 937, 833, 624}));
  const SigmaSchedule dpm = make_sigma_schedule(SigmaScheduleKind::kWanDpm, 4, 5.0);
  EXPECT_EQ(dpm.timesteps, (std::vector<double>{1000, 937, 833, 625}));
  EXPECT_EQ(dpm.sigmas, (std::vector<float>{1.0f, 0.9375f, 0.8333333333f, 0.625f, 0.0f}));
  const SigmaSchedule euler = make_sigma_schedule(SigmaScheduleKind::kFlowMatchEuler, 4, 5.0);
  EXPECT_FALSE(euler.integer_timesteps);
  EXPECT_EQ(euler.timesteps.front(), 1000.0);
}

TEST(SigmaSchedule, RejectsBadArguments) {
  EXPECT_THROW(make_sigma_schedule(SigmaScheduleKind::kWanUniPC, 0, 5.0), Error);
  EXPECT_THROW(make_sigma_schedule(SigmaScheduleKind::kWanUniPC, 1000000, 5.0), Error);
  EXPECT_THROW(make_sigma_schedule(SigmaScheduleKind::kWanUniPC, 10, 0.0), Error);
  EXPECT_THROW(make_sigma_schedule(SigmaScheduleKind::kWanUniPC, 10, -2.0), Error);
  EXPECT_THROW(make_sigma_schedule(SigmaScheduleKind::kWanUniPC, 10, INFINITY), Error);
}

}  // namespace
}  // namespace duet
