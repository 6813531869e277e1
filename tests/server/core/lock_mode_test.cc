// Modes, semaphores, upgrades, lock-delay and release requests.

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

using ::taala::test::AsSemaphore;
using ::taala::test::BlockingWaiter;
using ::taala::test::kTtl;
using ::taala::test::LockTableTest;
using ::taala::test::RecordingSink;
using ::taala::test::RecordingWaiter;
using ::taala::test::StatusIs;
using ::taala::test::WithMode;
using ::testing::HasSubstr;

// ---------------------------------------------------------------------------
// Shared/exclusive modes, semaphores, upgrades, lock-delay, release requests.

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

// A size from a lock policy (semaphore_size_from_policy) yields to the kind
// of a key in use: a slot of the size it has, or a lock; a free key takes it.
TEST_F(LockTableTest, APolicysSemaphoreSizeYieldsToAKeyInUse) {
  const uint64_t a = NewSession(), b = NewSession(), c = NewSession();
  auto policy = [](AcquireCmd cmd, uint32_t size) {
    cmd.semaphore_size = size;
    cmd.semaphore_size_from_policy = true;
    return cmd;
  };
  auto r = table_.Acquire(policy(Cmd(a, "pool"), 2), nullptr);
  ASSERT_TRUE(r.has_value() && r->ok() && (*r)->acquired);
  // A reload raised the size: the key stays a semaphore of 2.
  auto r2 = table_.Acquire(policy(Cmd(b, "pool"), 3), nullptr);
  ASSERT_TRUE(r2.has_value() && r2->ok() && (*r2)->acquired);
  auto r3 = table_.Acquire(policy(Cmd(c, "pool"), 3), nullptr);
  ASSERT_TRUE(r3.has_value() && r3->ok());
  EXPECT_FALSE((*r3)->acquired);  // Both slots of 2 taken.
  absl::StatusOr<LockDescription> d = table_.Describe("pool", 10);
  ASSERT_OK(d);
  EXPECT_EQ(d->semaphore_size, 2u);
  // An explicit size still must match.
  EXPECT_THAT(*table_.Acquire(AsSemaphore(Cmd(c, "pool"), 3), nullptr),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("semaphore of size 2")));
  // A key in use as a lock is acquired as a lock.
  MustAcquire(a, "lock");
  auto l = table_.Acquire(policy(Cmd(b, "lock"), 4), nullptr);
  ASSERT_TRUE(l.has_value() && l->ok());
  EXPECT_FALSE((*l)->acquired);  // EXCLUSIVE, held by a.
  auto shared = table_.Acquire(
      policy(WithMode(Cmd(a, "rw"), LockMode::kShared), 4), nullptr);
  ASSERT_TRUE(shared.has_value() && shared->ok() && (*shared)->acquired);
  // Once free, the policy's size again.
  ASSERT_OK(Release(a, "pool", (*r)->grant.token));
  ASSERT_OK(Release(b, "pool", (*r2)->grant.token));
  auto fresh = table_.Acquire(policy(Cmd(c, "pool"), 3), nullptr);
  ASSERT_TRUE(fresh.has_value() && fresh->ok() && (*fresh)->acquired);
  d = table_.Describe("pool", 10);
  ASSERT_OK(d);
  EXPECT_EQ(d->semaphore_size, 3u);
}

// A holder's retry answers its grant whatever size it asks now; a reader's
// EXCLUSIVE retry of a lock is still an upgrade.
TEST_F(LockTableTest, AHoldersRetryAnswersItsGrantWhateverSizeItAsks) {
  const uint64_t a = NewSession();
  auto r = table_.Acquire(AsSemaphore(Cmd(a, "pool"), 2), nullptr);
  ASSERT_TRUE(r.has_value() && r->ok() && (*r)->acquired);
  for (uint32_t size : {0u, 2u, 5u}) {
    auto again = table_.Acquire(AsSemaphore(Cmd(a, "pool"), size), nullptr);
    ASSERT_TRUE(again.has_value() && again->ok()) << size;
    EXPECT_TRUE((*again)->already_held) << size;
    EXPECT_EQ((*again)->grant.token, (*r)->grant.token) << size;
  }
  const uint64_t token = MustAcquire(a, "lock");
  auto again = table_.Acquire(AsSemaphore(Cmd(a, "lock"), 3), nullptr);
  ASSERT_TRUE(again.has_value() && again->ok());
  EXPECT_TRUE((*again)->already_held);
  EXPECT_EQ((*again)->grant.token, token);
  auto read =
      table_.Acquire(WithMode(Cmd(a, "doc"), LockMode::kShared), nullptr);
  ASSERT_TRUE(read.has_value() && read->ok() && (*read)->acquired);
  auto up = AcquireNow(a, "doc");
  ASSERT_OK(up);
  EXPECT_FALSE(up->already_held);  // An upgrade: a new grant.
  EXPECT_EQ(up->grant.mode, LockMode::kExclusive);
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

}  // namespace
}  // namespace taala
