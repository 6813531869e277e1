// Review (rev-dur): failing core-level tests for the durability claims.

#include <deque>
#include <memory>
#include <utility>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "gtest/gtest.h"
#include "server/core/durable_state.h"
#include "server/core/lock_table.h"
#include "tests/server/core/lock_table_fixture.h"
#include "tests/testing/fake_clock.h"
#include "tests/testing/status_matchers.h"

namespace taala {
namespace {

using ::taala::test::FakeClock;
using ::taala::test::RecordingSink;

// A log made durable up to an LSN the test names, as the Wal's group commit
// does: its writer publishes whatever prefix was appended when it swapped
// the buffer, which may fall between two Appends of one critical section.
class PrefixLog final : public TransitionLog {
 public:
  uint64_t Append(const Transition& t) override {
    absl::MutexLock lock(&mu_);
    records_.push_back(t);
    records_.back().lsn = ++last_;
    return last_;
  }
  uint64_t TakeNumber() override {
    absl::MutexLock lock(&mu_);
    return ++last_;
  }
  uint64_t LastLsn() const override {
    absl::MutexLock lock(&mu_);
    return last_;
  }
  void WhenDurable(uint64_t lsn, absl::AnyInvocable<void()> fn) override {
    {
      absl::MutexLock lock(&mu_);
      if (lsn > durable_) {
        waiting_.push_back({lsn, std::move(fn)});
        return;
      }
    }
    fn();
  }
  bool IsDurable(uint64_t lsn) const override {
    absl::MutexLock lock(&mu_);
    return lsn <= durable_;
  }
  void MakeDurableThrough(uint64_t lsn) {
    std::vector<absl::AnyInvocable<void()>> run;
    {
      absl::MutexLock lock(&mu_);
      durable_ = lsn;
      for (auto it = waiting_.begin(); it != waiting_.end();) {
        if (it->first <= durable_) {
          run.push_back(std::move(it->second));
          it = waiting_.erase(it);
        } else {
          ++it;
        }
      }
    }
    for (auto& fn : run) fn();
  }
  void MakeDurable() { MakeDurableThrough(LastLsn()); }
  std::vector<Transition> records() {
    absl::MutexLock lock(&mu_);
    return records_;
  }
  // What a crash now leaves: the durable prefix, replayed.
  DurableState Replay() {
    absl::MutexLock lock(&mu_);
    DurableState d;
    for (const Transition& t : records_) {
      if (t.lsn > durable_) break;
      EXPECT_TRUE(d.Apply(t)) << TransitionToString(t);
    }
    return d;
  }

 private:
  mutable absl::Mutex mu_;
  uint64_t last_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t durable_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<Transition> records_ ABSL_GUARDED_BY(mu_);
  std::deque<std::pair<uint64_t, absl::AnyInvocable<void()>>> waiting_
      ABSL_GUARDED_BY(mu_);
};

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
  PrefixLog log;
  LockTable table(Options(&log));
  const uint64_t a = table.NewSessionId();
  ASSERT_OK(table.CreateSession({a, "c", {}, absl::Seconds(10), clock.Now()}));
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
