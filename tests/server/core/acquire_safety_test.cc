// Issue 8's safety rules for Acquire: a retry may not change its mode, an
// undone upgrade gives back the SHARED grant it replaced, a lease that ran
// out is dead, counters never carry into the epoch bits, and an upgrade wait
// without its SHARED grant loses its priority.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/core/lock_table.h"
#include "server/core/multi_acquire.h"
#include "tests/server/core/lock_table_fixture.h"
#include "tests/testing/status_matchers.h"

namespace taala {
namespace {

using ::taala::test::LockTableTest;
using ::taala::test::RecordingWaiter;
using ::taala::test::StatusIs;
using ::taala::test::WithMode;
using ::testing::AllOf;
using ::testing::HasSubstr;

// A waiter whose caller is still there while the table decides, but has left
// by the time the outcome is delivered (Complete returns false).
class LeavesOnDeliveryWaiter final : public Waiter {
 public:
  bool Complete(absl::StatusOr<AcquireResult> result) override {
    result_ = std::move(result);
    return false;
  }
  bool Gone() const override { return false; }
  bool done() const { return result_.has_value(); }
  const absl::StatusOr<AcquireResult> &result() const { return *result_; }

 private:
  std::optional<absl::StatusOr<AcquireResult>> result_;
};

class AcquireSafetyTest : public LockTableTest {
 protected:
  uint64_t MustAcquireShared(uint64_t session, const std::string &key) {
    auto r =
        table_.Acquire(WithMode(Cmd(session, key), LockMode::kShared), nullptr);
    EXPECT_TRUE(r.has_value() && r->ok() && (*r)->acquired);
    return r.has_value() && r->ok() ? (*r)->grant.token : 0;
  }

  // The holders of `key` as (session, token, mode).
  struct Held {
    uint64_t session;
    uint64_t token;
    LockMode mode;
    bool operator==(const Held &o) const {
      return session == o.session && token == o.token && mode == o.mode;
    }
  };
  std::vector<Held> Holders(const std::string &key) {
    std::vector<Held> out;
    absl::StatusOr<LockDescription> d = table_.Describe(key, 10);
    EXPECT_OK(d);
    if (!d.ok()) return out;
    for (const HolderInfo &h : d->holders) {
      out.push_back({h.grant.session_id, h.grant.token, h.grant.mode});
    }
    return out;
  }
};

// ---------------------------------------------------------------------------
// Item 1: a retry with another mode.

TEST_F(AcquireSafetyTest, RetryWithAnotherModeWhileWaitingIsRefusedNamingBoth) {
  const uint64_t w = NewSession(), r = NewSession(), other = NewSession();
  const uint64_t wt = MustAcquire(w, "doc");
  RecordingWaiter reading, other_reading, writing;
  ASSERT_FALSE(table_
                   .Acquire(WithMode(Cmd(r, "doc", absl::InfiniteDuration()),
                                     LockMode::kShared),
                            &reading)
                   .has_value());
  ASSERT_FALSE(
      table_
          .Acquire(WithMode(Cmd(other, "doc", absl::InfiniteDuration()),
                            LockMode::kShared),
                   &other_reading)
          .has_value());
  // r waits SHARED and now asks for EXCLUSIVE: refused, not merged.
  auto retry =
      table_.Acquire(Cmd(r, "doc", absl::InfiniteDuration()), &writing);
  ASSERT_TRUE(retry.has_value()) << "the retry was queued";
  EXPECT_THAT(
      *retry,
      StatusIs(absl::StatusCode::kFailedPrecondition,
               AllOf(HasSubstr("SHARED"), HasSubstr("EXCLUSIVE"),
                     HasSubstr("\"doc\""), HasSubstr(absl::StrCat(r)))));
  EXPECT_FALSE(writing.done());
  EXPECT_FALSE(reading.done()) << "the first call keeps its place";
  ASSERT_OK(Release(w, "doc", wt));
  ASSERT_TRUE(reading.granted());
  EXPECT_EQ(reading.result()->grant.mode, LockMode::kShared);
  EXPECT_TRUE(other_reading.granted());
}

TEST_F(AcquireSafetyTest, RetryWithTheSameModeStillTakesOverTheQueuePlace) {
  const uint64_t w = NewSession(), r = NewSession();
  const uint64_t wt = MustAcquire(w, "doc");
  RecordingWaiter first, second;
  auto shared = [&](RecordingWaiter *waiter) {
    return table_.Acquire(
        WithMode(Cmd(r, "doc", absl::InfiniteDuration()), LockMode::kShared),
        waiter);
  };
  ASSERT_FALSE(shared(&first).has_value());
  ASSERT_FALSE(shared(&second).has_value());
  ASSERT_TRUE(first.done());
  EXPECT_THAT(first.result(), StatusIs(absl::StatusCode::kCancelled));
  ASSERT_OK(Release(w, "doc", wt));
  EXPECT_TRUE(second.granted());
}

// ---------------------------------------------------------------------------
// Item 3: undo of an upgrade.

TEST_F(AcquireSafetyTest,
       UndeliveredUpgradeIsUndoneToTheSharedGrantItReplaced) {
  const uint64_t a = NewSession(), b = NewSession(), c = NewSession();
  const uint64_t at = MustAcquireShared(a, "doc");
  const uint64_t bt = MustAcquireShared(b, "doc");
  LeavesOnDeliveryWaiter up;
  ASSERT_FALSE(
      table_.Acquire(Cmd(a, "doc", absl::InfiniteDuration()), &up).has_value());
  RecordingWaiter reader;  // Behind the upgrade.
  ASSERT_FALSE(table_
                   .Acquire(WithMode(Cmd(c, "doc", absl::InfiniteDuration()),
                                     LockMode::kShared),
                            &reader)
                   .has_value());
  // b leaves: the upgrade is granted, but a's caller has gone.
  ASSERT_OK(Release(b, "doc", bt));
  ASSERT_TRUE(up.done());
  ASSERT_OK(up.result());
  // a keeps exactly the SHARED grant it had, with its old token.
  std::vector<Held> holders = Holders("doc");
  ASSERT_GE(holders.size(), 1u);
  EXPECT_EQ(holders[0], (Held{a, at, LockMode::kShared}));
  EXPECT_OK(table_.CheckFence("doc", at));
  EXPECT_THAT(table_.CheckFence("doc", up.result()->grant.token),
              StatusIs(absl::StatusCode::kFailedPrecondition));
  // The reader behind the undone upgrade is re-evaluated: it shares.
  ASSERT_TRUE(reader.granted());
  EXPECT_EQ(Holders("doc").size(), 2u);
  EXPECT_OK(Release(a, "doc", at));
  EXPECT_OK(Release(c, "doc", reader.token()));
}

TEST_F(AcquireSafetyTest, UndoneUpgradeBelowARootKeepsItsIntentionsAndMaxHold) {
  const uint64_t a = NewSession(), b = NewSession(), w = NewSession();
  auto ra = table_.Acquire(
      WithMode(Cmd(a, "db/t", absl::ZeroDuration(), absl::Seconds(5)),
               LockMode::kShared),
      nullptr);
  ASSERT_TRUE(ra.has_value() && ra->ok() && (*ra)->acquired);
  const uint64_t bt = MustAcquireShared(b, "db/t");
  LeavesOnDeliveryWaiter up;
  ASSERT_FALSE(table_.Acquire(Cmd(a, "db/t", absl::InfiniteDuration()), &up)
                   .has_value());
  ASSERT_OK(Release(b, "db/t", bt));
  ASSERT_TRUE(up.done());
  EXPECT_EQ(Holders("db/t"),
            (std::vector<Held>{{a, (*ra)->grant.token, LockMode::kShared}}));
  table_.CheckInvariantsForTest();
  // A reader of the root shares with the restored SHARED grant below it; a
  // writer of the root must wait.
  auto root_read =
      table_.Acquire(WithMode(Cmd(b, "db"), LockMode::kShared), nullptr);
  ASSERT_TRUE(root_read.has_value() && root_read->ok());
  EXPECT_TRUE((*root_read)->acquired);
  auto root_write = table_.Acquire(Cmd(w, "db"), nullptr);
  ASSERT_TRUE(root_write.has_value() && root_write->ok());
  EXPECT_FALSE((*root_write)->acquired);
  // The SHARED grant's max hold still applies after the undo.
  Advance(absl::Seconds(5));
  EXPECT_TRUE(Holders("db/t").empty());
}

class RecordingListener final : public MultiAcquireListener {
 public:
  void OnMultiAcquireDone(absl::StatusOr<MultiAcquireResult> result) override {
    result_ = std::move(result);
  }
  bool timed_out() const {
    return result_.has_value() && result_->ok() && !(*result_)->acquired;
  }

 private:
  std::optional<absl::StatusOr<MultiAcquireResult>> result_;
};

TEST_F(AcquireSafetyTest,
       AcquireAllRollbackOfAnUpgradedKeyKeepsTheSharedGrant) {
  const uint64_t s = NewSession(), other = NewSession();
  const uint64_t st = MustAcquireShared(s, "a");
  const uint64_t ot = MustAcquire(other, "b");
  MultiAcquireCmd cmd;
  cmd.session_id = s;
  cmd.keys.push_back({"a", LockMode::kExclusive});  // An upgrade, at once.
  cmd.keys.push_back({"b", LockMode::kExclusive});  // Waits, then times out.
  cmd.deadline = clock_.Now() + absl::Seconds(1);
  RecordingListener listener;
  auto multi = std::make_unique<MultiAcquire>(&table_, &clock_, std::move(cmd),
                                              &listener);
  multi->Start();
  Advance(absl::Seconds(2));
  ASSERT_TRUE(listener.timed_out());
  EXPECT_EQ(Holders("a"), (std::vector<Held>{{s, st, LockMode::kShared}}));
  EXPECT_OK(Release(s, "a", st));
  EXPECT_OK(Release(other, "b", ot));
}

// ---------------------------------------------------------------------------
// Item 11: a lease that ran out is dead, even before the timers end it.

TEST_F(AcquireSafetyTest, AcquireByASessionWhoseLeaseRanOutIsNotFound) {
  const uint64_t a = NewSession(absl::Seconds(2));
  clock_.Advance(absl::Seconds(2));  // Expired; the timers have not run.
  auto r = table_.Acquire(Cmd(a, "doc"), nullptr);
  ASSERT_TRUE(r.has_value());
  EXPECT_THAT(
      *r, StatusIs(absl::StatusCode::kNotFound,
                   AllOf(HasSubstr(absl::StrCat(a)), HasSubstr("\"doc\""))));
  EXPECT_TRUE(Holders("doc").empty());
}

TEST_F(AcquireSafetyTest, WaitOfASessionWhoseLeaseRanOutIsNeverGranted) {
  const uint64_t holder = NewSession(absl::Seconds(60));
  const uint64_t a = NewSession(absl::Seconds(2));
  const uint64_t ht = MustAcquire(holder, "doc");
  RecordingWaiter w;
  Wait(a, "doc", &w);
  clock_.Advance(absl::Seconds(3));  // a's lease ran out; no timers ran.
  ASSERT_OK(Release(holder, "doc", ht));
  ASSERT_TRUE(w.done());
  EXPECT_THAT(w.result(), StatusIs(absl::StatusCode::kNotFound));
  EXPECT_TRUE(Holders("doc").empty());
}

TEST_F(AcquireSafetyTest,
       ReleaseOrCloseOfASessionWhoseLeaseRanOutEndsItAsExpired) {
  const uint64_t a = NewSession(absl::Seconds(2));
  const uint64_t b = NewSession(absl::Seconds(2));
  AcquireCmd delayed = Cmd(a, "doc");
  delayed.lock_delay = absl::Seconds(5);
  auto r = table_.Acquire(delayed, nullptr);
  ASSERT_TRUE(r.has_value() && r->ok() && (*r)->acquired);
  clock_.Advance(absl::Seconds(2));
  // Dead: the release is refused, and the session ends as the reaper would
  // end it (its grant ends by expiry, so the lock-delay starts).
  EXPECT_THAT(Release(a, "doc", (*r)->grant.token),
              StatusIs(absl::StatusCode::kNotFound));
  EXPECT_TRUE(Holders("doc").empty());
  absl::StatusOr<LockDescription> d = table_.Describe("doc", 10);
  ASSERT_OK(d);
  EXPECT_EQ(d->delayed_until, clock_.Now() + absl::Seconds(5));
  EXPECT_THAT(table_.CloseSession(CloseSessionCmd{b, clock_.Now()}),
              StatusIs(absl::StatusCode::kNotFound));
  EXPECT_EQ(table_.SessionCount(), 0u);
}

// ---------------------------------------------------------------------------
// Item 12 (superseded by the write-ahead log): tokens are numbers of the
// log's sequence, 64 bits wide, so there is no per-shard counter to run out
// or to carry into other bits. (Session ids are random since issue 12.)

TEST(LogNumbersTest, TokensAreTheLogsNumbersAboveItsStart) {
  constexpr uint64_t kFirst = (uint64_t{5} << 40) + 17;
  MemoryLog log(kFirst);
  LockTable::Options options;
  options.log = &log;
  LockTable table(options);
  test::FakeClock clock;
  const uint64_t s = table.NewSessionId();
  ASSERT_OK(
      table.CreateSession({s, "c", {}, absl::Seconds(10), clock.Now(), ""}));
  uint64_t last = kFirst;  // The session's record took it.
  for (const char *key : {"k1", "k2", "a/b", "k1"}) {
    AcquireCmd cmd;
    cmd.session_id = s;
    cmd.key = key;
    cmd.now = clock.Now();
    auto r = table.Acquire(cmd, nullptr);
    ASSERT_TRUE(r.has_value() && r->ok() && (*r)->acquired) << key;
    if ((*r)->already_held) continue;
    // Across keys and shards too: one sequence.
    EXPECT_GT((*r)->grant.token, last) << key;
    last = (*r)->grant.token;
  }
  EXPECT_EQ(log.LastLsn(), last);
  table.CheckInvariantsForTest();
}

// ---------------------------------------------------------------------------
// Item 14: an upgrade wait without its SHARED grant has no priority.

TEST_F(AcquireSafetyTest,
       UpgradeWaitWhoseSharedGrantWasReleasedQueuesBehindEarlierWriters) {
  const uint64_t a = NewSession(), b = NewSession(), w = NewSession();
  const uint64_t at = MustAcquireShared(a, "doc");
  const uint64_t bt = MustAcquireShared(b, "doc");
  RecordingWaiter writer, up;
  Wait(w, "doc", &writer);  // An earlier EXCLUSIVE waiter.
  Wait(a, "doc", &up);      // a's upgrade, ahead of the writer.
  ASSERT_OK(Release(a, "doc", at));
  // a's wait is now an ordinary EXCLUSIVE wait at the back.
  EXPECT_FALSE(up.done());
  absl::StatusOr<LockDescription> d = table_.Describe("doc", 10);
  ASSERT_OK(d);
  ASSERT_EQ(d->waiters.size(), 2u);
  EXPECT_EQ(d->waiters[0].session_id, w);
  EXPECT_EQ(d->waiters[1].session_id, a);
  ASSERT_OK(Release(b, "doc", bt));
  ASSERT_TRUE(writer.granted());
  EXPECT_FALSE(up.done()) << "the demoted wait jumped ahead of the writer";
  ASSERT_OK(Release(w, "doc", writer.token()));
  ASSERT_TRUE(up.granted());
  EXPECT_EQ(up.result()->grant.mode, LockMode::kExclusive);
  EXPECT_OK(Release(a, "doc", up.token()));
}

TEST_F(AcquireSafetyTest,
       UpgradeWaitWhoseSharedGrantWasRevokedQueuesBehindEarlierWriters) {
  // Leases outlive the 30 s the test advances.
  const uint64_t a = NewSession(absl::Minutes(5)),
                 b = NewSession(absl::Minutes(5)),
                 w = NewSession(absl::Minutes(5));
  auto ra = table_.Acquire(
      WithMode(Cmd(a, "doc", absl::ZeroDuration(), absl::Seconds(1)),
               LockMode::kShared),
      nullptr);
  ASSERT_TRUE(ra.has_value() && ra->ok() && (*ra)->acquired);
  const uint64_t bt = MustAcquireShared(b, "doc");
  RecordingWaiter writer, up;
  Wait(w, "doc", &writer);
  Wait(a, "doc", &up, absl::Seconds(30));  // A timed upgrade wait.
  Advance(absl::Seconds(1));  // a's SHARED grant is revoked (max hold).
  EXPECT_FALSE(up.done());
  ASSERT_OK(Release(b, "doc", bt));
  ASSERT_TRUE(writer.granted());
  EXPECT_FALSE(up.done()) << "the demoted wait jumped ahead of the writer";
  // The demoted wait keeps its deadline: it times out as a normal answer.
  Advance(absl::Seconds(29));
  ASSERT_TRUE(up.done());
  ASSERT_OK(up.result());
  EXPECT_FALSE(up.result()->acquired);
  EXPECT_OK(Release(w, "doc", writer.token()));
}

TEST_F(AcquireSafetyTest, DemotedUpgradeWaitThatWouldDeadlockIsAborted) {
  const uint64_t a = NewSession(), b = NewSession(), w = NewSession();
  const uint64_t at = MustAcquireShared(a, "doc");
  const uint64_t bt = MustAcquireShared(b, "doc");
  const uint64_t kt = MustAcquire(a, "k1");
  RecordingWaiter writer, writer_k1, up;
  Wait(w, "doc", &writer);    // w waits for a and b on doc ...
  Wait(w, "k1", &writer_k1);  // ... and for a on k1.
  Wait(a, "doc", &up);        // a's upgrade waits for b only.
  // a gives up its SHARED grant: as a writer behind w it would wait for w,
  // which waits for a (k1). Refused as a deadlock, never left hanging.
  ASSERT_OK(Release(a, "doc", at));
  ASSERT_TRUE(up.done());
  EXPECT_THAT(up.result(), StatusIs(absl::StatusCode::kAborted));
  EXPECT_FALSE(writer.done());
  ASSERT_OK(Release(b, "doc", bt));
  EXPECT_TRUE(writer.granted());
  ASSERT_OK(Release(a, "k1", kt));
  EXPECT_TRUE(writer_k1.granted());
}

// Found by the model test (seed 35): the release that demotes an upgrade
// wait must not leave the released grant in the wait-for graph, or the
// demoted wait is refused for a cycle through a grant that is gone.
TEST_F(AcquireSafetyTest, DemotedUpgradeWaitIsNotAbortedByTheGrantItJustGaveUp) {
  const uint64_t a = NewSession(), b = NewSession(), c = NewSession();
  const uint64_t at = MustAcquireShared(a, "p/x");
  const uint64_t ct = MustAcquireShared(c, "p/x");
  RecordingWaiter up, parent;
  Wait(a, "p/x", &up);     // a's upgrade waits for c.
  Wait(b, "p", &parent);   // b waits for a and c (their grants below p).
  // a gives up its SHARED grant: its wait becomes an ordinary writer behind
  // b's earlier wait on the ancestor. b now waits for c alone: no cycle.
  ASSERT_OK(Release(a, "p/x", at));
  EXPECT_FALSE(up.done()) << up.result().status();
  EXPECT_FALSE(parent.done());
  // c leaves: b (queued first, on the ancestor) goes first, then a.
  ASSERT_OK(Release(c, "p/x", ct));
  ASSERT_TRUE(parent.granted());
  EXPECT_FALSE(up.done());
  ASSERT_OK(Release(b, "p", parent.token()));
  EXPECT_TRUE(up.granted());
}

}  // namespace
}  // namespace taala
