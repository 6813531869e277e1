// Shared by the AdminService end-to-end tests (admin_e2e_test.cc,
// review_force_release_test.cc): a fixture that starts, stops, kills and
// restarts taalad, and calls LockService and AdminService.

#ifndef TAALA_TESTS_INTEGRATION_ADMIN_FIXTURE_H_
#define TAALA_TESTS_INTEGRATION_ADMIN_FIXTURE_H_

#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>

#include <stdlib.h>

#include <chrono>
#include <filesystem>
#include <iostream>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "taala/v1/admin_service.grpc.pb.h"
#include "taala/v1/lock_service.grpc.pb.h"
#include "tests/integration/rpc_helpers.h"
#include "tests/integration/taalad_process.h"

namespace taala::admin_test {

using test::DeadlineIn;
using v1::AdminService;
using v1::LockService;
using Stream = grpc::ClientReaderWriter<v1::KeepAliveRequest,
                                        v1::KeepAliveResponse>;

constexpr auto kCallTime = std::chrono::seconds(60);

class AdminFixture : public ::testing::Test {
 protected:
  void StartDaemon(std::vector<std::string> args, std::string data_dir = "",
                   int port = 0) {
    args_ = args;
    auto started =
        port == 0
            ? test::TaaladProcess::Start(std::move(args), std::move(data_dir))
            : test::TaaladProcess::StartOnPort(port, std::move(args),
                                               std::move(data_dir));
    ASSERT_TRUE(started.ok()) << started.status();
    daemon_ = std::move(*started);
    stub_ = test::RestartableStub(daemon_->address());
    admin_ = AdminService::NewStub(grpc::CreateChannel(
        daemon_->address(), grpc::InsecureChannelCredentials()));
  }
  // Stops (or kills) the daemon; StartAgain starts it on its port and data
  // directory.
  void StopDaemon(bool kill) {
    port_ = daemon_->port();
    dir_ = daemon_->data_dir();
    if (kill) {
      daemon_->Kill();
    } else {
      ASSERT_EQ(daemon_->Stop(), 0);
    }
    logs_ += daemon_->Log();
    daemon_.reset();
  }
  void StartAgain() { StartDaemon(args_, dir_, port_); }
  void TearDown() override {
    if (HasFailure()) {
      std::cerr << "---- taalad log ----\n"
                << logs_ << (daemon_ != nullptr ? daemon_->Log() : "");
    }
    daemon_.reset();
    if (!own_dir_.empty()) std::filesystem::remove_all(own_dir_);
  }
  // A data directory of the test's own (a daemon's temporary one goes with
  // it), for tests that restart.
  std::string OwnDataDir() {
    own_dir_ = "/tmp/taala_admin_test_XXXXXX";
    EXPECT_NE(mkdtemp(own_dir_.data()), nullptr);
    return own_dir_ + "/data";
  }

  uint64_t NewSession(const std::string& name = "test") {
    uint64_t id = 0;
    grpc::Status s = test::CreateSession(stub_.get(), 600000, &id, name);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return id;
  }
  // Acquires a free key; returns the token.
  uint64_t MustAcquire(uint64_t session, const std::string& key,
                       int64_t lock_delay_ms = 0) {
    grpc::ClientContext ctx;
    ctx.set_deadline(DeadlineIn(kCallTime));
    v1::AcquireRequest req;
    req.set_session_id(session);
    req.set_key(key);
    if (lock_delay_ms > 0) req.set_lock_delay_ms(lock_delay_ms);
    v1::AcquireResponse resp;
    grpc::Status s = stub_->Acquire(&ctx, req, &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();
    EXPECT_EQ(resp.result(), v1::AcquireResponse::ACQUIRED) << key;
    return resp.grant().fencing_token();
  }
  v1::DescribeLockResponse Describe(const std::string& key) {
    v1::DescribeLockResponse resp;
    grpc::Status s = test::Describe(stub_.get(), key, &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return resp;
  }
  // Waits until `key` has `n` waiters (a wait started on another thread is
  // queued before the test goes on).
  void AwaitWaiters(const std::string& key, uint32_t n) {
    while (Describe(key).waiter_count() != n) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }

  grpc::Status ForceRelease(const v1::ForceReleaseRequest& req,
                            v1::ForceReleaseResponse* resp = nullptr) {
    grpc::ClientContext ctx;
    ctx.set_deadline(DeadlineIn(kCallTime));
    ctx.set_wait_for_ready(true);
    v1::ForceReleaseResponse ignored;
    return admin_->ForceRelease(&ctx, req, resp != nullptr ? resp : &ignored);
  }
  grpc::Status ForceRelease(const std::string& key, const std::string& reason,
                            bool skip_lock_delay = false,
                            v1::ForceReleaseResponse* resp = nullptr) {
    v1::ForceReleaseRequest req;
    req.set_key(key);
    req.set_reason(reason);
    req.set_skip_lock_delay(skip_lock_delay);
    req.set_requested_by("alice@ops");
    v1::ForceReleaseResponse ignored;
    return ForceRelease(req, resp != nullptr ? resp : &ignored);
  }
  grpc::Status Revoke(uint64_t session, const std::string& reason,
                      v1::RevokeSessionResponse* resp = nullptr,
                      bool skip_lock_delay = false) {
    grpc::ClientContext ctx;
    ctx.set_deadline(DeadlineIn(kCallTime));
    ctx.set_wait_for_ready(true);
    v1::RevokeSessionRequest req;
    req.set_session_id(session);
    req.set_reason(reason);
    req.set_skip_lock_delay(skip_lock_delay);
    req.set_requested_by("bob@ops");
    v1::RevokeSessionResponse ignored;
    return admin_->RevokeSession(&ctx, req,
                                 resp != nullptr ? resp : &ignored);
  }

  // Opens `session`'s KeepAlive stream and waits for its first ack, so the
  // stream receives the session's events from now on.
  std::unique_ptr<Stream> OpenStream(grpc::ClientContext* ctx,
                                     uint64_t session) {
    ctx->set_deadline(DeadlineIn(kCallTime));
    std::unique_ptr<Stream> stream = stub_->KeepAlive(ctx);
    v1::KeepAliveRequest ka;
    ka.set_session_id(session);
    ka.set_request_sequence(1);
    EXPECT_TRUE(stream->Write(ka));
    v1::KeepAliveResponse msg;
    EXPECT_TRUE(stream->Read(&msg));
    return stream;
  }
  static v1::SessionEvent NextEvent(Stream& stream) {
    v1::KeepAliveResponse msg;
    while (stream.Read(&msg)) {
      if (msg.has_event()) return msg.event();
    }
    ADD_FAILURE() << "stream ended before an event";
    return {};
  }

  // The daemon's data directory as `taalad --dump_wal` prints it.
  std::string DumpWal() {
    auto run = test::RunTaaladToExit({"--dump_wal=" + dir_}, 30000);
    EXPECT_TRUE(run.ok()) << run.status();
    if (!run.ok()) return "";
    EXPECT_EQ(run->exit_code, 0) << run->output;
    return run->output;
  }

  // Sends `bytes` as the request of AdminService's `method`.
  grpc::Status RawAdminCall(const std::string& method,
                            const std::string& bytes) {
    auto channel = grpc::CreateChannel(daemon_->address(),
                                       grpc::InsecureChannelCredentials());
    grpc::GenericStub generic(channel);
    grpc::ClientContext ctx;
    ctx.set_deadline(DeadlineIn(std::chrono::seconds(10)));
    grpc::Slice slice(bytes);
    grpc::ByteBuffer request(&slice, 1);
    grpc::ByteBuffer response;
    grpc::Status status;
    absl::Notification done;
    generic.UnaryCall(&ctx, "/taala.v1.AdminService/" + method,
                      grpc::StubOptions(), &request, &response,
                      [&](grpc::Status s) {
                        status = std::move(s);
                        done.Notify();
                      });
    EXPECT_TRUE(done.WaitForNotificationWithTimeout(absl::Seconds(20)));
    return status;
  }


  std::vector<std::string> args_;
  std::string own_dir_;
  std::string dir_;
  int port_ = 0;
  std::string logs_;
  std::unique_ptr<test::TaaladProcess> daemon_;
  std::unique_ptr<LockService::Stub> stub_;
  std::unique_ptr<AdminService::Stub> admin_;
};

}  // namespace taala::admin_test

#endif  // TAALA_TESTS_INTEGRATION_ADMIN_FIXTURE_H_
