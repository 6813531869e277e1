// Edge cases found in review (review1 branch): waits left hanging on a
// cycle, and other safety rules at the edges of the tree.

#include <cstdint>
#include <string>

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

class Review1EdgeTest : public LockTableTest {
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
TEST_F(Review1EdgeTest, SharedWaitBehindASharedWaiterItBlocksIsNotLeftHanging) {
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

}  // namespace
}  // namespace taala
