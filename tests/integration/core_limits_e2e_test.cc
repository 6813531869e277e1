// The lock table's limits through a real taalad (issue 12): small
// --max_waiters_per_key, --max_held_per_session and --max_keys; each
// refused call is RESOURCE_EXHAUSTED naming its flag, and another client's
// traffic on other keys goes on. Session ids are random.

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "taala/v1/lock_service.grpc.pb.h"
#include "tests/integration/rpc_helpers.h"
#include "tests/integration/taalad_process.h"

namespace taala {
namespace {

using ::testing::HasSubstr;
using v1::AcquireResponse;

constexpr auto kPatience = std::chrono::seconds(20);
constexpr int64_t kTtlMs = 60000;  // Kept alive by the test's length.

// An Acquire in flight on the callback API.
struct AsyncAcquire {
  grpc::ClientContext ctx;
  v1::AcquireRequest req;
  AcquireResponse resp;
  absl::Notification done;
  grpc::Status status;

  void Start(v1::LockService::Stub* stub, uint64_t session,
             const std::string& key) {
    req.set_session_id(session);
    req.set_key(key);
    req.set_wait_timeout_ms(-1);
    ctx.set_deadline(test::DeadlineIn(std::chrono::seconds(50)));
    stub->async()->Acquire(&ctx, &req, &resp, [this](grpc::Status s) {
      status = std::move(s);
      done.Notify();
    });
  }
  bool Wait() {
    return done.WaitForNotificationWithTimeout(absl::FromChrono(kPatience));
  }
};

class CoreLimitsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto daemon = test::TaaladProcess::Start(
        {"--max_waiters_per_key=2", "--max_held_per_session=3",
         "--max_keys=8"});
    ASSERT_TRUE(daemon.ok()) << daemon.status();
    daemon_ = std::move(*daemon);
    stub_ = test::RestartableStub(daemon_->address(), 0);
    other_ = test::RestartableStub(daemon_->address(), 1);
  }

  uint64_t Session(v1::LockService::Stub* stub) {
    uint64_t id = 0;
    grpc::Status s = test::CreateSession(stub, kTtlMs, &id);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return id;
  }
  grpc::Status TryAcquire(v1::LockService::Stub* stub, uint64_t session,
                          const std::string& key, AcquireResponse* resp) {
    return test::Acquire(stub, session, key, 0, resp);
  }
  uint64_t MustHold(v1::LockService::Stub* stub, uint64_t session,
                    const std::string& key) {
    AcquireResponse resp;
    grpc::Status s = TryAcquire(stub, session, key, &resp);
    EXPECT_TRUE(s.ok()) << key << ": " << s.error_message();
    EXPECT_EQ(resp.result(), AcquireResponse::ACQUIRED) << key;
    return resp.grant().fencing_token();
  }
  uint32_t Waiters(const std::string& key) {
    grpc::ClientContext ctx;
    ctx.set_deadline(test::DeadlineIn(std::chrono::seconds(10)));
    v1::DescribeLockRequest req;
    req.set_key(key);
    v1::DescribeLockResponse resp;
    grpc::Status s = stub_->DescribeLock(&ctx, req, &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return resp.waiter_count();
  }
  // Polls DescribeLock until `key` has `n` waiters (an event, bounded).
  bool AwaitWaiters(const std::string& key, uint32_t n) {
    const auto give_up = std::chrono::steady_clock::now() + kPatience;
    while (std::chrono::steady_clock::now() < give_up) {
      if (Waiters(key) == n) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    return false;
  }
  // Another client on other keys: a full acquire/release pair.
  void OtherClientPair(uint64_t session, const std::string& key) {
    const uint64_t token = MustHold(other_.get(), session, key);
    grpc::Status s = test::Release(other_.get(), session, key, token);
    EXPECT_TRUE(s.ok()) << s.error_message();
  }

  std::unique_ptr<test::TaaladProcess> daemon_;
  std::unique_ptr<v1::LockService::Stub> stub_;
  std::unique_ptr<v1::LockService::Stub> other_;
};

TEST_F(CoreLimitsTest, EachLimitIsNamedAndOtherTrafficGoesOn) {
  const uint64_t other = Session(other_.get());
  const uint64_t holder = Session(stub_.get());
  const uint64_t w1 = Session(stub_.get());
  const uint64_t w2 = Session(stub_.get());
  const uint64_t w3 = Session(stub_.get());
  EXPECT_NE(w1 + 1, w2);  // Ids are random, not a sequence.

  // --max_waiters_per_key=2: the third waiter of "hot" is refused.
  const uint64_t hot_token = MustHold(stub_.get(), holder, "hot");
  AsyncAcquire a1, a2;
  a1.Start(stub_.get(), w1, "hot");
  ASSERT_TRUE(AwaitWaiters("hot", 1));
  a2.Start(stub_.get(), w2, "hot");
  ASSERT_TRUE(AwaitWaiters("hot", 2));
  {
    AcquireResponse resp;
    grpc::Status s = test::Acquire(stub_.get(), w3, "hot", 30000, &resp);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
    EXPECT_THAT(s.error_message(),
                HasSubstr("limit --max_waiters_per_key=2 reached"));
  }
  OtherClientPair(other, "cool/1");
  EXPECT_EQ(Waiters("hot"), 2u);  // The queue is untouched.

  // --max_held_per_session=3 (the holder has "hot").
  MustHold(stub_.get(), holder, "h1");
  MustHold(stub_.get(), holder, "h2");
  {
    AcquireResponse resp;
    grpc::Status s = TryAcquire(stub_.get(), holder, "h3", &resp);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
    EXPECT_THAT(s.error_message(),
                HasSubstr("limit --max_held_per_session=3 reached"));
  }
  MustHold(stub_.get(), holder, "h1");  // A holder's retry is served.
  OtherClientPair(other, "cool/2");

  // --max_keys=8: hot, h1 and h2 are in use (the other client's keys
  // were freed by its releases); fill the table.
  MustHold(stub_.get(), w3, "k1");
  MustHold(stub_.get(), w3, "k2");
  MustHold(stub_.get(), w3, "k3");
  const uint64_t w4 = Session(stub_.get());
  MustHold(stub_.get(), w4, "k4");
  MustHold(stub_.get(), w4, "k5");
  {
    AcquireResponse resp;
    grpc::Status s = TryAcquire(stub_.get(), w4, "k6", &resp);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
    EXPECT_THAT(s.error_message(), HasSubstr("limit --max_keys=8 reached"));
  }
  // Keys in use are still served to everyone.
  {
    AcquireResponse resp;
    grpc::Status s = TryAcquire(other_.get(), other, "k1", &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();
    EXPECT_EQ(resp.result(), AcquireResponse::TIMED_OUT);
  }

  // The waiters are served as ever once the holder lets go.
  ASSERT_TRUE(test::Release(stub_.get(), holder, "hot", hot_token).ok());
  ASSERT_TRUE(a1.Wait());
  EXPECT_TRUE(a1.status.ok()) << a1.status.error_message();
  EXPECT_EQ(a1.resp.result(), AcquireResponse::ACQUIRED);
  ASSERT_TRUE(
      test::Release(stub_.get(), w1, "hot", a1.resp.grant().fencing_token())
          .ok());
  ASSERT_TRUE(a2.Wait());
  EXPECT_EQ(a2.resp.result(), AcquireResponse::ACQUIRED);
}

TEST_F(CoreLimitsTest, ABadLimitFlagIsRefusedAtStart) {
  auto daemon = test::TaaladProcess::Start({"--max_keys=0"});
  EXPECT_FALSE(daemon.ok());
}

}  // namespace
}  // namespace taala
