#include "server/core/timer_queue.h"

#include "gtest/gtest.h"

namespace taala {
namespace {

const absl::Time kT0 = absl::UnixEpoch() + absl::Hours(1);

Timer At(absl::Time when, uint64_t id) {
  return Timer{when, Timer::Kind::kSessionExpiry, id, 0, ""};
}

TEST(TimerQueueTest, PopsOnlyDueTimersEarliestFirst) {
  TimerQueue q;
  q.Schedule(At(kT0 + absl::Seconds(3), 3));
  q.Schedule(At(kT0 + absl::Seconds(1), 1));
  q.Schedule(At(kT0 + absl::Seconds(2), 2));
  EXPECT_EQ(q.NextDeadline(), kT0 + absl::Seconds(1));
  std::vector<Timer> due = q.PopDue(kT0 + absl::Seconds(2));
  ASSERT_EQ(due.size(), 2u);
  EXPECT_EQ(due[0].session_id, 1u);
  EXPECT_EQ(due[1].session_id, 2u);
  EXPECT_EQ(q.size(), 1u);
  EXPECT_TRUE(q.PopDue(kT0 + absl::Seconds(2)).empty());
}

TEST(TimerQueueTest, EmptyQueueHasNoDeadline) {
  TimerQueue q;
  EXPECT_EQ(q.NextDeadline(), absl::InfiniteFuture());
}

TEST(TimerQueueTest, ACancelledTimerIsGoneAndNeverFires) {
  TimerQueue q;
  TimerId first = q.Schedule(At(kT0 + absl::Seconds(1), 1));
  TimerId same_time = q.Schedule(At(kT0 + absl::Seconds(1), 2));
  q.Schedule(At(kT0 + absl::Seconds(2), 3));
  EXPECT_EQ(q.size(), 3u);
  q.Cancel(first);
  EXPECT_FALSE(first.armed());
  q.Cancel(first);  // A second cancel is a no-op.
  EXPECT_EQ(q.size(), 2u);
  std::vector<Timer> due = q.PopDue(kT0 + absl::Seconds(2));
  ASSERT_EQ(due.size(), 2u);
  EXPECT_EQ(due[0].session_id, 2u);
  EXPECT_EQ(due[1].session_id, 3u);
  q.Cancel(same_time);  // Already fired: a no-op.
  EXPECT_EQ(q.size(), 0u);
  EXPECT_EQ(q.NextDeadline(), absl::InfiniteFuture());
}

TEST(TimerQueueTest, AChangeAfterReadingTheGenerationIsNotMissed) {
  TimerQueue q;
  const uint64_t seen = q.generation();
  q.Schedule(At(kT0, 1));  // Earliest timer: a change.
  EXPECT_NE(q.generation(), seen);
  // Returns at once; with a lost wake-up this would block for an hour.
  q.WaitForChange(seen, absl::Hours(1));
  const uint64_t later = q.generation();
  q.Schedule(At(kT0 + absl::Seconds(1), 2));  // Not earliest: no change.
  EXPECT_EQ(q.generation(), later);
  q.Wake();
  q.WaitForChange(later, absl::Hours(1));
}

}  // namespace
}  // namespace taala
