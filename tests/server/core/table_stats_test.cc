// The statistics of the lock table (table_stats.h, stats_queries.h) on a
// manual clock: suggested timeouts, sources of figures, outcomes, leak
// suspects, contention, recent deadlocks, metrics, --stats=false, and the
// memory the statistics take at a million distinct keys.

#include <malloc.h>

#include <memory>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/core/durable_state.h"
#include "server/core/lock_table.h"
#include "server/core/transition.h"
#include "tests/server/core/lock_table_fixture.h"
#include "tests/server/core/stats_fixture.h"
#include "tests/testing/fake_clock.h"

namespace taala {
namespace {

using test::RecordingWaiter;

class StatsTest : public test::StatsFixture {
 protected:
  explicit StatsTest(bool stats = true) {
    table_ = NewStatsTable(stats, {"cfg/", "cfg/deep/"});
  }
};

TEST_F(StatsTest, SixtyHoldsOf400msGiveASuggestedMaxHoldOf540To690ms) {
  const uint64_t s = NewSession();
  std::mt19937_64 rng(42);
  std::uniform_int_distribution<int> ms(360, 440);
  for (int i = 0; i < 60; ++i) {
    const uint64_t token = Take(s, "jobs/report");
    Advance(absl::Milliseconds(ms(rng)));
    Give(s, "jobs/report", token);
    Advance(absl::Milliseconds(10));
  }
  const LockStats st = Stats("jobs/report");
  EXPECT_EQ(st.source, "key");
  EXPECT_EQ(st.figures.hold.count(), 60u);
  EXPECT_EQ(st.figures.acquires.acquired, 60u);
  ASSERT_TRUE(st.max_hold.available) << st.max_hold.reason;
  EXPECT_GE(st.max_hold.value, absl::Milliseconds(540));
  EXPECT_LE(st.max_hold.value, absl::Milliseconds(690));
  EXPECT_EQ(st.max_hold.samples, 60u);
  EXPECT_THAT(st.max_hold.source, ::testing::HasSubstr("p95 hold x 1.5"));
  // No waits: no wait timeout.
  EXPECT_FALSE(st.wait_timeout.available);
}

TEST_F(StatsTest, UnderTwentyHoldSamplesThereIsNoSuggestion) {
  const uint64_t s = NewSession();
  for (int i = 0; i < 19; ++i) {
    const uint64_t token = Take(s, "few");
    Advance(absl::Milliseconds(400));
    Give(s, "few", token);
  }
  LockStats st = Stats("few");
  EXPECT_FALSE(st.max_hold.available);
  EXPECT_EQ(st.max_hold.samples, 19u);
  EXPECT_THAT(st.max_hold.reason, ::testing::HasSubstr("only 19 hold"));
  const uint64_t token = Take(s, "few");
  Advance(absl::Milliseconds(400));
  Give(s, "few", token);
  st = Stats("few");
  EXPECT_TRUE(st.max_hold.available);
}

TEST_F(StatsTest, OutcomesOfWaitsAndTryLocksAreCounted) {
  const uint64_t a = NewSession("a");
  const uint64_t b = NewSession("b");
  uint64_t token = Take(a, "k");
  // A try-lock on a held key: timed out at once.
  auto r = table_->Acquire(Cmd(b, "k"), nullptr);
  ASSERT_TRUE(r.has_value() && r->ok() && !(*r)->acquired);
  // A wait that is granted after 2 s.
  RecordingWaiter granted;
  EXPECT_FALSE(table_->Acquire(Cmd(b, "k", absl::Seconds(10)), &granted));
  Advance(absl::Seconds(2));
  Give(a, "k", token);
  ASSERT_TRUE(granted.granted());
  // A wait that times out, and one that is cancelled.
  RecordingWaiter timed_out, cancelled;
  EXPECT_FALSE(table_->Acquire(Cmd(a, "k", absl::Seconds(1)), &timed_out));
  Advance(absl::Seconds(1));
  ASSERT_TRUE(timed_out.done());
  const uint64_t c = NewSession("c");
  EXPECT_FALSE(table_->Acquire(Cmd(c, "k", absl::Seconds(10)), &cancelled));
  table_->CancelWait(CancelWaitCmd{c, "k", 0, &cancelled,
                                   CancelReason::kCancelled, clock_.Now()});
  const LockStats st = Stats("k");
  EXPECT_EQ(st.figures.acquires.acquired, 2u);
  EXPECT_EQ(st.figures.acquires.acquired_after_wait, 1u);
  EXPECT_EQ(st.figures.acquires.timed_out, 2u);
  EXPECT_EQ(st.figures.acquires.cancelled, 1u);
  EXPECT_EQ(st.figures.wait.count(), 3u);
  EXPECT_NEAR(st.figures.wait.max(), 2.0, 1e-9);
  const TableMetrics m = table_->GetMetrics();
  EXPECT_TRUE(m.enabled);
  EXPECT_EQ(m.acquires, st.figures.acquires);
  EXPECT_EQ(m.held_locks, 1u);
  EXPECT_EQ(m.waiters, 0u);
  EXPECT_EQ(m.releases, 1u);
  EXPECT_EQ(m.wait.count, 3u);
  EXPECT_EQ(m.hold.count, 1u);
  EXPECT_EQ(m.sessions_created, 3u);
  ASSERT_FALSE(m.top_keys.empty());
  EXPECT_EQ(m.top_keys[0].key, "k");
}

TEST_F(StatsTest, SourcesKeySegmentPrefixAllAndUntracked) {
  const uint64_t s = NewSession();
  for (const char* k : {"pay/1", "pay/2", "pay/2/x", "cfg/a", "cfg/deep/b"}) {
    Give(s, k, Take(s, k));
  }
  EXPECT_EQ(Stats("nobody/ever").source, "untracked");
  LockStats seg = Stats("", "pay/");
  EXPECT_EQ(seg.source, "segment");
  EXPECT_EQ(seg.figures.acquires.acquired, 3u);
  LockStats sum = Stats("", "pay/2");
  EXPECT_EQ(sum.source, "prefix");
  EXPECT_EQ(sum.keys, 2u);
  EXPECT_EQ(sum.figures.hold.count(), 2u);
  // Configured prefixes (before segments): the longest match counts.
  EXPECT_EQ(Stats("", "cfg/").source, "prefix");
  EXPECT_EQ(Stats("", "cfg/").figures.acquires.acquired, 1u);
  EXPECT_EQ(Stats("", "cfg/deep/").figures.acquires.acquired, 1u);
  EXPECT_EQ(Stats("", "cfg/deep/").keys, 0u);
  const LockStats all = Stats("", "");
  EXPECT_EQ(all.source, "all");
  EXPECT_EQ(all.figures.acquires.acquired, 5u);
  EXPECT_EQ(all.figures.hold.count(), 5u);
}

TEST_F(StatsTest, KeyAndPrefixTogetherOrMalformedAreInvalid) {
  EXPECT_EQ(table_->GetLockStats("a", "b").status().code(),
            absl::StatusCode::kInvalidArgument);
  absl::Status bad = table_->GetLockStats("", "\xff\xfe").status();
  EXPECT_EQ(bad.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(bad.message()), ::testing::HasSubstr("prefix"));
  EXPECT_EQ(table_->GetLockStats("\xff", "").status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(StatsTest, LeakSuspectsByThresholdAndByTheKeysOwnP99) {
  const uint64_t s = NewSession();
  for (int i = 0; i < 30; ++i) {
    const uint64_t token = Take(s, "quick");
    Advance(absl::Milliseconds(100));
    Give(s, "quick", token);
  }
  const uint64_t leaker =
      NewSession("worker", Labels{{"host", "h1"}, {"pid", "42"}});
  Take(leaker, "old");
  Advance(absl::Minutes(11));
  Take(leaker, "quick");
  Advance(absl::Seconds(3));  // 30 x the p99 hold of about 100 ms.
  LeakReport r = table_->GetLeakSuspects(absl::ZeroDuration(), 0, 100,
                                         clock_.Now());
  EXPECT_EQ(r.threshold, absl::Minutes(10));
  EXPECT_EQ(r.p99_factor, 10);
  ASSERT_EQ(r.suspects.size(), 2u);
  EXPECT_EQ(r.suspects[0].grant.key, "old");  // Oldest first.
  EXPECT_THAT(r.suspects[0].reason, ::testing::HasSubstr("> threshold 10m"));
  EXPECT_EQ(r.suspects[0].client_name, "worker");
  EXPECT_EQ(r.suspects[0].labels.at("host"), "h1");
  EXPECT_EQ(r.suspects[1].grant.key, "quick");
  EXPECT_THAT(r.suspects[1].reason, ::testing::HasSubstr("x p99 hold"));
  EXPECT_GT(r.suspects[1].key_p99_hold, absl::Milliseconds(90));
  r = table_->GetLeakSuspects(absl::ZeroDuration(), 0, 1, clock_.Now());
  EXPECT_EQ(r.suspects.size(), 1u);
  EXPECT_TRUE(r.truncated);
}

TEST_F(StatsTest, ContentionByWaitersAndByWaitTime) {
  const uint64_t a = NewSession();
  const uint64_t b = NewSession();
  const uint64_t c = NewSession();
  const uint64_t token = Take(a, "hot");
  RecordingWaiter wb, wc;
  EXPECT_FALSE(table_->Acquire(Cmd(b, "hot", absl::Minutes(1)), &wb));
  Advance(absl::Seconds(1));
  EXPECT_FALSE(table_->Acquire(Cmd(c, "hot", absl::Minutes(1)), &wc));
  Advance(absl::Seconds(2));
  ContentionReport r = table_->GetContention(10, clock_.Now());
  ASSERT_EQ(r.by_waiters.size(), 1u);
  EXPECT_EQ(r.by_waiters[0].key, "hot");
  EXPECT_EQ(r.by_waiters[0].waiters, 2u);
  EXPECT_EQ(r.by_waiters[0].holders, 1u);
  EXPECT_EQ(r.by_waiters[0].longest_wait, absl::Seconds(3));
  Give(a, "hot", token);  // b waited 3 s.
  r = table_->GetContention(10, clock_.Now());
  ASSERT_EQ(r.by_wait_time.size(), 1u);
  EXPECT_EQ(r.by_wait_time[0].key, "hot");
  EXPECT_NEAR(r.by_wait_time[0].wait_seconds_in_window, 3, 1e-9);
  EXPECT_EQ(r.by_wait_time[0].waits_in_window, 1u);
  EXPECT_EQ(r.by_wait_time[0].waiters, 1u);
  EXPECT_EQ(r.window, absl::Minutes(5));
  Advance(absl::Minutes(1));  // c times out.
  Advance(absl::Minutes(6));  // Out of the window.
  EXPECT_TRUE(table_->GetContention(10, clock_.Now()).by_wait_time.empty());
}

TEST_F(StatsTest, DeadlockRefusalsAreKeptWithTheirCycles) {
  const uint64_t a = NewSession("alpha");
  const uint64_t b = NewSession("beta");
  Take(a, "x");
  Take(b, "y");
  RecordingWaiter wa;
  EXPECT_FALSE(table_->Acquire(Cmd(a, "y", absl::Minutes(1)), &wa));
  auto r = table_->Acquire(Cmd(b, "x", absl::Minutes(1)), nullptr);
  // With no waiter the call would wait: give it one.
  RecordingWaiter wb;
  auto refused = table_->Acquire(Cmd(b, "x", absl::Minutes(1)), &wb);
  ASSERT_TRUE(refused.has_value());
  ASSERT_EQ(refused->status().code(), absl::StatusCode::kAborted);
  uint64_t total = 0;
  std::vector<DeadlockRecord> d = table_->RecentDeadlocks(20, &total);
  EXPECT_EQ(total, 1u);
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].session_id, b);
  EXPECT_EQ(d[0].client_name, "beta");
  EXPECT_EQ(d[0].key, "x");
  EXPECT_EQ(d[0].message, refused->status().message());
  ASSERT_EQ(d[0].cycle.size(), 2u);
  EXPECT_EQ(d[0].cycle[0].waiter, b);
  EXPECT_EQ(d[0].cycle[1].waiter, a);
  EXPECT_EQ(Stats("x").figures.deadlocks, 1u);
  EXPECT_EQ(Stats("x").figures.acquires.deadlock, 1u);
  EXPECT_EQ(table_->GetMetrics().deadlock_refusals, 1u);
  (void)r;
}

// Observer-only records feed the statistics and never reach the log or the
// durable state (which replay folds the log into).
TEST(ObserverOnlyRecordsTest, TheLogAndTheDurableStateRefuseThem) {
  for (TransitionType type :
       {TransitionType::kWaitStarted, TransitionType::kWaitEnded,
        TransitionType::kDeadlockRefused, TransitionType::kAcquireRefused}) {
    Transition t;
    t.type = type;
    t.key = "k";
    EXPECT_TRUE(IsObserverOnly(type));
    EXPECT_DEATH(MemoryLog().Append(t), "IsObserverOnly");
    EXPECT_DEATH(DurableState().Apply(t), "IsObserverOnly");
  }
  EXPECT_FALSE(IsObserverOnly(TransitionType::kGrantMade));
}

// What the observer (taalad's LoggingObserver) hears: deadlock refusals
// with their message, and waits that ended past the slow-wait threshold.
class NotedObserver final : public TableObserver {
 public:
  void OnDeadlockRefused(uint64_t session_id, absl::string_view client_name,
                         absl::string_view key,
                         absl::string_view message) override {
    deadlocks.push_back(absl::StrCat(session_id, " ", client_name, " ", key,
                                     ": ", message));
  }
  void OnSlowWait(uint64_t session_id, absl::string_view client_name,
                  absl::string_view key, absl::Duration waited,
                  AcquireOutcome outcome) override {
    slow.push_back(absl::StrCat(client_name, " ", key, " ",
                                absl::FormatDuration(waited), " ",
                                AcquireOutcomeName(outcome)));
  }
  std::vector<std::string> deadlocks;
  std::vector<std::string> slow;
};

TEST_F(StatsTest, TheObserverHearsOfDeadlocksAndSlowWaits) {
  NotedObserver observer;
  table_->set_observer(&observer);
  const uint64_t a = NewSession("alpha");
  const uint64_t b = NewSession("beta");
  const uint64_t token = Take(a, "x");
  Take(b, "y");
  RecordingWaiter quick, slow, refused;
  EXPECT_FALSE(table_->Acquire(Cmd(b, "x", absl::Minutes(1)), &slow));
  Advance(absl::Seconds(6));  // Past the default 5 s.
  auto r = table_->Acquire(Cmd(a, "y", absl::Minutes(1)), &refused);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status().code(), absl::StatusCode::kAborted);
  ASSERT_EQ(observer.deadlocks.size(), 1u);
  EXPECT_THAT(observer.deadlocks[0],
              ::testing::HasSubstr("alpha y: deadlock: session"));
  Give(a, "x", token);
  ASSERT_TRUE(slow.granted());
  ASSERT_EQ(observer.slow.size(), 1u);
  EXPECT_EQ(observer.slow[0], "beta x 6s acquired");
  // A short wait is not slow.
  const uint64_t c = NewSession("gamma");
  EXPECT_FALSE(table_->Acquire(Cmd(c, "x", absl::Minutes(1)), &quick));
  Advance(absl::Seconds(1));
  table_->CancelWait(CancelWaitCmd{c, "x", 0, &quick, CancelReason::kCancelled,
                                   clock_.Now()});
  EXPECT_EQ(observer.slow.size(), 1u);
  table_->set_observer(nullptr);
}

class StatsOffTest : public StatsTest {
 protected:
  StatsOffTest() : StatsTest(/*stats=*/false) {}
};

TEST_F(StatsOffTest, QueriesAnswerEmptyFigures) {
  const uint64_t s = NewSession();
  for (int i = 0; i < 30; ++i) Give(s, "k", Take(s, "k"));
  const LockStats st = Stats("k");
  EXPECT_EQ(st.source, "disabled");
  EXPECT_EQ(st.figures.acquires.acquired, 0u);
  EXPECT_FALSE(st.max_hold.available);
  EXPECT_FALSE(table_->GetMetrics().enabled);
  EXPECT_TRUE(table_->GetContention(10, clock_.Now()).by_wait_time.empty());
}

// Statistics memory must not grow with the number of distinct keys: a
// million keys, each acquired and released (so the table itself forgets
// them), leave the heap at most 32 MB larger, all of it counted.
TEST_F(StatsTest, AMillionDistinctKeysTakeAtMost32MBOfStatistics) {
  const uint64_t s = NewSession();
  for (int i = 0; i < 10000; ++i) {  // Warm up: every sketch in use.
    const std::string key = absl::StrCat("warm/", i % 50, "/", i);
    Give(s, key, Take(s, key));
  }
  // Bytes in use: from the heap (uordblks) and in mmapped blocks (hblkhd).
  auto in_use = [] {
    const struct mallinfo2 m = mallinfo2();
    return m.uordblks + m.hblkhd;
  };
  malloc_trim(0);
  const size_t before = in_use();
  for (int i = 0; i < 1000000; ++i) {
    const std::string key =
        absl::StrCat("tenant-", i % 997, "/orders/", i, "/lock");
    const uint64_t token = Take(s, key);
    clock_.Advance(absl::Microseconds(100 + i % 5000));
    Give(s, key, token);
  }
  malloc_trim(0);
  const size_t after = in_use();
  const double mb = (static_cast<double>(after) - before) / (1 << 20);
  std::printf("statistics heap growth over 1,000,000 distinct keys: %.2f MB "
              "(heap in use %.2f MB)\n",
              mb, after / double(1 << 20));
  EXPECT_LE(mb, 32.0);
  EXPECT_EQ(table_->KeyCount(), 0u);
  EXPECT_EQ(table_->GetMetrics().acquires.acquired, 1010000u);
}

}  // namespace
}  // namespace taala
