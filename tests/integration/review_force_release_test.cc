// Review of issue 11's AdminService against the real taalad (rev-admin):
// ForceRelease and RevokeSession with AcquireAll in flight, across a kill -9
// in fsync mode and a clean stop in async mode (lock-delay, tokens, the
// holder's pending event), hostile input (raw bytes, invalid UTF-8, C1
// controls, sizes) and what taalad --dump_wal prints of the audit trail.
//
// Tests marked "Guards:" failed on the code they were written against.

#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>

#include <stdlib.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
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
using ::testing::Not;

class ReviewForceReleaseTest : public AdminFixture {};

// Guards: AcquireAll never answers ACQUIRED with a force-released grant.
TEST_F(ReviewForceReleaseTest, AcquireAllNeverReportsAForceReleasedGrant) {
  StartDaemon({});
  const uint64_t s = NewSession("multi");
  const uint64_t other = NewSession("other");
  const uint64_t thief = NewSession("thief");
  const uint64_t tb = MustAcquire(other, "m/b");

  v1::AcquireAllResponse all;
  grpc::Status all_status;
  std::thread call([&] {
    auto stub = test::RestartableStub(daemon_->address(), /*channel_id=*/3);
    grpc::ClientContext ctx;
    ctx.set_deadline(DeadlineIn(kCallTime));
    v1::AcquireAllRequest req;
    req.set_session_id(s);
    req.add_keys()->set_key("m/a");
    req.add_keys()->set_key("m/b");
    req.set_wait_timeout_ms(20000);
    all_status = stub->AcquireAll(&ctx, req, &all);
  });
  AwaitWaiters("m/b", 1);  // Holds m/a, waits for m/b.
  ASSERT_EQ(Describe("m/a").holders_size(), 1);
  ASSERT_TRUE(ForceRelease("m/a", "stuck", /*skip=*/true).ok());
  const uint64_t thief_token = MustAcquire(thief, "m/a");
  ASSERT_TRUE(test::Release(stub_.get(), other, "m/b", tb).ok());
  call.join();
  ASSERT_TRUE(all_status.ok()) << all_status.error_message();

  if (all.result() == v1::AcquireResponse::ACQUIRED) {
    v1::DescribeLockResponse d = Describe("m/a");
    ASSERT_EQ(d.holders_size(), 1);
    for (const v1::Grant& g : all.grants()) {
      if (g.key() != "m/a") continue;
      EXPECT_EQ(g.fencing_token(), d.holders(0).grant().fencing_token())
          << "AcquireAll reported m/a ACQUIRED with token " << g.fencing_token()
          << " but session " << thief << " holds it with token "
          << thief_token;
    }
  }
}

// Guards: a force-released, rolled-back upgrade is revoked by its SHARED token.
TEST_F(ReviewForceReleaseTest,
       AForceReleasedUpgradeRolledBackByAcquireAllIsReportedByTheKnownToken) {
  StartDaemon({});
  const uint64_t s = NewSession("upgrader");
  const uint64_t x = NewSession("blocker");
  grpc::ClientContext stream_ctx;
  stream_ctx.set_deadline(DeadlineIn(kCallTime));
  std::unique_ptr<Stream> stream = stub_->KeepAlive(&stream_ctx);
  {
    v1::KeepAliveRequest ka;
    ka.set_session_id(s);
    ka.set_request_sequence(1);
    ASSERT_TRUE(stream->Write(ka));
    v1::KeepAliveResponse first;
    ASSERT_TRUE(stream->Read(&first));
  }
  uint64_t t1 = 0;
  {
    grpc::ClientContext ctx;
    ctx.set_deadline(DeadlineIn(kCallTime));
    v1::AcquireRequest req;
    req.set_session_id(s);
    req.set_key("u/a");
    req.set_mode(v1::LOCK_MODE_SHARED);
    v1::AcquireResponse resp;
    ASSERT_TRUE(stub_->Acquire(&ctx, req, &resp).ok());
    ASSERT_EQ(resp.result(), v1::AcquireResponse::ACQUIRED);
    t1 = resp.grant().fencing_token();
  }
  MustAcquire(x, "u/b");
  MustAcquire(s, "u/sentinel");

  v1::AcquireAllResponse all;
  grpc::Status all_status;
  std::thread call([&] {
    auto stub = test::RestartableStub(daemon_->address(), /*channel_id=*/4);
    grpc::ClientContext ctx;
    ctx.set_deadline(DeadlineIn(kCallTime));
    v1::AcquireAllRequest req;
    req.set_session_id(s);
    req.add_keys()->set_key("u/a");  // EXCLUSIVE: an upgrade.
    req.add_keys()->set_key("u/b");
    req.set_wait_timeout_ms(4000);  // Times out after the force-release.
    all_status = stub->AcquireAll(&ctx, req, &all);
  });
  AwaitWaiters("u/b", 1);  // u/a upgraded; waits for u/b.
  v1::DescribeLockResponse d = Describe("u/a");
  ASSERT_EQ(d.holders_size(), 1);
  const uint64_t t2 = d.holders(0).grant().fencing_token();
  ASSERT_GT(t2, t1);
  ASSERT_TRUE(ForceRelease("u/a", "stuck writer", /*skip=*/true).ok());
  call.join();
  ASSERT_TRUE(all_status.ok()) << all_status.error_message();
  ASSERT_EQ(all.result(), v1::AcquireResponse::TIMED_OUT);

  // A sentinel event: every event before it has been sent.
  ASSERT_TRUE(ForceRelease("u/sentinel", "sentinel", true).ok());
  std::vector<uint64_t> revoked;
  v1::KeepAliveResponse msg;
  while (stream->Read(&msg)) {
    if (!msg.has_event()) continue;
    if (msg.event().key() == "u/sentinel") break;
    if (msg.event().type() == v1::SessionEvent::GRANT_REVOKED) {
      revoked.push_back(msg.event().fencing_token());
    }
  }
  stream_ctx.TryCancel();
  stream->Finish().IgnoreError();

  d = Describe("u/a");
  const bool still_holds_t1 =
      d.holders_size() == 1 && d.holders(0).grant().session_id() == s &&
      d.holders(0).grant().fencing_token() == t1;
  const bool told_t1 =
      std::find(revoked.begin(), revoked.end(), t1) != revoked.end();
  EXPECT_TRUE(still_holds_t1 || told_t1)
      << "AcquireAll timed out (rolled back: the session believes it holds "
      << "u/a SHARED with token " << t1 << ") but u/a has "
      << d.holders_size() << " holder(s), and GRANT_REVOKED named tokens "
      << ::testing::PrintToString(revoked) << " (t2=" << t2
      << ", never told to the client)";
}

// Guards: --dump_wal escapes client names and reasons (no forged records).
TEST_F(ReviewForceReleaseTest, TheDumpedAuditTrailCannotBeForged) {
  StartDaemon({"--durability=fsync"}, OwnDataDir());
  uint64_t forger = 0;
  ASSERT_TRUE(test::CreateSession(
                  stub_.get(), 600000, &forger,
                  "x\nGRANT_ENDED lsn=1 at=2026-01-01T00:00:00+00:00 "
                  "key=\"payments/1\" session=1 token=1 reason=force_released "
                  "reason_text=\"forged\" caller=\"ipv4:10.0.0.1:1 "
                  "(requested_by alice@ops)\"")
                  .ok());
  const uint64_t a = NewSession("holder");
  MustAcquire(a, "jobs/1");
  ASSERT_TRUE(
      ForceRelease("jobs/1", "hung\" caller=\"ipv4:10.9.9.9:1", true).ok());
  StopDaemon(/*kill=*/true);  // The log as it is (no compaction).
  const std::string dump = DumpWal();
  int force_released_lines = 0;
  std::istringstream lines(dump);
  for (std::string line; std::getline(lines, line);) {
    if (absl::StartsWith(line, "GRANT_ENDED") &&
        absl::StrContains(line, "reason=force_released")) {
      ++force_released_lines;
    }
    EXPECT_THAT(line, Not(HasSubstr("caller=\"ipv4:10.9.9.9:1"))) << line;
  }
  EXPECT_EQ(force_released_lines, 1) << dump;
}

// Holds: raw bytes that are no request, invalid UTF-8 in the reason, C1
// controls and sizes get INVALID_ARGUMENT, and the daemon serves on.
TEST_F(ReviewForceReleaseTest, HostileAdminRequestsAreRefused) {
  StartDaemon({});
  const uint64_t a = NewSession();
  const uint64_t token = MustAcquire(a, "held");
  for (const std::string& method : {"ForceRelease", "RevokeSession"}) {
    for (const std::string& bytes :
         {std::string("\xff\xff\xff\xff\xff", 5), std::string("\x0a\x80", 2),
          std::string("\x12\x05\xc3\x28\xa0\xa1\xff", 7)}) {
      grpc::Status st = RawAdminCall(method, bytes);
      EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT)
          << method << ": " << st.error_message();
    }
  }
  auto refused = [&](const std::string& reason, const std::string& by) {
    v1::ForceReleaseRequest req;
    req.set_key("held");
    req.set_reason(reason);
    req.set_requested_by(by);
    grpc::Status st = ForceRelease(req);
    EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT)
        << st.error_message();
  };
  refused("next line\xc2\x85here", "");          // NEL (C1).
  refused("csi \xc2\x9b" "31m red", "");          // CSI (C1).
  refused("esc \x1b[2J", "");                     // ESC.
  refused("del \x7f", "");
  refused("ok", std::string(257, 'u'));
  refused("ok", "tab\there");
  refused(std::string(1025, 'r'), "");
  // A session of 0 with a token: that token only, or FAILED_PRECONDITION.
  v1::ForceReleaseRequest req;
  req.set_key("held");
  req.set_reason("wrong token");
  req.set_fencing_token(token + 7);
  EXPECT_EQ(ForceRelease(req).error_code(),
            grpc::StatusCode::FAILED_PRECONDITION);
  // 1024 bytes of multi-byte UTF-8 (no control): accepted.
  std::string long_reason;
  while (long_reason.size() + 2 <= 1024) long_reason += "\xc3\xa9";
  req.set_fencing_token(token);
  req.set_reason(long_reason);
  v1::ForceReleaseResponse resp;
  grpc::Status st = ForceRelease(req, &resp);
  EXPECT_TRUE(st.ok()) << st.error_message();
  EXPECT_EQ(resp.released_size(), 1);
  EXPECT_TRUE(test::KeepAliveOnce(stub_.get(), a).ok());
}

// Holds: a force-release whose lock-delay was not skipped, then kill -9 in
// fsync mode: after the restart the old holder does not hold the key, the
// delay still runs (a try-lock fails), a new grant's token is above every
// earlier one, and the holder, connecting after the restart, is sent the
// GRANT_REVOKED it had not received, with the reason.
TEST_F(ReviewForceReleaseTest, ForceReleaseWithItsDelaySurvivesAKill) {
  StartDaemon({"--durability=fsync", "--restart_grace=30s"}, OwnDataDir());
  const uint64_t a = NewSession("holder");
  const uint64_t b = NewSession("other");
  const uint64_t old_token = MustAcquire(a, "d/k", /*lock_delay_ms=*/600000);
  const uint64_t b_token = MustAcquire(b, "d/other");
  ASSERT_TRUE(ForceRelease("d/k", "stuck in D state").ok());
  StopDaemon(/*kill=*/true);
  StartAgain();

  v1::DescribeLockResponse d = Describe("d/k");
  EXPECT_EQ(d.holders_size(), 0);
  EXPECT_GT(d.lock_delay_remaining_ms(), 0);
  v1::AcquireResponse tried;
  ASSERT_TRUE(test::Acquire(stub_.get(), b, "d/k", 0, &tried).ok());
  EXPECT_NE(tried.result(), v1::AcquireResponse::ACQUIRED);
  EXPECT_EQ(test::Release(stub_.get(), a, "d/k", old_token).error_code(),
            grpc::StatusCode::FAILED_PRECONDITION);
  const uint64_t fresh = MustAcquire(b, "d/fresh");
  EXPECT_GT(fresh, std::max(old_token, b_token));

  grpc::ClientContext ctx;
  ctx.set_deadline(DeadlineIn(kCallTime));
  std::unique_ptr<Stream> stream = stub_->KeepAlive(&ctx);
  v1::KeepAliveRequest ka;
  ka.set_session_id(a);
  ka.set_request_sequence(1);
  ASSERT_TRUE(stream->Write(ka));
  v1::KeepAliveResponse msg;
  bool got = false;
  while (stream->Read(&msg)) {
    if (!msg.has_event()) continue;
    EXPECT_EQ(msg.event().type(), v1::SessionEvent::GRANT_REVOKED);
    EXPECT_EQ(msg.event().fencing_token(), old_token);
    EXPECT_THAT(msg.event().reason(), HasSubstr("stuck in D state"));
    got = true;
    break;
  }
  EXPECT_TRUE(got);
  ctx.TryCancel();
  stream->Finish().IgnoreError();
}

// Holds: async mode, clean stop: a force-release and a revoke stay in
// effect, and tokens continue above every earlier one.
TEST_F(ReviewForceReleaseTest, AsyncModeCleanStopKeepsTheActions) {
  StartDaemon({"--durability=async"}, OwnDataDir());
  const uint64_t a = NewSession("holder");
  const uint64_t r = NewSession("revoked");
  const uint64_t old_token = MustAcquire(a, "async/k");
  MustAcquire(r, "async/r", 600000);
  ASSERT_TRUE(ForceRelease("async/k", "test", true).ok());
  grpc::ClientContext ctx;
  ctx.set_deadline(DeadlineIn(kCallTime));
  v1::RevokeSessionRequest req;
  req.set_session_id(r);
  req.set_reason("test");
  v1::RevokeSessionResponse resp;
  ASSERT_TRUE(admin_->RevokeSession(&ctx, req, &resp).ok());
  StopDaemon(/*kill=*/false);
  StartAgain();
  EXPECT_EQ(Describe("async/k").holders_size(), 0);
  EXPECT_EQ(Describe("async/r").holders_size(), 0);
  EXPECT_GT(Describe("async/r").lock_delay_remaining_ms(), 0);
  EXPECT_EQ(test::KeepAliveOnce(stub_.get(), r).error_code(),
            grpc::StatusCode::NOT_FOUND);
  EXPECT_TRUE(test::KeepAliveOnce(stub_.get(), a).ok());
  EXPECT_GT(MustAcquire(a, "async/k"), old_token);
}

}  // namespace
}  // namespace taala::admin_test
