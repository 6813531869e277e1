// Review (issue 12, rev-limits) against the real taalad: the table-wide
// --max_keys and what one client that holds nothing can do to it.

#include <grpcpp/grpcpp.h>

#include <stdlib.h>

#include <chrono>
#include <fstream>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>

#include "taala/v1/lock_service.grpc.pb.h"
#include "tests/integration/rpc_helpers.h"
#include "tests/integration/taalad_process.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace taala {
namespace {

constexpr auto kPatience = std::chrono::seconds(20);
constexpr int64_t kTtlMs = 60000;

// Every call of `ctx` as the identity of bearer token `token`.
void As(grpc::ClientContext* ctx, const std::string& token) {
  ctx->AddMetadata("authorization", "Bearer " + token);
  ctx->set_deadline(test::DeadlineIn(std::chrono::seconds(10)));
  ctx->set_wait_for_ready(true);
}

uint64_t CreateSessionAs(v1::LockService::Stub* stub,
                         const std::string& token) {
  grpc::ClientContext ctx;
  As(&ctx, token);
  v1::CreateSessionRequest req;
  req.set_ttl_ms(kTtlMs);
  req.set_client_name("review");
  v1::CreateSessionResponse resp;
  grpc::Status s = stub->CreateSession(&ctx, req, &resp);
  EXPECT_TRUE(s.ok()) << s.error_message();
  return resp.session_id();
}

// A client acquires keys with max_hold_ms=1 and lock_delay_ms=3600000 and
// lets each grant be revoked: it never holds more than one key, yet each
// revoked grant leaves a key entry in a lock-delay for an hour. Those
// delays count as held keys of its identity, so it is refused at its own
// --max_held_per_identity (4) long before --max_keys (8) is full, and a
// second identity's acquire of a new key is served.
TEST(ReviewLimitsE2eTest, LockDelaysOfOneClientDoNotFillMaxKeysForOthers) {
  char dir_template[] = "/tmp/review_limits_tokens_XXXXXX";
  ASSERT_NE(mkdtemp(dir_template), nullptr);
  const std::string tokens = std::string(dir_template) + "/tokens.txt";
  {
    // The SHA-256 of "mallory-token" and of "bob-token".
    std::ofstream out(tokens);
    out << "mallory sha256:2f506800efbddd702d3f168cf28b979b721503c53ec16df5"
           "415863e99cf4c497\n"
        << "bob sha256:97dd3707015dcf069cf73022ed7173b1165db6eff24b441cb57f"
           "d069a8c4e525\n";
  }
  auto daemon = test::TaaladProcess::Start(
      {"--auth_tokens_file=" + tokens, "--max_keys=8",
       "--max_held_per_identity=4"});
  ASSERT_TRUE(daemon.ok()) << daemon.status();
  auto stub = test::RestartableStub((*daemon)->address(), 0);
  auto other = test::RestartableStub((*daemon)->address(), 1);
  const uint64_t a = CreateSessionAs(stub.get(), "mallory-token");
  ASSERT_NE(a, 0u);
  int delayed = 0;
  for (int i = 0; i < 8; ++i) {
    const std::string key = "m" + std::to_string(i);
    grpc::ClientContext ctx;
    As(&ctx, "mallory-token");
    v1::AcquireRequest req;
    req.set_session_id(a);
    req.set_key(key);
    req.set_wait_timeout_ms(0);
    req.set_max_hold_ms(1);
    req.set_lock_delay_ms(3600000);
    v1::AcquireResponse resp;
    grpc::Status s = stub->Acquire(&ctx, req, &resp);
    if (s.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED) {
      EXPECT_THAT(s.error_message(),
                  ::testing::HasSubstr("--max_held_per_identity=4"));
      break;
    }
    ASSERT_TRUE(s.ok()) << key << ": " << s.error_message();
    ASSERT_EQ(resp.result(), v1::AcquireResponse::ACQUIRED) << key;
    // Waits (bounded) for the revocation: no holder, a lock-delay.
    const auto give_up = std::chrono::steady_clock::now() + kPatience;
    bool revoked = false;
    while (!revoked && std::chrono::steady_clock::now() < give_up) {
      grpc::ClientContext dctx;
      As(&dctx, "mallory-token");
      v1::DescribeLockRequest dreq;
      dreq.set_key(key);
      v1::DescribeLockResponse dresp;
      ASSERT_TRUE(stub->DescribeLock(&dctx, dreq, &dresp).ok());
      revoked = dresp.holders_size() == 0;
      if (!revoked)
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    ASSERT_TRUE(revoked) << key;
    ++delayed;
  }
  EXPECT_EQ(delayed, 4);
  const uint64_t b = CreateSessionAs(other.get(), "bob-token");
  ASSERT_NE(b, 0u);
  grpc::ClientContext ctx;
  As(&ctx, "bob-token");
  v1::AcquireRequest req;
  req.set_session_id(b);
  req.set_key("bobs-key");
  req.set_wait_timeout_ms(0);
  v1::AcquireResponse resp;
  grpc::Status s = other->Acquire(&ctx, req, &resp);
  EXPECT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(resp.result(), v1::AcquireResponse::ACQUIRED);
}

// docs/security.md, "Audit log": one line for every refused call,
// "past a limit" included. A CreateSession past
// --max_sessions_per_identity and an Acquire past --max_held_per_session
// are refused RESOURCE_EXHAUSTED; each should leave an audit line.
TEST(ReviewLimitsE2eTest, LimitRefusalsAreInTheAuditLog) {
  auto daemon = test::TaaladProcess::Start(
      {"--max_sessions_per_identity=1", "--max_held_per_session=1"});
  ASSERT_TRUE(daemon.ok()) << daemon.status();
  auto stub = test::RestartableStub((*daemon)->address(), 0);
  uint64_t a = 0;
  ASSERT_TRUE(test::CreateSession(stub.get(), kTtlMs, &a).ok());
  uint64_t refused_id = 0;
  grpc::Status second = test::CreateSession(stub.get(), kTtlMs, &refused_id);
  ASSERT_EQ(second.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED)
      << second.error_message();
  v1::AcquireResponse resp;
  ASSERT_TRUE(test::Acquire(stub.get(), a, "k1", 0, &resp).ok());
  grpc::Status held = test::Acquire(stub.get(), a, "k2", 0, &resp);
  ASSERT_EQ(held.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED)
      << held.error_message();
  // A control: a KeepAliveOnce of a session nobody has is audited (a
  // foreign-or-unknown session). Once its line is in the log, the earlier
  // refusals' lines would be too (one log, written in order).
  ASSERT_EQ(test::KeepAliveOnce(stub.get(), a ^ 1).error_code(),
            grpc::StatusCode::NOT_FOUND);
  const auto give_up =
      std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while ((*daemon)->Log().find("audit: refused call=KeepAliveOnce") ==
             std::string::npos &&
         std::chrono::steady_clock::now() < give_up) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ASSERT_THAT((*daemon)->Log(),
              ::testing::HasSubstr("audit: refused call=KeepAliveOnce"));
  const std::string log = (*daemon)->Log();
  EXPECT_THAT(log, ::testing::HasSubstr("audit: refused call=CreateSession"));
  EXPECT_THAT(log, ::testing::HasSubstr("audit: refused call=Acquire"));
}

// Over --memory_budget (a restart with the budget at 1 MiB, which any
// taalad is above, keeping the sessions of the run before): new sessions
// and new waits are refused naming the budget, while the restored
// sessions' keepalives (KeepAliveOnce and the stream), a holder's retry,
// a grant with no wait and a release are served.
TEST(ReviewLimitsE2eTest, OverTheMemoryBudgetHoldersAreServed) {
  char dir_template[] = "/tmp/review_limits_XXXXXX";
  ASSERT_NE(mkdtemp(dir_template), nullptr);
  const std::string data_dir = dir_template;
  uint64_t a = 0, b = 0, token = 0;
  int port = 0;
  {
    auto daemon = test::TaaladProcess::Start({}, data_dir);
    ASSERT_TRUE(daemon.ok()) << daemon.status();
    port = (*daemon)->port();
    auto stub = test::RestartableStub((*daemon)->address(), 0);
    ASSERT_TRUE(test::CreateSession(stub.get(), kTtlMs, &a).ok());
    ASSERT_TRUE(test::CreateSession(stub.get(), kTtlMs, &b).ok());
    v1::AcquireResponse resp;
    ASSERT_TRUE(test::Acquire(stub.get(), a, "held", 0, &resp).ok());
    ASSERT_EQ(resp.result(), v1::AcquireResponse::ACQUIRED);
    token = resp.grant().fencing_token();
    ASSERT_EQ((*daemon)->Stop(), 0);
  }
  auto daemon = test::TaaladProcess::StartOnPort(
      port, {"--memory_budget=1MiB", "--restart_grace=0s"}, data_dir);
  ASSERT_TRUE(daemon.ok()) << daemon.status();
  const auto give_up = std::chrono::steady_clock::now() + kPatience;
  while ((*daemon)->Log().find("limit --memory_budget=1MiB reached") ==
             std::string::npos &&
         std::chrono::steady_clock::now() < give_up) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ASSERT_THAT((*daemon)->Log(),
              ::testing::HasSubstr("limit --memory_budget=1MiB reached"));
  auto stub = test::RestartableStub((*daemon)->address(), 0);
  uint64_t c = 0;
  grpc::Status created = test::CreateSession(stub.get(), kTtlMs, &c);
  EXPECT_EQ(created.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_THAT(created.error_message(), ::testing::HasSubstr("--memory_budget"));
  EXPECT_TRUE(test::KeepAliveOnce(stub.get(), a).ok());
  EXPECT_TRUE(test::KeepAliveOnce(stub.get(), b).ok());
  {
    grpc::ClientContext ctx;
    ctx.set_deadline(test::DeadlineIn(std::chrono::seconds(10)));
    auto stream = stub->KeepAlive(&ctx);
    v1::KeepAliveRequest req;
    req.set_session_id(a);
    req.set_request_sequence(1);
    ASSERT_TRUE(stream->Write(req));
    v1::KeepAliveResponse resp;
    EXPECT_TRUE(stream->Read(&resp));
    EXPECT_EQ(resp.session_id(), a);
    ctx.TryCancel();
    stream->Finish();
  }
  v1::AcquireResponse resp;
  grpc::Status retry = test::Acquire(stub.get(), a, "held", 0, &resp);
  EXPECT_TRUE(retry.ok()) << retry.error_message();
  EXPECT_EQ(resp.result(), v1::AcquireResponse::ACQUIRED);
  EXPECT_EQ(resp.grant().fencing_token(), token);
  grpc::Status wait = test::Acquire(stub.get(), b, "held", 5000, &resp);
  EXPECT_EQ(wait.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED)
      << wait.error_message();
  grpc::Status fresh = test::Acquire(stub.get(), b, "free", 0, &resp);
  EXPECT_TRUE(fresh.ok()) << fresh.error_message();
  EXPECT_EQ(resp.result(), v1::AcquireResponse::ACQUIRED);
  grpc::Status released = test::Release(stub.get(), a, "held", token);
  EXPECT_TRUE(released.ok()) << released.error_message();
  (*daemon)->Stop();
  std::filesystem::remove_all(data_dir);
}

} // namespace
} // namespace taala
