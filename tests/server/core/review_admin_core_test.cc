// Review of issue 11's operator actions in the core (rev-admin):
// LockTable::ForceRelease and RevokeSession at the edges: an upgrade in
// flight, AcquireAll holding earlier keys, waits on nested keys, semaphores,
// hierarchical keys with lock-delay, the wait-for graph, retries, and what
// the audit records print (taalad --dump_wal prints TransitionToString).
//
// Tests marked "Guards:" failed on the code they were written against.

#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/core/durable_state.h"
#include "server/core/lock_table.h"
#include "server/core/multi_acquire.h"
#include "tests/server/core/lock_table_fixture.h"

namespace taala {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using test::RecordingSink;
using test::RecordingWaiter;

// A waiter whose caller leaves right after an operator force-released the
// grant it was about to get: Complete runs `during` (no table mutex is
// held there), then reports the grant undelivered.
class LeavesAfter final : public Waiter {
 public:
  explicit LeavesAfter(std::function<void()> during)
      : during_(std::move(during)) {}
  bool Complete(absl::StatusOr<AcquireResult> result) override {
    result_ = std::move(result);
    during_();
    return false;  // The caller is gone: the grant was not delivered.
  }
  bool Gone() const override { return false; }
  const std::optional<absl::StatusOr<AcquireResult>>& result() const {
    return result_;
  }

 private:
  std::function<void()> during_;
  std::optional<absl::StatusOr<AcquireResult>> result_;
};

class RecordingListener final : public MultiAcquireListener {
 public:
  void OnMultiAcquireDone(absl::StatusOr<MultiAcquireResult> result) override {
    result_ = std::move(result);
  }
  bool done() const { return result_.has_value(); }
  const absl::StatusOr<MultiAcquireResult>& result() const { return *result_; }

 private:
  std::optional<absl::StatusOr<MultiAcquireResult>> result_;
};

class ReviewAdminCoreTest : public ::testing::Test {
 protected:
  ReviewAdminCoreTest() : table_(Options(&log_)) {
    log_.set_tap([this](const Transition& t) { records_.push_back(t); });
  }
  ~ReviewAdminCoreTest() override {
    table_.CheckInvariantsForTest();
    table_.Shutdown();
  }
  static LockTable::Options Options(TransitionLog* log) {
    LockTable::Options o;
    o.shards = 4;
    o.log = log;
    return o;
  }

  uint64_t NewSession(std::shared_ptr<RecordingSink>* sink = nullptr,
                      const std::string& name = "c") {
    CreateSessionCmd cmd;
    cmd.session_id = table_.NewSessionId();
    cmd.client_name = name;
    cmd.ttl = absl::Minutes(10);
    cmd.now = clock_.Now();
    EXPECT_TRUE(table_.CreateSession(cmd).ok());
    if (sink != nullptr) {
      *sink = std::make_shared<RecordingSink>();
      EXPECT_TRUE(table_.AttachSink(cmd.session_id, *sink).ok());
    }
    return cmd.session_id;
  }
  AcquireCmd Cmd(uint64_t s, const std::string& key,
                 LockMode mode = LockMode::kExclusive,
                 absl::Duration lock_delay = absl::ZeroDuration()) {
    AcquireCmd cmd;
    cmd.session_id = s;
    cmd.key = key;
    cmd.mode = mode;
    cmd.lock_delay = lock_delay;
    cmd.now = clock_.Now();
    return cmd;
  }
  uint64_t MustAcquire(const AcquireCmd& cmd) {
    auto r = table_.Acquire(cmd, nullptr);
    EXPECT_TRUE(r.has_value() && r->ok() && (*r)->acquired) << cmd.key;
    return r.has_value() && r->ok() ? (*r)->grant.token : 0;
  }
  void Wait(AcquireCmd cmd, Waiter* w) {
    cmd.wait_timeout = absl::InfiniteDuration();
    EXPECT_FALSE(table_.Acquire(cmd, w).has_value()) << "expected to wait";
  }
  ForceReleaseCmd Force(const std::string& key, bool skip = false,
                        uint64_t session = 0,
                        const std::string& reason = "stuck") {
    ForceReleaseCmd cmd;
    cmd.key = key;
    cmd.session_id = session;
    cmd.reason = reason;
    cmd.caller = "ipv4:127.0.0.1:1 (requested_by ops)";
    cmd.skip_lock_delay = skip;
    cmd.now = clock_.Now();
    return cmd;
  }
  RevokeSessionCmd Revoke(uint64_t s, bool skip = false) {
    return RevokeSessionCmd{s, "runaway", "ops", skip, clock_.Now()};
  }
  std::vector<uint64_t> HolderSessions(const std::string& key) {
    std::vector<uint64_t> out;
    absl::StatusOr<LockDescription> d = table_.Describe(key, 100);
    if (!d.ok()) return out;
    for (const HolderInfo& h : d->holders) out.push_back(h.grant.session_id);
    return out;
  }

  // A waiter that outlives the test body (Shutdown completes those left).
  RecordingWaiter& NewWaiter() { return waiters_.emplace_back(); }

  std::deque<RecordingWaiter> waiters_;
  MemoryLog log_;
  std::vector<Transition> records_;
  test::FakeClock clock_;
  LockTable table_;
};

// Guards: revoking an undelivered upgrade names the SHARED token it knows.
TEST_F(ReviewAdminCoreTest,
       ForceReleaseOfAnUndeliveredUpgradeTellsTheHolderOfTheTokenItKnows) {
  std::shared_ptr<RecordingSink> sink;
  const uint64_t a = NewSession(&sink, "reader-upgrading");
  const uint64_t b = NewSession(nullptr, "other-reader");
  const uint64_t c = NewSession(nullptr, "writer");
  const uint64_t t1 = MustAcquire(Cmd(a, "k", LockMode::kShared));
  const uint64_t tb = MustAcquire(Cmd(b, "k", LockMode::kShared));
  RecordingWaiter writer;
  Wait(Cmd(c, "k"), &writer);

  absl::Status forced;
  LeavesAfter upgrade([&] {
    forced = table_.ForceRelease(Force("k", /*skip=*/true, a)).status();
  });
  Wait(Cmd(a, "k"), &upgrade);  // Queued as an upgrade (ahead of c).
  // b leaves: a's upgrade is granted; the operator takes it; a's caller
  // has gone, so the grant is undone.
  ASSERT_TRUE(table_.Release(ReleaseCmd{b, "k", tb, clock_.Now()}).ok());
  ASSERT_TRUE(upgrade.result().has_value());
  ASSERT_TRUE(upgrade.result()->ok()) << upgrade.result()->status();
  const uint64_t t2 = (*upgrade.result())->grant.token;
  ASSERT_GT(t2, t1);
  ASSERT_TRUE(forced.ok()) << forced;

  // The writer holds the key now; a holds nothing.
  ASSERT_TRUE(writer.granted());
  EXPECT_EQ(HolderSessions("k"), std::vector<uint64_t>{c});
  EXPECT_FALSE(table_.CheckFence("k", t1).ok());

  bool told_of_t1 = false;
  std::vector<uint64_t> revoked_tokens;
  for (const SessionEvent& e : sink->events()) {
    if (e.type != SessionEvent::Type::kGrantRevoked) continue;
    revoked_tokens.push_back(e.token);
    if (e.key == "k" && e.token == t1) told_of_t1 = true;
  }
  EXPECT_TRUE(told_of_t1)
      << "session " << a << " still believes it holds key k SHARED with "
      << "token " << t1 << " (its only grant it knows of); GRANT_REVOKED "
      << "events named tokens " << ::testing::PrintToString(revoked_tokens)
      << " (t2=" << t2 << " was never delivered)";
}

// Guards: AcquireAll never reports a grant taken while it waited.
TEST_F(ReviewAdminCoreTest, AcquireAllDoesNotReportAGrantForceReleasedMeanwhile) {
  const uint64_t s = NewSession(nullptr, "multi");
  const uint64_t other = NewSession(nullptr, "other");
  const uint64_t thief = NewSession(nullptr, "thief");
  const uint64_t tb = MustAcquire(Cmd(other, "b"));

  MultiAcquireCmd cmd;
  cmd.session_id = s;
  cmd.keys = {MultiAcquireCmd::Key("a"), MultiAcquireCmd::Key("b")};
  RecordingListener listener;
  MultiAcquire multi(&table_, &clock_, cmd, &listener);
  multi.Start();
  ASSERT_FALSE(listener.done());  // Holds "a", waits for "b".
  ASSERT_EQ(HolderSessions("a"), std::vector<uint64_t>{s});

  ASSERT_TRUE(table_.ForceRelease(Force("a", /*skip=*/true)).ok());
  const uint64_t thief_token = MustAcquire(Cmd(thief, "a"));
  ASSERT_TRUE(table_.Release(ReleaseCmd{other, "b", tb, clock_.Now()}).ok());
  ASSERT_TRUE(listener.done());
  ASSERT_TRUE(listener.result().ok()) << listener.result().status();

  if (listener.result()->acquired) {
    for (const AcquireResult& g : listener.result()->grants) {
      // Every grant reported must be current when the answer leaves.
      EXPECT_TRUE(table_.CheckFence(g.grant.key, g.grant.token).ok())
          << "AcquireAll reported key \"" << g.grant.key << "\" with token "
          << g.grant.token << " acquired, but it was force-released; session "
          << thief << " holds it with token " << thief_token;
    }
  }
}

// Guards: a revoke counts every dropped wait and tells each "was revoked".
TEST_F(ReviewAdminCoreTest, RevokeCountsAndExplainsEveryCancelledWait) {
  const uint64_t a = NewSession(nullptr, "waits-twice");
  const uint64_t h = NewSession(nullptr, "holder");
  MustAcquire(Cmd(h, "h"));
  RecordingWaiter on_h, on_hx;
  Wait(Cmd(a, "h"), &on_h);
  Wait(Cmd(a, "h/x"), &on_hx);  // Blocked by the ancestor's holder.

  absl::StatusOr<LockTable::RevokeResult> got = table_.RevokeSession(Revoke(a));
  ASSERT_TRUE(got.ok()) << got.status();
  ASSERT_TRUE(on_h.done());
  ASSERT_TRUE(on_hx.done());
  EXPECT_EQ(on_h.result().status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(on_hx.result().status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(on_h.result().status().message()),
              HasSubstr("was revoked"));
  EXPECT_THAT(std::string(on_hx.result().status().message()),
              HasSubstr("was revoked"));
  EXPECT_EQ(got->cancelled_waits, 2u);
}

// Guards: the dump escapes an event's text (a quote cannot forge a field).
TEST_F(ReviewAdminCoreTest, DumpedEventTextEscapesTheOperatorsReason) {
  const uint64_t a = NewSession();
  MustAcquire(Cmd(a, "k"));
  const std::string reason = "x\" caller=\"root@prod";
  ASSERT_TRUE(table_.ForceRelease(Force("k", true, 0, reason)).ok());
  bool seen = false;
  for (const Transition& t : records_) {
    if (t.type != TransitionType::kEventPosted) continue;
    seen = true;
    const std::string line = TransitionToString(t);
    EXPECT_THAT(line, Not(HasSubstr("caller=\"root@prod"))) << line;
  }
  EXPECT_TRUE(seen);
}

// Guards: the dump escapes a client name (a newline cannot forge a record).
TEST_F(ReviewAdminCoreTest, DumpedClientNameCannotForgeAnAuditRecord) {
  NewSession(nullptr,
             "x\nGRANT_ENDED lsn=1 at=now key=\"jobs/1\" session=1 token=1 "
             "reason=force_released reason_text=\"forged\" caller=\"alice\"");
  for (const Transition& t : records_) {
    const std::string line = TransitionToString(t);
    EXPECT_EQ(line.find('\n'), std::string::npos) << line;
  }
}

// Holds: a session whose grant was force-released and which acquires the
// key again gets a new grant with a higher token (never the old one back,
// never "already held").
TEST_F(ReviewAdminCoreTest, ARetryAfterAForceReleaseGetsANewGrant) {
  const uint64_t a = NewSession();
  const uint64_t t1 = MustAcquire(Cmd(a, "k"));
  ASSERT_TRUE(table_.ForceRelease(Force("k", true)).ok());
  auto r = table_.Acquire(Cmd(a, "k"), nullptr);
  ASSERT_TRUE(r.has_value() && r->ok() && (*r)->acquired);
  EXPECT_FALSE((*r)->already_held);
  EXPECT_GT((*r)->grant.token, t1);
  EXPECT_FALSE(table_.CheckFence("k", t1).ok());
  // The old token cannot release the new grant.
  EXPECT_EQ(table_.Release(ReleaseCmd{a, "k", t1, clock_.Now()}).code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(HolderSessions("k"), std::vector<uint64_t>{a});
}

// Holds: a retry after a force-release, while the key's lock-delay runs,
// waits for the delay like any other caller.
TEST_F(ReviewAdminCoreTest, ARetryDuringTheLockDelayWaits) {
  const uint64_t a = NewSession();
  MustAcquire(Cmd(a, "k", LockMode::kExclusive, absl::Seconds(5)));
  ASSERT_TRUE(table_.ForceRelease(Force("k")).ok());
  auto r = table_.Acquire(Cmd(a, "k"), nullptr);  // Try-lock.
  ASSERT_TRUE(r.has_value() && r->ok());
  EXPECT_FALSE((*r)->acquired);
}

// Holds: the next waiter, handed the key by a force-release, left in that
// instant: its grant is taken back (no lock-delay) and the key goes on to
// the waiter after it, with a higher token; with the lock-delay not
// skipped, the same once the delay is over.
TEST_F(ReviewAdminCoreTest, AHandOverToACallerWhoJustLeftGoesOn) {
  for (const bool skip : {true, false}) {
    const std::string key = skip ? "handover/skip" : "handover/delay";
    const uint64_t a = NewSession();
    const uint64_t t = MustAcquire(
        Cmd(a, key, LockMode::kExclusive, absl::Seconds(skip ? 0 : 5)));
    LeavesAfter left([] {});
    RecordingWaiter& next = NewWaiter();
    Wait(Cmd(NewSession(), key), &left);
    Wait(Cmd(NewSession(), key), &next);
    ASSERT_TRUE(table_.ForceRelease(Force(key, skip)).ok());
    if (!skip) {
      EXPECT_FALSE(next.done());
      clock_.Advance(absl::Seconds(5));
      table_.RunDueTimers(clock_.Now());
    }
    ASSERT_TRUE(left.result().has_value());
    ASSERT_TRUE(next.granted()) << key;
    EXPECT_GT(next.token(), (*left.result())->grant.token);
    EXPECT_GT((*left.result())->grant.token, t);
    EXPECT_FALSE(table_.CheckFence(key, (*left.result())->grant.token).ok());
  }
}

// Holds: a release and a force-release of one grant, in either order: the
// second is refused (FAILED_PRECONDITION for the release, NOT_FOUND for the
// force-release), and no lock-delay starts after a release.
TEST_F(ReviewAdminCoreTest, ReleaseAndForceReleaseInEitherOrder) {
  const uint64_t a = NewSession();
  uint64_t t = MustAcquire(Cmd(a, "x", LockMode::kExclusive, absl::Seconds(5)));
  ASSERT_TRUE(table_.ForceRelease(Force("x", true)).ok());
  EXPECT_EQ(table_.Release(ReleaseCmd{a, "x", t, clock_.Now()}).code(),
            absl::StatusCode::kFailedPrecondition);
  t = MustAcquire(Cmd(a, "x", LockMode::kExclusive, absl::Seconds(5)));
  ASSERT_TRUE(table_.Release(ReleaseCmd{a, "x", t, clock_.Now()}).ok());
  ForceReleaseCmd late = Force("x");
  late.token = t;
  EXPECT_EQ(table_.ForceRelease(late).status().code(),
            absl::StatusCode::kNotFound);
  MustAcquire(Cmd(NewSession(), "x"));  // No lock-delay.
}

// Holds: a force-release whose GRANT_REVOKED overflows the holder's event
// backlog ends the session (as an overflow, lock-delays applying to its
// other grants), the force-release itself still answers what it took, and
// the records replay to the table's state.
TEST_F(ReviewAdminCoreTest, AForceReleaseThatOverflowsTheBacklogEndsTheSession) {
  MemoryLog log;
  std::vector<Transition> records;
  log.set_tap([&](const Transition& t) { records.push_back(t); });
  LockTable::Options o = Options(&log);
  o.max_pending_events = 1;
  LockTable table(o);
  CreateSessionCmd create;
  create.session_id = table.NewSessionId();
  create.client_name = "never-reads";
  create.ttl = absl::Minutes(10);
  create.now = clock_.Now();
  ASSERT_TRUE(table.CreateSession(create).ok());
  const uint64_t a = create.session_id;
  for (const char* key : {"o/1", "o/2", "o/3"}) {
    AcquireCmd cmd = Cmd(a, key, LockMode::kExclusive, absl::Seconds(5));
    auto r = table.Acquire(cmd, nullptr);
    ASSERT_TRUE(r.has_value() && r->ok() && (*r)->acquired);
  }
  ASSERT_TRUE(table.ForceRelease(Force("o/1", true)).ok());  // Backlog full.
  absl::StatusOr<std::vector<Grant>> got = table.ForceRelease(Force("o/2", true));
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->size(), 1u);
  EXPECT_EQ(table.KeepAlive(KeepAliveCmd{a, clock_.Now()}).status().code(),
            absl::StatusCode::kNotFound);
  absl::StatusOr<LockDescription> d3 = table.Describe("o/3", 1);
  ASSERT_TRUE(d3.ok());
  EXPECT_TRUE(d3->holders.empty());
  EXPECT_GT(d3->delayed_until, clock_.Now());  // Ended abnormally.
  absl::StatusOr<LockDescription> d2 = table.Describe("o/2", 1);
  ASSERT_TRUE(d2.ok());
  EXPECT_LE(d2->delayed_until, clock_.Now());  // Skipped, as asked.
  EXPECT_EQ(table.RevokeSession(Revoke(a)).status().code(),
            absl::StatusCode::kNotFound);
  DurableState folded;
  for (const Transition& t : records) ASSERT_TRUE(folded.Apply(t));
  DurableState exported = table.ExportState();
  EXPECT_TRUE(folded == exported) << folded.Diff(exported);
  table.CheckInvariantsForTest();
  table.Shutdown();
}

// Holds: a semaphore under a hierarchical key, every holder force-released:
// each holder is told, the waiters fill the slots with higher tokens, and
// the intention counts stay consistent (CheckInvariantsForTest).
TEST_F(ReviewAdminCoreTest, ForceReleaseOfAHierarchicalSemaphore) {
  std::vector<std::shared_ptr<RecordingSink>> sinks(3);
  std::vector<uint64_t> holders, tokens;
  for (int i = 0; i < 3; ++i) {
    holders.push_back(NewSession(&sinks[i]));
    AcquireCmd cmd = Cmd(holders[i], "pool/sem");
    cmd.semaphore_size = 3;
    tokens.push_back(MustAcquire(cmd));
  }
  std::vector<RecordingWaiter> waiters(2);
  for (int i = 0; i < 2; ++i) {
    AcquireCmd cmd = Cmd(NewSession(), "pool/sem");
    cmd.semaphore_size = 3;
    Wait(cmd, &waiters[i]);
  }
  absl::StatusOr<std::vector<Grant>> got =
      table_.ForceRelease(Force("pool/sem", true));
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->size(), 3u);
  for (int i = 0; i < 3; ++i) {
    std::vector<SessionEvent> ev = sinks[i]->events();
    ASSERT_EQ(ev.size(), 1u);
    EXPECT_EQ(ev[0].token, tokens[i]);
  }
  for (RecordingWaiter& w : waiters) {
    ASSERT_TRUE(w.granted());
    EXPECT_GT(w.token(), tokens[2]);
  }
  // An ancestor EXCLUSIVE still waits for the two new holders.
  RecordingWaiter& parent = NewWaiter();
  Wait(Cmd(NewSession(), "pool"), &parent);
  EXPECT_FALSE(parent.done());
}

// Holds: a force-release of an ancestor with a lock-delay holds back a
// waiter below it until the delay ends, and the replayed records give the
// same delay.
TEST_F(ReviewAdminCoreTest, ForceReleasedAncestorsLockDelayCoversItsTree) {
  const uint64_t a = NewSession();
  MustAcquire(Cmd(a, "tree", LockMode::kExclusive, absl::Seconds(5)));
  RecordingWaiter below;
  Wait(Cmd(NewSession(), "tree/leaf"), &below);
  ASSERT_TRUE(table_.ForceRelease(Force("tree")).ok());
  EXPECT_FALSE(below.done());
  DurableState folded;
  for (const Transition& t : records_) ASSERT_TRUE(folded.Apply(t));
  ASSERT_EQ(folded.keys.count("tree"), 1u);
  EXPECT_GT(folded.keys.at("tree").delayed_until, clock_.Now());
  clock_.Advance(absl::Seconds(5));
  table_.RunDueTimers(clock_.Now());
  EXPECT_TRUE(below.granted());
}

// Holds: an upgrade waiting when the upgrader's SHARED grant is
// force-released becomes an ordinary EXCLUSIVE wait at the back: an earlier
// writer goes first, and the (former) upgrader is granted after it.
TEST_F(ReviewAdminCoreTest, ForceReleaseOfAnUpgradersSharedGrant) {
  const uint64_t a = NewSession();
  const uint64_t b = NewSession();
  const uint64_t w = NewSession();
  MustAcquire(Cmd(a, "k", LockMode::kShared));
  const uint64_t tb = MustAcquire(Cmd(b, "k", LockMode::kShared));
  RecordingWaiter& writer = NewWaiter();
  RecordingWaiter& upgrade = NewWaiter();
  Wait(Cmd(w, "k"), &writer);
  Wait(Cmd(a, "k"), &upgrade);  // Ahead of the writer, as an upgrade.
  ASSERT_TRUE(table_.ForceRelease(Force("k", true, a)).ok());
  EXPECT_FALSE(upgrade.done());
  EXPECT_FALSE(writer.done());
  ASSERT_TRUE(table_.Release(ReleaseCmd{b, "k", tb, clock_.Now()}).ok());
  ASSERT_TRUE(writer.granted());
  EXPECT_FALSE(upgrade.done());
  EXPECT_EQ(HolderSessions("k"), std::vector<uint64_t>{w});
}

// Holds: after a force-release whose lock-delay keeps the key free, the
// wait-for graph no longer names the old holder as a blocker: the old
// holder may then wait for a key its former waiter holds, no false
// deadlock.
TEST_F(ReviewAdminCoreTest, NoFalseDeadlockThroughAForceReleasedGrant) {
  const uint64_t a = NewSession();
  const uint64_t b = NewSession();
  MustAcquire(Cmd(a, "x", LockMode::kExclusive, absl::Seconds(5)));
  MustAcquire(Cmd(b, "y"));
  RecordingWaiter& b_on_x = NewWaiter();
  Wait(Cmd(b, "x"), &b_on_x);
  ASSERT_TRUE(table_.ForceRelease(Force("x")).ok());  // Delay: x stays free.
  RecordingWaiter& a_on_y = NewWaiter();
  Wait(Cmd(a, "y"), &a_on_y);
  EXPECT_FALSE(a_on_y.done()) << a_on_y.result().status();
  EXPECT_FALSE(b_on_x.done());
  clock_.Advance(absl::Seconds(5));
  table_.RunDueTimers(clock_.Now());
  EXPECT_TRUE(b_on_x.granted());
}

// Holds: a revoke of a session queued on several keys ends every waiting
// call and serves the heads it blocked (readers behind its writer wait).
TEST_F(ReviewAdminCoreTest, RevokeServesTheQueuesItsWaitsBlocked) {
  const uint64_t a = NewSession();
  const uint64_t h = NewSession();
  MustAcquire(Cmd(h, "p", LockMode::kShared));
  MustAcquire(Cmd(h, "q", LockMode::kShared));
  RecordingWaiter a_p, a_q, r_p, r_q;
  Wait(Cmd(a, "p"), &a_p);  // A writer at the head blocks later readers.
  Wait(Cmd(a, "q"), &a_q);
  Wait(Cmd(NewSession(), "p", LockMode::kShared), &r_p);
  Wait(Cmd(NewSession(), "q", LockMode::kShared), &r_q);
  EXPECT_FALSE(r_p.done());
  absl::StatusOr<LockTable::RevokeResult> got = table_.RevokeSession(Revoke(a));
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->cancelled_waits, 2u);
  EXPECT_TRUE(a_p.done() && !a_p.result().ok());
  EXPECT_TRUE(a_q.done() && !a_q.result().ok());
  EXPECT_TRUE(r_p.granted());
  EXPECT_TRUE(r_q.granted());
  // No edge names the revoked session any more.
  bool truncated = false;
  for (const WaitForGraph::Edge& e : table_.WaitForEdges(1000, &truncated)) {
    EXPECT_NE(e.waiter.session, a);
    EXPECT_NE(e.blocker.session, a);
  }
}

}  // namespace
}  // namespace taala
