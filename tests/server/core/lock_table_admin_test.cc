// LockTable's operator actions (AdminService, lock_table_admin.cc):
// ForceRelease and RevokeSession, with their records (the audit trail).

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/core/durable_state.h"
#include "server/core/lock_table.h"
#include "tests/server/core/lock_table_fixture.h"

namespace taala {
namespace {

using ::testing::HasSubstr;
using test::RecordingSink;
using test::RecordingWaiter;

class LockTableAdminTest : public ::testing::Test {
 protected:
  LockTableAdminTest() : table_(Options(&log_)) {
    log_.set_tap([this](const Transition& t) { records_.push_back(t); });
  }
  ~LockTableAdminTest() override {
    table_.CheckInvariantsForTest();
    table_.Shutdown();
  }
  static LockTable::Options Options(TransitionLog* log) {
    LockTable::Options o;
    o.shards = 4;
    o.log = log;
    return o;
  }

  uint64_t NewSession(std::shared_ptr<RecordingSink>* sink = nullptr) {
    CreateSessionCmd cmd;
    cmd.session_id = table_.NewSessionId();
    cmd.client_name = "c";
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
                 absl::Duration lock_delay = absl::ZeroDuration(),
                 LockMode mode = LockMode::kExclusive) {
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
    EXPECT_TRUE(r.has_value() && r->ok() && (*r)->acquired);
    return r.has_value() && r->ok() ? (*r)->grant.token : 0;
  }
  void Wait(uint64_t s, const std::string& key, RecordingWaiter* w) {
    AcquireCmd cmd = Cmd(s, key);
    cmd.wait_timeout = absl::InfiniteDuration();
    EXPECT_FALSE(table_.Acquire(cmd, w).has_value());
  }
  ForceReleaseCmd Force(const std::string& key, bool skip = false) {
    ForceReleaseCmd cmd;
    cmd.key = key;
    cmd.reason = "stuck";
    cmd.caller = "ops";
    cmd.skip_lock_delay = skip;
    cmd.now = clock_.Now();
    return cmd;
  }
  RevokeSessionCmd Revoke(uint64_t s, bool skip = false) {
    return RevokeSessionCmd{s, "runaway", "ops", skip, clock_.Now()};
  }
  const Transition* Find(TransitionType type, EndReason reason) {
    for (const Transition& t : records_) {
      if (t.type == type && t.reason == reason) return &t;
    }
    return nullptr;
  }

  MemoryLog log_;
  std::vector<Transition> records_;
  test::FakeClock clock_;
  LockTable table_;
};

TEST_F(LockTableAdminTest, ForceReleaseHandsTheKeyOnWithAHigherToken) {
  std::shared_ptr<RecordingSink> sink;
  const uint64_t a = NewSession(&sink);
  const uint64_t b = NewSession();
  const uint64_t old_token = MustAcquire(Cmd(a, "k"));
  RecordingWaiter w;
  Wait(b, "k", &w);

  absl::StatusOr<std::vector<Grant>> got = table_.ForceRelease(Force("k"));
  ASSERT_TRUE(got.ok()) << got.status();
  ASSERT_EQ(got->size(), 1u);
  EXPECT_EQ((*got)[0].session_id, a);
  EXPECT_EQ((*got)[0].token, old_token);
  ASSERT_TRUE(w.granted());
  EXPECT_GT(w.token(), old_token);

  std::vector<SessionEvent> events = sink->events();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].type, SessionEvent::Type::kGrantRevoked);
  EXPECT_EQ(events[0].token, old_token);
  EXPECT_EQ(events[0].reason, "force-released by ops: stuck");

  const Transition* ended =
      Find(TransitionType::kGrantEnded, EndReason::kForceReleased);
  ASSERT_NE(ended, nullptr);
  EXPECT_EQ(ended->token, old_token);
  EXPECT_EQ(ended->text, "stuck");
  EXPECT_EQ(ended->caller, "ops");
  EXPECT_THAT(TransitionToString(*ended),
              HasSubstr("reason=force_released reason_text=\"stuck\" "
                        "caller=\"ops\""));
  // The old holder's token is dead; its session lives.
  EXPECT_EQ(table_.Release(ReleaseCmd{a, "k", old_token, clock_.Now()}).code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(table_.KeepAlive(KeepAliveCmd{a, clock_.Now()}).ok());
  // Counted as a revocation.
  EXPECT_EQ(table_.GetMetrics().revocations, 1u);
}

TEST_F(LockTableAdminTest, ForceReleaseStartsTheGrantsLockDelayUnlessSkipped) {
  const uint64_t a = NewSession();
  const uint64_t b = NewSession();
  MustAcquire(Cmd(a, "d", absl::Seconds(5)));
  RecordingWaiter w;
  Wait(b, "d", &w);
  ASSERT_TRUE(table_.ForceRelease(Force("d")).ok());
  EXPECT_FALSE(w.done());  // In the lock-delay.
  clock_.Advance(absl::Seconds(5));
  table_.RunDueTimers(clock_.Now());
  EXPECT_TRUE(w.granted());

  MustAcquire(Cmd(a, "s", absl::Seconds(5)));
  RecordingWaiter w2;
  Wait(b, "s", &w2);
  ASSERT_TRUE(table_.ForceRelease(Force("s", /*skip=*/true)).ok());
  EXPECT_TRUE(w2.granted());  // At once.
}

TEST_F(LockTableAdminTest, ForceReleaseTakesEveryHolderOrTheNamedOne) {
  const uint64_t a = NewSession();
  const uint64_t b = NewSession();
  const uint64_t c = NewSession();
  const uint64_t ta = MustAcquire(Cmd(a, "shared", {}, LockMode::kShared));
  MustAcquire(Cmd(b, "shared", {}, LockMode::kShared));
  MustAcquire(Cmd(c, "shared", {}, LockMode::kShared));

  ForceReleaseCmd only_a = Force("shared");
  only_a.session_id = a;
  absl::StatusOr<std::vector<Grant>> got = table_.ForceRelease(only_a);
  ASSERT_TRUE(got.ok()) << got.status();
  ASSERT_EQ(got->size(), 1u);
  EXPECT_EQ((*got)[0].token, ta);
  // a no longer holds it: NOT_FOUND for it now.
  EXPECT_EQ(table_.ForceRelease(only_a).status().code(),
            absl::StatusCode::kNotFound);

  got = table_.ForceRelease(Force("shared"));
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->size(), 2u);
  EXPECT_EQ(table_.ForceRelease(Force("shared")).status().code(),
            absl::StatusCode::kNotFound);
}

TEST_F(LockTableAdminTest, ForceReleaseRefusesWhatItCannotTake) {
  const uint64_t a = NewSession();
  const uint64_t token = MustAcquire(Cmd(a, "held"));
  EXPECT_EQ(table_.ForceRelease(Force("free")).status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(table_.ForceRelease(Force("a//b")).status().code(),
            absl::StatusCode::kInvalidArgument);
  ForceReleaseCmd cmd = Force("held");
  cmd.token = token + 1;
  absl::Status st = table_.ForceRelease(cmd).status();
  EXPECT_EQ(st.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(st.message(), HasSubstr(absl::StrCat("token ", token)));
  cmd.token = 0;
  cmd.session_id = a + 100;
  EXPECT_EQ(table_.ForceRelease(cmd).status().code(),
            absl::StatusCode::kNotFound);
  cmd.session_id = a;
  cmd.token = token;
  EXPECT_TRUE(table_.ForceRelease(cmd).ok());  // The right grant: taken.
}

TEST_F(LockTableAdminTest, RevokeSessionEndsItFreesItsKeysCancelsItsWaits) {
  std::shared_ptr<RecordingSink> sink;
  const uint64_t a = NewSession(&sink);
  const uint64_t b = NewSession();
  const uint64_t c = NewSession();
  MustAcquire(Cmd(a, "x"));
  MustAcquire(Cmd(a, "y", absl::Seconds(5)));
  MustAcquire(Cmd(c, "z"));
  RecordingWaiter a_waits, b_waits;
  Wait(a, "z", &a_waits);
  Wait(b, "x", &b_waits);

  absl::StatusOr<LockTable::RevokeResult> got = table_.RevokeSession(Revoke(a));
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->released.size(), 2u);
  EXPECT_EQ(got->cancelled_waits, 1u);
  EXPECT_TRUE(b_waits.granted());
  ASSERT_TRUE(a_waits.done());
  EXPECT_EQ(a_waits.result().status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(a_waits.result().status().message(), HasSubstr("revoked"));
  // y's lock-delay started (not skipped).
  EXPECT_GT(table_.Describe("y", 1)->delayed_until, clock_.Now());

  std::vector<SessionEvent> events = sink->events();
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events.back().type, SessionEvent::Type::kSessionExpired);
  EXPECT_EQ(events.back().reason, "revoked by ops: runaway");
  EXPECT_EQ(table_.KeepAlive(KeepAliveCmd{a, clock_.Now()}).status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(table_.RevokeSession(Revoke(a)).status().code(),
            absl::StatusCode::kNotFound);

  const Transition* ended =
      Find(TransitionType::kSessionEnded, EndReason::kSessionRevoked);
  ASSERT_NE(ended, nullptr);
  EXPECT_EQ(ended->text, "runaway");
  EXPECT_EQ(ended->caller, "ops");
  ASSERT_NE(Find(TransitionType::kGrantEnded, EndReason::kSessionRevoked),
            nullptr);

  // Replayed, the records give the table's state.
  DurableState folded;
  for (const Transition& t : records_) ASSERT_TRUE(folded.Apply(t));
  EXPECT_EQ(folded.sessions.count(a), 0u);
  EXPECT_EQ(folded.keys.count("x"), 1u);  // b holds it.
  // Its grants count as expiries, the session as expired.
  const TableMetrics m = table_.GetMetrics();
  EXPECT_EQ(m.grants_expired, 2u);
  EXPECT_EQ(m.sessions_expired, 1u);
  EXPECT_EQ(m.revocations, 0u);
}

TEST_F(LockTableAdminTest, RevokeSessionMaySkipTheLockDelays) {
  const uint64_t a = NewSession();
  MustAcquire(Cmd(a, "y", absl::Seconds(5)));
  ASSERT_TRUE(table_.RevokeSession(Revoke(a, /*skip=*/true)).ok());
  const uint64_t b = NewSession();
  MustAcquire(Cmd(b, "y"));
}

TEST_F(LockTableAdminTest, RevokingASessionWhoseLeaseRanOutEndsItAsExpired) {
  const uint64_t a = NewSession();
  MustAcquire(Cmd(a, "y", absl::Seconds(5)));
  clock_.Advance(absl::Minutes(11));  // Past the lease; no timer has run.
  EXPECT_EQ(table_.RevokeSession(Revoke(a, /*skip=*/true)).status().code(),
            absl::StatusCode::kNotFound);
  ASSERT_NE(Find(TransitionType::kSessionEnded, EndReason::kExpired), nullptr);
  EXPECT_EQ(Find(TransitionType::kSessionEnded, EndReason::kSessionRevoked),
            nullptr);
  // Ended by expiry: its lock-delay runs, skip or not.
  EXPECT_GT(table_.Describe("y", 1)->delayed_until, clock_.Now());
}

}  // namespace
}  // namespace taala
