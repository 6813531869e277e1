// AdminService against the real taalad (issue 11): ForceRelease hands a key
// to the next waiter with a higher token and tells the old holder
// (GRANT_REVOKED with the reason); RevokeSession ends a session
// (SESSION_EXPIRED with the reason) and frees its keys; lock-delay applies
// unless skipped; both survive a clean restart and a kill -9 in fsync mode,
// and the log keeps the audit record (--dump_wal); bad input is refused with
// the field named.

#include <grpcpp/grpcpp.h>

#include <stdlib.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "taala/v1/admin_service.grpc.pb.h"
#include "taala/v1/lock_service.grpc.pb.h"
#include "tests/integration/rpc_helpers.h"
#include "tests/integration/taalad_process.h"
#include "tests/integration/admin_fixture.h"

namespace taala::admin_test {
namespace {

using ::testing::HasSubstr;

class AdminE2eTest : public AdminFixture {};

// A wait for a key on its own thread and connection.
class Waiter {
 public:
  Waiter(const std::string& address, uint64_t session, const std::string& key,
         int64_t wait_ms = 50000)
      : stub_(test::RestartableStub(address, /*channel_id=*/7)) {
    thread_ = std::thread([this, session, key, wait_ms] {
      status_ = test::Acquire(stub_.get(), session, key, wait_ms, &resp_);
    });
  }
  ~Waiter() {
    if (thread_.joinable()) thread_.join();
  }
  // Waits for the answer.
  const v1::AcquireResponse& Result() {
    thread_.join();
    EXPECT_TRUE(status_.ok()) << status_.error_message();
    return resp_;
  }
  grpc::Status Status() {
    thread_.join();
    return status_;
  }

 private:
  std::unique_ptr<LockService::Stub> stub_;
  std::thread thread_;
  grpc::Status status_;
  v1::AcquireResponse resp_;
};

TEST_F(AdminE2eTest,
       ForceReleaseHandsTheKeyToTheNextWaiterAndTellsTheHolderWhy) {
  StartDaemon({});
  const uint64_t a = NewSession("stuck-worker");
  const uint64_t b = NewSession("next");
  grpc::ClientContext stream_ctx;
  auto stream = OpenStream(&stream_ctx, a);
  const uint64_t old_token = MustAcquire(a, "jobs/42");
  Waiter waiter(daemon_->address(), b, "jobs/42");
  AwaitWaiters("jobs/42", 1);

  v1::ForceReleaseResponse resp;
  grpc::Status s = ForceRelease("jobs/42", "worker hung on NFS", false, &resp);
  ASSERT_TRUE(s.ok()) << s.error_message();
  ASSERT_EQ(resp.released_size(), 1);
  EXPECT_EQ(resp.released(0).session_id(), a);
  EXPECT_EQ(resp.released(0).fencing_token(), old_token);
  EXPECT_EQ(resp.released(0).key(), "jobs/42");

  const v1::AcquireResponse& granted = waiter.Result();
  ASSERT_EQ(granted.result(), v1::AcquireResponse::ACQUIRED);
  EXPECT_GT(granted.grant().fencing_token(), old_token);

  v1::SessionEvent e = NextEvent(*stream);
  EXPECT_EQ(e.type(), v1::SessionEvent::GRANT_REVOKED);
  EXPECT_EQ(e.key(), "jobs/42");
  EXPECT_EQ(e.fencing_token(), old_token);
  EXPECT_THAT(e.reason(), HasSubstr("force-released by "));
  EXPECT_THAT(e.reason(), HasSubstr("requested_by alice@ops"));
  EXPECT_THAT(e.reason(), HasSubstr("worker hung on NFS"));
  stream_ctx.TryCancel();
  stream->Finish().IgnoreError();

  // The old holder's token is dead; its session lives on.
  s = test::Release(stub_.get(), a, "jobs/42", old_token);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_TRUE(test::KeepAliveOnce(stub_.get(), a).ok());
  // The audit line (audit_log.h escapes the action's quotes).
  EXPECT_THAT(daemon_->Log(),
              HasSubstr("force-release of key \\\"jobs/42\\\""));
}

TEST_F(AdminE2eTest, ForceReleaseStartsTheLockDelayUnlessSkipped) {
  StartDaemon({});
  const uint64_t a = NewSession();
  const uint64_t b = NewSession();
  // Without skip: the waiter is not granted during the grant's lock-delay.
  MustAcquire(a, "delayed", /*lock_delay_ms=*/600000);
  {
    Waiter waiter(daemon_->address(), b, "delayed", /*wait_ms=*/1000);
    AwaitWaiters("delayed", 1);
    ASSERT_TRUE(ForceRelease("delayed", "testing the delay").ok());
    v1::DescribeLockResponse d = Describe("delayed");
    EXPECT_EQ(d.holders_size(), 0);
    EXPECT_GT(d.lock_delay_remaining_ms(), 0);
    EXPECT_EQ(waiter.Result().result(), v1::AcquireResponse::TIMED_OUT);
  }
  // With skip: granted at once, though the grant asked for a lock-delay.
  const uint64_t old_token = MustAcquire(a, "skipped", 600000);
  Waiter waiter(daemon_->address(), b, "skipped");
  AwaitWaiters("skipped", 1);
  ASSERT_TRUE(ForceRelease("skipped", "hand it over now", true).ok());
  const v1::AcquireResponse& granted = waiter.Result();
  ASSERT_EQ(granted.result(), v1::AcquireResponse::ACQUIRED);
  EXPECT_GT(granted.grant().fencing_token(), old_token);
  EXPECT_EQ(Describe("skipped").lock_delay_remaining_ms(), 0);
}

TEST_F(AdminE2eTest, RevokeSessionEndsItAndFreesAllItsKeys) {
  StartDaemon({});
  const uint64_t a = NewSession("runaway");
  const uint64_t b = NewSession();
  const uint64_t c = NewSession();
  grpc::ClientContext stream_ctx;
  auto stream = OpenStream(&stream_ctx, a);
  MustAcquire(a, "r/x");
  MustAcquire(a, "r/y");
  MustAcquire(c, "r/z");
  Waiter a_waits(daemon_->address(), a, "r/z");
  AwaitWaiters("r/z", 1);
  Waiter b_waits(daemon_->address(), b, "r/x");
  AwaitWaiters("r/x", 1);

  v1::RevokeSessionResponse resp;
  grpc::Status s = Revoke(a, "runaway batch job", &resp);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(resp.released_size(), 2);
  EXPECT_EQ(resp.cancelled_waits(), 1u);

  v1::SessionEvent e = NextEvent(*stream);
  EXPECT_EQ(e.type(), v1::SessionEvent::SESSION_EXPIRED);
  EXPECT_THAT(e.reason(), HasSubstr("revoked by "));
  EXPECT_THAT(e.reason(), HasSubstr("requested_by bob@ops"));
  EXPECT_THAT(e.reason(), HasSubstr("runaway batch job"));
  v1::KeepAliveResponse rest;
  while (stream->Read(&rest)) {
  }
  EXPECT_EQ(stream->Finish().error_code(), grpc::StatusCode::NOT_FOUND);

  EXPECT_EQ(a_waits.Status().error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(test::KeepAliveOnce(stub_.get(), a).error_code(),
            grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(b_waits.Result().result(), v1::AcquireResponse::ACQUIRED);
  MustAcquire(c, "r/y");
  // Already ended: NOT_FOUND.
  EXPECT_EQ(Revoke(a, "again").error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_THAT(daemon_->Log(), HasSubstr("session " + std::to_string(a) +
                                        " revoked by "));
}

TEST_F(AdminE2eTest, BadRequestsGetTheNamedErrors) {
  StartDaemon({});
  const uint64_t a = NewSession();
  const uint64_t token = MustAcquire(a, "held");
  auto expect = [](const grpc::Status& s, grpc::StatusCode code,
                   const std::string& text) {
    EXPECT_EQ(s.error_code(), code) << s.error_message();
    EXPECT_THAT(s.error_message(), HasSubstr(text));
  };
  expect(ForceRelease("held", ""), grpc::StatusCode::INVALID_ARGUMENT,
         "reason");
  expect(ForceRelease("held", std::string(1025, 'r')),
         grpc::StatusCode::INVALID_ARGUMENT, "reason");
  expect(ForceRelease("held", "line\nbreak"),
         grpc::StatusCode::INVALID_ARGUMENT, "reason: control characters");
  expect(ForceRelease("a//b", "why"), grpc::StatusCode::INVALID_ARGUMENT,
         "empty path segment");
  expect(ForceRelease("", "why"), grpc::StatusCode::INVALID_ARGUMENT, "key");
  expect(ForceRelease("free", "why"), grpc::StatusCode::NOT_FOUND,
         "not held");
  v1::ForceReleaseRequest req;
  req.set_key("held");
  req.set_reason("why");
  req.set_fencing_token(token + 1000);
  v1::ForceReleaseResponse resp;
  expect(ForceRelease(req, &resp), grpc::StatusCode::FAILED_PRECONDITION,
         "fencing token");
  req.set_fencing_token(0);
  req.set_session_id(a + 1000);
  expect(ForceRelease(req, &resp), grpc::StatusCode::NOT_FOUND,
         "not held by session");
  req.set_session_id(a);
  req.set_requested_by("evil\x1b[31m");
  expect(ForceRelease(req, &resp), grpc::StatusCode::INVALID_ARGUMENT,
         "requested_by");
  expect(Revoke(a + 1000, "why"), grpc::StatusCode::NOT_FOUND, "session");
  expect(Revoke(0, "why"), grpc::StatusCode::INVALID_ARGUMENT, "session_id");
  expect(Revoke(a, ""), grpc::StatusCode::INVALID_ARGUMENT, "reason");
  // Nothing was taken: the holder still holds with its token.
  v1::DescribeLockResponse d = Describe("held");
  ASSERT_EQ(d.holders_size(), 1);
  EXPECT_EQ(d.holders(0).grant().fencing_token(), token);
}

// Both actions survive a restart: after it the old holder does not hold, the
// waiter's grant stands, the revoked session is gone, and the log shows the
// audit records.
class AdminRestartTest : public AdminE2eTest,
                         public ::testing::WithParamInterface<bool> {};

TEST_P(AdminRestartTest, ForceReleaseAndRevokeSurviveARestart) {
  const bool kill = GetParam();
  StartDaemon(kill ? std::vector<std::string>{"--durability=fsync",
                                              "--restart_grace=30s"}
                   : std::vector<std::string>{},
              OwnDataDir());
  const uint64_t a = NewSession("old-holder");
  const uint64_t b = NewSession("waiter");
  const uint64_t c = NewSession("revoked");
  const uint64_t old_token = MustAcquire(a, "k/forced", 600000);
  MustAcquire(c, "k/c1");
  MustAcquire(c, "k/c2", 600000);
  uint64_t new_token = 0;
  {
    Waiter waiter(daemon_->address(), b, "k/forced");
    AwaitWaiters("k/forced", 1);
    ASSERT_TRUE(ForceRelease("k/forced", "stuck since 3am", true).ok());
    new_token = waiter.Result().grant().fencing_token();
    ASSERT_GT(new_token, old_token);
  }
  ASSERT_TRUE(Revoke(c, "host decommissioned").ok());

  StopDaemon(kill);
  if (kill) {
    // The log as the crash left it keeps the audit records (a clean stop
    // compacts them into its snapshot, which keeps only the state).
    auto run = test::RunTaaladToExit({"--dump_wal=" + dir_}, 30000);
    ASSERT_TRUE(run.ok()) << run.status();
    ASSERT_EQ(run->exit_code, 0) << run->output;
    bool forced = false;
    bool revoked = false;
    std::istringstream lines(run->output);
    for (std::string line; std::getline(lines, line);) {
      if (line.find("GRANT_ENDED") != std::string::npos &&
          line.find("key=\"k/forced\"") != std::string::npos &&
          line.find(absl::StrCat("token=", old_token, " ")) !=
              std::string::npos &&
          line.find("reason=force_released") != std::string::npos &&
          line.find("reason_text=\"stuck since 3am\"") != std::string::npos &&
          line.find("(requested_by alice@ops)") != std::string::npos) {
        forced = true;
      }
      if (line.find("SESSION_ENDED") != std::string::npos &&
          line.find(absl::StrCat("session=", c, " ")) != std::string::npos &&
          line.find("reason=session_revoked") != std::string::npos &&
          line.find("reason_text=\"host decommissioned\"") !=
              std::string::npos &&
          line.find("(requested_by bob@ops)") != std::string::npos) {
        revoked = true;
      }
    }
    EXPECT_TRUE(forced) << run->output;
    EXPECT_TRUE(revoked) << run->output;
  }
  StartAgain();

  v1::DescribeLockResponse d = Describe("k/forced");
  ASSERT_EQ(d.holders_size(), 1);
  EXPECT_EQ(d.holders(0).grant().session_id(), b);
  EXPECT_EQ(d.holders(0).grant().fencing_token(), new_token);
  EXPECT_EQ(d.lock_delay_remaining_ms(), 0);  // Skipped.
  EXPECT_EQ(test::KeepAliveOnce(stub_.get(), c).error_code(),
            grpc::StatusCode::NOT_FOUND);
  EXPECT_TRUE(test::KeepAliveOnce(stub_.get(), a).ok());
  EXPECT_EQ(Describe("k/c1").holders_size(), 0);
  EXPECT_EQ(Describe("k/c2").holders_size(), 0);
  EXPECT_GT(Describe("k/c2").lock_delay_remaining_ms(), 0);  // Not skipped.
}

INSTANTIATE_TEST_SUITE_P(CleanStopAndKill, AdminRestartTest,
                         ::testing::Values(false, true),
                         [](const ::testing::TestParamInfo<bool>& info) {
                           return info.param ? std::string("KillInFsyncMode")
                                             : std::string("CleanStop");
                         });

}  // namespace
}  // namespace taala::admin_test
