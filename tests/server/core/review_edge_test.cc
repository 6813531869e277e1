// Edge cases found in review (review1 branch): waits left hanging on a
// cycle, and other safety rules at the edges of the tree.

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/core/lock_table.h"
#include "tests/server/core/lock_table_fixture.h"
#include "tests/testing/status_matchers.h"

namespace taala {
namespace {

using ::taala::test::LockTableTest;
using ::taala::test::RecordingWaiter;
using ::taala::test::StatusIs;
using ::taala::test::WithMode;

class ReviewEdgeTest : public LockTableTest {
 protected:
  void WaitShared(uint64_t session, const std::string& key,
                  RecordingWaiter* w) {
    auto outcome = table_.Acquire(
        WithMode(Cmd(session, key, absl::InfiniteDuration()),
                 LockMode::kShared),
        w);
    if (outcome.has_value()) {
      // Answered at once (e.g. refused as a deadlock): hand it to w.
      w->Complete(*outcome);
    }
  }
};

// x holds "a" EXCLUSIVE; y waits for "a/b" SHARED (blocked by x's grant of
// the ancestor). x then asks for "a/b" SHARED: the tree and the key would
// let x have it (a session never waits for its own grants), but the queue is
// strict FIFO, so x queues behind y, which waits for x. Both modes are
// SHARED, so the wait-for graph draws no edge from x to y and the cycle is
// never found: x's call hangs forever (a wait left on a cycle). It must be
// granted or refused ABORTED at once.
TEST_F(ReviewEdgeTest, SharedWaitBehindASharedWaiterItBlocksIsNotLeftHanging) {
  const uint64_t x = NewSession(), y = NewSession();
  const uint64_t token = MustAcquire(x, "a");
  ASSERT_NE(token, 0u);
  RecordingWaiter wy, wx;
  WaitShared(y, "a/b", &wy);
  ASSERT_FALSE(wy.done());
  WaitShared(x, "a/b", &wx);
  EXPECT_TRUE(wx.done()) << "x waits behind y, and y waits for x: deadlock";
  if (wx.done() && !wx.result().ok()) {
    EXPECT_THAT(wx.result(), StatusIs(absl::StatusCode::kAborted));
  }
  table_.Shutdown();
}

// A waiter whose caller leaves while its grant is being delivered: Complete
// waits until the session has begun to end (it is gone from the registry)
// and then reports the grant undelivered, so the table undoes it.
class LeavesWhileSessionEndsWaiter final : public Waiter {
 public:
  LeavesWhileSessionEndsWaiter(LockTable* table, size_t sessions_before)
      : table_(table), before_(sessions_before) {}
  bool Complete(absl::StatusOr<AcquireResult> result) override {
    granted_ = result.ok() && result->acquired;
    called_.store(true);
    while (table_->SessionCount() >= before_) std::this_thread::yield();
    return false;
  }
  bool Gone() const override { return false; }
  bool called() const { return called_.load(); }
  bool granted() const { return granted_; }

 private:
  LockTable* const table_;
  const size_t before_;
  std::atomic<bool> called_{false};
  bool granted_ = false;
};

// An upgrade is granted (a new EXCLUSIVE token) and its caller leaves before
// it is delivered, while the session is ending on another thread: EndSession
// has already taken the session's held map (with the EXCLUSIVE token) when
// the undo turns the grant back into the SHARED one with the old token.
// EndSession then drops "the grant with the EXCLUSIVE token", finds none, and
// the SHARED grant of a session that no longer exists stays on the key
// forever: nobody can ever take the key EXCLUSIVE again.
TEST_F(ReviewEdgeTest, UpgradeUndoneWhileItsSessionEndsLeavesNoOrphanGrant) {
  for (int round = 0; round < 5; ++round) {
    const uint64_t s = NewSession(absl::Hours(1));
    const uint64_t b = NewSession(absl::Hours(1));
    const std::string key = absl::StrCat("k", round);
    auto shared = [&](uint64_t session) {
      auto r = table_.Acquire(WithMode(Cmd(session, key), LockMode::kShared),
                              nullptr);
      EXPECT_TRUE(r.has_value() && r->ok() && (*r)->acquired);
      return r.has_value() && r->ok() ? (*r)->grant.token : 0;
    };
    shared(s);
    const uint64_t b_token = shared(b);
    // Many other waits of s: ending it takes a while before it reaches its
    // grants.
    std::vector<std::unique_ptr<RecordingWaiter>> others;
    for (int i = 0; i < 2000; ++i) {
      const std::string other = absl::StrCat("o", round, "-", i);
      MustAcquire(b, other);
      others.push_back(std::make_unique<RecordingWaiter>());
      Wait(s, other, others.back().get());
    }
    LeavesWhileSessionEndsWaiter upgrade(&table_, table_.SessionCount());
    ASSERT_FALSE(table_.Acquire(
                           WithMode(Cmd(s, key, absl::InfiniteDuration()),
                                    LockMode::kExclusive),
                           &upgrade)
                     .has_value());
    std::thread granter([&] { EXPECT_OK(Release(b, key, b_token)); });
    std::thread closer([&] {
      while (!upgrade.called()) std::this_thread::yield();
      EXPECT_OK(table_.CloseSession(CloseSessionCmd{s, clock_.Now()}));
    });
    granter.join();
    closer.join();
    ASSERT_TRUE(upgrade.granted());
    absl::StatusOr<LockDescription> d = table_.Describe(key, 10);
    ASSERT_OK(d);
    EXPECT_TRUE(d->holders.empty())
        << "round " << round << ": session " << s
        << " has ended but still holds " << key << " with token "
        << d->holders.front().grant.token;
    ASSERT_OK(table_.CloseSession(CloseSessionCmd{b, clock_.Now()}));
  }
  table_.Shutdown();
}

}  // namespace
}  // namespace taala
