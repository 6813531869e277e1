// The lock table's core contract: grants, tokens, FIFO waits, cancels,
// retries, releases, refused input, and mutual exclusion under threads.

#include <algorithm>
#include <atomic>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/core/lock_table.h"
#include "tests/server/core/lock_table_fixture.h"
#include "tests/testing/fake_clock.h"
#include "tests/testing/status_matchers.h"

namespace taala {
namespace {

using ::taala::test::BlockingWaiter;
using ::taala::test::kTtl;
using ::taala::test::LockTableTest;
using ::taala::test::RecordingWaiter;
using ::taala::test::StatusIs;
using ::testing::HasSubstr;

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
  EXPECT_EQ(table_.KeyMapSizeForTest(), 0u);  // Freed keys cost nothing.
}

TEST_F(LockTableTest, TokensContinueAboveTheLogsStart) {
  MemoryLog log(uint64_t{7} << 40);
  LockTable::Options options;
  options.log = &log;
  LockTable table(options);
  // Session ids are random (not from the log's sequence); tokens are.
  const uint64_t id = table.NewSessionId();
  ASSERT_OK(table.CreateSession({id, "c", {}, kTtl, clock_.Now(), ""}));
  auto r = table.Acquire(Cmd(id, "k"), nullptr);
  ASSERT_TRUE(r.has_value());
  ASSERT_OK(*r);
  EXPECT_GT((*r)->grant.token, uint64_t{7} << 40);
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
                            absl::Seconds(-1), clock_.Now(), ""}),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("ttl_ms")));
  EXPECT_THAT(table_.CreateSession({table_.NewSessionId(),
                                    std::string(300, 'n'), {}, kTtl,
                                    clock_.Now(), ""}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("client_name")));
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
  EXPECT_EQ(table_.KeyMapSizeForTest(), 0u);
}

}  // namespace
}  // namespace taala
