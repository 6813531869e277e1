// Review of LockTable::Restore (rev-restore): scenarios where a table
// restored from what recovery folds out of the log behaves differently from
// the table that wrote the log (the oracle: it should behave as the original
// would have, except for waiters and leases). The tests not named Covered_*
// are expected to FAIL until the bugs they name are fixed; Covered_* pass.

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/core/durable_state.h"
#include "server/core/lock_table.h"
#include "server/core/transition.h"
#include "tests/server/core/lock_table_fixture.h"
#include "tests/testing/fake_clock.h"
#include "tests/testing/status_matchers.h"

namespace taala {
namespace {

using ::taala::test::FakeClock;
using ::taala::test::RecordingSink;
using ::taala::test::RecordingWaiter;

constexpr absl::Duration kWall = absl::Hours(24 * 365 * 56);

// A table whose every record is folded as recovery folds the log (the
// snapshotter and wal::Recover: DurableState::Apply, no acks recorded).
struct TableRun {
  explicit TableRun(uint64_t first_lsn, size_t max_events)
      : log(first_lsn), table(Opts(&log, max_events)) {
    fold.max_events = max_events;
    log.set_tap([this](const Transition& t) {
      if (!fold.Apply(t)) rejected = true;
    });
  }
  static LockTable::Options Opts(TransitionLog* log, size_t max_events) {
    LockTable::Options o;
    o.shards = 4;
    o.log = log;
    o.wall_offset = kWall;
    o.max_pending_events = max_events;
    return o;
  }
  ~TableRun() { table.Shutdown(); }
  MemoryLog log;
  DurableState fold;
  bool rejected = false;
  LockTable table;
};

class RestoreReviewTest : public ::testing::Test {
 protected:
  uint64_t NewSession(LockTable& table,
                      absl::Duration ttl = absl::Minutes(10)) {
    const uint64_t id = table.NewSessionId();
    EXPECT_OK(table.CreateSession({id, "c", {}, ttl, clock_.Now(), ""}));
    return id;
  }
  AcquireCmd Cmd(uint64_t s, std::string key, LockMode mode = LockMode::kExclusive,
                 absl::Duration wait = absl::ZeroDuration()) {
    AcquireCmd cmd;
    cmd.session_id = s;
    cmd.key = std::move(key);
    cmd.mode = mode;
    cmd.wait_timeout = wait;
    cmd.now = clock_.Now();
    return cmd;
  }
  uint64_t MustAcquire(LockTable& table, AcquireCmd cmd) {
    auto r = table.Acquire(cmd, nullptr);
    EXPECT_TRUE(r.has_value() && r->ok() && (*r)->acquired)
        << cmd.key << ": "
        << (r.has_value() ? (r->ok() ? "not acquired" : r->status().ToString())
                          : "queued");
    return r.has_value() && r->ok() ? (*r)->grant.token : 0;
  }
  bool TryAcquire(LockTable& table, AcquireCmd cmd) {
    auto r = table.Acquire(cmd, nullptr);
    EXPECT_TRUE(r.has_value() && r->ok());
    return r.has_value() && r->ok() && (*r)->acquired;
  }
  // Restarts: a new table on a log continuing the old one, restored from
  // the fold at the clock's now.
  std::unique_ptr<TableRun> Restart(TableRun& old, absl::Duration grace = absl::Seconds(5)) {
    auto next = std::make_unique<TableRun>(old.log.LastLsn() + 1,
                                      old.table.options().max_pending_events);
    next->fold = old.fold;  // The recovered state continues into the new log.
    next->table.Restore(old.fold, clock_.Now(), grace, true);
    next->table.CheckInvariantsForTest();
    return next;
  }

  FakeClock clock_;
};

// A session that, over its life, was sent (and acknowledged) as many events
// as the mailbox holds. Recovery folds its recent events, acknowledged or
// not (acks are not recorded), and Restore puts them all back in the
// mailbox as unacknowledged: the restored mailbox is full. A max hold that
// fell due during the downtime fires at recovery, before the client can
// reconnect and ack: its GRANT_REVOKED overflows the mailbox and the whole
// session is ended ("event backlog overflow"), with every other grant it
// held. The original table would only have revoked the one grant.
TEST_F(RestoreReviewTest,
       AckedEventsDoNotFillTheRestoredMailboxAndKillTheSessionAtRecovery) {
  constexpr size_t kCap = 4;
  auto run = std::make_unique<TableRun>(1, kCap);
  LockTable& t = run->table;
  const uint64_t a = NewSession(t), b = NewSession(t);
  AcquireCmd due = Cmd(a, "due");
  due.max_hold = absl::Seconds(30);
  MustAcquire(t, due);
  const uint64_t keep = MustAcquire(t, Cmd(a, "keep"));
  auto sink = std::make_shared<RecordingSink>();
  ASSERT_OK(t.AttachSink(a, sink));
  // kCap release requests, each delivered and acknowledged by a's client.
  for (size_t i = 0; i < kCap; ++i) {
    const std::string key = "k" + std::to_string(i);
    MustAcquire(t, Cmd(a, key));
    AcquireCmd ask = Cmd(b, key);
    ask.request_release = true;
    EXPECT_FALSE(TryAcquire(t, ask));
  }
  ASSERT_EQ(sink->events().size(), kCap);
  t.AckEvents(a, sink->events().back().sequence);
  ASSERT_FALSE(run->rejected);

  clock_.Advance(absl::Seconds(40));  // Down past "due"'s max hold.
  auto next = Restart(*run);
  next->table.RunDueTimers(clock_.Now());
  EXPECT_EQ(next->table.SessionCount(), 2u)
      << "session a was ended at recovery: the GRANT_REVOKED of its due max "
         "hold overflowed a mailbox full of events it had acknowledged";
  EXPECT_OK(next->table.CheckFence("keep", keep))
      << "a's other grant was lost with the session";
}

// RELEASE_REQUESTED is coalesced per grant until acknowledged. Restore
// rebuilds that set from every folded RELEASE_REQUESTED, including ones the
// client had acknowledged, so a new request for the same grant after the
// restart is silently dropped (the original table would post it).
TEST_F(RestoreReviewTest, ANewReleaseRequestAfterRestoreIsNotDroppedAsADuplicate) {
  auto run = std::make_unique<TableRun>(1, 1024);
  LockTable& t = run->table;
  const uint64_t a = NewSession(t), b = NewSession(t);
  const uint64_t token = MustAcquire(t, Cmd(a, "k"));
  auto sink = std::make_shared<RecordingSink>();
  ASSERT_OK(t.AttachSink(a, sink));
  AcquireCmd ask = Cmd(b, "k");
  ask.request_release = true;
  EXPECT_FALSE(TryAcquire(t, ask));
  ASSERT_EQ(sink->events().size(), 1u);
  const uint64_t seen = sink->events()[0].sequence;
  t.AckEvents(a, seen);  // Processed: a later request asks again.

  auto next = Restart(*run);
  ask.now = clock_.Now();
  EXPECT_FALSE(TryAcquire(next->table, ask));  // b asks again.
  auto sink2 = std::make_shared<RecordingSink>();
  ASSERT_OK(next->table.AttachSink(a, sink2));
  bool fresh = false;
  for (const SessionEvent& e : sink2->events()) {
    if (e.sequence > seen && e.type == SessionEvent::Type::kReleaseRequested &&
        e.key == "k" && e.token == token) {
      fresh = true;
    }
  }
  EXPECT_TRUE(fresh) << "b's new request to release \"k\" after the restart "
                        "was dropped: the restored mailbox believes the "
                        "acknowledged request is still outstanding";
}


// ---- Covered_*: coverage written during the review; these PASS. ----

TEST_F(RestoreReviewTest, Covered_SemaphoreAtCapacity) {
  auto run = std::make_unique<TableRun>(1, 1024);
  LockTable& t = run->table;
  const uint64_t a = NewSession(t), b = NewSession(t), c = NewSession(t);
  AcquireCmd sa = Cmd(a, "pool"); sa.semaphore_size = 2;
  AcquireCmd sb = Cmd(b, "pool"); sb.semaphore_size = 2;
  const uint64_t ta = MustAcquire(t, sa);
  MustAcquire(t, sb);
  auto next = Restart(*run);
  AcquireCmd sc = Cmd(c, "pool"); sc.semaphore_size = 2;
  EXPECT_FALSE(TryAcquire(next->table, sc));
  AcquireCmd sc3 = Cmd(c, "pool"); sc3.semaphore_size = 3;
  auto r = next->table.Acquire(sc3, nullptr);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status().code(), absl::StatusCode::kFailedPrecondition);
  sa.now = clock_.Now();
  auto again = next->table.Acquire(sa, nullptr);
  ASSERT_TRUE(again.has_value() && again->ok());
  EXPECT_TRUE((*again)->already_held);
  EXPECT_EQ((*again)->grant.token, ta);
  AcquireCmd lock = Cmd(c, "pool");
  auto rl = next->table.Acquire(lock, nullptr);
  ASSERT_TRUE(rl.has_value());
  EXPECT_EQ(rl->status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST_F(RestoreReviewTest, Covered_UpgradedGrant) {
  auto run = std::make_unique<TableRun>(1, 1024);
  LockTable& t = run->table;
  const uint64_t a = NewSession(t), b = NewSession(t);
  const uint64_t t1 = MustAcquire(t, Cmd(a, "x/u", LockMode::kShared));
  const uint64_t t2 = MustAcquire(t, Cmd(a, "x/u", LockMode::kExclusive));
  ASSERT_GT(t2, t1);
  auto next = Restart(*run);
  EXPECT_FALSE(TryAcquire(next->table, Cmd(b, "x/u", LockMode::kShared)));
  EXPECT_FALSE(TryAcquire(next->table, Cmd(b, "x", LockMode::kShared)));
  auto again = next->table.Acquire(Cmd(a, "x/u"), nullptr);
  ASSERT_TRUE(again.has_value() && again->ok());
  EXPECT_TRUE((*again)->already_held);
  EXPECT_EQ((*again)->grant.token, t2);
  EXPECT_OK(next->table.Release(ReleaseCmd{a, "x/u", t2, clock_.Now()}));
  MustAcquire(next->table, Cmd(b, "x"));
}

TEST_F(RestoreReviewTest, Covered_TreeSharedAboveExclusiveBelow) {
  auto run = std::make_unique<TableRun>(1, 1024);
  LockTable& t = run->table;
  const uint64_t a = NewSession(t), b = NewSession(t);
  MustAcquire(t, Cmd(a, "a", LockMode::kShared));
  MustAcquire(t, Cmd(a, "a/b", LockMode::kExclusive));
  MustAcquire(t, Cmd(b, "a!b"));
  MustAcquire(t, Cmd(b, "a-b"));
  MustAcquire(t, Cmd(b, "a.b", LockMode::kShared));
  auto next = Restart(*run);
  LockTable& r = next->table;
  EXPECT_FALSE(TryAcquire(r, Cmd(b, "a", LockMode::kShared)));
  EXPECT_FALSE(TryAcquire(r, Cmd(b, "a/b/c", LockMode::kShared)));
  EXPECT_FALSE(TryAcquire(r, Cmd(b, "a/b", LockMode::kShared)));
  EXPECT_TRUE(TryAcquire(r, Cmd(b, "a/c", LockMode::kShared)));
  EXPECT_TRUE(TryAcquire(r, Cmd(a, "a.b", LockMode::kShared)));
  EXPECT_FALSE(TryAcquire(r, Cmd(a, "a!b", LockMode::kShared)));
}

TEST_F(RestoreReviewTest, Covered_DelayBelowBlocksAncestor) {
  auto run = std::make_unique<TableRun>(1, 1024);
  LockTable& t = run->table;
  const uint64_t a = NewSession(t, absl::Seconds(5)), b = NewSession(t);
  AcquireCmd c = Cmd(a, "a/b/c", LockMode::kShared);
  c.lock_delay = absl::Seconds(60);
  MustAcquire(t, c);
  clock_.Advance(absl::Seconds(6));
  t.KeepAlive(KeepAliveCmd{b, clock_.Now()}).IgnoreError();
  t.RunDueTimers(clock_.Now());  // a expires: SHARED delay on a/b/c.
  auto next = Restart(*run);
  LockTable& r = next->table;
  next->table.RunDueTimers(clock_.Now());
  EXPECT_FALSE(TryAcquire(r, Cmd(b, "a", LockMode::kExclusive)));
  EXPECT_TRUE(TryAcquire(r, Cmd(b, "a/b", LockMode::kShared)));
  EXPECT_FALSE(TryAcquire(r, Cmd(b, "a/b/c/d", LockMode::kExclusive)));
  clock_.Advance(absl::Seconds(61));
  r.RunDueTimers(clock_.Now());
  r.KeepAlive(KeepAliveCmd{b, clock_.Now()}).IgnoreError();
  EXPECT_TRUE(TryAcquire(r, Cmd(b, "a/b/c/d", LockMode::kExclusive)));
}

TEST_F(RestoreReviewTest, Covered_RestoreTwiceKeepsEventSequences) {
  auto run = std::make_unique<TableRun>(1, 1024);
  LockTable& t = run->table;
  const uint64_t a = NewSession(t), b = NewSession(t);
  MustAcquire(t, Cmd(a, "k"));
  AcquireCmd ask = Cmd(b, "k"); ask.request_release = true;
  EXPECT_FALSE(TryAcquire(t, ask));
  auto second = Restart(*run);
  auto third = Restart(*second);
  AcquireCmd max = Cmd(a, "m"); max.max_hold = absl::Seconds(1);
  MustAcquire(third->table, max);
  clock_.Advance(absl::Seconds(2));
  third->table.RunDueTimers(clock_.Now());
  auto sink = std::make_shared<RecordingSink>();
  ASSERT_OK(third->table.AttachSink(a, sink));
  ASSERT_EQ(sink->events().size(), 2u);
  EXPECT_EQ(sink->events()[0].sequence, 1u);
  EXPECT_EQ(sink->events()[1].sequence, 2u);
  EXPECT_EQ(sink->events()[1].type, SessionEvent::Type::kGrantRevoked);
}


TEST_F(RestoreReviewTest, ASessionWhoseLeaseRanOutBeforeTheCrashStaysDead) {
  auto run = std::make_unique<TableRun>(1, 1024);
  LockTable& t = run->table;
  const uint64_t a = NewSession(t, absl::Seconds(10)), b = NewSession(t);
  MustAcquire(t, Cmd(a, "k"));
  clock_.Advance(absl::Seconds(11));  // a's lease ran out; the reaper lags.
  ASSERT_EQ(t.KeepAlive(KeepAliveCmd{a, clock_.Now()}).status().code(),
            absl::StatusCode::kNotFound) << "the original: a is dead";
  auto next = Restart(*run, absl::Seconds(5));
  EXPECT_EQ(next->table.KeepAlive(KeepAliveCmd{a, clock_.Now()}).status().code(),
            absl::StatusCode::kNotFound)
      << "a session the server had already declared dead (KeepAlive "
         "NOT_FOUND) is alive again after the restart, holding its keys";
  next->table.KeepAlive(KeepAliveCmd{b, clock_.Now()}).IgnoreError();
  next->table.RunDueTimers(clock_.Now());
  EXPECT_TRUE(TryAcquire(next->table, Cmd(b, "k")))
      << "\"k\" stays held by the dead session for its TTL + grace";
}

// Known, left alone (issue 9 closing note): the fold forgets why a session
// ended, so a grant whose own end record was lost in a crash (its session's
// end record made it) ends at recovery as by expiry, with its lock-delay —
// the conservative direction: the key stays unavailable a little longer,
// never granted twice.
TEST_F(RestoreReviewTest,
       DISABLED_AnOrphanGrantOfAClosedSessionEndsAsClosedWithoutLockDelay) {
  // Records up to the crash: a closed its session (kSessionEnded CLOSED)
  // and the log was cut before the kGrantEnded of its grant.
  MemoryLog log;
  std::vector<Transition> records;
  log.set_tap([&](const Transition& tr) { records.push_back(tr); });
  LockTable t(TableRun::Opts(&log, 1024));
  const uint64_t a = NewSession(t), b = NewSession(t);
  AcquireCmd c = Cmd(a, "k");
  c.lock_delay = absl::Seconds(30);
  MustAcquire(t, c);
  ASSERT_OK(t.CloseSession(CloseSessionCmd{a, clock_.Now()}));
  EXPECT_TRUE(TryAcquire(t, Cmd(b, "k"))) << "the original: a close hands over";
  t.Shutdown();
  DurableState fold;
  for (const Transition& tr : records) {
    ASSERT_TRUE(fold.Apply(tr));
    if (tr.type == TransitionType::kSessionEnded) break;
  }
  MemoryLog log2(log.LastLsn() + 1);
  LockTable r(TableRun::Opts(&log2, 1024));
  r.Restore(fold, clock_.Now(), absl::Seconds(5), true);
  r.RunDueTimers(clock_.Now());
  EXPECT_TRUE(TryAcquire(r, Cmd(b, "k")))
      << "the grant of a session that was CLOSED is ended as expired at "
         "recovery and its lock-delay holds the key";
  r.Shutdown();
}

// Known, left alone (issue 9 closing note): after a crash every restored
// grant belongs to its session, whether or not the reply reached the client
// (as for a plain grant whose reply was lost with the daemon). A client
// learns the outcome by retrying the acquire, which is idempotent and
// answers the same grant (the client library retries); an upgrade's retry
// answers the EXCLUSIVE token. The SHARED grant it replaced is not kept in
// the durable state, so it cannot be undone after the restart.
TEST_F(RestoreReviewTest,
       DISABLED_AnUpgradeWhoseCallerNeverLearntOfItIsUndoneAcrossTheRestart) {
  auto run = std::make_unique<TableRun>(1, 1024);
  LockTable& t = run->table;
  const uint64_t a = NewSession(t), b = NewSession(t);
  const uint64_t t1 = MustAcquire(t, Cmd(a, "u", LockMode::kShared));
  const uint64_t tb = MustAcquire(t, Cmd(b, "u", LockMode::kShared));
  RecordingWaiter w;
  ASSERT_FALSE(t.Acquire(Cmd(a, "u", LockMode::kExclusive, absl::Hours(1)), &w)
                   .has_value());
  ASSERT_OK(t.Release(ReleaseCmd{b, "u", tb, clock_.Now()}));
  ASSERT_TRUE(w.granted());
  // The crash: the reply never reached a's client (its call failed with
  // UNAVAILABLE); a still believes it holds "u" SHARED with t1.
  auto next = Restart(*run);
  EXPECT_OK(next->table.CheckFence("u", t1))
      << "the upgrade its caller never learnt of was kept across the restart";
  EXPECT_OK(next->table.Release(ReleaseCmd{a, "u", t1, clock_.Now()}));
}


TEST_F(RestoreReviewTest, AnOverflowCutBeforeItsSessionEndedDoesNotLoseARevocation) {
  // Capacity 2, no stream attached (nothing acknowledged): three max holds
  // fall due one after another; the third GRANT_REVOKED overflows and ends
  // the session. The log is cut right after that third event's record.
  MemoryLog log;
  std::vector<Transition> records;
  log.set_tap([&](const Transition& tr) { records.push_back(tr); });
  LockTable t(TableRun::Opts(&log, 2));
  const uint64_t a = NewSession(t, absl::Minutes(10));
  for (int i = 1; i <= 3; ++i) {
    AcquireCmd c = Cmd(a, "k" + std::to_string(i));
    c.max_hold = absl::Seconds(i);
    MustAcquire(t, c);
  }
  for (int i = 1; i <= 3; ++i) {
    clock_.Advance(absl::Seconds(1));
    t.RunDueTimers(clock_.Now());
  }
  ASSERT_EQ(t.SessionCount(), 0u) << "the original ends a (overflow)";
  t.Shutdown();
  DurableState fold;
  fold.max_events = 2;
  for (const Transition& tr : records) {
    ASSERT_TRUE(fold.Apply(tr));
    if (tr.type == TransitionType::kEventPosted && tr.event_sequence == 3) break;
  }
  MemoryLog log2(log.LastLsn() + 1);
  LockTable r(TableRun::Opts(&log2, 2));
  r.Restore(fold, clock_.Now(), absl::Seconds(5), true);
  auto sink = std::make_shared<RecordingSink>();
  if (r.AttachSink(a, sink).ok()) {
    // Session a is back: it must be told of every grant it lost.
    std::vector<std::string> revoked;
    for (const SessionEvent& e : sink->events()) {
      if (e.type == SessionEvent::Type::kGrantRevoked) revoked.push_back(e.key);
    }
    EXPECT_THAT(revoked, ::testing::Contains("k1"))
        << "session a survives the restart but is never told that \"k1\" "
           "was revoked: the fold kept only its last 2 events, and the "
           "oldest, unacknowledged, was the revocation";
  }
  r.Shutdown();
}

}  // namespace
}  // namespace taala
