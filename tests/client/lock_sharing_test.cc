// Several taala::Lock objects on one key in one Session (issue 8, item 2):
// they exclude each other as locks of different processes would, except
// that SHARED locks share the session's one SHARED grant. Against a real
// taalad.

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "client/lock_client.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/client/client_fixture.h"
#include "tests/testing/status_matchers.h"

namespace taala {
namespace {

using ::taala::test::StatusIs;

class LockSharingTest : public test::ClientFixture {};

AcquireOptions Shared() {
  AcquireOptions options;
  options.shared = true;
  return options;
}

TEST_F(LockSharingTest, TwoLocksOnOneKeyInOneSessionExcludeEachOther) {
  auto client = Connect(Options());
  auto session = NewSession(*client, absl::Seconds(60));
  Lock a(*session, "k");
  Lock b(*session, "k");
  ASSERT_TRUE(a.try_lock());
  EXPECT_FALSE(b.try_lock());
  EXPECT_FALSE(b.try_lock_for(std::chrono::milliseconds(200)));
  EXPECT_FALSE(b.owns_lock());

  // lock() waits in the process until `a` unlocks.
  std::atomic<bool> a_unlocking{false};
  std::atomic<bool> b_saw_a_unlocking{false};
  std::thread waiter([&] {
    b.lock();
    b_saw_a_unlocking = a_unlocking.load();
  });
  absl::SleepFor(absl::Milliseconds(300));  // A chance to get in wrongly.
  a_unlocking = true;
  a.unlock();
  EXPECT_OK(a.last_unlock_status());
  waiter.join();
  EXPECT_TRUE(b_saw_a_unlocking.load());
  EXPECT_TRUE(b.owns_lock());
  EXPECT_GT(b.fencing_token(), 0u);
  // `a` released its grant; `b` holds one of its own.
  EXPECT_TRUE(HeldByAnother(*client, "k"));
  b.unlock();
  EXPECT_OK(b.last_unlock_status());
  EXPECT_FALSE(HeldByAnother(*client, "k"));
}

TEST_F(LockSharingTest, SharedLocksInOneSessionShareOneGrantUntilTheLastUnlocks) {
  auto client = Connect(Options());
  auto session = NewSession(*client, absl::Seconds(60));
  Lock r1(*session, "doc", Shared());
  Lock r2(*session, "doc", Shared());
  Lock w(*session, "doc");
  ASSERT_TRUE(r1.try_lock());
  ASSERT_TRUE(r2.try_lock());
  EXPECT_EQ(r1.fencing_token(), r2.fencing_token());  // One grant.
  // An EXCLUSIVE Lock of the same session is kept out (not an upgrade).
  EXPECT_FALSE(w.try_lock());
  r1.unlock();
  EXPECT_OK(r1.last_unlock_status());
  EXPECT_TRUE(r2.owns_lock());
  EXPECT_TRUE(HeldByAnother(*client, "doc"));  // r2 still reads.
  EXPECT_FALSE(w.try_lock());
  r2.unlock();
  EXPECT_OK(r2.last_unlock_status());
  EXPECT_FALSE(HeldByAnother(*client, "doc"));
  ASSERT_TRUE(w.try_lock());
  w.unlock();
}

TEST_F(LockSharingTest, SemaphoreLocksInOneSessionTakeOneSlotAtATime) {
  auto client = Connect(Options());
  auto session = NewSession(*client, absl::Seconds(60));
  AcquireOptions pool;
  pool.semaphore_size = 2;
  Lock p1(*session, "pool", pool);
  Lock p2(*session, "pool", pool);
  ASSERT_TRUE(p1.try_lock());
  // The server counts one slot per session: p2 cannot have one of its own.
  EXPECT_FALSE(p2.try_lock());
  p1.unlock();
  ASSERT_TRUE(p2.try_lock());
  p2.unlock();
}

TEST_F(LockSharingTest, AlreadyHeldByTheSessionOutsideAnyLockIsAnError) {
  auto client = Connect(Options());
  auto session = NewSession(*client, absl::Seconds(60));
  auto raw = session->Acquire("raw", {absl::ZeroDuration()});
  ASSERT_TRUE(raw.ok() && raw->has_value()) << raw.status();
  Lock lock(*session, "raw");
  // The server answers already_held=true: never a second ownership.
  EXPECT_THAT(lock.Acquire(absl::ZeroDuration()),
              StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_FALSE(lock.owns_lock());
  ASSERT_OK(session->Release(**raw));
  EXPECT_OK(lock.Acquire(absl::ZeroDuration()));
}

}  // namespace
}  // namespace taala
