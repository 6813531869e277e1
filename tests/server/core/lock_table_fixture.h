// Shared by the lock table's tests (one binary per room): fakes for the
// transport's waiters and event sinks, and the LockTableTest fixture.

#ifndef TAALA_TESTS_SERVER_CORE_LOCK_TABLE_FIXTURE_H_
#define TAALA_TESTS_SERVER_CORE_LOCK_TABLE_FIXTURE_H_

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/core/lock_table.h"
#include "tests/testing/fake_clock.h"

namespace taala {
namespace test {

constexpr absl::Duration kTtl = absl::Seconds(10);

// A waiter that records its outcome. `gone` simulates a caller that left.
class RecordingWaiter final : public Waiter {
 public:
  bool Complete(absl::StatusOr<AcquireResult> result) override {
    EXPECT_FALSE(result_.has_value()) << "completed twice";
    result_ = std::move(result);
    return !gone_;
  }
  bool Gone() const override { return gone_; }

  void set_gone() { gone_ = true; }
  bool done() const { return result_.has_value(); }
  const absl::StatusOr<AcquireResult>& result() const { return *result_; }
  bool granted() const {
    return done() && result_->ok() && (*result_)->acquired;
  }
  uint64_t token() const { return (*result_)->grant.token; }

 private:
  std::optional<absl::StatusOr<AcquireResult>> result_;
  bool gone_ = false;
};

class RecordingSink final : public SessionEventSink {
 public:
  bool Deliver(const SessionEvent& event) override {
    absl::MutexLock lock(&mu_);
    if (broken_) return false;
    events_.push_back(event);
    return true;
  }
  void set_broken() {
    absl::MutexLock lock(&mu_);
    broken_ = true;
  }
  void Close(const absl::Status& status) override {
    absl::MutexLock lock(&mu_);
    closed_ = status;
  }
  std::vector<SessionEvent> events() {
    absl::MutexLock lock(&mu_);
    return events_;
  }
  std::optional<absl::Status> closed() {
    absl::MutexLock lock(&mu_);
    return closed_;
  }

 private:
  absl::Mutex mu_;
  std::vector<SessionEvent> events_ ABSL_GUARDED_BY(mu_);
  std::optional<absl::Status> closed_ ABSL_GUARDED_BY(mu_);
  bool broken_ ABSL_GUARDED_BY(mu_) = false;
};

// A waiter a thread can block on until the table completes it.
class BlockingWaiter final : public Waiter {
 public:
  bool Complete(absl::StatusOr<AcquireResult> r) override {
    absl::MutexLock lock(&mu_);
    result_ = std::move(r);
    return true;
  }
  bool Gone() const override { return false; }
  absl::StatusOr<AcquireResult> Await() {
    absl::MutexLock lock(&mu_);
    mu_.Await(absl::Condition(
        +[](std::optional<absl::StatusOr<AcquireResult>>* r) {
          return r->has_value();
        },
        &result_));
    return *result_;
  }

 private:
  absl::Mutex mu_;
  std::optional<absl::StatusOr<AcquireResult>> result_ ABSL_GUARDED_BY(mu_);
};

class LockTableTest : public ::testing::Test {
 protected:
  LockTableTest() : table_(MakeOptions()) {}

  static LockTable::Options MakeOptions() {
    LockTable::Options options;
    options.shards = 4;
    return options;
  }

  void TearDown() override { table_.CheckInvariantsForTest(); }

  uint64_t NewSession(absl::Duration ttl = kTtl, std::string name = "test") {
    CreateSessionCmd cmd;
    cmd.session_id = table_.NewSessionId();
    cmd.client_name = std::move(name);
    cmd.ttl = ttl;
    cmd.now = clock_.Now();
    absl::StatusOr<SessionInfo> info = table_.CreateSession(cmd);
    EXPECT_TRUE(info.ok()) << info.status();
    return cmd.session_id;
  }

  AcquireCmd Cmd(uint64_t session, std::string key,
                 absl::Duration wait = absl::ZeroDuration(),
                 absl::Duration max_hold = absl::ZeroDuration()) {
    AcquireCmd cmd;
    cmd.session_id = session;
    cmd.key = std::move(key);
    cmd.wait_timeout = wait;
    cmd.max_hold = max_hold;
    cmd.now = clock_.Now();
    return cmd;
  }

  // Acquires and expects an immediate answer.
  absl::StatusOr<AcquireResult> AcquireNow(uint64_t session,
                                           const std::string& key) {
    auto outcome = table_.Acquire(Cmd(session, key), nullptr);
    EXPECT_TRUE(outcome.has_value());
    if (!outcome.has_value()) return absl::InternalError("queued");
    return *outcome;
  }

  uint64_t MustAcquire(uint64_t session, const std::string& key) {
    absl::StatusOr<AcquireResult> r = AcquireNow(session, key);
    EXPECT_TRUE(r.ok() && r->acquired) << r.status();
    return r.ok() ? r->grant.token : 0;
  }

  // Queues a wait; expects it to be queued.
  void Wait(uint64_t session, const std::string& key, RecordingWaiter* w,
            absl::Duration timeout = absl::InfiniteDuration(),
            absl::Duration max_hold = absl::ZeroDuration()) {
    auto outcome = table_.Acquire(Cmd(session, key, timeout, max_hold), w);
    EXPECT_FALSE(outcome.has_value()) << "expected to wait";
  }

  absl::Status Release(uint64_t session, const std::string& key,
                       uint64_t token) {
    return table_.Release(ReleaseCmd{session, key, token, clock_.Now()});
  }

  void Advance(absl::Duration d) {
    clock_.Advance(d);
    table_.RunDueTimers(clock_.Now());
  }

  FakeClock clock_;
  LockTable table_;
};

AcquireCmd WithMode(AcquireCmd cmd, LockMode mode) {
  cmd.mode = mode;
  return cmd;
}

AcquireCmd AsSemaphore(AcquireCmd cmd, uint32_t size) {
  cmd.semaphore_size = size;
  return cmd;
}

}  // namespace test
}  // namespace taala

#endif  // TAALA_TESTS_SERVER_CORE_LOCK_TABLE_FIXTURE_H_
