#include "client/circuit_breaker.h"

#include "gtest/gtest.h"

namespace taala {
namespace {

const absl::Time kT0 = absl::UnixEpoch() + absl::Hours(1);

CircuitBreaker MakeBreaker() {
  CircuitBreakerOptions options;
  options.failure_threshold = 3;
  options.open_for = absl::Seconds(1);
  return CircuitBreaker(options);
}

TEST(CircuitBreakerTest, OpensAfterConsecutiveFailures) {
  CircuitBreaker b = MakeBreaker();
  b.RecordFailure(kT0);
  b.RecordFailure(kT0);
  b.RecordSuccess();  // Not consecutive any more.
  b.RecordFailure(kT0);
  b.RecordFailure(kT0);
  EXPECT_EQ(b.state(kT0), CircuitState::kClosed);
  EXPECT_TRUE(b.Allow(kT0));
  b.RecordFailure(kT0);
  EXPECT_EQ(b.state(kT0), CircuitState::kOpen);
  EXPECT_FALSE(b.Allow(kT0 + absl::Milliseconds(999)));
}

TEST(CircuitBreakerTest, HalfOpenLetsOneProbeThrough) {
  CircuitBreaker b = MakeBreaker();
  for (int i = 0; i < 3; ++i) b.RecordFailure(kT0);
  const absl::Time later = kT0 + absl::Seconds(1);
  EXPECT_EQ(b.state(later), CircuitState::kHalfOpen);
  EXPECT_TRUE(b.Allow(later));   // The probe.
  EXPECT_FALSE(b.Allow(later));  // Everyone else waits for it.
  b.RecordSuccess();
  EXPECT_EQ(b.state(later), CircuitState::kClosed);
  EXPECT_TRUE(b.Allow(later));
}

TEST(CircuitBreakerTest, FailedProbeOpensAgain) {
  CircuitBreaker b = MakeBreaker();
  for (int i = 0; i < 3; ++i) b.RecordFailure(kT0);
  const absl::Time later = kT0 + absl::Seconds(1);
  ASSERT_TRUE(b.Allow(later));
  b.RecordFailure(later);
  EXPECT_EQ(b.state(later), CircuitState::kOpen);
  EXPECT_FALSE(b.Allow(later + absl::Milliseconds(500)));
  EXPECT_TRUE(b.Allow(later + absl::Seconds(1)));
}

TEST(CircuitBreakerTest, AProbeThatNeverReportsBackDoesNotKeepItOpen) {
  CircuitBreaker b = MakeBreaker();
  for (int i = 0; i < 3; ++i) b.RecordFailure(kT0);
  const absl::Time later = kT0 + absl::Seconds(1);
  ASSERT_TRUE(b.Allow(later));  // A probe with no deadline, still waiting.
  EXPECT_FALSE(b.Allow(later + absl::Milliseconds(500)));
  EXPECT_TRUE(b.Allow(later + absl::Seconds(1)));  // Another probe.
}

}  // namespace
}  // namespace taala
