// The lock table's timers: the timer queue holds entries only for live
// state (grants with a max hold, finite waits, sessions, lock-delays).

#include <atomic>
#include <cstdint>
#include <deque>
#include <string>
#include <thread>

#include "gtest/gtest.h"
#include "server/core/lock_table.h"
#include "tests/server/core/lock_table_fixture.h"
#include "tests/testing/status_matchers.h"

namespace taala {
namespace {

using ::taala::test::LockTableTest;
using ::taala::test::RecordingWaiter;
using ::taala::test::WithMode;

// Entries the queue may hold beyond live timed grants and waits (sessions'
// expiries, lock-delays, slack of the structure).
constexpr size_t kSlack = 1024;

TEST_F(LockTableTest,
       TimersFollowLiveState_ReleasedMaxHoldGrantsAndCancelledWaitsLeaveNone) {
  const uint64_t holder = NewSession();
  const uint64_t waiter = NewSession();
  for (int i = 0; i < 200000; ++i) {
    auto r = table_.Acquire(
        Cmd(holder, "k", absl::ZeroDuration(), absl::Hours(1)), nullptr);
    ASSERT_TRUE(r.has_value() && r->ok() && (*r)->acquired);
    ASSERT_OK(Release(holder, "k", (*r)->grant.token));
  }
  // Live: no timed grant, no wait.
  EXPECT_LE(table_.timers().size(), kSlack);

  // One live timed grant on "held" keeps every wait below queued.
  auto held = table_.Acquire(
      Cmd(holder, "held", absl::ZeroDuration(), absl::Hours(1)), nullptr);
  ASSERT_TRUE(held.has_value() && held->ok() && (*held)->acquired);
  for (int i = 0; i < 78000; ++i) {
    RecordingWaiter w;
    Wait(waiter, "held", &w, absl::Hours(1));
    table_.CancelWait(CancelWaitCmd{waiter, "held", 0, &w,
                                    CancelReason::kCancelled, clock_.Now()});
    ASSERT_TRUE(w.done());
  }
  // Live: one timed grant, no wait.
  EXPECT_LE(table_.timers().size(), 1 + kSlack);
}

TEST_F(LockTableTest,
       TimersFollowLiveState_RetriesAndUpgradesLeaveOneEntryEach) {
  const uint64_t holder = NewSession();
  const uint64_t waiter = NewSession();
  auto held = table_.Acquire(Cmd(holder, "held"), nullptr);
  ASSERT_TRUE(held.has_value() && held->ok() && (*held)->acquired);
  // A retry takes over the queue place of the wait it supersedes, and its
  // timer.
  std::deque<RecordingWaiter> waiters(5000);
  for (RecordingWaiter& w : waiters) Wait(waiter, "held", &w, absl::Hours(1));
  EXPECT_LE(table_.timers().size(), 1 + kSlack);
  table_.CancelWait(CancelWaitCmd{waiter, "held", 0, nullptr,
                                  CancelReason::kCancelled, clock_.Now()});
  // An upgrade replaces its SHARED grant, and the grant's max-hold timer.
  for (int i = 0; i < 5000; ++i) {
    const std::string key = "up";
    auto s = table_.Acquire(
        WithMode(Cmd(waiter, key, absl::ZeroDuration(), absl::Hours(1)),
                 LockMode::kShared),
        nullptr);
    ASSERT_TRUE(s.has_value() && s->ok() && (*s)->acquired);
    auto x = table_.Acquire(Cmd(waiter, key, absl::ZeroDuration(),
                                absl::Hours(1)),
                            nullptr);
    ASSERT_TRUE(x.has_value() && x->ok() && (*x)->acquired);
    ASSERT_OK(Release(waiter, key, (*x)->grant.token));
  }
  EXPECT_LE(table_.timers().size(), kSlack);
}


TEST_F(LockTableTest, TimersFollowLiveState_FromTwoThreadsWhileTimersRun) {
  const uint64_t s1 = NewSession(), s2 = NewSession();
  const absl::Time now = clock_.Now();
  std::atomic<bool> done{false};
  auto churn = [&](uint64_t s, const std::string& key) {
    for (int i = 0; i < 20000; ++i) {
      AcquireCmd cmd = Cmd(s, key, absl::ZeroDuration(), absl::Hours(1));
      auto r = table_.Acquire(cmd, nullptr);
      ASSERT_TRUE(r.has_value() && r->ok() && (*r)->acquired);
      ASSERT_OK(table_.Release(ReleaseCmd{s, key, (*r)->grant.token, now}));
    }
  };
  std::thread timers([&] {
    while (!done.load()) table_.RunDueTimers(now);
  });
  std::thread t1(churn, s1, "x/1"), t2(churn, s2, "x/2");
  t1.join();
  t2.join();
  done = true;
  timers.join();
  EXPECT_LE(table_.timers().size(), kSlack);
}

}  // namespace
}  // namespace taala
