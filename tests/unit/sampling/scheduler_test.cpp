// Edge cases and invariants of the flow-matching samplers (src/sampling/): argument errors,
// one-step sampling, step ordering, independent per-modality states, exactness on a
// straight-line flow. Reference agreement itself is in tests/golden/sampling/.
#include <gtest/gtest.h>

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "core/error.h"
#include "sampling/scheduler.h"
#include "sampling/unipc.h"
#include "support/test_support.h"

namespace duet {
namespace {

const char* const kSolvers[] = {"unipc", "euler", "dpm++"};

at::Tensor randn(std::vector<int64_t> shape, uint64_t seed) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  return at::randn(shape, gen);
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(Scheduler, RejectsBadStepsAndShift) {
  for (const char* solver : kSolvers) {
    auto s = make_scheduler(solver);
    EXPECT_NE(error_of([&] { s->set_timesteps(0, 5.0); }).find("steps"), std::string::npos);
    EXPECT_NE(error_of([&] { s->set_timesteps(-3, 5.0); }).find("steps"), std::string::npos);
    EXPECT_NE(error_of([&] { s->set_timesteps(10, 0.0); }).find("shift"), std::string::npos);
    EXPECT_NE(error_of([&] { s->set_timesteps(10, -1.0); }).find("shift"), std::string::npos);
    EXPECT_NE(error_of([&] { s->set_timesteps(10, std::nan("")); }).find("shift"),
              std::string::npos);
    EXPECT_FALSE(s->has_timesteps());
  }
}

TEST(Scheduler, UnknownNameListsValidOnes) {
  const std::string msg = error_of([] { make_scheduler("ddim"); });
  EXPECT_NE(msg.find("'ddim'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("unipc, euler, dpm++"), std::string::npos) << msg;
  EXPECT_EQ(msg.find('\n'), std::string::npos);
  EXPECT_NE(error_of([] { parse_schedule_kind("karras"); }).find("wan_unipc"), std::string::npos);
}

TEST(Scheduler, NamesAndDefaultSchedules) {
  EXPECT_EQ(make_scheduler("unipc")->schedule_kind(), SigmaScheduleKind::kWanUniPC);
  EXPECT_EQ(make_scheduler("dpm++")->schedule_kind(), SigmaScheduleKind::kWanDpm);
  EXPECT_EQ(make_scheduler("euler")->schedule_kind(), SigmaScheduleKind::kFlowMatchEuler);
  for (const char* solver : kSolvers) EXPECT_EQ(make_scheduler(solver)->name(), solver);
  auto s = make_scheduler("unipc", SigmaScheduleKind::kDiffusersFlow);
  s->set_timesteps(4, 3.0);
  EXPECT_EQ(s->timesteps().scalar_type(), at::kLong);
  auto e = make_scheduler("euler");
  e->set_timesteps(4, 3.0);
  EXPECT_EQ(e->timesteps().scalar_type(), at::kFloat);
}

// One step goes from sigma_0 straight to 0: every solver returns x0 = x - sigma_0 * v.
TEST(Scheduler, SingleStepLandsOnX0Prediction) {
  const at::Tensor x = randn({1, 4, 2, 3, 5}, 1);
  const at::Tensor v = randn({1, 4, 2, 3, 5}, 2);
  for (const char* solver : kSolvers) {
    SCOPED_TRACE(solver);
    auto s = make_scheduler(solver);
    s->set_timesteps(1, 5.0);
    ASSERT_EQ(s->num_steps(), 1);
    const at::Tensor out = s->step(v, 0, x);
    const at::Tensor expect = x - v * static_cast<double>(s->schedule().sigmas[0]);
    EXPECT_LE(test::relative_error(out, expect), 1e-6);
  }
}

TEST(Scheduler, RejectsMisuse) {
  const at::Tensor x = randn({1, 8}, 3);
  for (const char* solver : kSolvers) {
    SCOPED_TRACE(solver);
    auto s = make_scheduler(solver);
    EXPECT_NE(error_of([&] { s->step(x, 0, x); }).find("set_timesteps"), std::string::npos);
    s->set_timesteps(5, 5.0);
    EXPECT_NE(error_of([&] { s->step(x, 5, x); }).find("outside"), std::string::npos);
    EXPECT_NE(error_of([&] { s->step(randn({1, 9}, 4), 0, x); }).find("shape"), std::string::npos);
    s->step(x, 0, x);
    EXPECT_NE(error_of([&] { s->step(x, 2, x); }).find("consecutive"), std::string::npos);
    s->step(x, 1, x);  // still usable after the rejected call
    s->reset();
    s->step(x, 3, x);  // after reset a run may begin part-way
  }
}

// Ovi keeps one scheduler per modality over the same timesteps: interleaving two instances
// must give exactly what each gives alone.
TEST(Scheduler, InstancesAreIndependent) {
  const int64_t steps = 6;
  for (const char* solver : kSolvers) {
    SCOPED_TRACE(solver);
    auto run_alone = [&](uint64_t seed) {
      auto s = make_scheduler(solver);
      s->set_timesteps(steps, 5.0);
      at::Tensor x = randn({1, 3, 7}, seed);
      for (int64_t i = 0; i < steps; ++i) x = s->step(randn({1, 3, 7}, seed * 100 + i), i, x);
      return x;
    };
    auto video = make_scheduler(solver);
    auto audio = make_scheduler(solver);
    video->set_timesteps(steps, 5.0);
    audio->set_timesteps(steps, 5.0);
    at::Tensor xv = randn({1, 3, 7}, 11);
    at::Tensor xa = randn({1, 3, 7}, 12);
    for (int64_t i = 0; i < steps; ++i) {
      xv = video->step(randn({1, 3, 7}, 1100 + i), i, xv);
      xa = audio->step(randn({1, 3, 7}, 1200 + i), i, xa);
    }
    EXPECT_TRUE(at::equal(xv, run_alone(11)));
    EXPECT_TRUE(at::equal(xa, run_alone(12)));
    // reset() forgets the history: a second run over the same inputs repeats the first.
    video->reset();
    at::Tensor again = randn({1, 3, 7}, 11);
    for (int64_t i = 0; i < steps; ++i) again = video->step(randn({1, 3, 7}, 1100 + i), i, again);
    EXPECT_TRUE(at::equal(again, xv));
  }
}

// On a straight-line flow (v = noise - x0 everywhere) every solver is exact: it must end on x0.
TEST(Scheduler, ExactOnStraightFlow) {
  const at::Tensor noise = randn({2, 16}, 5);
  const at::Tensor x0 = randn({2, 16}, 6);
  for (const char* solver : kSolvers) {
    for (int64_t steps : {2, 7, 30}) {
      SCOPED_TRACE(std::string(solver) + " steps " + std::to_string(steps));
      auto s = make_scheduler(solver);
      s->set_timesteps(steps, 8.0);
      // Start on the line at sigma_0 (Wan's grid starts at 0.9998, not 1).
      const double sigma0 = s->schedule().sigmas[0];
      at::Tensor x = x0 * (1.0 - sigma0) + noise * sigma0;
      for (int64_t i = 0; i < steps; ++i) x = s->step(noise - x0, i, x);
      EXPECT_LE(test::relative_error(x, x0), 1e-5);
    }
  }
}

// Order 2 with warm-up (first step order 1) and lower_order_final (last step order 1).
TEST(Scheduler, UniPCOrderSchedule) {
  FlowUniPCMultistep s;
  s.set_timesteps(4, 5.0);
  EXPECT_EQ(s.last_order(), 0);
  at::Tensor x = randn({1, 5}, 7);
  std::vector<int> orders;
  for (int64_t i = 0; i < 4; ++i) {
    x = s.step(randn({1, 5}, 70 + i), i, x);
    orders.push_back(s.last_order());
  }
  EXPECT_EQ(orders, (std::vector<int>{1, 2, 2, 1}));
}

TEST(Scheduler, KeepsBf16LikeTheReference) {
  const at::Tensor x = randn({1, 4, 6}, 8).to(at::kBFloat16);
  const at::Tensor v = randn({1, 4, 6}, 9).to(at::kBFloat16);
  for (const char* solver : kSolvers) {
    auto s = make_scheduler(solver);
    s->set_timesteps(3, 5.0);
    EXPECT_EQ(s->step(v, 0, x).scalar_type(), at::kBFloat16) << solver;
  }
}

}  // namespace
}  // namespace duet
