// Review of issue 10's statistics at the edges (reviewA). Each test that
// fails on main says what is wrong and what correct behaviour is; tests
// that pass guard an edge that was checked and found right.

#include <malloc.h>

#include <memory>
#include <random>
#include <vector>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/core/durable_state.h"
#include "server/core/grant.h"
#include "server/core/lock_table.h"
#include "server/core/multi_acquire.h"
#include "tests/server/core/lock_table_fixture.h"
#include "tests/server/core/stats_fixture.h"
#include "tests/testing/fake_clock.h"

namespace taala {
namespace {

using test::RecordingWaiter;

// A waiter whose caller leaves while its grant is on the way: not gone when
// the table looks (so the grant is made), gone when the grant arrives.
class LeavesOnDelivery final : public Waiter {
 public:
  bool Complete(absl::StatusOr<AcquireResult> result) override {
    result_ = std::move(result);
    return false;
  }
  bool Gone() const override { return false; }
  bool done() const { return result_.has_value(); }

 private:
  std::optional<absl::StatusOr<AcquireResult>> result_;
};

class ReviewStatsTest : public test::StatsFixture {
 protected:
  ReviewStatsTest() { table_ = NewTable(); }
  static std::unique_ptr<LockTable> NewTable() { return NewStatsTable(); }
};

// BUG: a retry that supersedes a waiting call ends the first call
// (kWaitEnded, cancelled, 3 s waited) and, as docs/observability.md says,
// "continues its wait, whose time counts from the first call's start": the
// retry's kWaitEnded then says 5 s. Each choice alone is defensible; both
// together count the first 3 s twice: 8 s of waiting recorded for 5 s of
// real waiting, so wait sums, /metrics' wait histogram sum, top_keys'
// wait_seconds and contention by wait time are inflated by every retry
// (clients retry on DEADLINE_EXCEEDED: the keys that wait longest retry
// most). Correct: the waits recorded for one queue place add up to the time
// it was queued (5 s): either the superseded call's wait is not a sample,
// or the retry's wait counts from the retry.
TEST_F(ReviewStatsTest, RetrySupersedingAWaitDoesNotCountTheFirstWaitTwice) {
  const uint64_t a = NewSession("a");
  const uint64_t b = NewSession("b");
  const uint64_t token = Take(a, "k");
  RecordingWaiter first, retry;
  EXPECT_FALSE(table_->Acquire(Cmd(b, "k", absl::Seconds(30)), &first));
  Advance(absl::Seconds(3));
  EXPECT_FALSE(table_->Acquire(Cmd(b, "k", absl::Seconds(30)), &retry));
  ASSERT_TRUE(first.done());  // Superseded: CANCELLED.
  Advance(absl::Seconds(2));
  Give(a, "k", token);
  ASSERT_TRUE(retry.granted());
  const LockStats st = Stats("k");
  EXPECT_EQ(st.figures.acquires.acquired_after_wait, 1u);
  EXPECT_LE(st.figures.wait.sum(), 5.0 + 1e-6)
      << "b was queued 5 s in all; the samples are "
      << st.figures.wait.min() << " s and " << st.figures.wait.max() << " s";
  const TableMetrics m = table_->GetMetrics();
  EXPECT_LE(m.wait.sum, 5.0 + 1e-6);
}

// BUG: a waiter whose caller leaves while its grant is being delivered
// (Waiter::Complete returns false) has its grant undone at once (kUndone),
// yet the call is counted as ACQUIRED (acquired_after_wait) in the key's,
// segment's and table's acquires. docs/api.md (GetLockStats): "`cancelled`,
// the caller left". The caller never got the lock: the call should count
// as cancelled, not acquired.
TEST_F(ReviewStatsTest, AGrantWhoseCallerLeftOnDeliveryIsNotCountedAcquired) {
  const uint64_t a = NewSession("a");
  const uint64_t b = NewSession("b");
  const uint64_t token = Take(a, "k");
  LeavesOnDelivery gone;
  EXPECT_FALSE(table_->Acquire(Cmd(b, "k", absl::Seconds(30)), &gone));
  Advance(absl::Seconds(1));
  Give(a, "k", token);
  ASSERT_TRUE(gone.done());
  // The grant was undone: nobody holds k.
  EXPECT_EQ(table_->GetMetrics().held_locks, 0u);
  const LockStats st = Stats("k");
  EXPECT_EQ(st.figures.acquires.acquired, 1u) << "a's own acquire only";
  EXPECT_EQ(st.figures.acquires.acquired_after_wait, 0u);
  EXPECT_EQ(st.figures.acquires.cancelled, 1u);
  EXPECT_EQ(table_->GetMetrics().acquires.acquired, 1u);
}

// BUG: GetContention's by_wait_time is documented (docs/api.md) as "waits
// that ended in the last window_ms (5 minutes, in 1-minute slots)", but
// Figures::WindowAt keeps only the slots of the current minute and the 4
// before it: a wait that ended 4 min 40 s ago is dropped, so the window is
// 4 to 5 minutes long depending on where in the minute one asks. Correct: a
// wait that ended less than window_ms ago is counted.
TEST_F(ReviewStatsTest, AWaitThatEndedFourMinutesFortyAgoIsInTheFiveMinuteWindow) {
  const uint64_t a = NewSession("a");
  const uint64_t b = NewSession("b");
  const uint64_t token = Take(a, "hot");
  RecordingWaiter w;
  EXPECT_FALSE(table_->Acquire(Cmd(b, "hot", absl::Minutes(1)), &w));
  Advance(absl::Seconds(30));  // 00:30 into the minute.
  Give(a, "hot", token);       // b waited 30 s; the wait ended now.
  ASSERT_TRUE(w.granted());
  Advance(absl::Minutes(4) + absl::Seconds(40));  // 4m40s < 5 min later.
  const ContentionReport r = table_->GetContention(10, clock_.Now());
  EXPECT_EQ(r.window, absl::Minutes(5));
  ASSERT_EQ(r.by_wait_time.size(), 1u)
      << "the wait ended 4m40s ago, inside the 5-minute window";
  EXPECT_EQ(r.by_wait_time[0].key, "hot");
  EXPECT_NEAR(r.by_wait_time[0].wait_seconds_in_window, 30, 1e-6);
}

// BUG (docs vs behaviour): GetLockStats(prefix "pay/") answers from the
// first segment "pay", whose figures include the key "pay" itself, which
// does not start with "pay/" (FirstSegment("pay") == "pay"). ListLocks with
// the same prefix would not list "pay". Correct: a prefix's figures cover
// the keys that start with it (or the answer says it includes the segment's
// root key).
TEST_F(ReviewStatsTest, SegmentFiguresOfAPrefixDoNotCountTheRootKey) {
  const uint64_t s = NewSession();
  Give(s, "pay", Take(s, "pay"));
  Give(s, "pay", Take(s, "pay"));
  Give(s, "pay/1", Take(s, "pay/1"));
  const LockStats st = Stats("", "pay/");
  EXPECT_EQ(st.source, "segment");
  EXPECT_EQ(st.figures.acquires.acquired, 1u)
      << "only pay/1 starts with \"pay/\"; \"pay\" was counted too";
}

// Guard (passes on main): restored grants are in the held gauge, their hold
// time and leak-suspect age run from the restored granted_at.
TEST_F(ReviewStatsTest, RestoredGrantsAreHeldAndAgeFromTheirGrantTime) {
  const uint64_t s = NewSession("worker");
  const uint64_t token = Take(s, "old");
  Advance(absl::Minutes(8));
  const DurableState state = table_->ExportState();
  table_->Shutdown();
  table_ = NewTable();
  Advance(absl::Minutes(1));  // Downtime.
  table_->Restore(state, clock_.Now(), absl::Seconds(5), true);
  EXPECT_EQ(table_->GetMetrics().held_locks, 1u);
  Advance(absl::Minutes(2));  // Held 11 min in all.
  const LeakReport r = table_->GetLeakSuspects(absl::Minutes(10), 0, 10,
                                               clock_.Now());
  ASSERT_EQ(r.suspects.size(), 1u);
  EXPECT_EQ(r.suspects[0].grant.key, "old");
  Give(s, "old", token);
  const TableMetrics m = table_->GetMetrics();
  EXPECT_EQ(m.held_locks, 0u);
  EXPECT_EQ(m.hold.count, 1u);
  EXPECT_NEAR(m.hold.sum, 11 * 60, 1e-3);
}


// A waiter for the random run: may leave on delivery.
class RandomWaiter final : public Waiter {
 public:
  explicit RandomWaiter(bool leaves) : leaves_(leaves) {}
  bool Complete(absl::StatusOr<AcquireResult> result) override {
    done_ = true;
    return !leaves_;
  }
  bool Gone() const override { return false; }
  bool done_ = false;

 private:
  const bool leaves_;
};

// Guard: GetMetrics' held_locks and waiters gauges equal the real counts
// (ListLocks' holders and waiter counts) after every step of a random run
// of waits, upgrades, semaphores, timeouts, cancels, releases, undos,
// max-hold revocations, lock-delays, callers leaving on delivery, session
// expiries and closes.
TEST_F(ReviewStatsTest, GaugesEqualTheRealCountsThroughARandomRun) {
 for (uint64_t seed = 1; seed <= 40; ++seed) {
  SCOPED_TRACE(seed);
  table_ = NewTable();
  std::mt19937_64 rng(seed);
  auto pick = [&](int n) { return static_cast<int>(rng() % n); };
  const std::vector<std::string> keys = {"a", "a/b", "a/b/c", "b", "b/x"};
  std::vector<uint64_t> sessions;
  auto new_session = [&] {
    CreateSessionCmd cmd;
    cmd.session_id = table_->NewSessionId();
    cmd.client_name = "r";
    cmd.ttl = absl::Seconds(2 + pick(4));
    cmd.now = clock_.Now();
    EXPECT_TRUE(table_->CreateSession(cmd).ok());
    return cmd.session_id;
  };
  for (int i = 0; i < 4; ++i) sessions.push_back(new_session());
  std::vector<std::unique_ptr<RandomWaiter>> waiters;
  for (int step = 0; step < 4000; ++step) {
    uint64_t& s = sessions[static_cast<size_t>(pick(4))];
    const int op = pick(10);
    if (op <= 3) {
      AcquireCmd cmd;
      cmd.session_id = s;
      const bool sem = pick(6) == 0;
      cmd.key = sem ? "sem" : keys[static_cast<size_t>(pick(5))];
      if (sem) cmd.semaphore_size = 2;
      cmd.mode = pick(2) ? LockMode::kShared : LockMode::kExclusive;
      cmd.wait_timeout = absl::Milliseconds(pick(3) * 1500);
      cmd.max_hold = pick(3) == 0 ? absl::Seconds(2) : absl::ZeroDuration();
      cmd.lock_delay = pick(4) == 0 ? absl::Seconds(1) : absl::ZeroDuration();
      cmd.now = clock_.Now();
      waiters.push_back(std::make_unique<RandomWaiter>(pick(5) == 0));
      (void)table_->Acquire(cmd, waiters.back().get());
    } else if (op == 4 || op == 5) {
      absl::StatusOr<LockPage> page = table_->ListLocks("", "", 1000);
      ASSERT_TRUE(page.ok());
      for (const LockSummary& l : page->locks) {
        for (const HolderInfo& h : l.holders) {
          if (h.grant.session_id != s) continue;
          ReleaseCmd r{s, l.key, h.grant.token, clock_.Now()};
          if (op == 4) {
            (void)table_->Release(r);
          } else {
            (void)table_->UndoGrant(r);
          }
          break;
        }
      }
    } else if (op == 6) {
      table_->CancelWait(CancelWaitCmd{s, keys[static_cast<size_t>(pick(5))],
                                       0, nullptr, CancelReason::kCancelled,
                                       clock_.Now()});
    } else if (op == 7) {
      Advance(absl::Milliseconds(pick(1500)));
    } else if (op == 8) {
      if (!table_->KeepAlive(KeepAliveCmd{s, clock_.Now()}).ok()) {
        s = new_session();
      }
    } else if (pick(8) == 0) {
      (void)table_->CloseSession(CloseSessionCmd{s, clock_.Now()});
      s = new_session();
    }
    absl::StatusOr<LockPage> page = table_->ListLocks("", "", 1000);
    ASSERT_TRUE(page.ok());
    uint64_t held = 0, queued = 0;
    for (const LockSummary& l : page->locks) {
      held += l.holders.size();
      queued += l.waiter_count;
    }
    const TableMetrics m = table_->GetMetrics();
    ASSERT_EQ(m.held_locks, held) << "step " << step << " op " << op;
    ASSERT_EQ(m.waiters, queued) << "step " << step << " op " << op;
  }
  table_->CheckInvariantsForTest();
 }
}


class DoneListener final : public MultiAcquireListener {
 public:
  void OnMultiAcquireDone(absl::StatusOr<MultiAcquireResult> result) override {
    result_ = std::move(result);
  }
  std::optional<absl::StatusOr<MultiAcquireResult>> result_;
};

// BUG (same class as the undelivered grant above): an AcquireAll that times
// out rolls back (UndoGrant, kUndone) the keys it had taken, and the caller
// holds nothing ("nothing taken by this call is held any more"), yet each
// rolled-back key counts as ACQUIRED in GetLockStats/GetMetrics, with no
// hold sample and no release: acquired = 1 on "x" while no one ever held
// it. Correct: an undone grant is not an acquired call (count it as the
// AcquireAll ended: timed out / cancelled), so that acquired matches
// releases + revocations + expiries + held.
TEST_F(ReviewStatsTest, AnAcquireAllRolledBackDoesNotCountItsKeysAcquired) {
  const uint64_t a = NewSession("a");
  const uint64_t b = NewSession("b");
  Take(a, "y");
  MultiAcquireCmd cmd;
  cmd.session_id = b;
  cmd.keys = {{"x", LockMode::kExclusive}, {"y", LockMode::kExclusive}};
  cmd.deadline = clock_.Now() + absl::Seconds(2);
  DoneListener listener;
  MultiAcquire all(table_.get(), &clock_, cmd, &listener);
  all.Start();
  Advance(absl::Seconds(3));
  ASSERT_TRUE(listener.result_.has_value());
  ASSERT_TRUE(listener.result_->ok());
  ASSERT_FALSE((*listener.result_)->acquired);  // Timed out, rolled back.
  EXPECT_EQ(table_->GetMetrics().held_locks, 1u);  // a's y only.
  const LockStats x = Stats("x");
  EXPECT_EQ(x.figures.acquires.acquired, 0u)
      << "x was rolled back: b never held it";
  const TableMetrics m = table_->GetMetrics();
  EXPECT_EQ(m.acquires.acquired, m.releases + m.held_locks)
      << "acquired " << m.acquires.acquired << ", releases " << m.releases
      << ", held " << m.held_locks;
}


// BUG: GetMetrics' (and GetServerStatus') `keys` gauge is LockTable::
// KeyCount(), the size of the shards' key maps, which also holds the
// ancestors of a held key that carry only intentions (and hold nothing).
// One grant of "a/b/c" reports keys = 3, while ListLocks lists one key and
// held_locks is 1. Correct: `keys` counts keys in use (held, waited for or
// in a lock-delay), as ListLocks lists them.
TEST_F(ReviewStatsTest, KeysGaugeCountsOnlyKeysInUseNotIntentionOnlyAncestors) {
  const uint64_t s = NewSession();
  Take(s, "a/b/c");
  absl::StatusOr<LockPage> page = table_->ListLocks("", "", 100);
  ASSERT_TRUE(page.ok());
  ASSERT_EQ(page->locks.size(), 1u);
  EXPECT_EQ(table_->GetMetrics().held_locks, 1u);
  EXPECT_EQ(table_->KeyCount(), 1u)
      << "\"a\" and \"a/b\" only carry the intention of a/b/c's grant";
}


// BUG: an acquire refused ABORTED at once as a deadlock (the caller gets
// ABORTED from Acquire, it never waited) is recorded as a wait that
// started and ended (kWaitStarted, kWaitEnded kDeadlock, waited 0): it adds
// a 0 s sample to the key's wait sketch and the table's wait histogram.
// docs/api.md: `wait` is the time waited "by calls that waited". A burst of
// deadlock refusals drags the wait percentiles (and the suggested wait
// timeout) towards zero. Correct: like an upgrade refused as a deadlock
// (kAcquireRefused), no wait sample.
TEST_F(ReviewStatsTest, ADeadlockRefusedAtOnceIsNoWaitSample) {
  const uint64_t a = NewSession("alpha");
  const uint64_t b = NewSession("beta");
  Take(a, "x");
  Take(b, "y");
  RecordingWaiter wa, wb;
  EXPECT_FALSE(table_->Acquire(Cmd(a, "y", absl::Minutes(1)), &wa));
  auto refused = table_->Acquire(Cmd(b, "x", absl::Minutes(1)), &wb);
  ASSERT_TRUE(refused.has_value());
  ASSERT_EQ(refused->status().code(), absl::StatusCode::kAborted);
  const LockStats x = Stats("x");
  EXPECT_EQ(x.figures.acquires.deadlock, 1u);
  EXPECT_EQ(x.figures.wait.count(), 0u) << "b's call never waited";
  EXPECT_EQ(table_->GetMetrics().wait.count, 0u);
}

// Guard: a deadlock found by a later recheck (not at acquire time): a's
// upgrade wait on k is demoted to an EXCLUSIVE wait at the back when its
// SHARED grant is revoked by max hold, behind c, who waits for a's k3. It
// is counted once, on the aborted wait's key, and kept with its cycle.
TEST_F(ReviewStatsTest, ADeadlockFoundByALaterRecheckIsCountedOnce) {
  const uint64_t a = NewSession("a");
  const uint64_t b = NewSession("b");
  const uint64_t c = NewSession("c");
  AcquireCmd shared = Cmd(a, "k");
  shared.mode = LockMode::kShared;
  shared.max_hold = absl::Seconds(5);
  ASSERT_TRUE((*table_->Acquire(shared, nullptr))->acquired);
  shared.session_id = b;
  shared.max_hold = absl::ZeroDuration();
  ASSERT_TRUE((*table_->Acquire(shared, nullptr))->acquired);
  Take(a, "k3");
  RecordingWaiter up, c3, ck;
  EXPECT_FALSE(table_->Acquire(Cmd(a, "k", absl::Minutes(1)), &up));
  EXPECT_FALSE(table_->Acquire(Cmd(c, "k3", absl::Minutes(1)), &c3));
  EXPECT_FALSE(table_->Acquire(Cmd(c, "k", absl::Minutes(1)), &ck));
  ASSERT_FALSE(up.done() || c3.done() || ck.done());
  uint64_t total = 0;
  ASSERT_TRUE(table_->RecentDeadlocks(10, &total).empty());
  Advance(absl::Seconds(6));  // a's SHARED grant is revoked: a -> c -> a.
  auto aborted = [](RecordingWaiter& w) {
    return w.done() &&
           w.result().status().code() == absl::StatusCode::kAborted;
  };
  ASSERT_EQ(aborted(up) + aborted(c3) + aborted(ck), 1)
      << "exactly one wait is aborted";
  const std::vector<DeadlockRecord> d = table_->RecentDeadlocks(10, &total);
  EXPECT_EQ(total, 1u);
  ASSERT_EQ(d.size(), 1u);
  const std::string key = aborted(c3) ? "k3" : "k";
  EXPECT_EQ(d[0].key, key);
  EXPECT_EQ(Stats(key).figures.deadlocks, 1u);
  EXPECT_EQ(Stats(key).figures.acquires.deadlock, 1u);
  EXPECT_EQ(Stats("k").figures.revocations, 1u);
  const TableMetrics m = table_->GetMetrics();
  EXPECT_EQ(m.deadlock_refusals, 1u);
  EXPECT_EQ(m.acquires.deadlock, 1u);
  EXPECT_EQ(m.revocations, 1u);
}


// Guard: ListLocks' filters with a prefix and one-key pages, over keys whose
// bytes sort below '/' ("p-q", "p.r") next to a tree ("p/..."), list
// exactly the keys a brute-force filter picks, in bytewise order.
TEST_F(ReviewStatsTest, ListLocksFiltersWithPrefixAndPaginationMatchBruteForce) {
  const uint64_t a = NewSession("a");
  const uint64_t b = NewSession("b");
  // Held long: p-q, p/a/b, p.r ; held briefly: p/b, p ; contended: p/a/b, p.
  for (const char* k : {"p-q", "p/a/b", "p.r"}) Take(a, k);
  Advance(absl::Seconds(10));
  for (const char* k : {"p/b", "p", "p/c-d"}) Take(a, k);
  RecordingWaiter w1, w2;
  EXPECT_FALSE(table_->Acquire(Cmd(b, "p/a/b", absl::Hours(1)), &w1));
  EXPECT_FALSE(table_->Acquire(Cmd(b, "p.r", absl::Hours(1)), &w2));
  Advance(absl::Seconds(1));
  struct Case {
    std::string prefix;
    absl::Duration held;
    bool contended;
    std::vector<std::string> want;
  };
  const std::vector<Case> cases = {
      {"p", absl::Seconds(5), false, {"p-q", "p.r", "p/a/b"}},
      {"p/", absl::Seconds(5), false, {"p/a/b"}},
      {"p/", absl::ZeroDuration(), false, {"p/a/b", "p/b", "p/c-d"}},
      {"p", absl::ZeroDuration(), true, {"p.r", "p/a/b"}},
      {"p/", absl::Seconds(5), true, {"p/a/b"}},
      {"p-", absl::ZeroDuration(), false, {"p-q"}},
      {"", absl::Seconds(5), true, {"p.r", "p/a/b"}},
  };
  for (const Case& c : cases) {
    ListLocksFilter f;
    f.held_longer_than = c.held;
    f.contended_only = c.contended;
    f.now = clock_.Now();
    std::vector<std::string> got;
    std::string after;
    for (int i = 0; i < 20; ++i) {
      absl::StatusOr<LockPage> page = table_->ListLocks(c.prefix, after, 1, f);
      ASSERT_TRUE(page.ok());
      for (const LockSummary& l : page->locks) got.push_back(l.key);
      if (!page->next_after.has_value()) break;
      after = *page->next_after;
    }
    EXPECT_EQ(got, c.want) << "prefix \"" << c.prefix << "\"";
  }
}


// Guard: a million distinct FIRST segments (each key its own tree, so every
// acquire evicts from the shard's segment top-K and the key top-K), with
// hold times spread from microseconds to an hour (widest sketches): the
// statistics stay within the 32 MB bound. Prints the acquire/release pairs
// per second, for comparison with keys under few segments.
TEST_F(ReviewStatsTest, AMillionDistinctFirstSegmentsStayBounded) {
  const uint64_t s = NewSession();
  auto in_use = [] {
    const struct mallinfo2 m = mallinfo2();
    return m.uordblks + m.hblkhd;
  };
  for (int i = 0; i < 20000; ++i) {  // Warm up.
    const std::string key = absl::StrCat("w", i);
    const uint64_t token = Take(s, key);
    clock_.Advance(absl::Microseconds(1 + (i * 7919) % 1800000000LL));
    Give(s, key, token);
    ASSERT_TRUE(table_->KeepAlive(KeepAliveCmd{s, clock_.Now()}).ok());
  }
  malloc_trim(0);
  const size_t before = in_use();
  const absl::Time start = absl::Now();
  for (int i = 0; i < 1000000; ++i) {
    const std::string key = absl::StrCat("seg", i, "/x");
    const uint64_t token = Take(s, key);
    clock_.Advance(
        absl::Microseconds(1 + (int64_t{i} * 104729) % 1800000000LL));
    Give(s, key, token);
    ASSERT_TRUE(table_->KeepAlive(KeepAliveCmd{s, clock_.Now()}).ok());
  }
  const double secs = absl::ToDoubleSeconds(absl::Now() - start);
  malloc_trim(0);
  const double mb = (static_cast<double>(in_use()) - before) / (1 << 20);
  std::printf("1,000,000 distinct first segments: %.2f MB growth, %.0f "
              "pairs/s\n", mb, 1e6 / secs);
  EXPECT_LE(mb, 32.0);
  EXPECT_EQ(table_->KeyCount(), 0u);
  EXPECT_EQ(table_->GetMetrics().held_locks, 0u);
}

}  // namespace
}  // namespace taala
