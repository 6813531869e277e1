// Review (rev-dur): failing core-level tests for the durability claims.

#include <deque>
#include <memory>
#include <utility>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "gtest/gtest.h"
#include "server/core/durable_state.h"
#include "server/core/lock_table.h"
#include "tests/server/core/gated_log.h"
#include "tests/server/core/lock_table_fixture.h"
#include "tests/testing/fake_clock.h"
#include "tests/testing/status_matchers.h"

namespace taala {
namespace {

using ::taala::test::FakeClock;
using ::taala::test::RecordingSink;


constexpr absl::Duration kWall = absl::Hours(24 * 365 * 56);

LockTable::Options Options(TransitionLog* log) {
  LockTable::Options o;
  o.shards = 4;
  o.log = log;
  o.wall_offset = kWall;
  return o;
}

// Claim 2: an event delivered on a KeepAlive stream is never lost by a
// crash. EndSession (lock_table_sessions.cc) posts SESSION_EXPIRED (its
// kEventPosted record, LSN L) and then appends kSessionEnded (L+1) and the
// kGrantEnded records. The mailbox (event_mailbox.cc Flush) sends an event
// as soon as *its own* record is durable, and a Flush already scheduled
// (here: the stream's attach, waiting for an earlier LSN) runs once the log
// is durable through L. The client is told "session expired" (and the
// KeepAlive stream finishes NOT_FOUND, event_stream.cc Deliver) while a
// crash at that moment restores the session and its grant.
TEST(ReviewDurabilityCoreTest, SessionExpiredIsNotDeliveredBeforeTheEndIsDurable) {
  FakeClock clock;
  test::GatedLog log;
  LockTable table(Options(&log));
  const uint64_t a = table.NewSessionId();
  ASSERT_OK(
      table.CreateSession({a, "c", {}, absl::Seconds(10), clock.Now(), ""}));
  AcquireCmd cmd;
  cmd.session_id = a;
  cmd.key = "k";
  cmd.now = clock.Now();
  auto r = table.Acquire(cmd, nullptr);
  ASSERT_TRUE(r.has_value() && r->ok() && (*r)->acquired);
  // The client opens its KeepAlive stream before the grant's fsync is done.
  auto sink = std::make_shared<RecordingSink>();
  ASSERT_OK(table.AttachSink(a, sink));

  clock.Advance(absl::Seconds(11));
  table.RunDueTimers(clock.Now());  // The lease ran out.

  uint64_t expired_event_lsn = 0;
  for (const Transition& t : log.records()) {
    if (t.type == TransitionType::kEventPosted && t.session_id == a) {
      expired_event_lsn = t.lsn;
    }
  }
  ASSERT_NE(expired_event_lsn, 0u);
  // The writer's batch ended right after the event's record.
  log.MakeDurableThrough(expired_event_lsn);

  bool told_expired = false;
  for (const SessionEvent& e : sink->events()) {
    if (e.type == SessionEvent::Type::kSessionExpired) told_expired = true;
  }
  const DurableState after_crash = log.Replay();
  EXPECT_FALSE(told_expired && after_crash.sessions.count(a) > 0)
      << "the client was sent SESSION_EXPIRED for session " << a
      << ", but a crash now restores the session with "
      << (after_crash.keys.count("k") ? after_crash.keys.at("k").holders.size()
                                      : 0)
      << " grant(s) on \"k\"";
  log.MakeDurable();
  table.Shutdown();
}

}  // namespace
}  // namespace taala
