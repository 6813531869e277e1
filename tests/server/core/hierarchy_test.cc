// Hierarchical keys (multi-granularity locking).

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

using ::taala::test::LockTableTest;
using ::taala::test::RecordingWaiter;
using ::taala::test::StatusIs;
using ::taala::test::WithMode;
using ::testing::HasSubstr;

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
  EXPECT_EQ(table_.KeyMapSizeForTest(), 1u);  // Intentions on "a", "a/b" are gone.
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
  EXPECT_EQ(table_.KeyMapSizeForTest(), 2u);
  table_.Shutdown();
}


// ---------------------------------------------------------------------------
// Lock-delays in a tree: a delay covers what the lost grant covered.

class TreeLockDelayTest : public LockTableTest {
 protected:
  // `key` held in `mode` with a 5 s lock-delay and a 1 s max hold, then
  // revoked: the delay runs from now for 5 s.
  void HoldThenRevoke(const std::string& key, LockMode mode) {
    AcquireCmd cmd = WithMode(
        Cmd(NewSession(absl::Hours(1)), key, absl::ZeroDuration(),
            absl::Seconds(1)),
        mode);
    cmd.lock_delay = absl::Seconds(5);
    auto r = table_.Acquire(cmd, nullptr);
    ASSERT_TRUE(r.has_value() && r->ok() && (*r)->acquired);
    Advance(absl::Seconds(1));  // Revoked: the delay starts.
  }
  // Whether a fresh session is granted `key` in `mode` at once (released
  // again right away, so that probes do not block each other).
  bool Granted(const std::string& key, LockMode mode) {
    const uint64_t s = NewSession(absl::Hours(1));
    auto r = table_.Acquire(WithMode(Cmd(s, key), mode), nullptr);
    EXPECT_TRUE(r.has_value() && r->ok());
    if (!r.has_value() || !r->ok() || !(*r)->acquired) return false;
    EXPECT_OK(Release(s, key, (*r)->grant.token));
    return true;
  }
  void WaitFor(const std::string& key, LockMode mode, RecordingWaiter* w) {
    auto r = table_.Acquire(
        WithMode(Cmd(NewSession(absl::Hours(1)), key,
                     absl::InfiniteDuration()),
                 mode),
        w);
    EXPECT_FALSE(r.has_value()) << "expected to wait";
  }
};

TEST_F(TreeLockDelayTest, LockDelayOnTreesAnExclusiveParentDelayBlocksItsSubtree) {
  HoldThenRevoke("a", LockMode::kExclusive);
  EXPECT_FALSE(Granted("a/b", LockMode::kExclusive));
  EXPECT_FALSE(Granted("a/b", LockMode::kShared));
  EXPECT_FALSE(Granted("a/b/c", LockMode::kShared));
  EXPECT_TRUE(Granted("ab", LockMode::kExclusive));  // Not below "a".
  RecordingWaiter below, deep;
  WaitFor("a/b", LockMode::kExclusive, &below);
  WaitFor("a/x/y", LockMode::kShared, &deep);
  Advance(absl::Seconds(5) - absl::Milliseconds(1));
  EXPECT_FALSE(below.done());
  EXPECT_FALSE(deep.done());
  Advance(absl::Milliseconds(1));  // The delay ends: its subtree is served.
  EXPECT_TRUE(below.granted());
  EXPECT_TRUE(deep.granted());
}

TEST_F(TreeLockDelayTest, LockDelayOnTreesAnExclusiveChildDelayBlocksItsAncestors) {
  HoldThenRevoke("a/b", LockMode::kExclusive);
  EXPECT_FALSE(Granted("a", LockMode::kExclusive));
  EXPECT_FALSE(Granted("a", LockMode::kShared));
  EXPECT_FALSE(Granted("a/b/c", LockMode::kShared));
  EXPECT_TRUE(Granted("a/c", LockMode::kExclusive));  // A sibling.
  RecordingWaiter parent, child;
  WaitFor("a", LockMode::kShared, &parent);
  WaitFor("a/b/c", LockMode::kExclusive, &child);
  Advance(absl::Seconds(5) - absl::Milliseconds(1));
  EXPECT_FALSE(parent.done());
  EXPECT_FALSE(child.done());
  Advance(absl::Milliseconds(1));
  EXPECT_TRUE(parent.granted());
  // "a/b/c" queued behind nothing that conflicts with it? It conflicts with
  // the SHARED grant of "a" just made: it keeps waiting for it.
  EXPECT_FALSE(child.done());
}

TEST_F(TreeLockDelayTest, LockDelayOnTreesASharedDelayBlocksOnlyWhatConflictsWithShared) {
  HoldThenRevoke("p", LockMode::kShared);
  // The key itself: nobody, as for flat keys.
  EXPECT_FALSE(Granted("p", LockMode::kShared));
  // Below it: readers yes, writers no.
  EXPECT_TRUE(Granted("p/x", LockMode::kShared));
  EXPECT_FALSE(Granted("p/x", LockMode::kExclusive));
  HoldThenRevoke("q/r", LockMode::kShared);
  // Above it: readers yes, writers no.
  EXPECT_TRUE(Granted("q", LockMode::kShared));
  EXPECT_FALSE(Granted("q", LockMode::kExclusive));
  RecordingWaiter writer;
  WaitFor("q", LockMode::kExclusive, &writer);
  Advance(absl::Seconds(5));
  EXPECT_TRUE(writer.granted());
  EXPECT_TRUE(Granted("p/x", LockMode::kExclusive));
}

TEST_F(TreeLockDelayTest, LockDelayOnTreesEndsLeaveNoKeysBehind) {
  HoldThenRevoke("a/b", LockMode::kShared);
  HoldThenRevoke("a/x/y", LockMode::kExclusive);
  EXPECT_FALSE(Granted("a", LockMode::kShared));
  Advance(absl::Seconds(5));
  EXPECT_TRUE(Granted("a", LockMode::kExclusive));
  EXPECT_TRUE(Granted("a/b/c/d", LockMode::kExclusive));
  EXPECT_EQ(table_.KeyMapSizeForTest(), 0u);
  EXPECT_LE(table_.timers().size(), 64u);  // Sessions' expiries only.
}


TEST_F(TreeLockDelayTest, LockDelayOnTreesDoesNotReachKeysThatOnlySharePrefixBytes) {
  // "a-x" and "a.b" sort between "a" and "a/b" but are not below "a".
  RecordingWaiter below;
  HoldThenRevoke("a", LockMode::kExclusive);
  EXPECT_TRUE(Granted("a-x", LockMode::kExclusive));
  EXPECT_TRUE(Granted("a.b/c", LockMode::kExclusive));
  WaitFor("a/b", LockMode::kShared, &below);
  HoldThenRevoke("a-x/y", LockMode::kExclusive);  // Keeps "a-x" delayed.
  Advance(absl::Seconds(4));  // "a"'s delay ends; "a-x/y"'s runs on.
  EXPECT_TRUE(below.granted());
  EXPECT_FALSE(Granted("a-x", LockMode::kShared));
  Advance(absl::Seconds(1));
  EXPECT_TRUE(Granted("a-x", LockMode::kShared));
}

// A session that waits for a key and for a key below it, then ends: both
// waits end with the session's own end (not "not found" for the one below,
// dropped as a ready head while the other was being dropped).
TEST_F(LockTableTest, ClosingASessionEndsEachOfItsNestedWaitsAsClosed) {
  const uint64_t a = NewSession();
  const uint64_t h = NewSession();
  MustAcquire(h, "h");
  RecordingWaiter on_h, on_hx;
  Wait(a, "h", &on_h);
  Wait(a, "h/x", &on_hx);  // Blocked by the ancestor's holder.
  ASSERT_TRUE(table_.CloseSession(CloseSessionCmd{a, clock_.Now()}).ok());
  for (RecordingWaiter* w : {&on_h, &on_hx}) {
    ASSERT_TRUE(w->done());
    EXPECT_THAT(w->result().status(),
                StatusIs(absl::StatusCode::kNotFound,
                         HasSubstr("was closed while waiting")));
  }
}

TEST_F(LockTableTest, AnExpiryEndsEachOfItsNestedWaitsAsExpired) {
  const uint64_t a = NewSession(absl::Seconds(5));
  const uint64_t h = NewSession();
  MustAcquire(h, "h");
  RecordingWaiter on_h, on_hx;
  Wait(a, "h", &on_h);
  Wait(a, "h/x", &on_hx);
  Advance(absl::Seconds(6));
  for (RecordingWaiter* w : {&on_h, &on_hx}) {
    ASSERT_TRUE(w->done());
    EXPECT_THAT(w->result().status(),
                StatusIs(absl::StatusCode::kNotFound,
                         HasSubstr("expired while waiting")));
  }
}

}  // namespace
}  // namespace taala
