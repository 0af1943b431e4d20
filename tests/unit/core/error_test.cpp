#include "core/error.h"

#include <gtest/gtest.h>

#include <thread>

#include "core/timer.h"

namespace duet {
namespace {

int checked_div(int a, int b) {
  DUET_CHECK(b != 0, "cannot divide {} by zero (field '{}')", a, "divisor");
  return a / b;
}

TEST(Error, CheckFormatsMessageAndKeepsLocation) {
  EXPECT_EQ(checked_div(7, 2), 3);
  try {
    checked_div(7, 0);
    FAIL() << "expected duet::Error";
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "cannot divide 7 by zero (field 'divisor')");
    EXPECT_NE(std::string(e.file()).find("error_test.cpp"), std::string::npos);
    EXPECT_GT(e.line(), 0);
  }
}

TEST(Error, FailAlwaysThrowsAndIsARuntimeError) {
  EXPECT_THROW(DUET_FAIL("x = {}", 1), std::runtime_error);
}

TEST(Timer, ScopedTimersAccumulatePerName) {
  TimerRegistry registry;
  for (int i = 0; i < 3; ++i) {
    ScopedTimer t("step", registry);
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  { ScopedTimer t("decode", registry); }
  const auto stats = registry.snapshot();
  ASSERT_EQ(stats.size(), 2u);
  EXPECT_EQ(stats.at("step").count, 3);
  EXPECT_GE(stats.at("step").total_seconds, 0.006);
  EXPECT_EQ(stats.at("decode").count, 1);
  registry.clear();
  EXPECT_TRUE(registry.snapshot().empty());
}

}  // namespace
}  // namespace duet
