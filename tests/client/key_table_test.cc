// KeyTable, the per-Session table of keys in use by Locks, step by step
// (no threads, no server).

#include "client/key_table.h"

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace taala {
namespace {

using ::taala::test::StatusIs;

// Owners are only compared; these addresses are never dereferenced.
const Lock* const kA = reinterpret_cast<const Lock*>(0x10);
const Lock* const kB = reinterpret_cast<const Lock*>(0x20);
const Lock* const kC = reinterpret_cast<const Lock*>(0x30);

absl::Time Now() { return absl::Now(); }

TEST(KeyTableTest, AClaimedKeyKeepsOthersOutUntilReleased) {
  KeyTable keys;
  auto a = keys.Enter(kA, "k", false, Now());
  ASSERT_TRUE(a.ok());
  EXPECT_FALSE(a->joined.has_value());
  EXPECT_THAT(keys.Enter(kB, "k", false, Now()).status(),
              StatusIs(absl::StatusCode::kDeadlineExceeded));
  keys.Granted(kA, "k", LockGrant{"k", 1, 7});
  EXPECT_THAT(keys.Enter(kB, "k", false, Now()).status(),
              StatusIs(absl::StatusCode::kDeadlineExceeded));
  EXPECT_EQ(keys.Leave(kA, "k"), KeyTable::Left::kLast);
  keys.Released("k", false);
  EXPECT_TRUE(keys.Enter(kB, "k", false, Now()).ok());
}

TEST(KeyTableTest, SharedOwnersJoinOneGrantAndTheLastReleasesIt) {
  KeyTable keys;
  ASSERT_TRUE(keys.Enter(kA, "k", true, Now()).ok());
  keys.Granted(kA, "k", LockGrant{"k", 1, 7});
  auto b = keys.Enter(kB, "k", true, Now());
  ASSERT_TRUE(b.ok());
  ASSERT_TRUE(b->joined.has_value());
  EXPECT_EQ(b->joined->fencing_token, 7u);
  EXPECT_EQ(keys.Leave(kA, "k"), KeyTable::Left::kShared);
  EXPECT_EQ(keys.Leave(kB, "k"), KeyTable::Left::kLast);
  keys.Released("k", false);
  EXPECT_FALSE(keys.InUse("k"));
}

TEST(KeyTableTest, AnUnknownOutcomeMakesAlreadyHeldExpectedOnce) {
  KeyTable keys;
  ASSERT_TRUE(keys.Enter(kA, "k", false, Now()).ok());
  keys.NotGranted("k", /*outcome_unknown=*/true);
  auto retry = keys.Enter(kA, "k", false, Now());
  ASSERT_TRUE(retry.ok());
  EXPECT_TRUE(retry->may_be_held);
  keys.Granted(kA, "k", LockGrant{"k", 1, 7});
  EXPECT_EQ(keys.Leave(kA, "k"), KeyTable::Left::kLast);
  keys.Released("k", false);
  auto later = keys.Enter(kB, "k", false, Now());
  ASSERT_TRUE(later.ok());
  EXPECT_FALSE(later->may_be_held);
}

TEST(KeyTableTest, RevocationDetachesTheOwnersAndFreesTheKey) {
  KeyTable keys;
  ASSERT_TRUE(keys.Enter(kA, "k", false, Now()).ok());
  keys.Granted(kA, "k", LockGrant{"k", 1, 7});
  keys.Revoked("k", 6);  // Another grant: no effect.
  EXPECT_TRUE(keys.InUse("k"));
  keys.Revoked("k", 7);
  ASSERT_TRUE(keys.Enter(kB, "k", false, Now()).ok());
  keys.Granted(kB, "k", LockGrant{"k", 1, 8});
  EXPECT_EQ(keys.Leave(kA, "k"), KeyTable::Left::kNotOwner);
  EXPECT_EQ(keys.Leave(kB, "k"), KeyTable::Left::kLast);
  keys.Released("k", false);
}

TEST(KeyTableTest, ASharedJoinerDoesNotOvertakeAWaiter) {
  KeyTable keys;
  ASSERT_TRUE(keys.Enter(kA, "k", true, Now()).ok());
  keys.Granted(kA, "k", LockGrant{"k", 1, 7});
  // kB (EXCLUSIVE) waits until it times out; while it waits no one joins.
  // Without threads: the wait is over before kC comes, so kC joins.
  EXPECT_THAT(keys.Enter(kB, "k", false, Now()).status(),
              StatusIs(absl::StatusCode::kDeadlineExceeded));
  auto c = keys.Enter(kC, "k", true, Now());
  ASSERT_TRUE(c.ok());
  EXPECT_TRUE(c->joined.has_value());
}

TEST(KeyTableTest, AfterEndEveryEnterFails) {
  KeyTable keys;
  keys.End(absl::NotFoundError("closed"));
  EXPECT_THAT(keys.Enter(kA, "k", false, absl::InfiniteFuture()).status(),
              StatusIs(absl::StatusCode::kNotFound));
  keys.AwaitIdle();
}

}  // namespace
}  // namespace taala
