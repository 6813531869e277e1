// Deadlock detection through the wait-for graph.

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
#include "absl/synchronization/notification.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/core/lock_table.h"
#include "tests/server/core/lock_table_fixture.h"
#include "tests/testing/fake_clock.h"
#include "tests/testing/status_matchers.h"

namespace taala {
namespace {

using ::taala::test::kTtl;
using ::taala::test::LockTableTest;
using ::taala::test::RecordingWaiter;
using ::taala::test::StatusIs;
using ::taala::test::WithMode;
using ::testing::AllOf;
using ::testing::HasSubstr;

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

// Issue 8 item 13 (api.md): each waiter's edge ahead goes to the nearest
// conflicting waiter ahead of it: any waiter for an EXCLUSIVE one, the
// nearest EXCLUSIVE one for a SHARED one.
TEST_F(LockTableTest, WaitForEdgesGoToTheNearestConflictingWaiterAhead) {
  const uint64_t a = NewSession(), b = NewSession(), c = NewSession(),
                 d = NewSession(), e = NewSession(), f = NewSession();
  MustAcquire(a, "k");
  RecordingWaiter wb, wc, wd, we, wf;
  auto wait = [&](uint64_t s, LockMode mode, RecordingWaiter* w) {
    ASSERT_FALSE(
        table_
            .Acquire(WithMode(Cmd(s, "k", absl::InfiniteDuration()), mode), w)
            .has_value());
  };
  wait(b, LockMode::kExclusive, &wb);
  wait(c, LockMode::kShared, &wc);
  wait(d, LockMode::kShared, &wd);
  wait(e, LockMode::kExclusive, &we);
  wait(f, LockMode::kShared, &wf);
  bool truncated = true;
  std::map<uint64_t, uint64_t> ahead;
  int holder_edges = 0;
  for (const auto& edge : table_.WaitForEdges(100, &truncated)) {
    if (edge.queued_ahead) {
      EXPECT_TRUE(ahead.emplace(edge.waiter.session, edge.blocker.session)
                      .second);
    } else {
      EXPECT_EQ(edge.blocker.session, a);
      ++holder_edges;
    }
  }
  EXPECT_FALSE(truncated);
  EXPECT_EQ(holder_edges, 5);
  EXPECT_EQ(ahead, (std::map<uint64_t, uint64_t>{
                       {c, b}, {d, b}, {e, d}, {f, e}}));
  bool cut = false;
  EXPECT_EQ(table_.WaitForEdges(3, &cut).size(), 3u);
  EXPECT_TRUE(cut);
  table_.Shutdown();
}

// ---------------------------------------------------------------------------
// Issue 8 item 13: the cycle search runs outside the shard mutex.

// A waiter other threads may look at.
class SharedWaiter final : public Waiter {
 public:
  bool Complete(absl::StatusOr<AcquireResult> result) override {
    absl::MutexLock lock(&mu_);
    EXPECT_FALSE(result_.has_value()) << "completed twice";
    result_ = std::move(result);
    return true;
  }
  bool Gone() const override { return false; }
  std::optional<absl::StatusOr<AcquireResult>> result() {
    absl::MutexLock lock(&mu_);
    return result_;
  }

 private:
  absl::Mutex mu_;
  std::optional<absl::StatusOr<AcquireResult>> result_ ABSL_GUARDED_BY(mu_);
};

TEST_F(LockTableTest, CycleSearchDoesNotHoldTheShardMutex) {
  // Every key under "t": one shard.
  const uint64_t a = NewSession(), b = NewSession(), c = NewSession();
  MustAcquire(a, "t/x");
  MustAcquire(b, "t/y");
  RecordingWaiter wb;
  Wait(b, "t/x", &wb);
  // While a's wait on "t/y" is searched for a cycle, an uncontended acquire
  // of another key in the same shard must go through.
  bool searched = false;
  bool other_key_went_through = false;
  absl::Notification acquired;
  std::thread other;
  table_.wait_for_graph_for_test().SetSearchHookForTest([&] {
    if (searched) return;
    searched = true;
    other = std::thread([&] {
      EXPECT_TRUE(AcquireNow(c, "t/free")->acquired);
      acquired.Notify();
    });
    // Generous: a shard mutex held by the search never lets it through.
    other_key_went_through =
        acquired.WaitForNotificationWithTimeout(absl::Seconds(10));
  });
  RecordingWaiter wa;
  auto refused = table_.Acquire(Cmd(a, "t/y", absl::InfiniteDuration()), &wa);
  if (other.joinable()) other.join();
  EXPECT_TRUE(searched);
  EXPECT_TRUE(other_key_went_through);
  // Still refused at once, with the cycle.
  ASSERT_TRUE(refused.has_value());
  EXPECT_THAT(*refused, StatusIs(absl::StatusCode::kAborted,
                                 HasSubstr("deadlock")));
  EXPECT_FALSE(wa.done());
  table_.Shutdown();
}

// Two threads close a 2-cycle at the same moment, on a new pair of keys
// each round: exactly one of the two waits is refused (ABORTED), at once or
// through its waiter; the other is granted once the refused session lets go.
TEST_F(LockTableTest, ConcurrentTwoCyclesGetExactlyOneAbortedEach) {
  const uint64_t a = NewSession(absl::Hours(1), "a");
  const uint64_t b = NewSession(absl::Hours(1), "b");
  constexpr int kRounds = 300;
  for (int round = 0; round < kRounds; ++round) {
    const std::string x = absl::StrCat("x", round, "/k");
    const std::string y = absl::StrCat("y", round, "/k");
    const uint64_t tx = MustAcquire(a, x);
    const uint64_t ty = MustAcquire(b, y);
    SharedWaiter wa, wb;
    std::optional<absl::StatusOr<AcquireResult>> ra, rb;
    std::atomic<int> ready{0};
    auto go = [&](uint64_t s, const std::string& key, SharedWaiter* w,
                  std::optional<absl::StatusOr<AcquireResult>>* out) {
      ready.fetch_add(1);
      while (ready.load() < 2) {
      }
      *out = table_.Acquire(Cmd(s, key, absl::InfiniteDuration()), w);
    };
    std::thread ta(go, a, y, &wa, &ra);
    std::thread tb(go, b, x, &wb, &rb);
    ta.join();
    tb.join();
    // The outcome of each wait: at once, or (refused after a grant) later.
    auto aborted = [](const std::optional<absl::StatusOr<AcquireResult>>& r) {
      return r.has_value() && r->status().code() == absl::StatusCode::kAborted;
    };
    const bool a_refused = aborted(ra) || aborted(wa.result());
    const bool b_refused = aborted(rb) || aborted(wb.result());
    ASSERT_NE(a_refused, b_refused)
        << "round " << round << ": exactly one of the two waits is refused";
    // The refused side gives up its key: the other is granted.
    if (a_refused) {
      ASSERT_OK(Release(a, x, tx));
      ASSERT_TRUE(wb.result().has_value() && wb.result()->ok() &&
                  (*wb.result())->acquired);
      ASSERT_OK(Release(b, x, (*wb.result())->grant.token));
      ASSERT_OK(Release(b, y, ty));
    } else {
      ASSERT_OK(Release(b, y, ty));
      ASSERT_TRUE(wa.result().has_value() && wa.result()->ok() &&
                  (*wa.result())->acquired);
      ASSERT_OK(Release(a, y, (*wa.result())->grant.token));
      ASSERT_OK(Release(a, x, tx));
    }
  }
  EXPECT_EQ(table_.deadlocks_refused(), static_cast<uint64_t>(kRounds));
}

}  // namespace
}  // namespace taala
