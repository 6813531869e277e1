// Review (issue 12, rev-limits): the lock table's per-identity limits at
// their edges, against the real core classes.

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "server/core/lock_table.h"
#include "tests/server/core/lock_table_fixture.h"
#include "tests/testing/fake_clock.h"
#include "tests/testing/status_matchers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace taala {
namespace test {
namespace {

class ReviewLimitsTest : public ::testing::Test {
protected:
  static LockTable::Options Limited() {
    LockTable::Options options;
    options.shards = 4;
    options.limits.max_sessions_per_identity = 2;
    options.limits.max_held_per_identity = 3;
    options.limits.max_waiters_per_identity = 2;
    options.limits.max_waiters_per_key = 1;
    options.limits.max_held_per_session = 2;
    options.limits.max_waiters_per_session = 1;
    options.limits.max_keys = 6;
    return options;
  }
  void TearDown() override { table_.CheckInvariantsForTest(); }

  uint64_t MustCreate(const std::string &owner, absl::Duration ttl = kTtl) {
    CreateSessionCmd cmd;
    cmd.session_id = table_.NewSessionId();
    cmd.owner = owner;
    cmd.client_name = "c";
    cmd.ttl = ttl;
    cmd.now = clock_.Now();
    absl::StatusOr<SessionInfo> info = table_.CreateSession(cmd);
    EXPECT_TRUE(info.ok()) << info.status();
    return info.ok() ? info->session_id : 0;
  }
  AcquireCmd Cmd(uint64_t session, const std::string &key) {
    AcquireCmd cmd;
    cmd.session_id = session;
    cmd.key = key;
    cmd.wait_timeout = absl::ZeroDuration();
    cmd.now = clock_.Now();
    return cmd;
  }

  FakeClock clock_;
  LockTable table_{Limited()};
};

// One identity, holding at most one key at a time, leaves a lock-delay
// entry behind each grant it lets be revoked (max_hold). Unchecked, it
// would fill the whole table's --max_keys: every other identity's acquire
// of a new key refused for up to --max_lock_delay (1 h). A lock-delay
// counts as a held key of its last holder until it ends, so the identity
// is refused at its own --max_held_per_identity (3) first.
TEST_F(ReviewLimitsTest, OneIdentitysLockDelaysDoNotLockOthersOutOfNewKeys) {
  const uint64_t a = MustCreate("mallory");
  for (int i = 0; i < 6; ++i) {
    AcquireCmd cmd = Cmd(a, "m" + std::to_string(i));
    cmd.max_hold = absl::Seconds(1);
    cmd.lock_delay = absl::Hours(1);
    auto r = table_.Acquire(cmd, nullptr);
    ASSERT_TRUE(r.has_value());
    if (i >= 3) {  // Three delays charged: the identity's limit.
      EXPECT_EQ(r->status().code(), absl::StatusCode::kResourceExhausted);
      EXPECT_THAT(std::string(r->status().message()),
                  ::testing::HasSubstr("max_held_per_identity"));
      EXPECT_EQ(table_.OwnerCountsForTest("mallory").delayed, 3);
      continue;
    }
    ASSERT_OK(r->status());
    ASSERT_TRUE((*r)->acquired);
    clock_.Advance(absl::Seconds(2));
    table_.RunDueTimers(clock_.Now()); // The grant is revoked: delayed.
    ASSERT_OK(table_.KeepAlive(KeepAliveCmd{a, clock_.Now()}).status());
  }
  EXPECT_EQ(table_.OwnerCountsForTest("mallory").held, 0);
  // Another identity, nothing held anywhere, asks for a key of its own.
  const uint64_t b = MustCreate("bob");
  auto r = table_.Acquire(Cmd(b, "bobs-key"), nullptr);
  ASSERT_TRUE(r.has_value());
  EXPECT_OK(r->status());
  EXPECT_TRUE(r->ok() && (*r)->acquired);
}

// --max_held_per_session is "most grants one session may hold", and the
// per-session counts are documented as exact. A queued wait is a grant to
// come: the session's acquire of another key while it waits is refused
// (held + waiting at the limit), so a served wait never takes the session
// past the limit.
TEST_F(ReviewLimitsTest, ServedWaitDoesNotTakeASessionPastMaxHeldPerSession) {
  const uint64_t h = MustCreate("holder");
  ASSERT_TRUE((*table_.Acquire(Cmd(h, "x"), nullptr))->acquired);
  const uint64_t a = MustCreate("alice");
  ASSERT_TRUE((*table_.Acquire(Cmd(a, "k1"), nullptr))->acquired);
  RecordingWaiter w;
  AcquireCmd wait = Cmd(a, "x");
  wait.wait_timeout = absl::InfiniteDuration();
  EXPECT_FALSE(table_.Acquire(wait, &w).has_value()); // Queued (holds 1).
  auto k2 = table_.Acquire(Cmd(a, "k2"), nullptr); // 1 held + 1 to come.
  ASSERT_TRUE(k2.has_value());
  EXPECT_EQ(k2->status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(std::string(k2->status().message()),
              ::testing::HasSubstr("max_held_per_session"));
  ASSERT_OK(table_.CloseSession(CloseSessionCmd{h, clock_.Now()}).status());
  // Either the wait is refused when it would be served, or the session
  // holds at most the limit.
  EXPECT_TRUE(w.granted());
  EXPECT_LE(table_.OwnerCountsForTest("alice").held, 2);
}

// KeepAlive takeover in the table (LockTable::AttachSink): the newer sink
// gets every unacknowledged event again, the older is closed ABORTED and
// gets nothing more; an acknowledged event is never resent; a sink that
// asks only_if_none never steals; a sink cannot attach to an ended session.
TEST_F(ReviewLimitsTest, TakeoverResendsUnackedEventsAndClosesTheOlderSink) {
  const uint64_t a = MustCreate("alice");
  auto g = table_.Acquire(Cmd(a, "k"), nullptr);
  ASSERT_TRUE((*g)->acquired);
  auto first = std::make_shared<RecordingSink>();
  ASSERT_OK(table_.AttachSink(a, first));
  ForceReleaseCmd force;
  force.key = "k";
  force.reason = "test";
  force.caller = "ops";
  force.skip_lock_delay = true;
  force.now = clock_.Now();
  ASSERT_OK(table_.ForceRelease(force).status());
  ASSERT_EQ(first->events().size(), 1u);
  const uint64_t seq = first->events()[0].sequence;

  auto second = std::make_shared<RecordingSink>();
  ASSERT_OK(table_.AttachSink(a, second));
  ASSERT_TRUE(first->closed().has_value());
  EXPECT_EQ(first->closed()->code(), absl::StatusCode::kAborted);
  ASSERT_EQ(second->events().size(), 1u); // Resent: not acknowledged.
  EXPECT_EQ(second->events()[0].sequence, seq);

  // The older one, still renewing, does not take the session back.
  auto third = std::make_shared<RecordingSink>();
  ASSERT_OK(table_.AttachSink(a, third, /*only_if_none=*/true));
  EXPECT_FALSE(second->closed().has_value());
  EXPECT_TRUE(third->events().empty());

  table_.AckEvents(a, seq);
  auto fourth = std::make_shared<RecordingSink>();
  ASSERT_OK(table_.AttachSink(a, fourth));
  EXPECT_TRUE(fourth->events().empty()); // Acknowledged: not resent.
  EXPECT_EQ(first->events().size(), 1u); // The closed one got no more.

  ASSERT_OK(table_.CloseSession(CloseSessionCmd{a, clock_.Now()}).status());
  auto late = std::make_shared<RecordingSink>();
  EXPECT_EQ(table_.AttachSink(a, late).code(), absl::StatusCode::kNotFound);
  EXPECT_FALSE(late->closed().has_value());
}

// A refused acquire (any limit) leaves no key entry, queues nothing and
// asks no holder to release; the refused identity's counters stay exact.
TEST_F(ReviewLimitsTest, RefusalsLeaveNoKeyNoWaitAndNoReleaseRequest) {
  const uint64_t h = MustCreate("holder");
  ASSERT_TRUE((*table_.Acquire(Cmd(h, "busy"), nullptr))->acquired);
  auto sink = std::make_shared<RecordingSink>();
  ASSERT_OK(table_.AttachSink(h, sink));
  const uint64_t q = MustCreate("queued");
  RecordingWaiter qw;
  AcquireCmd qwait = Cmd(q, "busy");
  qwait.wait_timeout = absl::InfiniteDuration();
  EXPECT_FALSE(table_.Acquire(qwait, &qw).has_value()); // busy's queue full.
  const size_t keys = table_.KeyCount();
  const uint64_t a = MustCreate("alice");
  RecordingWaiter w;
  AcquireCmd wait = Cmd(a, "busy");
  wait.wait_timeout = absl::InfiniteDuration();
  wait.request_release = true;
  auto r = table_.Acquire(wait, &w);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_FALSE(w.done());
  EXPECT_TRUE(sink->events().empty()); // No RELEASE_REQUESTED.
  EXPECT_EQ(table_.KeyCount(), keys);
  EXPECT_EQ(table_.OwnerCountsForTest("alice").waiting, 0);
  // Over the memory budget: a new key's wait is refused and leaves no entry.
  table_.SetOverMemoryBudget(true, "limit --memory_budget=1 reached");
  auto other = table_.Acquire(Cmd(h, "other"), nullptr);
  ASSERT_TRUE((*other)->acquired);
  AcquireCmd w2 = Cmd(a, "other");
  w2.wait_timeout = absl::InfiniteDuration();
  RecordingWaiter ww;
  auto r2 = table_.Acquire(w2, &ww);
  ASSERT_TRUE(r2.has_value());
  EXPECT_EQ(r2->status().code(), absl::StatusCode::kResourceExhausted);
  // Holders' releases and keepalives are served.
  ASSERT_OK(table_.KeepAlive(KeepAliveCmd{h, clock_.Now()}).status());
  ASSERT_OK(table_.Release(
      ReleaseCmd{h, "other", (*other)->grant.token, clock_.Now()}));
  table_.SetOverMemoryBudget(false, "");
  EXPECT_EQ(table_.OwnerCountsForTest("alice").waiting, 0);
  EXPECT_EQ(table_.OwnerCountsForTest("alice").held, 0);
  ASSERT_OK(table_.CloseSession(CloseSessionCmd{h, clock_.Now()}).status());
  EXPECT_TRUE(qw.granted());
}

// Randomized: sessions of three identities acquire (try, wait, timed wait;
// locks, a semaphore, hierarchical keys; max_hold and lock-delays),
// release, cancel, close, are revoked, force-released and expire, with the
// memory budget toggled, under tight limits. After every step the table's
// invariants hold (each owner's counters equal its sessions' indexes);
// every RESOURCE_EXHAUSTED refusal leaves the key map, the owner's counts
// and its waiter untouched; and at the end, with every session gone and
// every delay over, no key entry and no owner count is left.
TEST(ReviewLimitsRandomTest, CountersNeverDriftAndRefusalsChangeNothing) {
  const std::vector<std::string> owners = {"o0", "o1", "o2"};
  const std::vector<std::string> keys = {"a",   "a/b", "a/b/c", "d",
                                         "d/e", "sem", "f"};
  const int seeds = 150;
  std::map<std::string, int> refusals;
  for (int seed = 1; seed <= seeds; ++seed) {
    SCOPED_TRACE(seed);
    std::mt19937 rng(seed);
    auto pick = [&](size_t n) {
      return static_cast<size_t>(rng() % static_cast<uint32_t>(n));
    };
    LockTable::Options options;
    options.shards = 2;
    options.limits.max_sessions_per_identity = 2;
    options.limits.max_held_per_identity = 4;
    options.limits.max_waiters_per_identity = 2;
    options.limits.max_waiters_per_key = 1;
    options.limits.max_held_per_session = 3;
    options.limits.max_waiters_per_session = 2;
    options.limits.max_keys = 5;
    FakeClock clock;
    LockTable table(options);
    struct Live {
      uint64_t id;
      std::string owner;
    };
    std::vector<Live> sessions;
    std::vector<std::unique_ptr<RecordingWaiter>> waiters;
    struct Waiting {
      uint64_t session;
      std::string key;
      RecordingWaiter *w;
    };
    std::vector<Waiting> waits;
    struct Held {
      uint64_t session;
      std::string key;
      uint64_t token;
    };
    std::vector<Held> grants;
    bool over = false;
    for (int step = 0; step < 300; ++step) {
      const size_t op = pick(20);
      if (op <= 1 || sessions.empty()) {
        CreateSessionCmd cmd;
        cmd.session_id = table.NewSessionId();
        cmd.owner = owners[pick(owners.size())];
        cmd.client_name = "c";
        cmd.ttl = absl::Seconds(2 + pick(4));
        cmd.now = clock.Now();
        const OwnerCounts before = table.OwnerCountsForTest(cmd.owner);
        absl::StatusOr<SessionInfo> info = table.CreateSession(cmd);
        if (info.ok()) {
          sessions.push_back({info->session_id, cmd.owner});
        } else {
          ASSERT_EQ(info.status().code(), absl::StatusCode::kResourceExhausted)
              << info.status();
          const OwnerCounts after = table.OwnerCountsForTest(cmd.owner);
          EXPECT_EQ(after.sessions, before.sessions);
        }
      } else if (op <= 9) {
        const Live &s = sessions[pick(sessions.size())];
        AcquireCmd cmd;
        cmd.session_id = s.id;
        cmd.key = keys[pick(keys.size())];
        cmd.mode = pick(2) == 0 ? LockMode::kShared : LockMode::kExclusive;
        if (cmd.key == "sem")
          cmd.semaphore_size = 2;
        const size_t wait = pick(3);
        cmd.wait_timeout = wait == 0   ? absl::ZeroDuration()
                           : wait == 1 ? absl::Seconds(1)
                                       : absl::InfiniteDuration();
        if (pick(3) == 0)
          cmd.max_hold = absl::Seconds(1 + pick(2));
        if (pick(3) == 0)
          cmd.lock_delay = absl::Seconds(1);
        cmd.request_release = pick(2) == 0;
        cmd.now = clock.Now();
        waiters.push_back(std::make_unique<RecordingWaiter>());
        RecordingWaiter *w = waiters.back().get();
        const size_t entries = table.KeyMapSizeForTest();
        const OwnerCounts before = table.OwnerCountsForTest(s.owner);
        auto r = table.Acquire(cmd, w);
        if (r.has_value() && r->ok() && (*r)->acquired) {
          grants.push_back({s.id, cmd.key, (*r)->grant.token});
        }
        if (!r.has_value()) {
          waits.push_back({s.id, cmd.key, w});
        } else if (r->status().code() == absl::StatusCode::kResourceExhausted) {
          ++refusals[std::string(r->status().message().substr(0, 45))];
          // A refusal changes nothing.
          EXPECT_EQ(table.KeyMapSizeForTest(), entries) << r->status();
          const OwnerCounts after = table.OwnerCountsForTest(s.owner);
          EXPECT_EQ(after.held, before.held) << r->status();
          EXPECT_EQ(after.waiting, before.waiting) << r->status();
          EXPECT_FALSE(w->done());
        }
      } else if (op <= 11) {
        // Release what the session holds of a key (by the admin path:
        // the token is not tracked here), or a plain cancel of a wait.
        for (const Waiting &wt : waits) {
          if (wt.w->granted())
            grants.push_back({wt.session, wt.key, wt.w->token()});
        }
        if (!grants.empty() && pick(3) != 0) {
          const size_t i = pick(grants.size());
          table
              .Release(ReleaseCmd{grants[i].session, grants[i].key,
                                  grants[i].token, clock.Now()})
              .IgnoreError();
          grants.erase(grants.begin() + static_cast<long>(i));
        } else if (!waits.empty()) {
          const Waiting &wt = waits[pick(waits.size())];
          table.CancelWait(CancelWaitCmd{wt.session, wt.key, 0, wt.w,
                                         CancelReason::kCancelled,
                                         clock.Now()});
        }
      } else if (op == 12) {
        ForceReleaseCmd f;
        f.key = keys[pick(keys.size())];
        f.session_id = sessions[pick(sessions.size())].id;
        f.reason = "r";
        f.caller = "ops";
        f.skip_lock_delay = pick(2) == 0;
        f.now = clock.Now();
        table.ForceRelease(f).status().IgnoreError();
      } else if (op == 13 && pick(4) == 0) {
        const size_t i = pick(sessions.size());
        table.CloseSession(CloseSessionCmd{sessions[i].id, clock.Now()})
            .status()
            .IgnoreError();
        sessions.erase(sessions.begin() + static_cast<long>(i));
      } else if (op == 14 && pick(4) == 0) {
        const size_t i = pick(sessions.size());
        table
            .RevokeSession(RevokeSessionCmd{sessions[i].id, "r", "ops",
                                            pick(2) == 0, clock.Now()})
            .status()
            .IgnoreError();
        sessions.erase(sessions.begin() + static_cast<long>(i));
      } else if (op == 15 && pick(2) == 0) {
        over = !over;
        table.SetOverMemoryBudget(over, "limit --memory_budget=1 reached");
      } else {
        clock.Advance(absl::Milliseconds(200 + pick(1500)));
        for (const Live &s : sessions) {
          if (pick(4) != 0) {
            table.KeepAlive(KeepAliveCmd{s.id, clock.Now()})
                .status()
                .IgnoreError();
          }
        }
        table.RunDueTimers(clock.Now());
      }
      table.CheckInvariantsForTest();
      if (HasFailure())
        return;
    }
    for (const Live &s : sessions) {
      table.CloseSession(CloseSessionCmd{s.id, clock.Now()})
          .status()
          .IgnoreError();
    }
    clock.Advance(absl::Hours(2));
    table.RunDueTimers(clock.Now());
    table.CheckInvariantsForTest();
    EXPECT_EQ(table.SessionCount(), 0u);
    EXPECT_EQ(table.KeyMapSizeForTest(), 0u);
    for (const std::string &o : owners) {
      const OwnerCounts c = table.OwnerCountsForTest(o);
      EXPECT_EQ(c.sessions, 0) << o;
      EXPECT_EQ(c.held, 0) << o;
      EXPECT_EQ(c.waiting, 0) << o;
    }
    // Every queued waiter was answered.
    for (const Waiting &wt : waits)
      EXPECT_TRUE(wt.w->done());
    table.Shutdown();
    if (HasFailure())
      return;
  }
  // The run reached every limit an acquire can meet.
  for (const char *flag :
       {"max_held_per_session", "max_held_per_identity", "max_waiters_per_key",
        "max_waiters_per_session", "max_waiters_per_identity", "max_keys",
        "memory_budget"}) {
    int n = 0;
    for (const auto &[m, c] : refusals) {
      if (m.find(flag) != std::string::npos)
        n += c;
    }
    EXPECT_GT(n, 0) << flag;
  }
}

// Concurrent sessions of one identity: creations and ends race on the
// owner registry and grants race on the owner's counters. The sessions
// limit is exact (never more live sessions than the flag), and when every
// thread is done nothing is left counted.
TEST(ReviewLimitsConcurrencyTest, OneIdentityRacingItselfLeavesNoCount) {
  LockTable::Options options;
  options.shards = 4;
  options.limits.max_sessions_per_identity = 3;
  options.limits.max_held_per_session = 2;
  options.limits.max_held_per_identity = 4;
  options.limits.max_keys = 6;
  LockTable table(options);
  FakeClock clock;
  const absl::Time now = clock.Now();
  std::atomic<int> over_limit{0};
  std::atomic<int> created{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 6; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937 rng(static_cast<uint32_t>(t + 1));
      for (int i = 0; i < 2000; ++i) {
        CreateSessionCmd c;
        c.session_id = table.NewSessionId();
        c.owner = "o";
        c.client_name = "c";
        c.ttl = kTtl;
        c.now = now;
        absl::StatusOr<SessionInfo> info = table.CreateSession(c);
        if (!info.ok())
          continue;
        created.fetch_add(1);
        if (table.OwnerCountsForTest("o").sessions > 3)
          over_limit.fetch_add(1);
        for (int k = 0; k < 3; ++k) {
          AcquireCmd a;
          a.session_id = info->session_id;
          a.key = "k" + std::to_string(rng() % 8);
          a.mode = rng() % 2 ? LockMode::kShared : LockMode::kExclusive;
          a.now = now;
          auto r = table.Acquire(a, nullptr);
          if (r.has_value() && r->ok() && (*r)->acquired && rng() % 2) {
            table
                .Release(
                    ReleaseCmd{info->session_id, a.key, (*r)->grant.token, now})
                .IgnoreError();
          }
        }
        table.CloseSession(CloseSessionCmd{info->session_id, now})
            .status()
            .IgnoreError();
      }
    });
  }
  for (std::thread &th : threads)
    th.join();
  EXPECT_GT(created.load(), 0);
  EXPECT_EQ(over_limit.load(), 0);
  table.CheckInvariantsForTest();
  const OwnerCounts c = table.OwnerCountsForTest("o");
  EXPECT_EQ(c.sessions, 0);
  EXPECT_EQ(c.held, 0);
  EXPECT_EQ(c.waiting, 0);
  EXPECT_EQ(table.KeyMapSizeForTest(), 0u);
  table.Shutdown();
}

// A retry is never refused by a limit: a waiter's retry of its own wait on
// a full queue (--max_waiters_per_key=1), over the memory budget and at the
// identity's wait limit takes over its place; a holder's retry at every
// grant limit answers its grant; an upgrade from SHARED needs no new grant.
TEST_F(ReviewLimitsTest, RetriesAreNeverRefusedByALimit) {
  const uint64_t h = MustCreate("holder");
  auto busy = table_.Acquire(Cmd(h, "busy"), nullptr);
  ASSERT_TRUE((*busy)->acquired);
  const uint64_t q = MustCreate("queued");
  RecordingWaiter first;
  AcquireCmd wait = Cmd(q, "busy");
  wait.wait_timeout = absl::InfiniteDuration();
  EXPECT_FALSE(table_.Acquire(wait, &first).has_value());
  table_.SetOverMemoryBudget(true, "limit --memory_budget=1 reached");
  RecordingWaiter retry;
  wait.now = clock_.Now();
  EXPECT_FALSE(table_.Acquire(wait, &retry).has_value()); // Takes over.
  ASSERT_TRUE(first.done());
  EXPECT_EQ(first.result().status().code(), absl::StatusCode::kCancelled);
  EXPECT_EQ(table_.OwnerCountsForTest("queued").waiting, 1);
  table_.SetOverMemoryBudget(false, "");

  // Alice at --max_held_per_session=2 (and one short of the identity's 3).
  const uint64_t a = MustCreate("alice");
  ASSERT_TRUE((*table_.Acquire(Cmd(a, "a1"), nullptr))->acquired);
  AcquireCmd shared = Cmd(a, "a2");
  shared.mode = LockMode::kShared;
  auto s2 = table_.Acquire(shared, nullptr);
  ASSERT_TRUE((*s2)->acquired);
  auto again = table_.Acquire(Cmd(a, "a1"), nullptr);
  ASSERT_TRUE(again.has_value());
  ASSERT_OK(again->status());
  EXPECT_TRUE((*again)->already_held);
  // Upgrade of a2 from SHARED to EXCLUSIVE (nobody else holds it).
  AcquireCmd up = Cmd(a, "a2");
  up.mode = LockMode::kExclusive;
  auto upgraded = table_.Acquire(up, nullptr);
  ASSERT_TRUE(upgraded.has_value());
  ASSERT_OK(upgraded->status());
  EXPECT_TRUE((*upgraded)->acquired);
  EXPECT_EQ(table_.OwnerCountsForTest("alice").held, 2);
  ASSERT_OK(table_.CloseSession(CloseSessionCmd{h, clock_.Now()}).status());
  EXPECT_TRUE(retry.granted());
}

} // namespace
} // namespace test
} // namespace taala
