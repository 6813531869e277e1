// Review of issue 11 (rev-admin): what the C++ client library's holder sees
// of an operator's force-release and revoke, against a real taalad. A
// force-released Lock stops owning (both Locks sharing one SHARED grant);
// the session's next Lock on the key gets a new grant, which the revoked
// Locks' unlock() does not release; a revoked session is lost.

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "client/lock_client.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "taala/v1/admin_service.grpc.pb.h"
#include "taala/v1/lock_service.grpc.pb.h"
#include "tests/client/client_fixture.h"
#include "tests/integration/rpc_helpers.h"

namespace taala {
namespace {

using ::testing::HasSubstr;

class ReviewAdminClientTest : public test::ClientFixture {
 protected:
  std::unique_ptr<v1::AdminService::Stub> Admin() {
    return v1::AdminService::NewStub(grpc::CreateChannel(
        daemon_->address(), grpc::InsecureChannelCredentials()));
  }
  v1::DescribeLockResponse Describe(const std::string& key) {
    auto stub = v1::LockService::NewStub(grpc::CreateChannel(
        daemon_->address(), grpc::InsecureChannelCredentials()));
    v1::DescribeLockResponse resp;
    grpc::Status s = test::Describe(stub.get(), key, &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return resp;
  }
};

TEST_F(ReviewAdminClientTest, ForceReleasedLocksStopOwningAndANewLockIsKept) {
  auto client = Connect(Options());
  absl::Notification revoked;
  absl::Mutex mu;
  std::string reason;
  SessionOptions options;
  options.on_revoked = [&](const std::string& key, uint64_t,
                           const std::string& why) {
    if (key != "shared/k") return;
    {
      absl::MutexLock lock(&mu);
      reason = why;
    }
    if (!revoked.HasBeenNotified()) revoked.Notify();
  };
  auto session = NewSession(*client, absl::Seconds(60), options);
  AcquireOptions shared;
  shared.shared = true;
  Lock r1(*session, "shared/k", shared);
  Lock r2(*session, "shared/k", shared);
  ASSERT_TRUE(r1.try_lock());
  ASSERT_TRUE(r2.try_lock());  // Joins r1's grant.
  const uint64_t old_token = r1.fencing_token();
  ASSERT_EQ(r2.fencing_token(), old_token);

  {
    auto admin = Admin();
    grpc::ClientContext ctx;
    ctx.set_deadline(test::DeadlineIn(std::chrono::seconds(20)));
    v1::ForceReleaseRequest req;
    req.set_key("shared/k");
    req.set_reason("reader stuck");
    req.set_skip_lock_delay(true);
    v1::ForceReleaseResponse resp;
    grpc::Status s = admin->ForceRelease(&ctx, req, &resp);
    ASSERT_TRUE(s.ok()) << s.error_message();
  }
  ASSERT_TRUE(revoked.WaitForNotificationWithTimeout(absl::Seconds(30)));
  {
    absl::MutexLock lock(&mu);
    EXPECT_THAT(reason, HasSubstr("reader stuck"));
  }
  EXPECT_FALSE(r1.owns_lock());
  EXPECT_FALSE(r2.owns_lock());

  // The key is free for the session's other Locks at once: a new grant.
  Lock w(*session, "shared/k");
  ASSERT_TRUE(w.try_lock());
  EXPECT_GT(w.fencing_token(), old_token);
  // The revoked Locks leave without releasing the new grant.
  r1.unlock();
  r2.unlock();
  EXPECT_TRUE(w.owns_lock());
  v1::DescribeLockResponse d = Describe("shared/k");
  ASSERT_EQ(d.holders_size(), 1);
  EXPECT_EQ(d.holders(0).grant().fencing_token(), w.fencing_token());
  w.unlock();
  EXPECT_TRUE(w.last_unlock_status().ok()) << w.last_unlock_status();
}

TEST_F(ReviewAdminClientTest, ARevokedSessionIsLostAndItsLocksStopOwning) {
  auto client = Connect(Options());
  absl::Notification lost;
  SessionOptions options;
  options.on_lost = [&](const absl::Status&) { lost.Notify(); };
  auto session = NewSession(*client, absl::Seconds(60), options);
  Lock lock(*session, "revoked/k");
  ASSERT_TRUE(lock.try_lock());
  {
    auto admin = Admin();
    grpc::ClientContext ctx;
    ctx.set_deadline(test::DeadlineIn(std::chrono::seconds(20)));
    v1::RevokeSessionRequest req;
    req.set_session_id(session->id());
    req.set_reason("host decommissioned");
    v1::RevokeSessionResponse resp;
    grpc::Status s = admin->RevokeSession(&ctx, req, &resp);
    ASSERT_TRUE(s.ok()) << s.error_message();
  }
  ASSERT_TRUE(lost.WaitForNotificationWithTimeout(absl::Seconds(30)));
  EXPECT_TRUE(session->lost());
  EXPECT_FALSE(lock.owns_lock());
  lock.unlock();  // Never throws.
  EXPECT_EQ(Describe("revoked/k").holders_size(), 0);
}

}  // namespace
}  // namespace taala
