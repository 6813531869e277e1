#include "server/core/multi_acquire.h"

#include <atomic>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/core/lock_table.h"
#include "tests/testing/fake_clock.h"
#include "tests/testing/status_matchers.h"

namespace taala {
namespace {

using ::taala::test::FakeClock;
using ::taala::test::StatusIs;
using ::testing::ElementsAre;
using ::testing::Field;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

constexpr absl::Duration kTtl = absl::Seconds(10);

// Records the outcome; fails the test if it comes twice.
class RecordingListener final : public MultiAcquireListener {
 public:
  void OnMultiAcquireDone(absl::StatusOr<MultiAcquireResult> result) override {
    EXPECT_FALSE(result_.has_value()) << "done twice";
    result_ = std::move(result);
  }
  bool done() const { return result_.has_value(); }
  const absl::StatusOr<MultiAcquireResult>& result() const { return *result_; }
  bool acquired() const {
    return done() && result_->ok() && (*result_)->acquired;
  }
  bool timed_out() const {
    return done() && result_->ok() && !(*result_)->acquired;
  }

 private:
  std::optional<absl::StatusOr<MultiAcquireResult>> result_;
};

class MultiAcquireTest : public ::testing::Test {
 protected:
  MultiAcquireTest() : table_(MakeOptions()) {}

  static LockTable::Options MakeOptions() {
    LockTable::Options options;
    options.shards = 4;
    return options;
  }

  void TearDown() override { table_.CheckInvariantsForTest(); }

  uint64_t NewSession() {
    CreateSessionCmd cmd;
    cmd.session_id = table_.NewSessionId();
    cmd.client_name = "test";
    cmd.ttl = kTtl;
    cmd.now = clock_.Now();
    EXPECT_OK(table_.CreateSession(cmd));
    return cmd.session_id;
  }

  // Takes `key` for `session` at once; returns the token.
  uint64_t MustAcquire(uint64_t session, const std::string& key) {
    AcquireCmd cmd;
    cmd.session_id = session;
    cmd.key = key;
    cmd.now = clock_.Now();
    auto outcome = table_.Acquire(cmd, nullptr);
    EXPECT_TRUE(outcome.has_value() && outcome->ok() && (*outcome)->acquired);
    return outcome.has_value() && outcome->ok() ? (*outcome)->grant.token : 0;
  }

  absl::Status Release(uint64_t session, const std::string& key,
                       uint64_t token) {
    return table_.Release(ReleaseCmd{session, key, token, clock_.Now()});
  }

  // Sessions holding `key` now.
  std::vector<uint64_t> Holders(const std::string& key) {
    std::vector<uint64_t> ids;
    absl::StatusOr<LockDescription> d = table_.Describe(key, 10);
    EXPECT_OK(d);
    if (d.ok()) {
      for (const HolderInfo& h : d->holders) ids.push_back(h.grant.session_id);
    }
    return ids;
  }

  size_t Waiters(const std::string& key) {
    absl::StatusOr<LockDescription> d = table_.Describe(key, 10);
    return d.ok() ? d->waiter_count : 0;
  }

  // A MultiAcquire of `keys` (all EXCLUSIVE) waiting at most `wait`.
  std::unique_ptr<MultiAcquire> Make(uint64_t session,
                                     std::vector<std::string> keys,
                                     absl::Duration wait) {
    MultiAcquireCmd cmd;
    cmd.session_id = session;
    for (std::string& key : keys) cmd.keys.push_back({std::move(key)});
    cmd.deadline = clock_.Now() + wait;
    return std::make_unique<MultiAcquire>(&table_, &clock_, std::move(cmd),
                                          &listener_);
  }

  void Advance(absl::Duration d) {
    clock_.Advance(d);
    table_.RunDueTimers(clock_.Now());
  }

  FakeClock clock_;
  LockTable table_;
  RecordingListener listener_;
};

TEST_F(MultiAcquireTest, GrantsFreeKeysAtOnceInRequestOrder) {
  const uint64_t s = NewSession();
  auto multi = Make(s, {"c", "a", "b"}, absl::ZeroDuration());
  multi->Start();
  ASSERT_TRUE(listener_.acquired());
  EXPECT_THAT(listener_.result()->grants,
              ElementsAre(Field(&AcquireResult::grant,
                                Field(&Grant::key, "c")),
                          Field(&AcquireResult::grant,
                                Field(&Grant::key, "a")),
                          Field(&AcquireResult::grant,
                                Field(&Grant::key, "b"))));
  for (const std::string key : {"a", "b", "c"}) {
    EXPECT_THAT(Holders(key), ElementsAre(s)) << key;
  }
}

TEST_F(MultiAcquireTest, AllOrNothing_TryLockGivesBackWhatItTook) {
  const uint64_t s = NewSession();
  const uint64_t other = NewSession();
  MustAcquire(other, "b");
  auto multi = Make(s, {"c", "b", "a"}, absl::ZeroDuration());
  multi->Start();
  ASSERT_TRUE(listener_.timed_out());
  EXPECT_THAT(listener_.result()->grants, IsEmpty());
  EXPECT_THAT(Holders("a"), IsEmpty());  // Taken first, given back.
  EXPECT_THAT(Holders("b"), ElementsAre(other));
  EXPECT_THAT(Holders("c"), IsEmpty());  // Never reached.
}

TEST_F(MultiAcquireTest, RollsBackWhenTheWaitTimesOut) {
  const uint64_t s = NewSession();
  const uint64_t other = NewSession();
  MustAcquire(other, "b");
  auto multi = Make(s, {"a", "b"}, absl::Seconds(5));
  multi->Start();
  EXPECT_FALSE(listener_.done());
  EXPECT_THAT(Holders("a"), ElementsAre(s));  // Held while it waits for b.
  EXPECT_EQ(Waiters("b"), 1u);
  Advance(absl::Seconds(4));
  EXPECT_FALSE(listener_.done());
  Advance(absl::Seconds(1));
  ASSERT_TRUE(listener_.timed_out());
  EXPECT_THAT(Holders("a"), IsEmpty());
  EXPECT_THAT(Holders("b"), ElementsAre(other));
  EXPECT_EQ(Waiters("b"), 0u);
}

TEST_F(MultiAcquireTest, WaitsThenIsGrantedWhenTheHolderReleases) {
  const uint64_t s = NewSession();
  const uint64_t other = NewSession();
  const uint64_t token = MustAcquire(other, "b");
  auto multi = Make(s, {"c", "b", "a"}, absl::InfiniteDuration());
  multi->Start();
  EXPECT_FALSE(listener_.done());
  EXPECT_THAT(Holders("c"), IsEmpty());  // Sorted order: c comes after b.
  ASSERT_OK(Release(other, "b", token));
  ASSERT_TRUE(listener_.acquired());
  EXPECT_THAT(listener_.result()->grants,
              ElementsAre(Field(&AcquireResult::grant, Field(&Grant::key, "c")),
                          Field(&AcquireResult::grant, Field(&Grant::key, "b")),
                          Field(&AcquireResult::grant,
                                Field(&Grant::key, "a"))));
  for (const std::string key : {"a", "b", "c"}) {
    EXPECT_THAT(Holders(key), ElementsAre(s)) << key;
  }
}

TEST_F(MultiAcquireTest, CancelWhileWaitingLeavesTheQueueAndRollsBack) {
  const uint64_t s = NewSession();
  const uint64_t other = NewSession();
  const uint64_t token = MustAcquire(other, "b");
  auto multi = Make(s, {"a", "b"}, absl::InfiniteDuration());
  multi->Start();
  ASSERT_EQ(Waiters("b"), 1u);
  multi->Cancel();
  ASSERT_TRUE(listener_.done());
  EXPECT_THAT(listener_.result(), StatusIs(absl::StatusCode::kCancelled));
  EXPECT_THAT(Holders("a"), IsEmpty());
  EXPECT_EQ(Waiters("b"), 0u);
  // A later release grants nothing to the cancelled call.
  ASSERT_OK(Release(other, "b", token));
  EXPECT_THAT(Holders("b"), IsEmpty());
}

TEST_F(MultiAcquireTest, CancelBeforeStartTakesNothing) {
  const uint64_t s = NewSession();
  auto multi = Make(s, {"a", "b"}, absl::InfiniteDuration());
  multi->Cancel();
  multi->Start();
  ASSERT_TRUE(listener_.done());
  EXPECT_THAT(listener_.result(), StatusIs(absl::StatusCode::kCancelled));
  EXPECT_THAT(Holders("a"), IsEmpty());
  EXPECT_THAT(Holders("b"), IsEmpty());
}

TEST_F(MultiAcquireTest, IdempotentForKeysAlreadyHeld) {
  const uint64_t s = NewSession();
  const uint64_t token = MustAcquire(s, "a");
  auto multi = Make(s, {"a", "c"}, absl::ZeroDuration());
  multi->Start();
  ASSERT_TRUE(listener_.acquired());
  const std::vector<AcquireResult>& grants = listener_.result()->grants;
  ASSERT_EQ(grants.size(), 2u);
  EXPECT_TRUE(grants[0].already_held);
  EXPECT_EQ(grants[0].grant.token, token);
  EXPECT_FALSE(grants[1].already_held);
}

TEST_F(MultiAcquireTest, RollbackKeepsKeysHeldBeforeTheCall) {
  const uint64_t s = NewSession();
  const uint64_t other = NewSession();
  const uint64_t token = MustAcquire(s, "a");
  MustAcquire(other, "b");
  auto multi = Make(s, {"a", "b"}, absl::ZeroDuration());
  multi->Start();
  ASSERT_TRUE(listener_.timed_out());
  EXPECT_THAT(Holders("a"), ElementsAre(s));
  EXPECT_OK(Release(s, "a", token));
}

TEST_F(MultiAcquireTest, RefusesAKeyListedTwice) {
  const uint64_t s = NewSession();
  auto multi = Make(s, {"a", "b", "a"}, absl::ZeroDuration());
  multi->Start();
  ASSERT_TRUE(listener_.done());
  EXPECT_THAT(listener_.result(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("\"a\" is listed twice")));
  EXPECT_THAT(Holders("a"), IsEmpty());
}

// Issue 8 item 7: keys are ordered segment by segment (ancestors first,
// subtrees contiguous), not bytewise: '-' and '.' sort below '/', so bytewise
// "a" < "a-x" < "a/b" splits a's subtree and two callers can close a cycle.
TEST_F(MultiAcquireTest,
       KeysWithBytesBelowSlashAreOrderedBySegmentSoTwoCallersNeverCycle) {
  const uint64_t reader = NewSession();
  const uint64_t s1 = NewSession();
  const uint64_t s2 = NewSession();
  // A reader below "a": an EXCLUSIVE "a/b" must wait, a SHARED "a" need not.
  AcquireCmd read;
  read.session_id = reader;
  read.key = "a/b";
  read.mode = LockMode::kShared;
  read.now = clock_.Now();
  auto r = table_.Acquire(read, nullptr);
  ASSERT_TRUE(r.has_value() && r->ok() && (*r)->acquired);

  // Caller 1 lists {"a-x", "a/b"}; caller 2 {"a" SHARED, "a-x"}.
  RecordingListener first;
  MultiAcquireCmd c1;
  c1.session_id = s1;
  c1.keys = {{"a-x"}, {"a/b"}};
  MultiAcquire m1(&table_, &clock_, std::move(c1), &first);
  m1.Start();
  EXPECT_FALSE(first.done());  // Waits for "a/b" behind the reader.
  // Segment order takes "a/b" before "a-x": caller 1 holds nothing yet.
  EXPECT_THAT(Holders("a-x"), IsEmpty());

  MultiAcquireCmd c2;
  c2.session_id = s2;
  c2.keys = {{"a", LockMode::kShared}, {"a-x"}};
  auto m2 = std::make_unique<MultiAcquire>(&table_, &clock_, std::move(c2),
                                           &listener_);
  m2->Start();
  ASSERT_TRUE(listener_.done());
  EXPECT_OK(listener_.result().status());  // Never ABORTED as a deadlock.
  ASSERT_TRUE(listener_.acquired());
  m1.Cancel();
  ASSERT_TRUE(first.done());
}

// Owns the call and destroys it as soon as it ends, as the AcquireAll
// reactor does (gRPC deletes it after Finish).
class DestroyingListener final : public MultiAcquireListener {
 public:
  void OnMultiAcquireDone(absl::StatusOr<MultiAcquireResult> result) override {
    EXPECT_FALSE(result_.has_value()) << "done twice";
    result_ = std::move(result);
    multi.reset();
  }
  std::unique_ptr<MultiAcquire> multi;
  std::optional<absl::StatusOr<MultiAcquireResult>> result_;
};

// Issue 8 item 10: a step queued from one thread can be granted by another,
// which finishes the call, whose owner then destroys it, before the queuing
// thread has left Run. Run must not touch the call after that (ASan: a
// heap-use-after-free without the fix).
TEST_F(MultiAcquireTest, StepGrantedAndCallDestroyedBeforeItsQueuerReturns) {
  const uint64_t s = NewSession();
  const uint64_t other = NewSession();
  const uint64_t token = MustAcquire(other, "b");
  DestroyingListener owner;
  MultiAcquireCmd cmd;
  cmd.session_id = s;
  cmd.keys = {{"a"}, {"b"}};
  owner.multi = std::make_unique<MultiAcquire>(&table_, &clock_,
                                               std::move(cmd), &owner);
  int hooked = 0;
  owner.multi->SetStepQueuedHookForTest([&] {
    ++hooked;
    // "Another thread": the holder releases, the step is granted, the call
    // ends and its owner may destroy it.
    EXPECT_OK(Release(other, "b", token));
  });
  owner.multi->Start();
  EXPECT_EQ(hooked, 1);
  ASSERT_TRUE(owner.result_.has_value());
  ASSERT_OK(owner.result_->status());
  EXPECT_TRUE((*owner.result_)->acquired);
  EXPECT_EQ(owner.multi, nullptr);
  EXPECT_THAT(Holders("a"), ElementsAre(s));
  EXPECT_THAT(Holders("b"), ElementsAre(s));
}

// Item 10 with real threads: the holder of the key the call waits for
// lets go on another thread while Start is still queuing it.
TEST_F(MultiAcquireTest, StepGrantedOnAnotherThreadDuringStartIsSafe) {
  const uint64_t s = NewSession();
  const uint64_t other = NewSession();
  for (int i = 0; i < 500; ++i) {
    const std::string a = absl::StrCat("a", i), b = absl::StrCat("b", i);
    const uint64_t token = MustAcquire(other, b);
    DestroyingListener owner;
    MultiAcquireCmd cmd;
    cmd.session_id = s;
    cmd.keys = {{a}, {b}};
    owner.multi = std::make_unique<MultiAcquire>(&table_, &clock_,
                                                 std::move(cmd), &owner);
    MultiAcquire* multi = owner.multi.get();
    std::atomic<bool> go{false};
    std::thread releaser([&] {
      while (!go.load()) {
      }
      EXPECT_OK(Release(other, b, token));
    });
    go.store(true);
    multi->Start();  // *multi may be destroyed before this returns.
    releaser.join();
    ASSERT_TRUE(owner.result_.has_value()) << i;
    ASSERT_OK(owner.result_->status());
    ASSERT_TRUE((*owner.result_)->acquired);
    EXPECT_THAT(Holders(b), ElementsAre(s));
  }
}

// Found while testing issue 8 item 7, NOT fixed here (it is the queue rule
// of server/core/shard_acquire.cc and hierarchy.cc, not the call's order):
// a call that takes "a" and then "a/b" queues on "a/b" behind a waiter that
// its own grant of "a" blocks (FIFO across the tree), a cycle it closes by
// itself; it is refused ABORTED. A waiter that cannot be granted before
// this session lets go should not hold it back. Enable once fixed.
TEST_F(MultiAcquireTest,
       DISABLED_AncestorThenDescendantNeverWaitsBehindAWaiterItBlocks) {
  const uint64_t z = NewSession(), y = NewSession(), x = NewSession();
  const uint64_t token = MustAcquire(z, "a");
  auto multi = Make(x, {"a", "a/b"}, absl::InfiniteDuration());
  multi->Start();  // Waits for "a".
  AcquireCmd below;
  below.session_id = y;
  below.key = "a/b";
  below.wait_timeout = absl::InfiniteDuration();
  below.now = clock_.Now();
  class Parked final : public Waiter {
   public:
    bool Complete(absl::StatusOr<AcquireResult>) override { return true; }
    bool Gone() const override { return false; }
  } parked;
  ASSERT_FALSE(table_.Acquire(below, &parked).has_value());
  ASSERT_OK(Release(z, "a", token));  // x gets "a", then asks "a/b".
  ASSERT_TRUE(listener_.done());
  EXPECT_OK(listener_.result().status());
  EXPECT_TRUE(listener_.acquired());
  table_.Shutdown();
}

// Found in review (review1), NOT fixed: a grant whose caller has left is
// taken back unless a retry claimed it (Holder::claimed). An AcquireAll step
// on that key claims it as "already held" and, when a later step fails,
// keeps it in RollBack ("held before this call"). So the AcquireAll answers
// "not acquired", the first call was never answered, the undo is skipped as
// claimed, and the session holds the key without any call having told its
// client: it keeps the key (blocking everyone) for as long as it lives.
// Here the AcquireAll runs while the first call's grant is being delivered
// (a client retrying on another thread or connection). Enable once fixed.
TEST_F(MultiAcquireTest,
       DISABLED_AFailedAcquireAllDoesNotKeepAnUndeliveredGrantItClaimed) {
  const uint64_t s = NewSession(), other = NewSession();
  const uint64_t k_token = MustAcquire(other, "k");
  MustAcquire(other, "l");
  class RetriesAllThenLeaves final : public Waiter {
   public:
    explicit RetriesAllThenLeaves(
        std::function<std::unique_ptr<MultiAcquire>()> make)
        : make_(std::move(make)) {}
    bool Complete(absl::StatusOr<AcquireResult> result) override {
      granted_ = result.ok() && result->acquired;
      // The client, not knowing of the grant, tries to take both keys.
      multi_ = make_();
      multi_->Start();
      return false;  // The first call's caller has gone.
    }
    bool Gone() const override { return false; }
    bool granted_ = false;

   private:
    std::function<std::unique_ptr<MultiAcquire>()> make_;
    std::unique_ptr<MultiAcquire> multi_;
  } first([&] { return Make(s, {"k", "l"}, absl::ZeroDuration()); });
  AcquireCmd cmd;
  cmd.session_id = s;
  cmd.key = "k";
  cmd.wait_timeout = absl::InfiniteDuration();
  cmd.now = clock_.Now();
  ASSERT_FALSE(table_.Acquire(cmd, &first).has_value());
  ASSERT_OK(Release(other, "k", k_token));
  ASSERT_TRUE(first.granted_);
  ASSERT_TRUE(listener_.timed_out());  // "l" is held: nothing acquired.
  // No call told the client that it holds "k": it must not hold it.
  EXPECT_THAT(Holders("k"), IsEmpty());
  table_.Shutdown();
}

TEST_F(MultiAcquireTest, AStepErrorEndsTheCall) {
  auto multi = Make(/*session=*/12345, {"a"}, absl::ZeroDuration());
  multi->Start();
  ASSERT_TRUE(listener_.done());
  EXPECT_THAT(listener_.result(), StatusIs(absl::StatusCode::kNotFound));
}

// AcquireAll's lock policies give each key its own max hold and lock-delay;
// a key without its own takes the command's.
TEST_F(MultiAcquireTest, PerKeyMaxHoldAndLockDelayOverrideTheCommands) {
  const uint64_t s = NewSession();
  MultiAcquireCmd cmd;
  cmd.session_id = s;
  cmd.keys.push_back({"a"});
  cmd.keys.back().max_hold = absl::Seconds(5);
  cmd.keys.back().lock_delay = absl::Seconds(3);
  cmd.keys.push_back({"b"});
  cmd.max_hold = absl::Seconds(8);  // Within the session's TTL (10s).
  cmd.lock_delay = absl::Seconds(1);
  cmd.deadline = clock_.Now();
  const absl::Time start = clock_.Now();
  MultiAcquire multi(&table_, &clock_, std::move(cmd), &listener_);
  multi.Start();
  ASSERT_TRUE(listener_.acquired());
  const std::vector<AcquireResult>& grants = listener_.result()->grants;
  ASSERT_EQ(grants.size(), 2u);
  EXPECT_EQ(grants[0].grant.revoke_at, start + absl::Seconds(5));
  EXPECT_EQ(grants[1].grant.revoke_at, start + absl::Seconds(8));
  Advance(absl::Seconds(5));  // "a" is revoked: its own lock-delay.
  absl::StatusOr<LockDescription> a = table_.Describe("a", 10);
  ASSERT_TRUE(a.ok());
  EXPECT_TRUE(a->holders.empty());
  EXPECT_EQ(a->delayed_until, clock_.Now() + absl::Seconds(3));
  Advance(absl::Seconds(3));  // "b" is revoked: the command's.
  absl::StatusOr<LockDescription> b = table_.Describe("b", 10);
  ASSERT_TRUE(b.ok());
  EXPECT_TRUE(b->holders.empty());
  EXPECT_EQ(b->delayed_until, clock_.Now() + absl::Seconds(1));
}

}  // namespace
}  // namespace taala
