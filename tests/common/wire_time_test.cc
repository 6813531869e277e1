#include "common/wire_time.h"

#include "gtest/gtest.h"

namespace taala {
namespace {

TEST(WireTimeTest, InfiniteDurationIsMinusOneOnTheWire) {
  EXPECT_EQ(DurationToMs(absl::InfiniteDuration()), kInfiniteMs);
  EXPECT_EQ(DurationFromMs(kInfiniteMs), absl::InfiniteDuration());
  EXPECT_EQ(DurationFromMs(-5), absl::InfiniteDuration());
}

TEST(WireTimeTest, FiniteDurationsRoundTripInWholeMilliseconds) {
  EXPECT_EQ(DurationToMs(absl::Milliseconds(1500)), 1500);
  EXPECT_EQ(DurationToMs(absl::Microseconds(2999)), 2);
  EXPECT_EQ(DurationToMs(absl::ZeroDuration()), 0);
  EXPECT_EQ(DurationFromMs(0), absl::ZeroDuration());
  EXPECT_EQ(DurationFromMs(250), absl::Milliseconds(250));
}

TEST(WireTimeTest, NegativeDurationsAreZeroOnTheWire) {
  EXPECT_EQ(DurationToMs(absl::Milliseconds(-7)), 0);
  EXPECT_EQ(DurationToMs(-absl::InfiniteDuration()), 0);
}

TEST(WireTimeTest, SteadyNowNeverGoesBack) {
  absl::Time last = SteadyNow();
  for (int i = 0; i < 1000; ++i) {
    const absl::Time now = SteadyNow();
    EXPECT_GE(now, last);
    last = now;
  }
}

}  // namespace
}  // namespace taala
