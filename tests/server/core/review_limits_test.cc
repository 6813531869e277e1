// Review (issue 12, rev-limits): the lock table's per-identity limits at
// their edges, against the real core classes.

#include <cstdint>
#include <memory>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/core/lock_table.h"
#include "tests/server/core/lock_table_fixture.h"
#include "tests/testing/fake_clock.h"
#include "tests/testing/status_matchers.h"

namespace taala {
namespace test {
namespace {

class ReviewLimitsTest : public ::testing::Test {
 protected:
  static LockTable::Options Limited() {
    LockTable::Options options;
    options.shards = 4;
    options.limits.max_sessions_per_identity = 2;
    options.limits.max_held_per_identity = 3;
    options.limits.max_waiters_per_identity = 2;
    options.limits.max_waiters_per_key = 1;
    options.limits.max_held_per_session = 2;
    options.limits.max_waiters_per_session = 1;
    options.limits.max_keys = 6;
    return options;
  }
  void TearDown() override { table_.CheckInvariantsForTest(); }

  uint64_t MustCreate(const std::string& owner, absl::Duration ttl = kTtl) {
    CreateSessionCmd cmd;
    cmd.session_id = table_.NewSessionId();
    cmd.owner = owner;
    cmd.client_name = "c";
    cmd.ttl = ttl;
    cmd.now = clock_.Now();
    absl::StatusOr<SessionInfo> info = table_.CreateSession(cmd);
    EXPECT_TRUE(info.ok()) << info.status();
    return info.ok() ? info->session_id : 0;
  }
  AcquireCmd Cmd(uint64_t session, const std::string& key) {
    AcquireCmd cmd;
    cmd.session_id = session;
    cmd.key = key;
    cmd.wait_timeout = absl::ZeroDuration();
    cmd.now = clock_.Now();
    return cmd;
  }

  FakeClock clock_;
  LockTable table_{Limited()};
};

// One identity, never over any per-identity limit (it holds at most one
// key at a time), leaves a lock-delay entry behind each grant it lets be
// revoked (max_hold) and so fills the whole table's --max_keys: every
// other identity's acquire of a new key is then refused for up to
// --max_lock_delay (1 h). No per-identity limit counts those entries.
TEST_F(ReviewLimitsTest, OneIdentitysLockDelaysDoNotLockOthersOutOfNewKeys) {
  // FINDING: lock-delay entries are counted by no per-identity limit, so one identity fills --max_keys and every other identity's new key is refused
  const uint64_t a = MustCreate("mallory");
  for (int i = 0; i < 6; ++i) {
    AcquireCmd cmd = Cmd(a, "m" + std::to_string(i));
    cmd.max_hold = absl::Seconds(1);
    cmd.lock_delay = absl::Hours(1);
    auto r = table_.Acquire(cmd, nullptr);
    ASSERT_TRUE(r.has_value());
    ASSERT_OK(r->status());
    ASSERT_TRUE((*r)->acquired);
    clock_.Advance(absl::Seconds(2));
    table_.RunDueTimers(clock_.Now());  // The grant is revoked: delayed.
    ASSERT_OK(table_.KeepAlive(KeepAliveCmd{a, clock_.Now()}).status());
  }
  EXPECT_EQ(table_.OwnerCountsForTest("mallory").held, 0);
  // Another identity, nothing held anywhere, asks for a key of its own.
  const uint64_t b = MustCreate("bob");
  auto r = table_.Acquire(Cmd(b, "bobs-key"), nullptr);
  ASSERT_TRUE(r.has_value());
  EXPECT_OK(r->status());
  EXPECT_TRUE(r->ok() && (*r)->acquired);
}


// --max_held_per_session is "most grants one session may hold", and the
// per-session counts are documented as exact. A wait is admitted against
// the grants the session holds when it is queued; grants the session takes
// while it waits are not counted against the wait, so when the wait is
// served the session holds more than the limit.
TEST_F(ReviewLimitsTest, ServedWaitDoesNotTakeASessionPastMaxHeldPerSession) {
  // FINDING: a wait admitted under --max_held_per_session is granted later without a re-check, so a session holds limit+waits grants
  const uint64_t h = MustCreate("holder");
  ASSERT_TRUE((*table_.Acquire(Cmd(h, "x"), nullptr))->acquired);
  const uint64_t a = MustCreate("alice");
  ASSERT_TRUE((*table_.Acquire(Cmd(a, "k1"), nullptr))->acquired);
  RecordingWaiter w;
  AcquireCmd wait = Cmd(a, "x");
  wait.wait_timeout = absl::InfiniteDuration();
  EXPECT_FALSE(table_.Acquire(wait, &w).has_value());  // Queued (holds 1).
  ASSERT_TRUE((*table_.Acquire(Cmd(a, "k2"), nullptr))->acquired);  // 2.
  ASSERT_OK(table_.CloseSession(CloseSessionCmd{h, clock_.Now()}).status());
  // Either the wait is refused when it would be served, or the session
  // holds at most the limit.
  EXPECT_LE(table_.OwnerCountsForTest("alice").held, 2)
      << "granted: " << w.granted();
}

// KeepAlive takeover in the table (LockTable::AttachSink): the newer sink
// gets every unacknowledged event again, the older is closed ABORTED and
// gets nothing more; an acknowledged event is never resent; a sink that
// asks only_if_none never steals; a sink cannot attach to an ended session.
TEST_F(ReviewLimitsTest, TakeoverResendsUnackedEventsAndClosesTheOlderSink) {
  const uint64_t a = MustCreate("alice");
  auto g = table_.Acquire(Cmd(a, "k"), nullptr);
  ASSERT_TRUE((*g)->acquired);
  auto first = std::make_shared<RecordingSink>();
  ASSERT_OK(table_.AttachSink(a, first));
  ForceReleaseCmd force;
  force.key = "k";
  force.reason = "test";
  force.caller = "ops";
  force.skip_lock_delay = true;
  force.now = clock_.Now();
  ASSERT_OK(table_.ForceRelease(force).status());
  ASSERT_EQ(first->events().size(), 1u);
  const uint64_t seq = first->events()[0].sequence;

  auto second = std::make_shared<RecordingSink>();
  ASSERT_OK(table_.AttachSink(a, second));
  ASSERT_TRUE(first->closed().has_value());
  EXPECT_EQ(first->closed()->code(), absl::StatusCode::kAborted);
  ASSERT_EQ(second->events().size(), 1u);  // Resent: not acknowledged.
  EXPECT_EQ(second->events()[0].sequence, seq);

  // The older one, still renewing, does not take the session back.
  auto third = std::make_shared<RecordingSink>();
  ASSERT_OK(table_.AttachSink(a, third, /*only_if_none=*/true));
  EXPECT_FALSE(second->closed().has_value());
  EXPECT_TRUE(third->events().empty());

  table_.AckEvents(a, seq);
  auto fourth = std::make_shared<RecordingSink>();
  ASSERT_OK(table_.AttachSink(a, fourth));
  EXPECT_TRUE(fourth->events().empty());  // Acknowledged: not resent.
  EXPECT_EQ(first->events().size(), 1u);  // The closed one got no more.

  ASSERT_OK(table_.CloseSession(CloseSessionCmd{a, clock_.Now()}).status());
  auto late = std::make_shared<RecordingSink>();
  EXPECT_EQ(table_.AttachSink(a, late).code(), absl::StatusCode::kNotFound);
  EXPECT_FALSE(late->closed().has_value());
}

// A refused acquire (any limit) leaves no key entry, queues nothing and
// asks no holder to release; the refused identity's counters stay exact.
TEST_F(ReviewLimitsTest, RefusalsLeaveNoKeyNoWaitAndNoReleaseRequest) {
  const uint64_t h = MustCreate("holder");
  ASSERT_TRUE((*table_.Acquire(Cmd(h, "busy"), nullptr))->acquired);
  auto sink = std::make_shared<RecordingSink>();
  ASSERT_OK(table_.AttachSink(h, sink));
  const uint64_t q = MustCreate("queued");
  RecordingWaiter qw;
  AcquireCmd qwait = Cmd(q, "busy");
  qwait.wait_timeout = absl::InfiniteDuration();
  EXPECT_FALSE(table_.Acquire(qwait, &qw).has_value());  // busy's queue full.
  const size_t keys = table_.KeyCount();
  const uint64_t a = MustCreate("alice");
  RecordingWaiter w;
  AcquireCmd wait = Cmd(a, "busy");
  wait.wait_timeout = absl::InfiniteDuration();
  wait.request_release = true;
  auto r = table_.Acquire(wait, &w);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_FALSE(w.done());
  EXPECT_TRUE(sink->events().empty());  // No RELEASE_REQUESTED.
  EXPECT_EQ(table_.KeyCount(), keys);
  EXPECT_EQ(table_.OwnerCountsForTest("alice").waiting, 0);
  // Over the memory budget: a new key's wait is refused and leaves no entry.
  table_.SetOverMemoryBudget(true, "limit --memory_budget=1 reached");
  auto other = table_.Acquire(Cmd(h, "other"), nullptr);
  ASSERT_TRUE((*other)->acquired);
  AcquireCmd w2 = Cmd(a, "other");
  w2.wait_timeout = absl::InfiniteDuration();
  RecordingWaiter ww;
  auto r2 = table_.Acquire(w2, &ww);
  ASSERT_TRUE(r2.has_value());
  EXPECT_EQ(r2->status().code(), absl::StatusCode::kResourceExhausted);
  // Holders' releases and keepalives are served.
  ASSERT_OK(table_.KeepAlive(KeepAliveCmd{h, clock_.Now()}).status());
  ASSERT_OK(table_.Release(ReleaseCmd{h, "other", (*other)->grant.token, clock_.Now()}));
  table_.SetOverMemoryBudget(false, "");
  EXPECT_EQ(table_.OwnerCountsForTest("alice").waiting, 0);
  EXPECT_EQ(table_.OwnerCountsForTest("alice").held, 0);
  ASSERT_OK(table_.CloseSession(CloseSessionCmd{h, clock_.Now()}).status());
  EXPECT_TRUE(qw.granted());
}

}  // namespace
}  // namespace test
}  // namespace taala
