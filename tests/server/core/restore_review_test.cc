// Review of LockTable::Restore (rev-restore): scenarios where a table
// restored from what recovery folds out of the log behaves differently from
// the table that wrote the log (the oracle: it should behave as the original
// would have, except for waiters and leases). These tests are expected to
// FAIL until the bugs they name are fixed.

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
    EXPECT_OK(table.CreateSession({id, "c", {}, ttl, clock_.Now()}));
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

}  // namespace
}  // namespace taala
