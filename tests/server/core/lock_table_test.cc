#include "server/core/lock_table.h"

#include <algorithm>
#include <atomic>
#include <deque>
#include <map>
#include <set>
#include <memory>
#include <optional>
#include <random>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/fake_clock.h"
#include "tests/testing/status_matchers.h"

namespace taala {
namespace {

using ::taala::test::FakeClock;
using ::taala::test::IsOkAndHolds;
using ::taala::test::StatusIs;
using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::Field;
using ::testing::HasSubstr;

constexpr absl::Duration kTtl = absl::Seconds(10);

// A waiter that records its outcome. `gone` simulates a caller that left.
class RecordingWaiter final : public Waiter {
 public:
  bool Complete(absl::StatusOr<AcquireResult> result) override {
    EXPECT_FALSE(result_.has_value()) << "completed twice";
    result_ = std::move(result);
    return !gone_;
  }
  bool Gone() const override { return gone_; }

  void set_gone() { gone_ = true; }
  bool done() const { return result_.has_value(); }
  const absl::StatusOr<AcquireResult>& result() const { return *result_; }
  bool granted() const {
    return done() && result_->ok() && (*result_)->acquired;
  }
  uint64_t token() const { return (*result_)->grant.token; }

 private:
  std::optional<absl::StatusOr<AcquireResult>> result_;
  bool gone_ = false;
};

class RecordingSink final : public SessionEventSink {
 public:
  bool Deliver(const SessionEvent& event) override {
    absl::MutexLock lock(&mu_);
    if (broken_) return false;
    events_.push_back(event);
    return true;
  }
  void set_broken() {
    absl::MutexLock lock(&mu_);
    broken_ = true;
  }
  void Close(const absl::Status& status) override {
    absl::MutexLock lock(&mu_);
    closed_ = status;
  }
  std::vector<SessionEvent> events() {
    absl::MutexLock lock(&mu_);
    return events_;
  }
  std::optional<absl::Status> closed() {
    absl::MutexLock lock(&mu_);
    return closed_;
  }

 private:
  absl::Mutex mu_;
  std::vector<SessionEvent> events_ ABSL_GUARDED_BY(mu_);
  std::optional<absl::Status> closed_ ABSL_GUARDED_BY(mu_);
  bool broken_ ABSL_GUARDED_BY(mu_) = false;
};

// A waiter a thread can block on until the table completes it.
class BlockingWaiter final : public Waiter {
 public:
  bool Complete(absl::StatusOr<AcquireResult> r) override {
    absl::MutexLock lock(&mu_);
    result_ = std::move(r);
    return true;
  }
  bool Gone() const override { return false; }
  absl::StatusOr<AcquireResult> Await() {
    absl::MutexLock lock(&mu_);
    mu_.Await(absl::Condition(
        +[](std::optional<absl::StatusOr<AcquireResult>>* r) {
          return r->has_value();
        },
        &result_));
    return *result_;
  }

 private:
  absl::Mutex mu_;
  std::optional<absl::StatusOr<AcquireResult>> result_ ABSL_GUARDED_BY(mu_);
};

class LockTableTest : public ::testing::Test {
 protected:
  LockTableTest() : table_(MakeOptions()) {}

  static LockTable::Options MakeOptions() {
    LockTable::Options options;
    options.shards = 4;
    return options;
  }

  void TearDown() override { table_.CheckInvariantsForTest(); }

  uint64_t NewSession(absl::Duration ttl = kTtl, std::string name = "test") {
    CreateSessionCmd cmd;
    cmd.session_id = table_.NewSessionId();
    cmd.client_name = std::move(name);
    cmd.ttl = ttl;
    cmd.now = clock_.Now();
    absl::StatusOr<SessionInfo> info = table_.CreateSession(cmd);
    EXPECT_TRUE(info.ok()) << info.status();
    return cmd.session_id;
  }

  AcquireCmd Cmd(uint64_t session, std::string key,
                 absl::Duration wait = absl::ZeroDuration(),
                 absl::Duration max_hold = absl::ZeroDuration()) {
    AcquireCmd cmd;
    cmd.session_id = session;
    cmd.key = std::move(key);
    cmd.wait_timeout = wait;
    cmd.max_hold = max_hold;
    cmd.now = clock_.Now();
    return cmd;
  }

  // Acquires and expects an immediate answer.
  absl::StatusOr<AcquireResult> AcquireNow(uint64_t session,
                                           const std::string& key) {
    auto outcome = table_.Acquire(Cmd(session, key), nullptr);
    EXPECT_TRUE(outcome.has_value());
    if (!outcome.has_value()) return absl::InternalError("queued");
    return *outcome;
  }

  uint64_t MustAcquire(uint64_t session, const std::string& key) {
    absl::StatusOr<AcquireResult> r = AcquireNow(session, key);
    EXPECT_TRUE(r.ok() && r->acquired) << r.status();
    return r.ok() ? r->grant.token : 0;
  }

  // Queues a wait; expects it to be queued.
  void Wait(uint64_t session, const std::string& key, RecordingWaiter* w,
            absl::Duration timeout = absl::InfiniteDuration(),
            absl::Duration max_hold = absl::ZeroDuration()) {
    auto outcome = table_.Acquire(Cmd(session, key, timeout, max_hold), w);
    EXPECT_FALSE(outcome.has_value()) << "expected to wait";
  }

  absl::Status Release(uint64_t session, const std::string& key,
                       uint64_t token) {
    return table_.Release(ReleaseCmd{session, key, token, clock_.Now()});
  }

  void Advance(absl::Duration d) {
    clock_.Advance(d);
    table_.RunDueTimers(clock_.Now());
  }

  FakeClock clock_;
  LockTable table_;
};

TEST_F(LockTableTest, GrantsAFreeKeyAtOnce) {
  const uint64_t s = NewSession();
  absl::StatusOr<AcquireResult> r = AcquireNow(s, "db");
  ASSERT_OK(r);
  EXPECT_TRUE(r->acquired);
  EXPECT_FALSE(r->already_held);
  EXPECT_EQ(r->grant.key, "db");
  EXPECT_EQ(r->grant.session_id, s);
  EXPECT_GT(r->grant.token, 0u);
}

TEST_F(LockTableTest, TokensOfAKeyStrictlyIncrease) {
  const uint64_t s = NewSession();
  uint64_t last = 0;
  for (int i = 0; i < 100; ++i) {
    const uint64_t token = MustAcquire(s, "db");
    EXPECT_GT(token, last);
    last = token;
    ASSERT_OK(Release(s, "db", token));
  }
  EXPECT_EQ(table_.KeyCount(), 0u);  // Freed keys cost nothing.
}

TEST_F(LockTableTest, TokensCarryTheEpochInTheirHighBits) {
  LockTable::Options options;
  options.token_epoch = 7;
  LockTable table(options);
  const uint64_t id = table.NewSessionId();
  EXPECT_EQ(id >> 40, 7u);
  ASSERT_OK(table.CreateSession({id, "c", {}, kTtl, clock_.Now()}));
  auto r = table.Acquire(Cmd(id, "k"), nullptr);
  ASSERT_TRUE(r.has_value());
  ASSERT_OK(*r);
  EXPECT_EQ((*r)->grant.token >> 40, 7u);
}

TEST_F(LockTableTest, TryLockOnAHeldKeyIsNotAcquired) {
  const uint64_t a = NewSession();
  const uint64_t b = NewSession();
  MustAcquire(a, "db");
  absl::StatusOr<AcquireResult> r = AcquireNow(b, "db");
  ASSERT_OK(r);
  EXPECT_FALSE(r->acquired);
}

TEST_F(LockTableTest, WaitersAreGrantedInFifoOrder) {
  const uint64_t holder = NewSession();
  uint64_t token = MustAcquire(holder, "db");
  std::vector<uint64_t> sessions;
  std::vector<RecordingWaiter> waiters(10);
  for (int i = 0; i < 10; ++i) {
    sessions.push_back(NewSession());
    Wait(sessions[i], "db", &waiters[i]);
  }
  uint64_t current = holder;
  for (int i = 0; i < 10; ++i) {
    ASSERT_OK(Release(current, "db", token));
    for (int j = 0; j < 10; ++j) {
      EXPECT_EQ(waiters[j].done(), j <= i) << "after release " << i;
    }
    ASSERT_TRUE(waiters[i].granted());
    EXPECT_GT(waiters[i].token(), token);
    token = waiters[i].token();
    current = sessions[i];
  }
}

TEST_F(LockTableTest, WaitTimeoutAnswersNotAcquiredAtTheDeadline) {
  const uint64_t a = NewSession();
  const uint64_t b = NewSession();
  MustAcquire(a, "db");
  RecordingWaiter w;
  Wait(b, "db", &w, absl::Milliseconds(500));
  Advance(absl::Milliseconds(499));
  EXPECT_FALSE(w.done());
  Advance(absl::Milliseconds(1));
  ASSERT_TRUE(w.done());
  ASSERT_OK(w.result());
  EXPECT_FALSE(w.result()->acquired);
}

TEST_F(LockTableTest, CancelledWaiterIsNeverGrantedAndDoesNotBlockTheNext) {
  const uint64_t a = NewSession();
  const uint64_t b = NewSession();
  const uint64_t c = NewSession();
  const uint64_t token = MustAcquire(a, "db");
  RecordingWaiter wb, wc;
  Wait(b, "db", &wb);
  Wait(c, "db", &wc);
  table_.CancelWait(CancelWaitCmd{b, "db", 0, &wb, CancelReason::kCancelled,
                                  clock_.Now()});
  ASSERT_TRUE(wb.done());
  EXPECT_THAT(wb.result(), StatusIs(absl::StatusCode::kCancelled));
  ASSERT_OK(Release(a, "db", token));
  EXPECT_TRUE(wc.granted());
}

TEST_F(LockTableTest, WaiterThatLeftBeforeItsCancelArrivedIsSkipped) {
  const uint64_t a = NewSession();
  const uint64_t b = NewSession();
  const uint64_t c = NewSession();
  const uint64_t token = MustAcquire(a, "db");
  RecordingWaiter wb, wc;
  Wait(b, "db", &wb);
  Wait(c, "db", &wc);
  wb.set_gone();  // OnCancel has run but not yet reached the table.
  ASSERT_OK(Release(a, "db", token));
  EXPECT_THAT(wb.result(), StatusIs(absl::StatusCode::kCancelled));
  EXPECT_TRUE(wc.granted());
}

TEST_F(LockTableTest, GrantToAWaiterThatLeftDuringDeliveryIsTakenBack) {
  const uint64_t a = NewSession();
  const uint64_t b = NewSession();
  const uint64_t c = NewSession();
  const uint64_t token = MustAcquire(a, "db");
  // b's caller leaves between the grant decision and its delivery: Complete
  // returns false. Gone() is false when the table decides.
  class LeavesOnDelivery final : public Waiter {
   public:
    bool Complete(absl::StatusOr<AcquireResult> r) override {
      completed = true;
      return false;
    }
    bool Gone() const override { return false; }
    bool completed = false;
  } wb;
  auto outcome = table_.Acquire(Cmd(b, "db", absl::InfiniteDuration()), &wb);
  ASSERT_FALSE(outcome.has_value());
  RecordingWaiter wc;
  Wait(c, "db", &wc);
  ASSERT_OK(Release(a, "db", token));
  EXPECT_TRUE(wb.completed);
  ASSERT_TRUE(wc.granted());  // b's grant went straight on to c.
  absl::StatusOr<LockDescription> d = table_.Describe("db", 10);
  ASSERT_OK(d);
  ASSERT_EQ(d->holders.size(), 1u);
  EXPECT_EQ(d->holders[0].grant.session_id, c);
}

TEST_F(LockTableTest, GrantClaimedByARetryIsKeptWhenTheOriginalCallLeft) {
  const uint64_t a = NewSession();
  const uint64_t b = NewSession();
  const uint64_t c = NewSession();
  const uint64_t token = MustAcquire(a, "db");
  // b's first call is granted but leaves before delivery; in that window
  // b's retry is told "already held" with the same token.
  class RetriedThenLeft final : public Waiter {
   public:
    RetriedThenLeft(LockTable* table, AcquireCmd retry_cmd)
        : table_(table), retry_cmd_(std::move(retry_cmd)) {}
    bool Complete(absl::StatusOr<AcquireResult> r) override {
      auto outcome = table_->Acquire(retry_cmd_, nullptr);
      if (outcome.has_value()) retry = *outcome;
      return false;
    }
    bool Gone() const override { return false; }
    absl::StatusOr<AcquireResult> retry = absl::UnknownError("not run");

   private:
    LockTable* table_;
    AcquireCmd retry_cmd_;
  } wb(&table_, Cmd(b, "db"));
  ASSERT_FALSE(
      table_.Acquire(Cmd(b, "db", absl::InfiniteDuration()), &wb).has_value());
  RecordingWaiter wc;
  Wait(c, "db", &wc);
  ASSERT_OK(Release(a, "db", token));
  ASSERT_OK(wb.retry);
  EXPECT_TRUE(wb.retry->already_held);
  // The retry's grant stands: b holds the key, c still waits.
  EXPECT_FALSE(wc.done());
  absl::StatusOr<LockDescription> d = table_.Describe("db", 10);
  ASSERT_OK(d);
  ASSERT_EQ(d->holders.size(), 1u);
  EXPECT_EQ(d->holders[0].grant.session_id, b);
  EXPECT_EQ(d->holders[0].grant.token, wb.retry->grant.token);
  table_.Shutdown();
}

TEST_F(LockTableTest, ReacquireBySameSessionReturnsTheSameGrant) {
  const uint64_t s = NewSession();
  const uint64_t token = MustAcquire(s, "db");
  absl::StatusOr<AcquireResult> again = AcquireNow(s, "db");
  ASSERT_OK(again);
  EXPECT_TRUE(again->acquired);
  EXPECT_TRUE(again->already_held);
  EXPECT_EQ(again->grant.token, token);
}

TEST_F(LockTableTest, RetryWhileWaitingTakesOverTheQueuePlace) {
  const uint64_t a = NewSession();
  const uint64_t b = NewSession();
  const uint64_t c = NewSession();
  const uint64_t token = MustAcquire(a, "db");
  RecordingWaiter first, retry, wc;
  Wait(b, "db", &first);
  Wait(c, "db", &wc);
  Wait(b, "db", &retry);
  EXPECT_THAT(first.result(),
              StatusIs(absl::StatusCode::kCancelled, HasSubstr("superseded")));
  ASSERT_OK(Release(a, "db", token));
  EXPECT_TRUE(retry.granted());  // Still ahead of c.
  EXPECT_FALSE(wc.done());
}

TEST_F(LockTableTest, ReleaseIsRefusedToAnyoneButTheHolderWithItsToken) {
  const uint64_t a = NewSession();
  const uint64_t b = NewSession();
  const uint64_t token = MustAcquire(a, "db");
  EXPECT_THAT(Release(b, "db", token),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("does not hold key \"db\"")));
  EXPECT_THAT(Release(a, "db", token + 1),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("is not session")));
  EXPECT_THAT(Release(a, "other", token),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("the key is free")));
  EXPECT_THAT(Release(12345, "db", token),
              StatusIs(absl::StatusCode::kNotFound,
                       HasSubstr("session 12345 not found")));
  EXPECT_OK(Release(a, "db", token));
}

TEST_F(LockTableTest, UnknownSessionCannotAcquire) {
  EXPECT_THAT(AcquireNow(999, "db"),
              StatusIs(absl::StatusCode::kNotFound,
                       HasSubstr("session 999 not found")));
}

TEST_F(LockTableTest, MalformedInputIsRefusedNamingTheField) {
  const uint64_t s = NewSession();
  EXPECT_THAT(AcquireNow(s, "a//b"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("key")));
  AcquireCmd delayed = Cmd(s, "db");
  delayed.lock_delay = absl::Seconds(-1);
  EXPECT_THAT(*table_.Acquire(delayed, nullptr),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("lock_delay_ms")));
  EXPECT_THAT(
      table_.CreateSession({table_.NewSessionId(), "c", {},
                            absl::Seconds(-1), clock_.Now()}),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("ttl_ms")));
  EXPECT_THAT(table_.CreateSession({table_.NewSessionId(),
                                    std::string(300, 'n'), {}, kTtl,
                                    clock_.Now()}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("client_name")));
}

TEST_F(LockTableTest, SessionTtlIsClampedToTheTableBounds) {
  auto info = table_.CreateSession(
      {table_.NewSessionId(), "c", {}, absl::Milliseconds(1), clock_.Now()});
  ASSERT_OK(info);
  EXPECT_EQ(info->ttl, table_.options().min_session_ttl);
  info = table_.CreateSession(
      {table_.NewSessionId(), "c", {}, absl::ZeroDuration(), clock_.Now()});
  ASSERT_OK(info);
  EXPECT_EQ(info->ttl, table_.options().default_session_ttl);
  info = table_.CreateSession(
      {table_.NewSessionId(), "c", {}, absl::Hours(100), clock_.Now()});
  ASSERT_OK(info);
  EXPECT_EQ(info->ttl, table_.options().max_session_ttl);
}

TEST_F(LockTableTest, ExpiredSessionLosesItsLocksAndTheNextWaiterGetsThem) {
  const uint64_t a = NewSession(absl::Seconds(2));
  const uint64_t b = NewSession(absl::Minutes(1));
  auto sink = std::make_shared<RecordingSink>();
  ASSERT_OK(table_.AttachSink(a, sink));
  MustAcquire(a, "db");
  RecordingWaiter wb;
  Wait(b, "db", &wb);
  Advance(absl::Seconds(2) - absl::Milliseconds(1));
  EXPECT_FALSE(wb.done());
  Advance(absl::Milliseconds(1));
  EXPECT_TRUE(wb.granted());
  EXPECT_THAT(sink->events(),
              ElementsAre(Field(&SessionEvent::type,
                                SessionEvent::Type::kSessionExpired)));
  EXPECT_THAT(table_.KeepAlive({a, clock_.Now()}),
              StatusIs(absl::StatusCode::kNotFound));
  EXPECT_EQ(table_.SessionCount(), 1u);
}

TEST_F(LockTableTest, KeepAliveKeepsASessionPastManyTtls) {
  const uint64_t a = NewSession(absl::Seconds(2));
  MustAcquire(a, "db");
  for (int i = 0; i < 10; ++i) {
    Advance(absl::Seconds(1));
    EXPECT_THAT(table_.KeepAlive({a, clock_.Now()}),
                IsOkAndHolds(absl::Seconds(2)));
  }
  const uint64_t b = NewSession();
  EXPECT_FALSE(AcquireNow(b, "db")->acquired);  // Still held by a.
  Advance(absl::Seconds(2));                     // Keepalives stop.
  EXPECT_TRUE(AcquireNow(b, "db")->acquired);
}

TEST_F(LockTableTest, ExpiryCancelsTheSessionsWaits) {
  const uint64_t a = NewSession(absl::Minutes(1));
  const uint64_t b = NewSession(absl::Seconds(2));
  MustAcquire(a, "db");
  RecordingWaiter wb;
  Wait(b, "db", &wb);
  Advance(absl::Seconds(2));
  EXPECT_THAT(wb.result(), StatusIs(absl::StatusCode::kNotFound,
                                    HasSubstr("expired while waiting")));
}

TEST_F(LockTableTest, GrantPastMaxHoldIsRevokedAndTheHolderIsTold) {
  const uint64_t a = NewSession(absl::Minutes(1));
  const uint64_t b = NewSession(absl::Minutes(1));
  auto sink = std::make_shared<RecordingSink>();
  ASSERT_OK(table_.AttachSink(a, sink));
  auto r = table_.Acquire(Cmd(a, "db", absl::ZeroDuration(), absl::Seconds(3)),
                          nullptr);
  ASSERT_TRUE(r.has_value() && r->ok() && (*r)->acquired);
  const uint64_t token = (*r)->grant.token;
  RecordingWaiter wb;
  Wait(b, "db", &wb);
  Advance(absl::Seconds(3));
  EXPECT_TRUE(wb.granted());
  std::vector<SessionEvent> events = sink->events();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].type, SessionEvent::Type::kGrantRevoked);
  EXPECT_EQ(events[0].key, "db");
  EXPECT_EQ(events[0].token, token);
  EXPECT_THAT(events[0].reason, HasSubstr("max hold"));
  EXPECT_THAT(Release(a, "db", token),
              StatusIs(absl::StatusCode::kFailedPrecondition));
}

TEST_F(LockTableTest, EventsWithoutAStreamWaitForOne) {
  const uint64_t a = NewSession(absl::Minutes(1));
  auto r = table_.Acquire(Cmd(a, "db", absl::ZeroDuration(), absl::Seconds(1)),
                          nullptr);
  ASSERT_TRUE(r.has_value() && r->ok());
  Advance(absl::Seconds(1));
  auto sink = std::make_shared<RecordingSink>();
  ASSERT_OK(table_.AttachSink(a, sink));
  EXPECT_THAT(sink->events(),
              ElementsAre(Field(&SessionEvent::type,
                                SessionEvent::Type::kGrantRevoked)));
}

TEST_F(LockTableTest, EventsAStreamCannotWriteWaitForTheNextStream) {
  const uint64_t a = NewSession(absl::Minutes(1));
  auto dying = std::make_shared<RecordingSink>();
  ASSERT_OK(table_.AttachSink(a, dying));
  dying->set_broken();  // Its stream is ending but not yet detached.
  auto r = table_.Acquire(Cmd(a, "db", absl::ZeroDuration(), absl::Seconds(1)),
                          nullptr);
  ASSERT_TRUE(r.has_value() && r->ok());
  Advance(absl::Seconds(1));
  EXPECT_TRUE(dying->events().empty());
  auto next = std::make_shared<RecordingSink>();
  ASSERT_OK(table_.AttachSink(a, next));
  EXPECT_THAT(next->events(),
              ElementsAre(Field(&SessionEvent::type,
                                SessionEvent::Type::kGrantRevoked)));
}

TEST_F(LockTableTest, ALeaseThatRanOutIsNotRevivedByALateKeepAlive) {
  const uint64_t a = NewSession(absl::Seconds(2));
  clock_.Advance(absl::Seconds(2));  // Run out; the reaper has not run yet.
  EXPECT_THAT(table_.KeepAlive({a, clock_.Now()}),
              StatusIs(absl::StatusCode::kNotFound));
  table_.RunDueTimers(clock_.Now());
  EXPECT_EQ(table_.SessionCount(), 0u);
}

TEST_F(LockTableTest, NoStreamBindsAfterShutdown) {
  const uint64_t a = NewSession();
  table_.Shutdown();
  EXPECT_THAT(table_.AttachSink(a, std::make_shared<RecordingSink>()),
              StatusIs(absl::StatusCode::kUnavailable));
}

TEST_F(LockTableTest, CloseSessionReleasesEverythingAndHandsOver) {
  const uint64_t a = NewSession();
  const uint64_t b = NewSession();
  MustAcquire(a, "x");
  MustAcquire(a, "y/z");
  RecordingWaiter wb;
  Wait(b, "y/z", &wb);
  EXPECT_THAT(table_.CloseSession({a, clock_.Now()}), IsOkAndHolds(2u));
  EXPECT_TRUE(wb.granted());
  EXPECT_THAT(table_.CloseSession({a, clock_.Now()}),
              StatusIs(absl::StatusCode::kNotFound));
}

TEST_F(LockTableTest, CheckFenceAcceptsOnlyTheCurrentToken) {
  const uint64_t a = NewSession();
  const uint64_t token = MustAcquire(a, "db");
  EXPECT_THAT(table_.CheckFence("db", token),
              IsOkAndHolds(Field(&Grant::session_id, a)));
  ASSERT_OK(Release(a, "db", token));
  EXPECT_THAT(table_.CheckFence("db", token),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("the key is free")));
  const uint64_t newer = MustAcquire(a, "db");
  EXPECT_THAT(table_.CheckFence("db", token),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr(absl::StrCat("current token is ", newer))));
}

TEST_F(LockTableTest, DescribeListsHolderAndWaitersInQueueOrder) {
  const uint64_t a = NewSession(kTtl, "alpha");
  const uint64_t b = NewSession(kTtl, "beta");
  const uint64_t c = NewSession(kTtl, "gamma");
  MustAcquire(a, "db");
  RecordingWaiter wb, wc;
  Wait(b, "db", &wb, absl::Seconds(30));
  Wait(c, "db", &wc);
  absl::StatusOr<LockDescription> d = table_.Describe("db", 10);
  ASSERT_OK(d);
  ASSERT_EQ(d->holders.size(), 1u);
  EXPECT_EQ(d->holders[0].client_name, "alpha");
  EXPECT_EQ(d->waiter_count, 2u);
  ASSERT_EQ(d->waiters.size(), 2u);
  EXPECT_EQ(d->waiters[0].client_name, "beta");
  EXPECT_EQ(d->waiters[0].deadline, clock_.Now() + absl::Seconds(30));
  EXPECT_EQ(d->waiters[1].client_name, "gamma");
  EXPECT_EQ(d->waiters[1].deadline, absl::InfiniteFuture());
  d = table_.Describe("db", 1);
  ASSERT_OK(d);
  EXPECT_EQ(d->waiters.size(), 1u);
  EXPECT_EQ(d->waiter_count, 2u);
  table_.Shutdown();
}

std::vector<std::string> Keys(const LockPage& page) {
  std::vector<std::string> keys;
  for (const LockSummary& l : page.locks) keys.push_back(l.key);
  return keys;
}

TEST_F(LockTableTest, ListLocksFiltersByPrefixInKeyOrder) {
  const uint64_t a = NewSession(kTtl, "alpha");
  const uint64_t b = NewSession(kTtl, "beta");
  for (const char* key : {"other/c", "app/b", "apple", "app/x/y", "app/a"}) {
    MustAcquire(a, key);
  }
  RecordingWaiter wb;
  Wait(b, "app/a", &wb);

  absl::StatusOr<LockPage> page = table_.ListLocks("app/", "", 10);
  ASSERT_OK(page);
  EXPECT_THAT(Keys(*page), ElementsAre("app/a", "app/b", "app/x/y"));
  EXPECT_FALSE(page->next_after.has_value());
  ASSERT_EQ(page->locks[0].holders.size(), 1u);
  EXPECT_EQ(page->locks[0].holders[0].client_name, "alpha");
  EXPECT_EQ(page->locks[0].holders[0].grant.session_id, a);
  EXPECT_EQ(page->locks[0].holders[0].grant.key, "app/a");
  EXPECT_EQ(page->locks[0].waiter_count, 1u);
  EXPECT_EQ(page->locks[1].waiter_count, 0u);

  // A plain byte prefix: "app" also matches "apple".
  page = table_.ListLocks("app", "", 10);
  ASSERT_OK(page);
  EXPECT_THAT(Keys(*page), ElementsAre("app/a", "app/b", "app/x/y", "apple"));
  page = table_.ListLocks("", "", 10);
  ASSERT_OK(page);
  EXPECT_THAT(Keys(*page),
              ElementsAre("app/a", "app/b", "app/x/y", "apple", "other/c"));
  page = table_.ListLocks("nothing/", "", 10);
  ASSERT_OK(page);
  EXPECT_TRUE(page->locks.empty());
  EXPECT_FALSE(page->next_after.has_value());
  table_.Shutdown();
}

TEST_F(LockTableTest, ListLocksPagesAcrossShardsWithoutGapsOrRepeats) {
  const uint64_t s = NewSession();
  std::vector<std::string> all;
  absl::flat_hash_map<std::string, uint64_t> tokens;
  for (int i = 0; i < 50; ++i) {
    // Distinct first segments spread the keys over the 4 shards, more than
    // a page's worth in each.
    std::string key = absl::StrCat("k", 100 - i, (i % 3 == 0 ? "/sub" : ""));
    tokens[key] = MustAcquire(s, key);
    all.push_back(key);
  }
  std::sort(all.begin(), all.end());

  std::vector<std::string> listed;
  std::string after;
  int pages = 0;
  while (true) {
    absl::StatusOr<LockPage> page = table_.ListLocks("", after, 7);
    ASSERT_OK(page);
    ++pages;
    ASSERT_LE(page->locks.size(), 7u);
    for (const LockSummary& l : page->locks) listed.push_back(l.key);
    if (!page->next_after.has_value()) break;
    EXPECT_EQ(*page->next_after, page->locks.back().key);
    after = *page->next_after;
    ASSERT_LT(pages, 100) << "pagination does not end";
  }
  EXPECT_EQ(listed, all);
  EXPECT_EQ(pages, 8);  // 7 full pages and one of 1.

  // Exactly a page's worth: no further page is announced.
  absl::StatusOr<LockPage> page = table_.ListLocks("", "", 50);
  ASSERT_OK(page);
  EXPECT_EQ(page->locks.size(), 50u);
  EXPECT_FALSE(page->next_after.has_value());
  page = table_.ListLocks("", "", 49);
  ASSERT_OK(page);
  ASSERT_TRUE(page->next_after.has_value());
  EXPECT_EQ(*page->next_after, all[48]);

  // Keys taken after the token show up on the next page; released ones go.
  page = table_.ListLocks("", "", 3);
  ASSERT_OK(page);
  ASSERT_TRUE(page->next_after.has_value());
  const uint64_t t = MustAcquire(s, "k999");
  ASSERT_OK(Release(s, all[3], tokens[all[3]]));
  page = table_.ListLocks("", *page->next_after, 100);
  ASSERT_OK(page);
  std::vector<std::string> rest(all.begin() + 4, all.end());
  rest.push_back("k999");
  EXPECT_EQ(Keys(*page), rest);
  ASSERT_OK(Release(s, "k999", t));
}

TEST_F(LockTableTest, ListLocksRefusesMalformedPrefixAndToken) {
  EXPECT_THAT(table_.ListLocks(std::string(1025, 'p'), "", 10),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("prefix: 1025 bytes")));
  EXPECT_THAT(table_.ListLocks("bad\xff", "", 10),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("prefix: not valid UTF-8")));
  EXPECT_THAT(table_.ListLocks("", "bad\xff", 10),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("page_token: not valid UTF-8")));
  // A prefix need not be a valid key: "a/" and "" are fine.
  EXPECT_OK(table_.ListLocks("a/", "", 10));
}

TEST_F(LockTableTest, ListSessionsPagesInIdOrderWithLeaseAndCounts) {
  CreateSessionCmd cmd;
  cmd.session_id = table_.NewSessionId();
  cmd.client_name = "labelled";
  cmd.labels = {{"team", "payments"}, {"host", "h1"}};
  cmd.ttl = absl::Seconds(5);
  cmd.now = clock_.Now();
  ASSERT_OK(table_.CreateSession(cmd));
  const uint64_t a = cmd.session_id;
  std::vector<uint64_t> ids = {a};
  for (int i = 0; i < 4; ++i) ids.push_back(NewSession(kTtl, absl::StrCat("s", i)));
  MustAcquire(a, "x");
  MustAcquire(a, "y/z");
  RecordingWaiter w;
  Wait(ids[1], "x", &w);
  clock_.Advance(absl::Seconds(2));

  SessionPage page = table_.ListSessions(0, 100);
  ASSERT_EQ(page.sessions.size(), ids.size());
  EXPECT_FALSE(page.next_after.has_value());
  for (size_t i = 0; i < ids.size(); ++i) {
    EXPECT_EQ(page.sessions[i].session_id, ids[i]);
  }
  const SessionSummary& first = page.sessions[0];
  EXPECT_EQ(first.client_name, "labelled");
  EXPECT_EQ(first.labels, cmd.labels);
  EXPECT_EQ(first.ttl, absl::Seconds(5));
  EXPECT_EQ(first.expires_at - clock_.Now(), absl::Seconds(3));
  EXPECT_EQ(first.held_keys, 2u);
  EXPECT_EQ(first.waiting_keys, 0u);
  EXPECT_EQ(page.sessions[1].held_keys, 0u);
  EXPECT_EQ(page.sessions[1].waiting_keys, 1u);

  // Pages of 2: every session once, in order.
  std::vector<uint64_t> listed;
  uint64_t after = 0;
  for (int pages = 0; pages < 10; ++pages) {
    page = table_.ListSessions(after, 2);
    ASSERT_LE(page.sessions.size(), 2u);
    for (const SessionSummary& s : page.sessions) listed.push_back(s.session_id);
    if (!page.next_after.has_value()) break;
    after = *page.next_after;
  }
  EXPECT_EQ(listed, ids);

  // Closed and expired sessions are not listed.
  ASSERT_OK(table_.CloseSession(CloseSessionCmd{ids[2], clock_.Now()}));
  Advance(absl::Seconds(4));  // `a` (5 s lease) runs out.
  page = table_.ListSessions(0, 100);
  listed.clear();
  for (const SessionSummary& s : page.sessions) listed.push_back(s.session_id);
  EXPECT_THAT(listed, ElementsAre(ids[1], ids[3], ids[4]));
  EXPECT_TRUE(w.granted());  // `a`'s expiry handed "x" to ids[1].
  EXPECT_EQ(page.sessions[0].held_keys, 1u);
  EXPECT_EQ(page.sessions[0].waiting_keys, 0u);
}

// Listings run alongside grants and releases on every shard: each page is
// sorted, without repeats, and the table's invariants hold.
TEST_F(LockTableTest, ListingsRunConcurrentlyWithLockTraffic) {
  std::atomic<bool> stop{false};
  std::vector<std::thread> workers;
  for (int t = 0; t < 4; ++t) {
    workers.emplace_back([&, t] {
      const uint64_t s = NewSession(absl::Hours(1), absl::StrCat("w", t));
      for (int i = 0; !stop.load(); ++i) {
        const std::string key = absl::StrCat("k", (i * 7 + t) % 40, "/x");
        absl::StatusOr<AcquireResult> r = AcquireNow(s, key);
        if (r.ok() && r->acquired) {
          ASSERT_OK(Release(s, key, r->grant.token));
        }
      }
    });
  }
  // In a lambda: a failed ASSERT leaves it, and the workers still stop.
  auto list_rounds = [&] {
    for (int round = 0; round < 200; ++round) {
      std::string after;
      std::vector<std::string> seen;
      while (true) {
        absl::StatusOr<LockPage> page = table_.ListLocks("", after, 5);
        ASSERT_OK(page);
        for (const LockSummary& l : page->locks) {
          ASSERT_TRUE(seen.empty() || seen.back() < l.key);
          ASSERT_EQ(l.holders.size(), 1u);
          seen.push_back(l.key);
        }
        if (!page->next_after.has_value()) break;
        after = *page->next_after;
      }
      SessionPage sessions = table_.ListSessions(0, 2);
      ASSERT_LE(sessions.sessions.size(), 2u);
    }
  };
  list_rounds();
  stop = true;
  for (auto& w : workers) w.join();
}

TEST_F(LockTableTest, ShutdownEndsWaitsAndStreamsAndRefusesNewWork) {
  const uint64_t a = NewSession();
  const uint64_t b = NewSession();
  auto sink = std::make_shared<RecordingSink>();
  ASSERT_OK(table_.AttachSink(a, sink));
  MustAcquire(a, "db");
  RecordingWaiter wb;
  Wait(b, "db", &wb);
  table_.Shutdown();
  EXPECT_THAT(wb.result(), StatusIs(absl::StatusCode::kUnavailable));
  ASSERT_TRUE(sink->closed().has_value());
  EXPECT_EQ(sink->closed()->code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(AcquireNow(b, "other"),
              StatusIs(absl::StatusCode::kUnavailable));
}

// Many threads, few keys, real waits: mutual exclusion holds, every waiter is
// completed exactly once, and the invariants hold at the end.
TEST_F(LockTableTest, ConcurrentAcquireReleaseKeepsMutualExclusion) {
  constexpr int kThreads = 8;
  constexpr int kIterations = 300;
  const std::vector<std::string> keys = {"a", "b/c", "b/d"};
  std::vector<std::atomic<int>> inside(keys.size());
  for (auto& i : inside) i = 0;
  std::atomic<int> violations{0};

  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937 rng(::testing::UnitTest::GetInstance()->random_seed() + t);
      const uint64_t s = NewSession(absl::Hours(1));
      for (int i = 0; i < kIterations; ++i) {
        const size_t k = rng() % keys.size();
        BlockingWaiter w;
        auto outcome =
            table_.Acquire(Cmd(s, keys[k], absl::InfiniteDuration()), &w);
        absl::StatusOr<AcquireResult> r =
            outcome.has_value() ? *outcome : w.Await();
        ASSERT_TRUE(r.ok() && r->acquired) << r.status();
        if (inside[k].fetch_add(1) != 0) violations++;
        inside[k].fetch_sub(1);
        ASSERT_OK(Release(s, keys[k], r->grant.token));
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(violations.load(), 0);
  EXPECT_EQ(table_.KeyCount(), 0u);
}


// ---------------------------------------------------------------------------
// Shared/exclusive modes, semaphores, upgrades, lock-delay, release requests.

AcquireCmd WithMode(AcquireCmd cmd, LockMode mode) {
  cmd.mode = mode;
  return cmd;
}

AcquireCmd AsSemaphore(AcquireCmd cmd, uint32_t size) {
  cmd.semaphore_size = size;
  return cmd;
}

TEST_F(LockTableTest, ReadersHoldTogetherAndAWriterExcludesThemAll) {
  const uint64_t r1 = NewSession();
  const uint64_t r2 = NewSession();
  const uint64_t w = NewSession();
  auto a = table_.Acquire(WithMode(Cmd(r1, "doc"), LockMode::kShared), nullptr);
  auto b = table_.Acquire(WithMode(Cmd(r2, "doc"), LockMode::kShared), nullptr);
  ASSERT_TRUE(a.has_value() && a->ok() && (*a)->acquired);
  ASSERT_TRUE(b.has_value() && b->ok() && (*b)->acquired);
  EXPECT_NE((*a)->grant.token, (*b)->grant.token);
  EXPECT_FALSE(AcquireNow(w, "doc")->acquired);  // Writer: not while read.
  ASSERT_OK(Release(r1, "doc", (*a)->grant.token));
  EXPECT_FALSE(AcquireNow(w, "doc")->acquired);
  ASSERT_OK(Release(r2, "doc", (*b)->grant.token));
  const uint64_t wt = MustAcquire(w, "doc");
  auto c = table_.Acquire(WithMode(Cmd(r1, "doc"), LockMode::kShared), nullptr);
  ASSERT_TRUE(c.has_value() && c->ok());
  EXPECT_FALSE((*c)->acquired);  // Reader: not while written.
  ASSERT_OK(Release(w, "doc", wt));
}

TEST_F(LockTableTest, AQueuedWriterIsNotStarvedByAStreamOfReaders) {
  const uint64_t first = NewSession();
  auto held =
      table_.Acquire(WithMode(Cmd(first, "doc"), LockMode::kShared), nullptr);
  ASSERT_TRUE(held.has_value() && held->ok() && (*held)->acquired);
  const uint64_t writer = NewSession();
  RecordingWaiter ww;
  Wait(writer, "doc", &ww);
  // Readers keep coming: none overtakes the queued writer.
  std::vector<uint64_t> readers;
  std::vector<RecordingWaiter> rw(8);
  for (int i = 0; i < 8; ++i) {
    readers.push_back(NewSession());
    auto r = table_.Acquire(WithMode(Cmd(readers[i], "doc",
                                         absl::InfiniteDuration()),
                                     LockMode::kShared),
                            &rw[i]);
    EXPECT_FALSE(r.has_value()) << "reader " << i << " overtook the writer";
  }
  ASSERT_OK(Release(first, "doc", (*held)->grant.token));
  ASSERT_TRUE(ww.granted());
  for (const auto& r : rw) EXPECT_FALSE(r.done());
  ASSERT_OK(Release(writer, "doc", ww.token()));
  // The readers queued together are granted together.
  for (const auto& r : rw) EXPECT_TRUE(r.granted());
}

TEST_F(LockTableTest, OnlyAdjacentReadersAtTheHeadAreGrantedTogether) {
  const uint64_t w0 = NewSession();
  const uint64_t token = MustAcquire(w0, "doc");
  const uint64_t r1 = NewSession(), r2 = NewSession(), w3 = NewSession(),
                 r4 = NewSession();
  RecordingWaiter q1, q2, q3, q4;
  auto shared = [&](uint64_t s, RecordingWaiter* w) {
    EXPECT_FALSE(table_
                     .Acquire(WithMode(Cmd(s, "doc", absl::InfiniteDuration()),
                                       LockMode::kShared),
                              w)
                     .has_value());
  };
  shared(r1, &q1);
  shared(r2, &q2);
  Wait(w3, "doc", &q3);
  shared(r4, &q4);
  ASSERT_OK(Release(w0, "doc", token));
  EXPECT_TRUE(q1.granted());
  EXPECT_TRUE(q2.granted());
  EXPECT_FALSE(q3.done());
  EXPECT_FALSE(q4.done());  // Behind the writer.
  ASSERT_OK(Release(r1, "doc", q1.token()));
  ASSERT_OK(Release(r2, "doc", q2.token()));
  EXPECT_TRUE(q3.granted());
  EXPECT_FALSE(q4.done());
  ASSERT_OK(Release(w3, "doc", q3.token()));
  EXPECT_TRUE(q4.granted());
}

TEST_F(LockTableTest, SemaphoreAdmitsUpToItsSize) {
  std::vector<uint64_t> s;
  for (int i = 0; i < 4; ++i) s.push_back(NewSession());
  std::vector<uint64_t> tokens;
  for (int i = 0; i < 3; ++i) {
    auto r = table_.Acquire(AsSemaphore(Cmd(s[i], "pool"), 3), nullptr);
    ASSERT_TRUE(r.has_value() && r->ok() && (*r)->acquired) << i;
    tokens.push_back((*r)->grant.token);
  }
  RecordingWaiter w;
  EXPECT_FALSE(
      table_.Acquire(AsSemaphore(Cmd(s[3], "pool", absl::InfiniteDuration()), 3),
                     &w)
          .has_value());
  absl::StatusOr<LockDescription> d = table_.Describe("pool", 10);
  ASSERT_OK(d);
  EXPECT_EQ(d->semaphore_size, 3u);
  EXPECT_EQ(d->holders.size(), 3u);
  ASSERT_OK(Release(s[1], "pool", tokens[1]));
  EXPECT_TRUE(w.granted());
}

TEST_F(LockTableTest, SemaphoreSizeIsFixedByTheFirstAcquirer) {
  const uint64_t a = NewSession(), b = NewSession();
  auto r = table_.Acquire(AsSemaphore(Cmd(a, "pool"), 3), nullptr);
  ASSERT_TRUE(r.has_value() && r->ok());
  EXPECT_THAT(*table_.Acquire(AsSemaphore(Cmd(b, "pool"), 4), nullptr),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("semaphore of size 3")));
  EXPECT_THAT(AcquireNow(b, "pool"),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("semaphore_size 3")));
  MustAcquire(b, "lock");
  EXPECT_THAT(*table_.Acquire(AsSemaphore(Cmd(a, "lock"), 2), nullptr),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("in use as a lock")));
  // Once free, the next acquirer picks the size again.
  ASSERT_OK(Release(a, "pool", (*r)->grant.token));
  auto again = table_.Acquire(AsSemaphore(Cmd(b, "pool"), 5), nullptr);
  ASSERT_TRUE(again.has_value());
  EXPECT_OK(*again);
}

TEST_F(LockTableTest, UpgradeWithNoOtherReaderIsImmediateWithANewerToken) {
  const uint64_t a = NewSession();
  auto r = table_.Acquire(WithMode(Cmd(a, "doc"), LockMode::kShared), nullptr);
  ASSERT_TRUE(r.has_value() && r->ok() && (*r)->acquired);
  absl::StatusOr<AcquireResult> up = AcquireNow(a, "doc");  // EXCLUSIVE.
  ASSERT_OK(up);
  ASSERT_TRUE(up->acquired);
  EXPECT_FALSE(up->already_held);
  EXPECT_EQ(up->grant.mode, LockMode::kExclusive);
  EXPECT_GT(up->grant.token, (*r)->grant.token);
  EXPECT_THAT(table_.CheckFence("doc", (*r)->grant.token),
              StatusIs(absl::StatusCode::kFailedPrecondition));
}

TEST_F(LockTableTest, UpgradeWaitsForTheOtherReadersAheadOfQueuedWriters) {
  const uint64_t a = NewSession(), b = NewSession(), w = NewSession();
  auto ra = table_.Acquire(WithMode(Cmd(a, "doc"), LockMode::kShared), nullptr);
  auto rb = table_.Acquire(WithMode(Cmd(b, "doc"), LockMode::kShared), nullptr);
  ASSERT_TRUE(ra->ok() && rb->ok());
  RecordingWaiter ww, up;
  Wait(w, "doc", &ww);
  Wait(a, "doc", &up);  // a holds SHARED: an upgrade.
  absl::StatusOr<LockDescription> d = table_.Describe("doc", 10);
  ASSERT_OK(d);
  ASSERT_EQ(d->waiters.size(), 2u);
  EXPECT_EQ(d->waiters[0].session_id, a);  // Ahead of the writer.
  ASSERT_OK(Release(b, "doc", (*rb)->grant.token));
  ASSERT_TRUE(up.granted());
  EXPECT_EQ(up.result()->grant.mode, LockMode::kExclusive);
  EXPECT_FALSE(ww.done());
  ASSERT_OK(Release(a, "doc", up.token()));
  EXPECT_TRUE(ww.granted());
}

TEST_F(LockTableTest, TwoUpgradersOnOneKeyAreRefusedAsADeadlock) {
  const uint64_t a = NewSession(), b = NewSession();
  auto ra = table_.Acquire(WithMode(Cmd(a, "doc"), LockMode::kShared), nullptr);
  auto rb = table_.Acquire(WithMode(Cmd(b, "doc"), LockMode::kShared), nullptr);
  ASSERT_TRUE(ra->ok() && rb->ok());
  RecordingWaiter up;
  Wait(a, "doc", &up);
  auto second =
      table_.Acquire(Cmd(b, "doc", absl::InfiniteDuration()), nullptr);
  ASSERT_TRUE(second.has_value());
  EXPECT_THAT(*second,
              StatusIs(absl::StatusCode::kAborted,
                       HasSubstr(absl::StrCat("sessions ", a, " (test) and ",
                                              b))));
  EXPECT_EQ(table_.deadlocks_refused(), 1u);
  // b gives up its read: a's upgrade goes through.
  ASSERT_OK(Release(b, "doc", (*rb)->grant.token));
  EXPECT_TRUE(up.granted());
}

TEST_F(LockTableTest, LockDelayAfterExpiryButNotAfterARelease) {
  const uint64_t a = NewSession(absl::Seconds(2));
  const uint64_t b = NewSession(absl::Minutes(5));
  AcquireCmd cmd = Cmd(a, "res");
  cmd.lock_delay = absl::Seconds(5);
  auto r = table_.Acquire(cmd, nullptr);
  ASSERT_TRUE(r.has_value() && r->ok() && (*r)->acquired);
  RecordingWaiter wb;
  Wait(b, "res", &wb);
  Advance(absl::Seconds(2));  // a expires.
  EXPECT_FALSE(wb.done());    // ...but the key waits out the delay.
  EXPECT_FALSE(AcquireNow(NewSession(), "res")->acquired);
  Advance(absl::Seconds(5) - absl::Milliseconds(1));
  EXPECT_FALSE(wb.done());
  Advance(absl::Milliseconds(1));
  ASSERT_TRUE(wb.granted());
  // A normal release hands over at once, delay or not.
  const uint64_t c = NewSession(absl::Minutes(5));
  RecordingWaiter wc;
  Wait(c, "res", &wc);
  ASSERT_OK(Release(b, "res", wb.token()));
  EXPECT_TRUE(wc.granted());
}

TEST_F(LockTableTest, LockDelayAfterRevocation) {
  const uint64_t a = NewSession(absl::Minutes(5));
  AcquireCmd cmd = Cmd(a, "res", absl::ZeroDuration(), absl::Seconds(1));
  cmd.lock_delay = absl::Seconds(3);
  ASSERT_TRUE(table_.Acquire(cmd, nullptr)->ok());
  Advance(absl::Seconds(1));  // Revoked.
  const uint64_t b = NewSession(absl::Minutes(5));
  EXPECT_FALSE(AcquireNow(b, "res")->acquired);
  absl::StatusOr<LockDescription> d = table_.Describe("res", 1);
  ASSERT_OK(d);
  EXPECT_EQ(d->delayed_until, clock_.Now() + absl::Seconds(3));
  Advance(absl::Seconds(3));
  EXPECT_TRUE(AcquireNow(b, "res")->acquired);
}

TEST_F(LockTableTest, AReleaseRequestReachesEveryHolder) {
  const uint64_t h1 = NewSession(kTtl, "reader-1");
  const uint64_t h2 = NewSession(kTtl, "reader-2");
  const uint64_t w = NewSession(kTtl, "writer");
  auto s1 = std::make_shared<RecordingSink>();
  auto s2 = std::make_shared<RecordingSink>();
  ASSERT_OK(table_.AttachSink(h1, s1));
  ASSERT_OK(table_.AttachSink(h2, s2));
  auto a = table_.Acquire(WithMode(Cmd(h1, "doc"), LockMode::kShared), nullptr);
  auto b = table_.Acquire(WithMode(Cmd(h2, "doc"), LockMode::kShared), nullptr);
  ASSERT_TRUE(a->ok() && b->ok());
  AcquireCmd cmd = Cmd(w, "doc", absl::InfiniteDuration());
  cmd.request_release = true;
  RecordingWaiter ww;
  ASSERT_FALSE(table_.Acquire(cmd, &ww).has_value());
  for (const auto& [sink, token] :
       {std::pair{s1, (*a)->grant.token}, std::pair{s2, (*b)->grant.token}}) {
    std::vector<SessionEvent> events = sink->events();
    ASSERT_EQ(events.size(), 1u);
    EXPECT_EQ(events[0].type, SessionEvent::Type::kReleaseRequested);
    EXPECT_EQ(events[0].key, "doc");
    EXPECT_EQ(events[0].token, token);
    EXPECT_EQ(events[0].requester_session_id, w);
    EXPECT_EQ(events[0].requester_client_name, "writer");
  }
  table_.Shutdown();
}

TEST_F(LockTableTest, SemaphoreOfThreeUnderTwentyThreads) {
  constexpr int kThreads = 20;
  constexpr int kRounds = 20;
  std::atomic<int> inside{0};
  std::atomic<int> most{0};
  std::atomic<int> served{0};

  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      const uint64_t s = NewSession(absl::Hours(1));
      for (int i = 0; i < kRounds; ++i) {
        BlockingWaiter w;
        auto outcome = table_.Acquire(
            AsSemaphore(Cmd(s, "pool", absl::InfiniteDuration()), 3), &w);
        absl::StatusOr<AcquireResult> r =
            outcome.has_value() ? *outcome : w.Await();
        ASSERT_TRUE(r.ok() && r->acquired) << r.status();
        const int now_inside = inside.fetch_add(1) + 1;
        int seen = most.load();
        while (now_inside > seen && !most.compare_exchange_weak(seen, now_inside)) {
        }
        std::this_thread::yield();
        inside.fetch_sub(1);
        ASSERT_OK(Release(s, "pool", r->grant.token));
        served++;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_LE(most.load(), 3);
  EXPECT_EQ(served.load(), kThreads * kRounds);
}

// Random operation sequences against the lock table and a small, obviously
// correct model of the same rules; every answer and every queue must agree.
class Model {
 public:
  struct Hold {
    uint64_t session;
    LockMode mode;
  };
  struct Wait {
    uint64_t session;
    LockMode mode;
    bool upgrade;
    uint64_t seq;
  };
  struct Key {
    std::vector<Hold> holders;
    std::deque<Wait> queue;  // By seq.
  };
  enum class Answer { kAcquired, kAlreadyHeld, kNotAcquired, kQueued, kAborted };

  Answer Acquire(uint64_t s, const std::string& k, LockMode m, bool try_only) {
    Key& key = keys_[k];
    const Hold* mine = nullptr;
    for (const Hold& h : key.holders) {
      if (h.session == s) mine = &h;
    }
    const bool upgrade = mine != nullptr && mine->mode == LockMode::kShared &&
                         m == LockMode::kExclusive;
    if (mine != nullptr && !upgrade) return Answer::kAlreadyHeld;
    if (upgrade && !key.queue.empty() && key.queue.front().upgrade &&
        key.queue.front().session != s) {
      return Answer::kAborted;  // Two upgraders: a deadlock.
    }
    const bool head_free =
        key.queue.empty() || (upgrade && !key.queue.front().upgrade);
    if (head_free && Fits(k, s, m, upgrade, upgrade ? next_upgrade_ : kNew)) {
      Grant(key, s, m, upgrade);
      return Answer::kAcquired;
    }
    if (try_only) return Answer::kNotAcquired;
    // Enqueue tentatively; a wait that closes a cycle is refused.
    const uint64_t seq = upgrade ? next_upgrade_ : next_seq_;
    if (upgrade) {
      key.queue.push_front(Wait{s, m, true, seq});
    } else {
      key.queue.push_back(Wait{s, m, false, seq});
    }
    if (WaitsOnItself(s)) {
      if (upgrade) {
        key.queue.pop_front();
      } else {
        key.queue.pop_back();
      }
      return Answer::kAborted;
    }
    (upgrade ? next_upgrade_ : next_seq_)++;
    return Answer::kQueued;
  }

  bool Release(uint64_t s, const std::string& k) {
    Key& key = keys_[k];
    for (auto it = key.holders.begin(); it != key.holders.end(); ++it) {
      if (it->session == s) {
        key.holders.erase(it);
        GrantAll();
        return true;
      }
    }
    return false;
  }

  void Cancel(uint64_t s, const std::string& k) {
    Key& key = keys_[k];
    for (auto it = key.queue.begin(); it != key.queue.end(); ++it) {
      if (it->session == s) {
        key.queue.erase(it);
        GrantAll();
        return;
      }
    }
  }

  const Key& key(const std::string& k) { return keys_[k]; }
  bool Waits(uint64_t s, const std::string& k) {
    for (const Wait& w : keys_[k].queue) {
      if (w.session == s) return true;
    }
    return false;
  }

 private:
  static constexpr uint64_t kNew = ~uint64_t{0};

  static bool Conflict(LockMode a, LockMode b) {
    return a == LockMode::kExclusive || b == LockMode::kExclusive;
  }
  static bool Below(const std::string& low, const std::string& high) {
    return low.size() > high.size() && low.compare(0, high.size(), high) == 0 &&
           low[high.size()] == '/';
  }

  // Sessions that block `s` waiting (or asking) for `k` in mode `m` at queue
  // position `seq`: conflicting holders of the key, of its ancestors and of
  // keys below it, conflicting waiters ahead in its queue and in its
  // ancestors' queues. Written from the rules, not from the table's code.
  std::vector<uint64_t> Blockers(const std::string& k, uint64_t s, LockMode m,
                                 bool upgrade, uint64_t seq) {
    std::vector<uint64_t> out;
    for (const auto& [name, key] : keys_) {
      const bool self = name == k;
      const bool above = Below(k, name);
      const bool below = Below(name, k);
      if (!self && !above && !below) continue;
      for (const Hold& h : key.holders) {
        if (h.session != s && Conflict(m, h.mode)) out.push_back(h.session);
      }
      if (self || above) {
        for (const Wait& w : key.queue) {
          if (w.seq < seq && w.session != s && Conflict(m, w.mode)) {
            out.push_back(w.session);
          }
        }
      }
    }
    (void)upgrade;
    return out;
  }

  bool Fits(const std::string& k, uint64_t s, LockMode m, bool upgrade,
            uint64_t seq) {
    // Only holders and ancestors' queues decide here; the key's own queue
    // order is the caller's business (head_free, or being the head).
    for (const auto& [name, key] : keys_) {
      const bool self = name == k;
      const bool above = Below(k, name);
      const bool below = Below(name, k);
      if (!self && !above && !below) continue;
      for (const Hold& h : key.holders) {
        if (self && upgrade && h.session == s) continue;
        if (!self && h.session == s) continue;
        if (self && h.session == s) continue;
        if (Conflict(m, h.mode)) return false;
      }
      if (above) {
        for (const Wait& w : key.queue) {
          if (w.seq < seq && w.session != s && Conflict(m, w.mode)) {
            return false;
          }
        }
      }
    }
    return true;
  }

  static void Grant(Key& key, uint64_t s, LockMode m, bool upgrade) {
    for (Hold& h : key.holders) {
      if (upgrade && h.session == s) {
        h.mode = m;
        return;
      }
    }
    key.holders.push_back(Hold{s, m});
  }

  // FIFO across all keys: the ready head with the lowest position first.
  void GrantAll() {
    while (true) {
      Key* best = nullptr;
      std::string best_name;
      for (auto& [name, key] : keys_) {
        if (key.queue.empty()) continue;
        const Wait& w = key.queue.front();
        if (best != nullptr && w.seq >= best->queue.front().seq) continue;
        if (!Fits(name, w.session, w.mode, w.upgrade, w.seq)) continue;
        best = &key;
        best_name = name;
      }
      if (best == nullptr) return;
      const Wait w = best->queue.front();
      best->queue.pop_front();
      Grant(*best, w.session, w.mode, w.upgrade);
    }
  }

  // Whether `s` transitively waits for itself. Recomputed from scratch.
  bool WaitsOnItself(uint64_t s) {
    std::set<uint64_t> seen;
    std::vector<uint64_t> todo = {s};
    bool first = true;
    while (!todo.empty()) {
      const uint64_t x = todo.back();
      todo.pop_back();
      if (!first && x == s) return true;
      first = false;
      for (const auto& [name, key] : keys_) {
        for (const Wait& w : key.queue) {
          if (w.session != x) continue;
          for (uint64_t b : Blockers(name, x, w.mode, w.upgrade, w.seq)) {
            if (b == s || seen.insert(b).second) todo.push_back(b);
          }
        }
      }
    }
    return false;
  }

  std::map<std::string, Key> keys_;
  uint64_t next_upgrade_ = 1;
  uint64_t next_seq_ = uint64_t{1} << 62;
};

TEST_F(LockTableTest, RandomOperationsAgreeWithAReferenceModel) {
  std::mt19937 rng(::testing::UnitTest::GetInstance()->random_seed());
  // Flat keys, and one key in a tree (the hierarchy itself is covered by
  // the tests above; with several concurrent waits per session a grant in a
  // tree can complete a cycle, which this model does not follow).
  const std::vector<std::string> keys = {"k1", "k2", "t/a"};
  std::vector<uint64_t> sessions;
  for (int i = 0; i < 5; ++i) sessions.push_back(NewSession(absl::Hours(1)));
  Model model;
  // Every wait's waiter, by (session, key); a session waits at most once per
  // key here.
  std::map<std::pair<uint64_t, std::string>, std::unique_ptr<RecordingWaiter>>
      waits;
  std::map<std::pair<uint64_t, std::string>, uint64_t> tokens;

  for (int step = 0; step < 3000; ++step) {
    const uint64_t s = sessions[rng() % sessions.size()];
    const std::string& k = keys[rng() % keys.size()];
    const auto sk = std::make_pair(s, k);
    const int op = rng() % 10;
    SCOPED_TRACE(absl::StrCat("step ", step, " op ", op, " session ", s,
                              " key ", k));
    if (op < 6) {
      if (model.Waits(s, k)) continue;  // One wait per (session, key).
      const LockMode mode =
          rng() % 2 == 0 ? LockMode::kShared : LockMode::kExclusive;
      const bool try_only = rng() % 3 == 0;
      const Model::Answer expect = model.Acquire(s, k, mode, try_only);
      auto w = std::make_unique<RecordingWaiter>();
      auto got = table_.Acquire(
          WithMode(Cmd(s, k,
                       try_only ? absl::ZeroDuration()
                                : absl::InfiniteDuration()),
                   mode),
          w.get());
      switch (expect) {
        case Model::Answer::kAcquired:
        case Model::Answer::kAlreadyHeld:
          ASSERT_TRUE(got.has_value() && got->ok() && (*got)->acquired);
          EXPECT_EQ((*got)->already_held,
                    expect == Model::Answer::kAlreadyHeld);
          tokens[sk] = (*got)->grant.token;
          break;
        case Model::Answer::kNotAcquired:
          ASSERT_TRUE(got.has_value() && got->ok());
          EXPECT_FALSE((*got)->acquired);
          break;
        case Model::Answer::kQueued:
          ASSERT_FALSE(got.has_value());
          waits[sk] = std::move(w);
          break;
        case Model::Answer::kAborted:
          ASSERT_TRUE(got.has_value());
          EXPECT_THAT(*got, StatusIs(absl::StatusCode::kAborted));
          break;
      }
    } else if (op < 9) {
      const bool expect = model.Release(s, k);
      const absl::Status st = Release(s, k, tokens.count(sk) ? tokens[sk] : 0);
      EXPECT_EQ(st.ok(), expect) << st;
    } else {
      model.Cancel(s, k);
      auto it = waits.find(sk);
      if (it != waits.end()) {
        table_.CancelWait(CancelWaitCmd{s, k, 0, it->second.get(),
                                        CancelReason::kCancelled,
                                        clock_.Now()});
      }
    }
    // Collect the grants the step handed to waiters.
    for (auto it = waits.begin(); it != waits.end();) {
      if (!it->second->done()) {
        ++it;
        continue;
      }
      if (it->second->granted()) tokens[it->first] = it->second->token();
      it = waits.erase(it);
    }
    // Holders and queues agree, in order.
    for (const std::string& key : keys) {
      absl::StatusOr<LockDescription> d = table_.Describe(key, 100);
      ASSERT_OK(d);
      const Model::Key& mk = model.key(key);
      std::map<uint64_t, LockMode> want, have;
      for (const auto& h : mk.holders) want[h.session] = h.mode;
      for (const auto& h : d->holders) have[h.grant.session_id] = h.grant.mode;
      ASSERT_EQ(want, have) << "holders of " << key;
      ASSERT_EQ(d->waiters.size(), mk.queue.size()) << "queue of " << key;
      for (size_t i = 0; i < mk.queue.size(); ++i) {
        ASSERT_EQ(d->waiters[i].session_id, mk.queue[i].session)
            << "queue of " << key << " at " << i;
      }
    }
  }
  table_.Shutdown();  // Ends the remaining waits.
}


// ---------------------------------------------------------------------------
// Deadlock detection.

TEST_F(LockTableTest, OppositeOrderLockingIsRefusedWithTheCycle) {
  // One service locks partner then restaurant, the other restaurant then
  // partner.
  const uint64_t a = NewSession(kTtl, "orders");
  const uint64_t b = NewSession(kTtl, "payouts");
  MustAcquire(a, "partner/7");
  MustAcquire(b, "restaurant/9");
  RecordingWaiter wa, wb;
  Wait(a, "restaurant/9", &wa);
  auto refused =
      table_.Acquire(Cmd(b, "partner/7", absl::InfiniteDuration()), &wb);
  ASSERT_TRUE(refused.has_value());
  EXPECT_THAT(*refused,
              StatusIs(absl::StatusCode::kAborted,
                       AllOf(HasSubstr(absl::StrCat("session ", b,
                                                    " (payouts) waits for key "
                                                    "\"partner/7\", held by "
                                                    "session ",
                                                    a, " (orders)")),
                             HasSubstr("which waits for key \"restaurant/9\", "
                                       "held by session"))));
  EXPECT_EQ(table_.deadlocks_refused(), 1u);
  EXPECT_FALSE(wa.done());  // a still waits: b may release and go on.
  table_.Shutdown();
}

TEST_F(LockTableTest, ThreeSessionCycleIsRefused) {
  const uint64_t a = NewSession(), b = NewSession(), c = NewSession();
  MustAcquire(a, "x");
  MustAcquire(b, "y");
  MustAcquire(c, "z");
  RecordingWaiter wa, wb, wc;
  Wait(a, "y", &wa);
  Wait(b, "z", &wb);
  auto refused = table_.Acquire(Cmd(c, "x", absl::InfiniteDuration()), &wc);
  ASSERT_TRUE(refused.has_value());
  EXPECT_THAT(*refused, StatusIs(absl::StatusCode::kAborted,
                                 AllOf(HasSubstr("\"x\""), HasSubstr("\"y\""),
                                       HasSubstr("\"z\""))));
  // Try-locks never wait, so they never deadlock.
  EXPECT_FALSE(AcquireNow(c, "x")->acquired);
  table_.Shutdown();
}

TEST_F(LockTableTest, DeadlockThroughTheQueueIsRefused) {
  // a holds k SHARED; w waits for k EXCLUSIVE (behind a); b holds j and asks
  // k SHARED: it must queue behind w (no overtaking), so b waits for w, w
  // for a. a then asking j closes a -> b -> w -> a.
  const uint64_t a = NewSession(), w = NewSession(), b = NewSession();
  ASSERT_TRUE(
      table_.Acquire(WithMode(Cmd(a, "k"), LockMode::kShared), nullptr)->ok());
  MustAcquire(b, "j");
  RecordingWaiter ww, wb;
  Wait(w, "k", &ww);
  ASSERT_FALSE(table_
                   .Acquire(WithMode(Cmd(b, "k", absl::InfiniteDuration()),
                                     LockMode::kShared),
                            &wb)
                   .has_value());
  RecordingWaiter wa;
  auto refused = table_.Acquire(Cmd(a, "j", absl::InfiniteDuration()), &wa);
  ASSERT_TRUE(refused.has_value());
  EXPECT_THAT(*refused, StatusIs(absl::StatusCode::kAborted));
  table_.Shutdown();
}

TEST_F(LockTableTest, NoFalseDeadlockInTenThousandRandomAcyclicWaits) {
  // Session i only ever waits (for one key at a time, as a client does) for
  // keys held by sessions j > i: no cycle is possible, so no wait may be
  // refused.
  std::mt19937 rng(::testing::UnitTest::GetInstance()->random_seed());
  constexpr int kSessions = 12;
  std::vector<uint64_t> sessions;
  for (int i = 0; i < kSessions; ++i) {
    sessions.push_back(NewSession(absl::Hours(1)));
    MustAcquire(sessions[i], absl::StrCat("held/", i));
  }
  std::vector<std::unique_ptr<RecordingWaiter>> waiters;
  std::vector<std::pair<int, std::string>> open;
  for (int n = 0; n < 10000; ++n) {
    const int i = rng() % (kSessions - 1);
    const int j = i + 1 + rng() % (kSessions - 1 - i);
    const std::string key = absl::StrCat("held/", j);
    bool waiting = false;
    for (const auto& [s, k] : open) waiting |= s == i;
    if (!waiting) {
      waiters.push_back(std::make_unique<RecordingWaiter>());
      auto r = table_.Acquire(
          WithMode(Cmd(sessions[i], key, absl::InfiniteDuration()),
                   rng() % 2 ? LockMode::kShared : LockMode::kExclusive),
          waiters.back().get());
      ASSERT_FALSE(r.has_value())
          << "wait " << n << " refused: " << (r->ok() ? "" : r->status().ToString());
      open.emplace_back(i, key);
    }
    if (open.size() > 30 || rng() % 3 == 0) {  // End a random wait.
      const size_t pick = rng() % open.size();
      const auto [s, k] = open[pick];
      table_.CancelWait(CancelWaitCmd{sessions[s], k, 0, nullptr,
                                      CancelReason::kCancelled, clock_.Now()});
      open.erase(open.begin() + pick);
    }
  }
  EXPECT_EQ(table_.deadlocks_refused(), 0u);
  table_.Shutdown();
}

TEST_F(LockTableTest, WaitForEdgesNameWaiterHolderAndKey) {
  const uint64_t a = NewSession(kTtl, "alpha");
  const uint64_t b = NewSession(kTtl, "beta");
  const uint64_t c = NewSession(kTtl, "gamma");
  MustAcquire(a, "k");
  RecordingWaiter wb, wc;
  Wait(b, "k", &wb);
  Wait(c, "k", &wc);
  bool truncated = true;
  std::vector<WaitForGraph::Edge> edges = table_.WaitForEdges(100, &truncated);
  EXPECT_FALSE(truncated);
  ASSERT_EQ(edges.size(), 3u);  // b->a, c->a (holder), c->b (queued ahead).
  int holder_edges = 0;
  for (const auto& e : edges) {
    EXPECT_EQ(e.key, "k");
    if (!e.queued_ahead) {
      EXPECT_EQ(e.blocker.session, a);
      EXPECT_EQ(e.blocker.client_name, "alpha");
      ++holder_edges;
    } else {
      EXPECT_EQ(e.waiter.session, c);
      EXPECT_EQ(e.blocker.session, b);
    }
  }
  EXPECT_EQ(holder_edges, 2);
  table_.Shutdown();
  EXPECT_TRUE(table_.WaitForEdges(100, &truncated).empty());
}


TEST_F(LockTableTest, AQueuedFirstSemaphoreUserFixesTheSizeDuringALockDelay) {
  const uint64_t a = NewSession(absl::Seconds(2));
  AcquireCmd cmd = Cmd(a, "pool");
  cmd.lock_delay = absl::Seconds(10);
  ASSERT_TRUE(table_.Acquire(cmd, nullptr)->ok());
  Advance(absl::Seconds(2));  // a expires: the key is delayed, unheld.
  const uint64_t b = NewSession(absl::Minutes(5));
  const uint64_t c = NewSession(absl::Minutes(5));
  RecordingWaiter wb, wc;
  EXPECT_FALSE(
      table_.Acquire(AsSemaphore(Cmd(b, "pool", absl::InfiniteDuration()), 3),
                     &wb)
          .has_value());
  EXPECT_FALSE(
      table_.Acquire(AsSemaphore(Cmd(c, "pool", absl::InfiniteDuration()), 3),
                     &wc)
          .has_value());
  EXPECT_THAT(AcquireNow(NewSession(), "pool"),
              StatusIs(absl::StatusCode::kFailedPrecondition));
  Advance(absl::Seconds(10));
  EXPECT_TRUE(wb.granted());
  EXPECT_TRUE(wc.granted());
}

TEST_F(LockTableTest, LockDelayIsBounded) {
  const uint64_t a = NewSession();
  AcquireCmd cmd = Cmd(a, "k");
  cmd.lock_delay = table_.options().max_lock_delay + absl::Milliseconds(1);
  EXPECT_THAT(*table_.Acquire(cmd, nullptr),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("lock_delay_ms")));
}


// ---------------------------------------------------------------------------
// Hierarchical keys (multi-granularity locking).

TEST_F(LockTableTest, ExclusiveParentWaitsForAHolderBelowIt) {
  const uint64_t a = NewSession(), b = NewSession();
  const uint64_t token = MustAcquire(a, "a/b/c");
  EXPECT_FALSE(AcquireNow(b, "a")->acquired);
  RecordingWaiter wb;
  Wait(b, "a", &wb);
  ASSERT_OK(Release(a, "a/b/c", token));
  EXPECT_TRUE(wb.granted());
  // Now "a" is held EXCLUSIVE: nothing below it can be taken.
  EXPECT_FALSE(AcquireNow(a, "a/x")->acquired);
  EXPECT_EQ(table_.KeyCount(), 1u);  // Intentions on "a", "a/b" are gone.
}

TEST_F(LockTableTest, SiblingsAndSharedAlongAPathCoexist) {
  const uint64_t a = NewSession(), b = NewSession();
  MustAcquire(a, "a/x");
  MustAcquire(b, "a/y");  // Siblings: no conflict.
  const uint64_t c = NewSession(), d = NewSession();
  auto sa = table_.Acquire(WithMode(Cmd(c, "p"), LockMode::kShared), nullptr);
  auto sb =
      table_.Acquire(WithMode(Cmd(d, "p/b"), LockMode::kShared), nullptr);
  ASSERT_TRUE(sa->ok() && (*sa)->acquired);
  ASSERT_TRUE(sb->ok() && (*sb)->acquired);  // SHARED along a path: fine.
  // EXCLUSIVE below a SHARED ancestor, or above a SHARED descendant: not.
  EXPECT_FALSE(AcquireNow(a, "p/b/c")->acquired);
  EXPECT_FALSE(AcquireNow(a, "p")->acquired);
}

TEST_F(LockTableTest, ExclusiveHolderBlocksNewGrantsBelowItUntilReleased) {
  const uint64_t a = NewSession(), b = NewSession();
  const uint64_t token = MustAcquire(a, "a/b");
  EXPECT_FALSE(AcquireNow(b, "a/b/c")->acquired);
  EXPECT_FALSE(
      (*table_.Acquire(WithMode(Cmd(b, "a/b/c"), LockMode::kShared), nullptr))
          ->acquired);
  RecordingWaiter wb;
  Wait(b, "a/b/c", &wb);
  EXPECT_TRUE(AcquireNow(b, "a/z")->acquired);  // Not below a/b.
  ASSERT_OK(Release(a, "a/b", token));
  EXPECT_TRUE(wb.granted());
}

TEST_F(LockTableTest, AQueuedParentWriterIsNotStarvedByGrantsBelowIt) {
  const uint64_t a = NewSession(), w = NewSession(), c = NewSession();
  const uint64_t token = MustAcquire(a, "t/1");
  RecordingWaiter ww;
  Wait(w, "t", &ww);  // Waits for a's t/1.
  // New grants below "t" would conflict with the queued writer: they wait.
  EXPECT_FALSE(AcquireNow(c, "t/2")->acquired);
  RecordingWaiter wc;
  Wait(c, "t/2", &wc);
  ASSERT_OK(Release(a, "t/1", token));
  ASSERT_TRUE(ww.granted());
  EXPECT_FALSE(wc.done());
  ASSERT_OK(Release(w, "t", ww.token()));
  EXPECT_TRUE(wc.granted());
}

TEST_F(LockTableTest, ASessionNeverWaitsForItsOwnGrantsBelow) {
  const uint64_t a = NewSession();
  MustAcquire(a, "a/b/c");
  EXPECT_TRUE(AcquireNow(a, "a")->acquired);
  EXPECT_TRUE(AcquireNow(a, "a/b/d")->acquired);
}

TEST_F(LockTableTest, DeadlockThroughTheHierarchyIsRefused) {
  const uint64_t a = NewSession(), b = NewSession();
  MustAcquire(a, "tree/leaf");
  MustAcquire(b, "x");
  RecordingWaiter wa, wb;
  Wait(a, "x", &wa);  // a waits for b.
  // b asks for the whole tree, which a holds a leaf of: a cycle.
  auto refused =
      table_.Acquire(Cmd(b, "tree", absl::InfiniteDuration()), &wb);
  ASSERT_TRUE(refused.has_value());
  EXPECT_THAT(*refused, StatusIs(absl::StatusCode::kAborted,
                                 HasSubstr("\"tree\"")));
  table_.Shutdown();
}

TEST_F(LockTableTest, ReleasingAParentGrantsWaitersAllOverItsTree) {
  const uint64_t a = NewSession();
  const uint64_t token = MustAcquire(a, "r");
  std::vector<uint64_t> s;
  std::vector<RecordingWaiter> w(3);
  const std::vector<std::string> keys = {"r/1", "r/2/x", "r/3"};
  for (int i = 0; i < 3; ++i) {
    s.push_back(NewSession());
    Wait(s[i], keys[i], &w[i]);
  }
  ASSERT_OK(Release(a, "r", token));
  for (const auto& x : w) EXPECT_TRUE(x.granted());
}


TEST_F(LockTableTest, AGrantThatClosesACycleInATreeAbortsTheWaitOnIt) {
  // s2 waits for t/a/b (held by s1), s5 then for "t" EXCLUSIVE, s2 then
  // also for "t" SHARED (behind s5). When s1 lets t/a/b go, s2 gets it
  // (it queued first), and now s5 waits for s2's t/a/b while s2 waits behind
  // s5 on "t": the grant closed a cycle. s2's wait on "t" is aborted.
  const uint64_t s1 = NewSession(), s2 = NewSession(), s5 = NewSession();
  const uint64_t token = MustAcquire(s1, "t/a/b");
  RecordingWaiter leaf, parent, second;
  Wait(s2, "t/a/b", &leaf);
  Wait(s5, "t", &parent);
  ASSERT_FALSE(table_
                   .Acquire(WithMode(Cmd(s2, "t", absl::InfiniteDuration()),
                                     LockMode::kShared),
                            &second)
                   .has_value());
  ASSERT_OK(Release(s1, "t/a/b", token));
  ASSERT_TRUE(leaf.granted());
  ASSERT_TRUE(second.done());
  EXPECT_THAT(second.result(), StatusIs(absl::StatusCode::kAborted,
                                        HasSubstr("deadlock")));
  EXPECT_EQ(table_.deadlocks_refused(), 1u);
  EXPECT_FALSE(parent.done());  // Waits for s2's t/a/b, which can go.
  ASSERT_OK(Release(s2, "t/a/b", leaf.token()));
  EXPECT_TRUE(parent.granted());
}


TEST_F(LockTableTest, ADroppedAncestorWaiterReleasesTheSubtreesBehindIt) {
  const uint64_t t = NewSession(), x = NewSession(), v = NewSession();
  const uint64_t token = MustAcquire(t, "t/b/c");
  RecordingWaiter wx, wv;
  Wait(x, "t", &wx);
  Wait(v, "t/x/y", &wv);
  wx.set_gone();
  ASSERT_OK(Release(t, "t/b/c", token));
  EXPECT_TRUE(wx.done());
  // The reactor's CancelWait comes late: a no-op.
  table_.CancelWait(CancelWaitCmd{x, "t", 0, &wx, CancelReason::kCancelled, clock_.Now()});
  EXPECT_TRUE(wv.granted()) << "t/x/y waiter hangs";
}

TEST_F(LockTableTest, AGrantOnAnAncestorKeepsTheGraphOfItsOtherSubtreesCurrent) {
  const uint64_t u = NewSession(), v = NewSession(), t = NewSession(), x = NewSession();
  ASSERT_TRUE((*table_.Acquire(WithMode(Cmd(u, "q/x/y"), LockMode::kShared), nullptr))->acquired);
  RecordingWaiter wv, wx, ww;
  Wait(v, "q/x/y", &wv);
  const uint64_t tt = MustAcquire(t, "q/b/c");
  ASSERT_FALSE(table_.Acquire(WithMode(Cmd(x, "q", absl::InfiniteDuration()), LockMode::kShared), &wx).has_value());
  MustAcquire(v, "w");
  Wait(x, "w", &ww);
  ASSERT_OK(Release(t, "q/b/c", tt));
  ASSERT_TRUE(wx.granted());
  EXPECT_TRUE(ww.done()) << "cycle x->v->x not detected";
  table_.Shutdown();
}

TEST_F(LockTableTest, AnImmediateGrantThatClosesACycleAbortsTheOtherWait) {
  const uint64_t h = NewSession(), v = NewSession(), s = NewSession();
  ASSERT_TRUE((*table_.Acquire(WithMode(Cmd(h, "m/n/o"), LockMode::kShared), nullptr))->acquired);
  RecordingWaiter wv, ws;
  Wait(v, "m/n/o", &wv);
  MustAcquire(v, "w");
  Wait(s, "w", &ws);
  auto r = table_.Acquire(WithMode(Cmd(s, "m/n"), LockMode::kShared), nullptr);
  ASSERT_TRUE(r->ok() && (*r)->acquired);
  EXPECT_TRUE(ws.done()) << "cycle s->v->s not detected";
  table_.Shutdown();
}

TEST_F(LockTableTest, ARefusedWaitInATreeLeavesNoEmptyKey) {
  const uint64_t s1 = NewSession(), s2 = NewSession();
  MustAcquire(s1, "p");
  MustAcquire(s2, "x");
  RecordingWaiter w1, w2;
  Wait(s1, "x", &w1);
  auto r = table_.Acquire(Cmd(s2, "p/q", absl::InfiniteDuration()), &w2);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status().code(), absl::StatusCode::kAborted);
  EXPECT_EQ(table_.KeyCount(), 2u);
  table_.Shutdown();
}

}  // namespace
}  // namespace taala
