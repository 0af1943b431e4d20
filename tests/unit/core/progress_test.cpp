// Progress lines: step counts, rates, ETA, the bar, and the plain-line throttling for logs.
#include <gtest/gtest.h>

#include <cstdio>
#include <string>

#include "core/progress.h"
#include "support/test_support.h"

namespace duet {
namespace {

TEST(Progress, LineShowsStepRateAndEta) {
  const std::string l = ProgressPrinter::format_line({"denoise", 10, 50}, 20.0, false);
  EXPECT_NE(l.find("denoise"), std::string::npos) << l;
  EXPECT_NE(l.find("10/50"), std::string::npos) << l;
  EXPECT_NE(l.find("2.00 s/it"), std::string::npos) << l;
  EXPECT_NE(l.find("ETA 1:20"), std::string::npos) << l;  // 40 steps left at 2 s each
  const std::string fast = ProgressPrinter::format_line({"decode", 30, 60}, 10.0, false);
  EXPECT_NE(fast.find("3.00 it/s"), std::string::npos) << fast;
  EXPECT_NE(fast.find("ETA 0:10"), std::string::npos) << fast;
  const std::string done = ProgressPrinter::format_line({"decode", 60, 60}, 3725.0, false);
  EXPECT_NE(done.find("done in 1:02:05"), std::string::npos) << done;
  const std::string bar = ProgressPrinter::format_line({"denoise", 12, 24}, 1.0, true);
  EXPECT_NE(bar.find("[############------------]"), std::string::npos) << bar;
  const std::string start = ProgressPrinter::format_line({"text", 0, 1}, 0.0, false);
  EXPECT_EQ(start.find("ETA"), std::string::npos) << start;
}

TEST(Progress, PlainLinesAreThrottled) {
  test::TempDir tmp;
  const auto path = (tmp / "log.txt").string();
  std::FILE* f = std::fopen(path.c_str(), "w");
  ASSERT_NE(f, nullptr);
  ProgressPrinter p(f, /*terminal=*/false, /*line_interval_seconds=*/3600.0);
  for (int64_t i = 0; i <= 100; ++i) p.update({"denoise", i, 100});
  std::fclose(f);
  const std::string log = test::read_file(path);
  // step 1 and the last step only: an hour between lines was asked for
  EXPECT_EQ(std::count(log.begin(), log.end(), '\n'), 2) << log;
  EXPECT_NE(log.find("1/100"), std::string::npos) << log;
  EXPECT_NE(log.find("100/100"), std::string::npos) << log;
  EXPECT_EQ(log.find('\r'), std::string::npos) << log;
}

TEST(Progress, CancellationIsCooperative) {
  reset_cancel();
  EXPECT_NO_THROW(throw_if_cancelled());
  request_cancel();
  EXPECT_TRUE(cancel_requested());
  EXPECT_THROW(throw_if_cancelled(), Cancelled);
  reset_cancel();
  EXPECT_FALSE(cancel_requested());
}

}  // namespace
}  // namespace duet
