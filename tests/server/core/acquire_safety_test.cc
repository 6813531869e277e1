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
  const absl::StatusOr<AcquireResult>& result() const { return *result_; }

 private:
  std::optional<absl::StatusOr<AcquireResult>> result_;
};

class AcquireSafetyTest : public LockTableTest {
 protected:
  uint64_t MustAcquireShared(uint64_t session, const std::string& key) {
    auto r = table_.Acquire(WithMode(Cmd(session, key), LockMode::kShared),
                            nullptr);
    EXPECT_TRUE(r.has_value() && r->ok() && (*r)->acquired);
    return r.has_value() && r->ok() ? (*r)->grant.token : 0;
  }

  // The holders of `key` as (session, token, mode).
  struct Held {
    uint64_t session;
    uint64_t token;
    LockMode mode;
    bool operator==(const Held& o) const {
      return session == o.session && token == o.token && mode == o.mode;
    }
  };
  std::vector<Held> Holders(const std::string& key) {
    std::vector<Held> out;
    absl::StatusOr<LockDescription> d = table_.Describe(key, 10);
    EXPECT_OK(d);
    if (!d.ok()) return out;
    for (const HolderInfo& h : d->holders) {
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
  auto retry = table_.Acquire(Cmd(r, "doc", absl::InfiniteDuration()), &writing);
  ASSERT_TRUE(retry.has_value()) << "the retry was queued";
  EXPECT_THAT(*retry, StatusIs(absl::StatusCode::kFailedPrecondition,
                               AllOf(HasSubstr("SHARED"), HasSubstr("EXCLUSIVE"),
                                     HasSubstr("\"doc\""),
                                     HasSubstr(absl::StrCat(r)))));
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
  auto shared = [&](RecordingWaiter* waiter) {
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

}  // namespace
}  // namespace taala
