// The token bucket per identity (--max_requests_per_second_per_identity),
// with the time injected.

#include "server/auth/rate_limiter.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"

namespace taala {
namespace auth {
namespace {

const absl::Time kT0 = absl::FromUnixSeconds(1000000);

TEST(RateLimiterTest, NoLimitWhenRateIsZero) {
  RateLimiter limiter(0, 0);
  for (int i = 0; i < 100000; ++i) ASSERT_TRUE(limiter.Take("a", kT0));
  EXPECT_EQ(limiter.BucketCount(), 0u);
}

TEST(RateLimiterTest, BurstThenRefusedThenRefilledAtRate) {
  RateLimiter limiter(10, 10);
  for (int i = 0; i < 10; ++i) EXPECT_TRUE(limiter.Take("a", kT0)) << i;
  EXPECT_FALSE(limiter.Take("a", kT0));
  EXPECT_FALSE(limiter.Take("a", kT0 + absl::Milliseconds(50)));
  // 100 ms at 10/s: one more token.
  EXPECT_TRUE(limiter.Take("a", kT0 + absl::Milliseconds(150)));
  EXPECT_FALSE(limiter.Take("a", kT0 + absl::Milliseconds(150)));
  // Refill stops at the burst.
  const absl::Time later = kT0 + absl::Hours(1);
  for (int i = 0; i < 10; ++i) EXPECT_TRUE(limiter.Take("a", later)) << i;
  EXPECT_FALSE(limiter.Take("a", later));
}

TEST(RateLimiterTest, IdentitiesHaveTheirOwnBuckets) {
  RateLimiter limiter(5, 5);
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(limiter.Take("flooder", kT0));
  EXPECT_FALSE(limiter.Take("flooder", kT0));
  for (int i = 0; i < 5; ++i) EXPECT_TRUE(limiter.Take("other", kT0)) << i;
}

TEST(RateLimiterTest, SustainedRateMatchesTheFlag) {
  // Ask once a millisecond for 10 s at 100/s: about 100 * 10 + burst pass.
  RateLimiter limiter(100, 100);
  int passed = 0;
  for (int ms = 0; ms < 10000; ++ms) {
    passed += limiter.Take("a", kT0 + absl::Milliseconds(ms)) ? 1 : 0;
  }
  EXPECT_GE(passed, 1095);
  EXPECT_LE(passed, 1101);
}

TEST(RateLimiterTest, TimeGoingBackwardsRefillsNothing) {
  RateLimiter limiter(1, 1);
  ASSERT_TRUE(limiter.Take("a", kT0));
  EXPECT_FALSE(limiter.Take("a", kT0 - absl::Hours(1)));
  EXPECT_FALSE(limiter.Take("a", kT0));
}

TEST(RateLimiterTest, IdleBucketsAreDropped) {
  RateLimiter limiter(100, 100);  // a bucket refills in 1 s
  for (int i = 0; i < 50000; ++i) {
    ASSERT_TRUE(limiter.Take(absl::StrCat("id-", i), kT0));
  }
  EXPECT_EQ(limiter.BucketCount(), 50000u);
  // Two seconds later each shard sweeps on its next call: what stays is
  // only what called since. (1000 new names: every shard gets some, under
  // any hash seed; 64 left one shard unswept about once in four runs.)
  for (int i = 0; i < 1000; ++i) {
    ASSERT_TRUE(limiter.Take(absl::StrCat("new-", i), kT0 + absl::Seconds(2)));
  }
  EXPECT_LE(limiter.BucketCount(), 1000u);
  // A dropped bucket was full: the identity gets its whole burst again.
  for (int i = 0; i < 100; ++i) {
    EXPECT_TRUE(limiter.Take("id-7", kT0 + absl::Seconds(2))) << i;
  }
  EXPECT_FALSE(limiter.Take("id-7", kT0 + absl::Seconds(2)));
}

TEST(RateLimiterTest, BurstBelowOneIsRaised) {
  RateLimiter limiter(0.5, 0);
  EXPECT_EQ(limiter.burst(), 1);
  EXPECT_TRUE(limiter.Take("a", kT0));
  EXPECT_FALSE(limiter.Take("a", kT0 + absl::Seconds(1)));
  EXPECT_TRUE(limiter.Take("a", kT0 + absl::Seconds(2)));
}

}  // namespace
}  // namespace auth
}  // namespace taala
