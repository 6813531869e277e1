// Issue 12's ownership demand, end to end over mutual TLS with certificates
// made by openssl: identity "alice" (the attacker) cannot touch identity
// "bob"'s session in any of the ways a second client could before — acquire
// with its id (its key or another), release its lock, close it, keep it
// alive with KeepAliveOnce, take over its KeepAlive stream, use it in
// AcquireAll — and each refusal is NOT_FOUND with the very message an
// unknown id gets. Bob's lock stays held with its token, his stream keeps
// its events, and he can still use and close his session. Without `read`
// on every key, alice's ListSessions shows only her own sessions.

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "taala/v1/lock_service.grpc.pb.h"
#include "tests/integration/rpc_helpers.h"
#include "tests/integration/taalad_process.h"
#include "tests/integration/test_certs.h"

namespace taala {
namespace {

using test::DeadlineIn;
using test::TaaladProcess;

constexpr int64_t kHourMs = 3600 * 1000;

class OwnershipE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* tmp = getenv("TMPDIR");
    dir_ = absl::StrCat(tmp != nullptr ? tmp : "/tmp", "/ownership_XXXXXX");
    ASSERT_NE(mkdtemp(dir_.data()), nullptr);
    pki_ = std::make_unique<test::TestPki>(dir_);
    ASSERT_TRUE(pki_->MakeStandard()) << pki_->log();
    // Alice may lock and read under alice/ only; bob under bob/.
    const std::string acl = dir_ + "/acl.txt";
    {
      std::ofstream out(acl);
      out << "allow alice alice/ client\n"
          << "allow bob bob/ client\n";
    }
    auto started = TaaladProcess::Start(
        {"--tls_cert=" + pki_->pem("server"),
         "--tls_key=" + pki_->key("server"),
         "--tls_client_ca=" + pki_->pem("ca"), "--acl_file=" + acl});
    ASSERT_TRUE(started.ok()) << started.status();
    daemon_ = std::move(*started);
    alice_ = Stub("alice");
    bob_ = Stub("bob");
  }
  void TearDown() override {
    if (HasFailure() && daemon_ != nullptr) {
      std::cerr << "---- taalad log ----\n" << daemon_->Log();
    }
    daemon_.reset();
    std::error_code ignored;
    if (!HasFailure()) std::filesystem::remove_all(dir_, ignored);
  }

  std::unique_ptr<v1::LockService::Stub> Stub(const std::string& cert) {
    grpc::SslCredentialsOptions ssl;
    ssl.pem_root_certs = test::TestPki::Read(pki_->pem("ca"));
    ssl.pem_cert_chain = test::TestPki::Read(pki_->pem(cert));
    ssl.pem_private_key = test::TestPki::Read(pki_->key(cert));
    grpc::ChannelArguments args;
    args.SetString("taala.test.identity", cert);  // A connection of its own.
    return v1::LockService::NewStub(grpc::CreateCustomChannel(
        daemon_->address(), grpc::SslCredentials(ssl), args));
  }

  static void Prepare(grpc::ClientContext* ctx) {
    // A TLS handshake on a loaded machine may take seconds.
    ctx->set_deadline(DeadlineIn(std::chrono::seconds(40)));
    ctx->set_wait_for_ready(true);
  }

  uint64_t Create(v1::LockService::Stub* stub, std::string* owner) {
    grpc::ClientContext ctx;
    Prepare(&ctx);
    v1::CreateSessionRequest req;
    req.set_ttl_ms(kHourMs);
    req.set_client_name("ownership");
    v1::CreateSessionResponse resp;
    grpc::Status s = stub->CreateSession(&ctx, req, &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();
    *owner = resp.owner();
    return resp.session_id();
  }

  grpc::Status Acquire(v1::LockService::Stub* stub, uint64_t session,
                       const std::string& key, v1::AcquireResponse* resp) {
    grpc::ClientContext ctx;
    Prepare(&ctx);
    v1::AcquireRequest req;
    req.set_session_id(session);
    req.set_key(key);
    return stub->Acquire(&ctx, req, resp);
  }

  grpc::Status Release(v1::LockService::Stub* stub, uint64_t session,
                       const std::string& key, uint64_t token) {
    grpc::ClientContext ctx;
    Prepare(&ctx);
    v1::ReleaseRequest req;
    req.set_session_id(session);
    req.set_key(key);
    req.set_fencing_token(token);
    v1::ReleaseResponse resp;
    return stub->Release(&ctx, req, &resp);
  }

  grpc::Status KeepAliveOnce(v1::LockService::Stub* stub, uint64_t session) {
    grpc::ClientContext ctx;
    Prepare(&ctx);
    v1::KeepAliveRequest req;
    req.set_session_id(session);
    v1::KeepAliveResponse resp;
    return stub->KeepAliveOnce(&ctx, req, &resp);
  }

  grpc::Status Close(v1::LockService::Stub* stub, uint64_t session) {
    grpc::ClientContext ctx;
    Prepare(&ctx);
    v1::CloseSessionRequest req;
    req.set_session_id(session);
    v1::CloseSessionResponse resp;
    return stub->CloseSession(&ctx, req, &resp);
  }

  grpc::Status AcquireAll(v1::LockService::Stub* stub, uint64_t session,
                          const std::string& key) {
    grpc::ClientContext ctx;
    Prepare(&ctx);
    v1::AcquireAllRequest req;
    req.set_session_id(session);
    req.add_keys()->set_key(key);
    v1::AcquireAllResponse resp;
    return stub->AcquireAll(&ctx, req, &resp);
  }

  // A KeepAlive stream's first answer for `session`: OK (an ack) or the
  // status it ended with.
  grpc::Status KeepAliveStream(v1::LockService::Stub* stub, uint64_t session) {
    grpc::ClientContext ctx;
    Prepare(&ctx);
    auto stream = stub->KeepAlive(&ctx);
    v1::KeepAliveRequest req;
    req.set_session_id(session);
    req.set_acked_event_sequence(0);
    req.set_request_sequence(1);
    if (!stream->Write(req)) return stream->Finish();
    v1::KeepAliveResponse resp;
    if (stream->Read(&resp)) {
      stream->WritesDone();
      ctx.TryCancel();
      stream->Finish();
      return grpc::Status::OK;
    }
    return stream->Finish();
  }

  // Bob's grant as DescribeLock shows it: the holder's session and token.
  std::pair<uint64_t, uint64_t> Holder(const std::string& key) {
    grpc::ClientContext ctx;
    Prepare(&ctx);
    v1::DescribeLockRequest req;
    req.set_key(key);
    v1::DescribeLockResponse resp;
    grpc::Status s = bob_->DescribeLock(&ctx, req, &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();
    if (resp.holders_size() != 1) return {0, 0};
    return {resp.holders(0).grant().session_id(),
            resp.holders(0).grant().fencing_token()};
  }

  std::string dir_;
  std::unique_ptr<test::TestPki> pki_;
  std::unique_ptr<TaaladProcess> daemon_;
  std::unique_ptr<v1::LockService::Stub> alice_;
  std::unique_ptr<v1::LockService::Stub> bob_;
};

TEST_F(OwnershipE2eTest, AnotherIdentityCannotTouchASessionInAnyWay) {
  std::string bob_owner, alice_owner;
  const uint64_t bob = Create(bob_.get(), &bob_owner);
  const uint64_t alice = Create(alice_.get(), &alice_owner);
  EXPECT_EQ(bob_owner, "bob");
  EXPECT_EQ(alice_owner, "alice");
  v1::AcquireResponse held;
  ASSERT_TRUE(Acquire(bob_.get(), bob, "bob/k", &held).ok());
  ASSERT_EQ(held.result(), v1::AcquireResponse::ACQUIRED);
  const uint64_t token = held.grant().fencing_token();

  // Each call with bob's id must get exactly what it gets with an id
  // nobody has (ids are random 63-bit numbers: bob + 1 is free), so that
  // the answer tells alice nothing.
  const uint64_t unknown = bob + 1;
  v1::AcquireResponse ignored;
  auto expect_like_unknown = [&](auto call, const char* what) {
    const grpc::Status foreign = call(bob);
    const grpc::Status nobody = call(unknown);
    EXPECT_EQ(foreign.error_code(), grpc::StatusCode::NOT_FOUND) << what;
    EXPECT_EQ(nobody.error_code(), grpc::StatusCode::NOT_FOUND) << what;
    EXPECT_EQ(absl::StrReplaceAll(foreign.error_message(),
                                  {{std::to_string(bob), "ID"}}),
              absl::StrReplaceAll(nobody.error_message(),
                                  {{std::to_string(unknown), "ID"}}))
        << what;
  };

  // Bob's key with bob's session: alice may not lock bob/ at all (the ACL
  // refuses first: PERMISSION_DENIED naming the key and the permission).
  grpc::Status s = Acquire(alice_.get(), bob, "bob/k", &ignored);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_NE(s.error_message().find("bob/k"), std::string::npos);
  EXPECT_NE(s.error_message().find("lock"), std::string::npos);
  // Her own keys with bob's session: the ownership check.
  expect_like_unknown(
      [&](uint64_t id) { return Acquire(alice_.get(), id, "alice/x", &ignored); },
      "Acquire with a foreign session");
  expect_like_unknown(
      [&](uint64_t id) { return AcquireAll(alice_.get(), id, "alice/y"); },
      "AcquireAll with a foreign session");
  expect_like_unknown(
      [&](uint64_t id) { return Release(alice_.get(), id, "alice/x", token); },
      "Release with a foreign session");
  expect_like_unknown(
      [&](uint64_t id) { return KeepAliveOnce(alice_.get(), id); },
      "KeepAliveOnce of a foreign session");
  expect_like_unknown([&](uint64_t id) { return Close(alice_.get(), id); },
                      "CloseSession of a foreign one");
  expect_like_unknown(
      [&](uint64_t id) { return KeepAliveStream(alice_.get(), id); },
      "a KeepAlive stream on a foreign session");

  // Nothing of bob's changed: he holds bob/k with the same token, and his
  // session is alive and his.
  EXPECT_EQ(Holder("bob/k"), std::make_pair(bob, token));
  EXPECT_TRUE(KeepAliveOnce(bob_.get(), bob).ok());
  EXPECT_TRUE(KeepAliveStream(bob_.get(), bob).ok());

  // Alice's listing shows her session only (no `read` on every key).
  {
    grpc::ClientContext ctx;
    Prepare(&ctx);
    v1::ListSessionsResponse resp;
    ASSERT_TRUE(alice_->ListSessions(&ctx, v1::ListSessionsRequest(), &resp)
                    .ok());
    ASSERT_EQ(resp.sessions_size(), 1);
    EXPECT_EQ(resp.sessions(0).session_id(), alice);
    EXPECT_EQ(resp.sessions(0).owner(), "alice");
  }

  // Bob is not hindered: he releases and closes as usual.
  EXPECT_TRUE(Release(bob_.get(), bob, "bob/k", token).ok());
  EXPECT_TRUE(Close(bob_.get(), bob).ok());
}

TEST_F(OwnershipE2eTest, SessionIdsAreNotSequential) {
  std::string owner;
  std::vector<uint64_t> ids;
  for (int i = 0; i < 8; ++i) ids.push_back(Create(bob_.get(), &owner));
  int consecutive = 0;
  for (size_t i = 1; i < ids.size(); ++i) {
    EXPECT_NE(ids[i], 0u);
    EXPECT_LT(ids[i], uint64_t{1} << 63);
    const uint64_t gap = ids[i] > ids[i - 1] ? ids[i] - ids[i - 1]
                                             : ids[i - 1] - ids[i];
    if (gap < 1000) ++consecutive;
  }
  EXPECT_EQ(consecutive, 0) << "session ids look sequential";
}

}  // namespace
}  // namespace taala
