// The lock table's side of durability (issue 9): nothing it decided is made
// known before its records are durable, and recovery from durable state
// (Restore) brings back sessions, grants, tokens, events and lock-delays,
// counting wall-clock time across the downtime.

#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/core/lock_table.h"
#include "tests/server/core/gated_log.h"
#include "tests/server/core/lock_table_fixture.h"
#include "tests/testing/fake_clock.h"
#include "tests/testing/status_matchers.h"

namespace taala {
namespace {

using ::taala::test::FakeClock;
using ::taala::test::RecordingSink;
using ::taala::test::RecordingWaiter;
using ::testing::HasSubstr;


constexpr absl::Duration kWall = absl::Hours(24 * 365 * 56);

class DurabilityCoreTest : public ::testing::Test {
 protected:
  static LockTable::Options Options(TransitionLog* log) {
    LockTable::Options o;
    o.shards = 4;
    o.log = log;
    o.wall_offset = kWall;
    return o;
  }
  uint64_t NewSession(LockTable& table, absl::Duration ttl = absl::Seconds(10)) {
    const uint64_t id = table.NewSessionId();
    EXPECT_OK(
        table.CreateSession({id, "c", {{"team", "a"}}, ttl, clock_.Now(), ""}));
    return id;
  }
  AcquireCmd Cmd(uint64_t s, std::string key,
                 absl::Duration wait = absl::ZeroDuration()) {
    AcquireCmd cmd;
    cmd.session_id = s;
    cmd.key = std::move(key);
    cmd.wait_timeout = wait;
    cmd.now = clock_.Now();
    return cmd;
  }
  uint64_t MustAcquire(LockTable& table, AcquireCmd cmd) {
    auto r = table.Acquire(cmd, nullptr);
    EXPECT_TRUE(r.has_value() && r->ok() && (*r)->acquired);
    return r.has_value() && r->ok() ? (*r)->grant.token : 0;
  }

  FakeClock clock_;
};

TEST_F(DurabilityCoreTest, AHandedOverGrantIsDeliveredOnlyOnceItsRecordIsDurable) {
  test::GatedLog log;
  LockTable table(Options(&log));
  const uint64_t a = NewSession(table), b = NewSession(table);
  const uint64_t token = MustAcquire(table, Cmd(a, "k"));
  RecordingWaiter w;
  ASSERT_FALSE(table.Acquire(Cmd(b, "k", absl::InfiniteDuration()), &w));
  ASSERT_OK(table.Release(ReleaseCmd{a, "k", token, clock_.Now()}));
  EXPECT_FALSE(w.done()) << "the grant reached its waiter before its record "
                            "was durable";
  const std::vector<Transition> records = log.records();
  ASSERT_EQ(records.back().type, TransitionType::kGrantMade);
  EXPECT_EQ(records.back().session_id, b);
  log.MakeDurable();
  ASSERT_TRUE(w.granted());
  EXPECT_EQ(w.token(), records.back().lsn) << "a token is its grant's LSN";
  table.Shutdown();
}

TEST_F(DurabilityCoreTest, AnEventIsSentOnlyOnceItsRecordIsDurableEvenToANewStream) {
  test::GatedLog log;
  LockTable table(Options(&log));
  const uint64_t a = NewSession(table, absl::Minutes(1));
  AcquireCmd cmd = Cmd(a, "k");
  cmd.max_hold = absl::Seconds(1);
  MustAcquire(table, cmd);
  log.MakeDurable();
  auto first = std::make_shared<RecordingSink>();
  ASSERT_OK(table.AttachSink(a, first));
  clock_.Advance(absl::Seconds(2));
  table.RunDueTimers(clock_.Now());  // Revoked: GRANT_REVOKED is posted.
  EXPECT_TRUE(first->events().empty());
  // A stream that attaches now is not sent it early either.
  auto second = std::make_shared<RecordingSink>();
  ASSERT_OK(table.AttachSink(a, second));
  EXPECT_TRUE(second->events().empty());
  log.MakeDurable();
  ASSERT_EQ(second->events().size(), 1u);
  EXPECT_EQ(second->events()[0].type, SessionEvent::Type::kGrantRevoked);
  table.Shutdown();
}

TEST_F(DurabilityCoreTest, RestoreBringsBackSessionsGrantsTokensAndEvents) {
  MemoryLog log;
  LockTable table(Options(&log));
  const uint64_t a = NewSession(table), b = NewSession(table);
  const uint64_t ka = MustAcquire(table, Cmd(a, "x/y"));
  AcquireCmd shared = Cmd(b, "r");
  shared.mode = LockMode::kShared;
  const uint64_t kb = MustAcquire(table, shared);
  AcquireCmd sem = Cmd(a, "pool");
  sem.semaphore_size = 2;
  MustAcquire(table, sem);
  // An event b has not acknowledged.
  AcquireCmd ask = Cmd(a, "r", absl::ZeroDuration());
  ask.request_release = true;
  ASSERT_TRUE(table.Acquire(ask, nullptr).has_value());
  DurableState state = table.ExportState();
  table.Shutdown();

  clock_.Advance(absl::Minutes(5));  // The downtime.
  MemoryLog log2(log.LastLsn() + 1);
  LockTable restored(Options(&log2));
  restored.Restore(state, clock_.Now(), absl::Seconds(5), true);
  restored.CheckInvariantsForTest();
  EXPECT_EQ(restored.SessionCount(), 2u);
  EXPECT_OK(restored.CheckFence("x/y", ka));
  EXPECT_OK(restored.CheckFence("r", kb));
  // The holder's retry gets its own grant back, same token.
  auto again = restored.Acquire(Cmd(a, "x/y"), nullptr);
  ASSERT_TRUE(again.has_value() && again->ok());
  EXPECT_TRUE((*again)->already_held);
  EXPECT_EQ((*again)->grant.token, ka);
  // The tree is back too: the parent is not free for another session.
  auto parent = restored.Acquire(Cmd(b, "x"), nullptr);
  ASSERT_TRUE(parent.has_value() && parent->ok());
  EXPECT_FALSE((*parent)->acquired);
  // A new grant's token is above every token of the previous run.
  const uint64_t next = MustAcquire(restored, Cmd(b, "fresh"));
  EXPECT_GT(next, log.LastLsn());
  // b's unacknowledged RELEASE_REQUESTED comes again, at its sequence, and
  // the next event follows it.
  auto sink = std::make_shared<RecordingSink>();
  ASSERT_OK(restored.AttachSink(b, sink));
  ASSERT_EQ(sink->events().size(), 1u);
  EXPECT_EQ(sink->events()[0].type, SessionEvent::Type::kReleaseRequested);
  EXPECT_EQ(sink->events()[0].sequence, 1u);
  // Leases restart: ttl + grace from recovery.
  clock_.Advance(absl::Seconds(14));
  restored.RunDueTimers(clock_.Now());
  EXPECT_EQ(restored.SessionCount(), 2u);
  clock_.Advance(absl::Seconds(2));
  restored.RunDueTimers(clock_.Now());
  EXPECT_EQ(restored.SessionCount(), 0u);
  restored.Shutdown();
}

TEST_F(DurabilityCoreTest, MaxHoldAndLockDelayCountWallClockTimeAcrossTheDowntime) {
  MemoryLog log;
  LockTable table(Options(&log));
  const uint64_t a = NewSession(table, absl::Minutes(10));
  AcquireCmd held = Cmd(a, "due");
  held.max_hold = absl::Seconds(30);
  held.lock_delay = absl::Seconds(60);
  MustAcquire(table, held);
  AcquireCmd later = Cmd(a, "later");
  later.max_hold = absl::Hours(1);
  MustAcquire(table, later);
  DurableState state = table.ExportState();
  table.Shutdown();

  clock_.Advance(absl::Seconds(40));  // Past "due"'s max hold.
  MemoryLog log2(log.LastLsn() + 1);
  LockTable restored(Options(&log2));
  restored.Restore(state, clock_.Now(), absl::Seconds(5), true);
  auto sink = std::make_shared<RecordingSink>();
  ASSERT_OK(restored.AttachSink(a, sink));
  restored.RunDueTimers(clock_.Now());
  ASSERT_EQ(sink->events().size(), 1u) << "the max hold that fell due during "
                                          "the downtime fires at recovery";
  EXPECT_EQ(sink->events()[0].key, "due");
  // Its lock-delay runs from the revocation (60 s).
  const uint64_t b = NewSession(restored, absl::Minutes(10));
  auto blocked = restored.Acquire(Cmd(b, "due"), nullptr);
  ASSERT_TRUE(blocked.has_value() && blocked->ok());
  EXPECT_FALSE((*blocked)->acquired);
  EXPECT_OK(restored.CheckFence("later", state.keys["later"].holders[0].token));
  DurableState mid = restored.ExportState();
  restored.Shutdown();

  // Down again for longer than the delay: it is over at recovery.
  clock_.Advance(absl::Seconds(90));
  MemoryLog log3(log2.LastLsn() + 1);
  LockTable third(Options(&log3));
  third.Restore(mid, clock_.Now(), absl::Seconds(5), true);
  third.RunDueTimers(clock_.Now());
  MustAcquire(third, Cmd(b, "due"));
  third.Shutdown();
}

TEST_F(DurabilityCoreTest, AGrantWhoseSessionIsNotRestoredEndsWithItsLockDelay) {
  MemoryLog log;
  LockTable table(Options(&log));
  const uint64_t a = NewSession(table);
  AcquireCmd cmd = Cmd(a, "k");
  cmd.lock_delay = absl::Seconds(10);
  const uint64_t token = MustAcquire(table, cmd);
  DurableState state = table.ExportState();
  state.sessions.clear();  // Its session ended in a record that was lost.
  table.Shutdown();

  test::GatedLog log2;
  LockTable restored(Options(&log2));
  restored.Restore(state, clock_.Now(), absl::Seconds(5), true);
  const std::vector<Transition> records = log2.records();
  ASSERT_GE(records.size(), 2u);
  EXPECT_EQ(records[0].type, TransitionType::kGrantEnded);
  EXPECT_EQ(records[0].token, token);
  EXPECT_EQ(records[1].type, TransitionType::kLockDelayStarted);
  log2.MakeDurable();
  const uint64_t b = NewSession(restored);
  auto r = restored.Acquire(Cmd(b, "k"), nullptr);
  ASSERT_TRUE(r.has_value() && r->ok());
  EXPECT_FALSE((*r)->acquired) << "its lock-delay holds the key";
  restored.Shutdown();
}

TEST_F(DurabilityCoreTest, GrantsAreRefusedDuringTheWindowSessionsAreNot) {
  MemoryLog log;
  LockTable table(Options(&log));
  table.RefuseGrantsUntil(clock_.Now() + absl::Seconds(30));
  const uint64_t a = NewSession(table, absl::Minutes(1));
  auto r = table.Acquire(Cmd(a, "k"), nullptr);
  ASSERT_TRUE(r.has_value());
  EXPECT_THAT(*r, test::StatusIs(absl::StatusCode::kUnavailable,
                                 HasSubstr("unclean stop")));
  clock_.Advance(absl::Seconds(31));
  ASSERT_OK(table.KeepAlive(KeepAliveCmd{a, clock_.Now()}));
  MustAcquire(table, Cmd(a, "k"));
  table.Shutdown();
}


TEST_F(DurabilityCoreTest, AWaiterThatLeavesDuringTheFsyncGetsNoGrantAndTheKeyMovesOn) {
  test::GatedLog log;
  LockTable table(Options(&log));
  const uint64_t a = NewSession(table), b = NewSession(table),
                 c = NewSession(table);
  const uint64_t token = MustAcquire(table, Cmd(a, "k"));
  RecordingWaiter leaves, next;
  ASSERT_FALSE(table.Acquire(Cmd(b, "k", absl::InfiniteDuration()), &leaves));
  ASSERT_FALSE(table.Acquire(Cmd(c, "k", absl::InfiniteDuration()), &next));
  log.MakeDurable();
  ASSERT_OK(table.Release(ReleaseCmd{a, "k", token, clock_.Now()}));
  // b is granted "k" under the mutex; its caller leaves while the record is
  // on its way to disk.
  leaves.set_gone();
  log.MakeDurable();  // Delivery fails: the grant is taken back ...
  ASSERT_TRUE(leaves.done());
  EXPECT_FALSE(next.done());
  log.MakeDurable();  // ... and, once that is durable, c gets the key.
  ASSERT_TRUE(next.granted());
  EXPECT_GT(next.token(), leaves.token());
  table.CheckInvariantsForTest();
  table.Shutdown();
}

}  // namespace
}  // namespace taala
