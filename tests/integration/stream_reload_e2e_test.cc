// Issue 12 (fix-streams): what a reload (SIGHUP) does to open streams,
// against the real taalad. The revoking cases are in
// review_security_e2e_test.cc; here the reloads that must leave a stream
// alone, and a token that now names another identity.

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "server/auth/token_file.h"
#include "taala/v1/lock_service.grpc.pb.h"
#include "tests/integration/rpc_helpers.h"
#include "tests/integration/taalad_process.h"
#include "tests/integration/temp_dir_fixture.h"

namespace taala {
namespace {

using test::DeadlineIn;
using test::TaaladProcess;

constexpr int64_t kHourMs = 3600 * 1000;

class StreamReloadTest : public test::TempDirFixture {
 protected:
  void SetUp() override {
    MakeDir("stream_reload");
    tokens_ = dir_ + "/tokens";
    acl_ = dir_ + "/acl";
  }

  void Start() {
    auto started = TaaladProcess::Start(
        {"--auth_tokens_file=" + tokens_, "--acl_file=" + acl_});
    ASSERT_TRUE(started.ok()) << started.status();
    daemon_ = std::move(*started);
    stub_ = v1::LockService::NewStub(grpc::CreateChannel(
        daemon_->address(), grpc::InsecureChannelCredentials()));
  }

  // Sends SIGHUP and waits for the `reloads`-th successful reload.
  void Reload(int reloads) {
    ASSERT_EQ(kill(daemon_->pid(), SIGHUP), 0);
    const absl::Time give_up = absl::Now() + absl::Seconds(20);
    auto count = [&] {
      const std::string log = daemon_->Log();
      int n = 0;
      for (size_t at = log.find("SIGHUP: reloaded: "); at != std::string::npos;
           at = log.find("SIGHUP: reloaded: ", at + 1)) {
        ++n;
      }
      return n;
    };
    while (count() < reloads && absl::Now() < give_up) {
      absl::SleepFor(absl::Milliseconds(10));
    }
    ASSERT_GE(count(), reloads) << "no reload logged";
  }

  static void Prepare(grpc::ClientContext* ctx, const std::string& token) {
    ctx->set_deadline(DeadlineIn(std::chrono::seconds(40)));
    ctx->set_wait_for_ready(true);
    ctx->AddMetadata("authorization", "Bearer " + token);
  }

  uint64_t Create(const std::string& token) {
    grpc::ClientContext ctx;
    Prepare(&ctx, token);
    v1::CreateSessionRequest req;
    req.set_ttl_ms(kHourMs);
    v1::CreateSessionResponse resp;
    grpc::Status s = stub_->CreateSession(&ctx, req, &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return resp.session_id();
  }

  std::string tokens_;
  std::string acl_;
  std::unique_ptr<v1::LockService::Stub> stub_;
};

// A reload that leaves the caller its token and its rights (a new token
// added, a rule added) leaves its KeepAlive stream and its Watch alone.
TEST_F(StreamReloadTest, AReloadThatKeepsTheCallersRightsKeepsItsStreams) {
  WriteFile(tokens_, absl::StrCat("alice sha256:", auth::HashToken("alice-t"),
                                  "\n"));
  WriteFile(acl_, "allow alice \"\" client\n");
  ASSERT_NO_FATAL_FAILURE(Start());
  const uint64_t alice = Create("alice-t");

  grpc::ClientContext sctx;
  sctx.set_wait_for_ready(true);
  sctx.AddMetadata("authorization", "Bearer alice-t");
  auto stream = stub_->KeepAlive(&sctx);
  v1::KeepAliveRequest req;
  req.set_session_id(alice);
  req.set_acked_event_sequence(0);
  req.set_request_sequence(1);
  ASSERT_TRUE(stream->Write(req));
  v1::KeepAliveResponse resp;
  ASSERT_TRUE(stream->Read(&resp));

  grpc::ClientContext wctx;
  Prepare(&wctx, "alice-t");
  v1::WatchRequest wreq;
  wreq.set_prefix("jobs/");
  auto watch = stub_->Watch(&wctx, wreq);
  v1::WatchResponse snapshot;
  ASSERT_TRUE(watch->Read(&snapshot));
  ASSERT_TRUE(snapshot.has_snapshot());

  WriteFile(tokens_, absl::StrCat("alice sha256:", auth::HashToken("alice-t"),
                                  "\nbob sha256:", auth::HashToken("bob-t"),
                                  "\n"));
  WriteFile(acl_, "allow alice \"\" client\nallow bob jobs/ read\n");
  ASSERT_NO_FATAL_FAILURE(Reload(1));

  req.set_request_sequence(2);
  ASSERT_TRUE(stream->Write(req));
  bool renewed = false;
  while (stream->Read(&resp)) {
    if (resp.request_sequence() == 2) {
      renewed = true;
      EXPECT_GT(resp.ttl_ms(), 0);
      break;
    }
  }
  EXPECT_TRUE(renewed) << "the reload ended alice's KeepAlive stream: "
                       << stream->Finish().error_message();

  {
    grpc::ClientContext ctx;
    Prepare(&ctx, "alice-t");
    v1::AcquireRequest areq;
    areq.set_session_id(alice);
    areq.set_key("jobs/1");
    v1::AcquireResponse aresp;
    ASSERT_TRUE(stub_->Acquire(&ctx, areq, &aresp).ok());
  }
  v1::WatchResponse next;
  bool seen = false;
  while (watch->Read(&next)) {
    if (next.has_event() && next.event().key() == "jobs/1") {
      seen = true;
      break;
    }
  }
  EXPECT_TRUE(seen) << "the reload ended alice's Watch: "
                    << watch->Finish().error_message();
  if (renewed) {
    ASSERT_TRUE(stream->WritesDone());
    EXPECT_TRUE(stream->Finish().ok());
  }
  if (seen) {
    wctx.TryCancel();
    watch->Finish();
  }
}

// A token that a reload gives to another identity no longer owns the
// session its stream renews: the next keepalive ends the stream NOT_FOUND
// (like any foreign session) and renews nothing.
TEST_F(StreamReloadTest, ATokenNowNamingAnotherIdentityEndsItsStreamNotFound) {
  WriteFile(tokens_, absl::StrCat("alice sha256:", auth::HashToken("alice-t"),
                                  "\n"));
  WriteFile(acl_, "allow * \"\" client\n");
  ASSERT_NO_FATAL_FAILURE(Start());
  const uint64_t alice = Create("alice-t");

  grpc::ClientContext sctx;
  sctx.set_wait_for_ready(true);
  sctx.AddMetadata("authorization", "Bearer alice-t");
  auto stream = stub_->KeepAlive(&sctx);
  v1::KeepAliveRequest req;
  req.set_session_id(alice);
  req.set_acked_event_sequence(0);
  req.set_request_sequence(1);
  ASSERT_TRUE(stream->Write(req));
  v1::KeepAliveResponse resp;
  ASSERT_TRUE(stream->Read(&resp));

  WriteFile(tokens_, absl::StrCat("mallory sha256:",
                                  auth::HashToken("alice-t"), "\n"));
  ASSERT_NO_FATAL_FAILURE(Reload(1));

  req.set_request_sequence(2);
  bool renewed = false;
  if (stream->Write(req)) {
    while (stream->Read(&resp)) {
      if (resp.request_sequence() == 2) renewed = true;
    }
  }
  EXPECT_FALSE(renewed);
  const grpc::Status end = stream->Finish();
  EXPECT_EQ(end.error_code(), grpc::StatusCode::NOT_FOUND)
      << end.error_message();
  const std::string audited =
      "audit: refused call=KeepAlive identity=\"mallory\"";
  const absl::Time give_up = absl::Now() + absl::Seconds(20);
  while (!absl::StrContains(daemon_->Log(), audited) &&
         absl::Now() < give_up) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  EXPECT_TRUE(absl::StrContains(daemon_->Log(), audited))
      << "the refusal is not audited";
}

}  // namespace
}  // namespace taala
