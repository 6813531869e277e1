// Hardened input (issue 12), against the real taalad: malformed bytes to
// every method of LockService and AdminService get INVALID_ARGUMENT naming
// the request message (never UNIMPLEMENTED, INTERNAL or OK), the KeepAlive
// stream included; keys and prefixes with a control character (C0, DEL,
// C1) are refused at every entry point; and a second KeepAlive stream on a
// session takes it over: the first ends ABORTED, and events not yet
// acknowledged are sent again on the second.

#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>

#include <chrono>
#include <stdlib.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "google/protobuf/descriptor.h"
#include "server/auth/token_file.h"
#include "gtest/gtest.h"
#include "taala/v1/admin_service.grpc.pb.h"
#include "taala/v1/lock_service.grpc.pb.h"
#include "tests/integration/rpc_helpers.h"
#include "tests/integration/taalad_process.h"

namespace taala {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using test::DeadlineIn;
using v1::AdminService;
using v1::LockService;
using Stream = grpc::ClientReaderWriter<v1::KeepAliveRequest,
                                        v1::KeepAliveResponse>;

constexpr std::chrono::seconds kCallTime(20);

// Bytes that no protobuf message parses from: a tag varint that never
// ends, a truncated varint, a length-delimited field longer than the rest.
const std::vector<std::string>& Garbage() {
  static const auto* garbage = new std::vector<std::string>{
      std::string(11, '\xff'), std::string("\x08", 1),
      std::string("\x0a\x7f" "abc", 5)};
  return *garbage;
}

// Keys with a C0 control character, DEL, and C1's NEL (U+0085).
const std::vector<std::string>& ControlKeys() {
  static const auto* keys = new std::vector<std::string>{
      "a\x01" "b", "a\x7f" "b", "a\xC2\x85" "b", "\xC2\x9B" "x"};
  return *keys;
}

class InputTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto started = test::TaaladProcess::Start({}, "");
    ASSERT_TRUE(started.ok()) << started.status();
    daemon_ = std::move(*started);
    channel_ = grpc::CreateChannel(daemon_->address(),
                                   grpc::InsecureChannelCredentials());
    ASSERT_TRUE(channel_->WaitForConnected(DeadlineIn(kCallTime)));
    stub_ = LockService::NewStub(channel_);
    admin_ = AdminService::NewStub(channel_);
  }
  void TearDown() override {
    if (HasFailure() && daemon_ != nullptr) {
      std::cerr << "---- taalad log ----\n" << daemon_->Log();
    }
  }

  // Sends `bytes` as the one request of `method` ("/pkg.Service/Method"),
  // whatever its kind (a stream gets the one message, then the end of our
  // side), and returns the call's status.
  grpc::Status RawCall(const std::string& method, const std::string& bytes) {
    grpc::GenericStub generic(channel_);
    grpc::ClientContext ctx;
    ctx.set_deadline(DeadlineIn(kCallTime));
    grpc::Slice slice(bytes);
    grpc::ByteBuffer request(&slice, 1);
    grpc::ByteBuffer response;
    grpc::Status status;
    absl::Notification done;
    generic.UnaryCall(&ctx, method, grpc::StubOptions(), &request, &response,
                      [&](grpc::Status s) {
                        status = std::move(s);
                        done.Notify();
                      });
    done.WaitForNotification();  // The deadline bounds it.
    return status;
  }

  uint64_t CreateSession() {
    uint64_t id = 0;
    grpc::Status s = test::CreateSession(stub_.get(), 600000, &id);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return id;
  }

  uint64_t AcquireHeldFor(uint64_t session, const std::string& key,
                          int64_t max_hold_ms) {
    grpc::ClientContext ctx;
    ctx.set_deadline(DeadlineIn(kCallTime));
    v1::AcquireRequest req;
    req.set_session_id(session);
    req.set_key(key);
    if (max_hold_ms > 0) req.set_max_hold_ms(max_hold_ms);
    v1::AcquireResponse resp;
    grpc::Status s = stub_->Acquire(&ctx, req, &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();
    EXPECT_EQ(resp.result(), v1::AcquireResponse::ACQUIRED);
    return resp.grant().fencing_token();
  }

  static v1::KeepAliveRequest Ka(uint64_t session, uint64_t acked,
                                 uint64_t request_sequence) {
    v1::KeepAliveRequest ka;
    ka.set_session_id(session);
    ka.set_acked_event_sequence(acked);
    ka.set_request_sequence(request_sequence);
    return ka;
  }

  // Reads until an event (skipping acks); nullopt-like empty event if the
  // stream ends first.
  static v1::SessionEvent NextEvent(Stream& stream) {
    v1::KeepAliveResponse msg;
    while (stream.Read(&msg)) {
      if (msg.has_event()) return msg.event();
    }
    ADD_FAILURE() << "stream ended before an event";
    return {};
  }

  std::unique_ptr<test::TaaladProcess> daemon_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<LockService::Stub> stub_;
  std::unique_ptr<AdminService::Stub> admin_;
};

TEST_F(InputTest, GarbageToEveryMethodIsInvalidArgumentNamingTheMessage) {
  int methods = 0;
  for (const char* service_name :
       {"taala.v1.LockService", "taala.v1.AdminService"}) {
    const google::protobuf::ServiceDescriptor* service =
        google::protobuf::DescriptorPool::generated_pool()->FindServiceByName(
            service_name);
    ASSERT_NE(service, nullptr) << service_name;
    for (int m = 0; m < service->method_count(); ++m) {
      const google::protobuf::MethodDescriptor* method = service->method(m);
      const std::string path =
          absl::StrCat("/", service->full_name(), "/", method->name());
      ++methods;
      for (const std::string& bytes : Garbage()) {
        const grpc::Status s = RawCall(path, bytes);
        EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT)
            << path << " answered " << s.error_code() << " "
            << s.error_message();
        EXPECT_THAT(s.error_message(), HasSubstr(method->input_type()->name()))
            << path;
      }
    }
  }
  EXPECT_GE(methods, 22);  // Every LockService and AdminService method.
}

TEST_F(InputTest, GarbageOnAnOpenKeepAliveStreamEndsItInvalidArgument) {
  const uint64_t session = CreateSession();
  grpc::GenericStub generic(channel_);
  grpc::ClientContext ctx;
  ctx.set_deadline(DeadlineIn(kCallTime));
  grpc::CompletionQueue cq;
  auto call = generic.PrepareCall(&ctx, "/taala.v1.LockService/KeepAlive",
                                  &cq);
  void* tag = nullptr;
  bool ok = false;
  call->StartCall(reinterpret_cast<void*>(1));
  ASSERT_TRUE(cq.Next(&tag, &ok) && ok);
  // A valid keepalive first: the stream is bound and acknowledged.
  grpc::ByteBuffer good;
  bool own = false;
  ASSERT_TRUE(grpc::SerializationTraits<v1::KeepAliveRequest>::Serialize(
                  Ka(session, 0, 1), &good, &own)
                  .ok());
  call->Write(good, reinterpret_cast<void*>(2));
  ASSERT_TRUE(cq.Next(&tag, &ok) && ok);
  grpc::ByteBuffer reply;
  call->Read(&reply, reinterpret_cast<void*>(3));
  ASSERT_TRUE(cq.Next(&tag, &ok) && ok);
  v1::KeepAliveResponse ack;
  ASSERT_TRUE(grpc::SerializationTraits<v1::KeepAliveResponse>::Deserialize(
                  &reply, &ack)
                  .ok());
  EXPECT_EQ(ack.request_sequence(), 1u);
  // Then garbage: the stream ends INVALID_ARGUMENT, not OK.
  grpc::Slice slice(std::string(11, '\xff'));
  grpc::ByteBuffer bad(&slice, 1);
  call->Write(bad, reinterpret_cast<void*>(4));
  ASSERT_TRUE(cq.Next(&tag, &ok));
  grpc::Status status;
  call->Finish(&status, reinterpret_cast<void*>(5));
  while (cq.Next(&tag, &ok) && tag != reinterpret_cast<void*>(5)) {
  }
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT)
      << status.error_message();
  EXPECT_THAT(status.error_message(), HasSubstr("KeepAliveRequest: "));
  cq.Shutdown();
  while (cq.Next(&tag, &ok)) {
  }
}

// Every call that creates a key or takes a prefix refuses control
// characters. A call that names an existing key (Release, DescribeLock,
// CheckFence, GetLockStats key, ForceRelease) takes it: an earlier release
// accepted C1, and a key restored from its data dir must stay releasable
// (review_input_test's LegacyKeyWithAC1ControlCanStillBeReleased); no such
// key exists here, and the answer never echoes the raw control bytes.
TEST_F(InputTest, ControlCharactersInKeysAndPrefixesAreRefusedWhereCreated) {
  const uint64_t session = CreateSession();
  for (const std::string& key : ControlKeys()) {
    SCOPED_TRACE(absl::CEscape(key));
    auto expect_refused = [&](const char* call, const grpc::Status& s) {
      EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT)
          << call << ": " << s.error_code() << " " << s.error_message();
      EXPECT_THAT(s.error_message(), HasSubstr("control character U+"))
          << call;
    };
    auto expect_named = [&](const char* call, const grpc::Status& s) {
      EXPECT_NE(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT)
          << call << ": " << s.error_message();
      EXPECT_THAT(s.error_message(), Not(HasSubstr(key))) << call;
    };
    {
      v1::AcquireResponse resp;
      expect_refused("Acquire", test::Acquire(stub_.get(), session, key, 0,
                                              &resp));
    }
    {
      grpc::ClientContext ctx;
      ctx.set_deadline(DeadlineIn(kCallTime));
      v1::AcquireAllRequest req;
      req.set_session_id(session);
      req.add_keys()->set_key("fine");
      req.add_keys()->set_key(key);
      v1::AcquireAllResponse resp;
      expect_refused("AcquireAll", stub_->AcquireAll(&ctx, req, &resp));
    }
    {
      expect_named("Release", test::Release(stub_.get(), session, key, 1));
    }
    {
      grpc::ClientContext ctx;
      ctx.set_deadline(DeadlineIn(kCallTime));
      v1::DescribeLockRequest req;
      req.set_key(key);
      v1::DescribeLockResponse resp;
      expect_named("DescribeLock", stub_->DescribeLock(&ctx, req, &resp));
    }
    {
      grpc::ClientContext ctx;
      ctx.set_deadline(DeadlineIn(kCallTime));
      v1::CheckFenceRequest req;
      req.set_key(key);
      req.set_fencing_token(1);
      v1::CheckFenceResponse resp;
      expect_named("CheckFence", stub_->CheckFence(&ctx, req, &resp));
    }
    {
      grpc::ClientContext ctx;
      ctx.set_deadline(DeadlineIn(kCallTime));
      v1::ListLocksRequest req;
      req.set_prefix(key);
      v1::ListLocksResponse resp;
      expect_refused("ListLocks", stub_->ListLocks(&ctx, req, &resp));
    }
    for (bool prefix : {false, true}) {
      grpc::ClientContext ctx;
      ctx.set_deadline(DeadlineIn(kCallTime));
      v1::GetLockStatsRequest req;
      prefix ? req.set_prefix(key) : req.set_key(key);
      v1::GetLockStatsResponse resp;
      const grpc::Status s = stub_->GetLockStats(&ctx, req, &resp);
      prefix ? expect_refused("GetLockStats prefix", s)
             : expect_named("GetLockStats key", s);
    }
    for (bool prefix : {false, true}) {
      grpc::ClientContext ctx;
      ctx.set_deadline(DeadlineIn(kCallTime));
      v1::WatchRequest req;
      prefix ? req.set_prefix(key) : req.set_key(key);
      auto reader = stub_->Watch(&ctx, req);
      v1::WatchResponse msg;
      while (reader->Read(&msg)) {
      }
      expect_refused(prefix ? "Watch prefix" : "Watch key", reader->Finish());
    }
    {
      grpc::ClientContext ctx;
      ctx.set_deadline(DeadlineIn(kCallTime));
      v1::ForceReleaseRequest req;
      req.set_key(key);
      req.set_reason("test");
      v1::ForceReleaseResponse resp;
      expect_named("ForceRelease", admin_->ForceRelease(&ctx, req, &resp));
    }
  }
}

// A second KeepAlive stream on a session takes it over: the first is told
// (ABORTED), an event it was sent but that was not acknowledged comes again
// on the second, and later events go to the second.
TEST_F(InputTest, SecondKeepAliveStreamTakesOverAndTheFirstIsAborted) {
  const uint64_t session = CreateSession();
  grpc::ClientContext first_ctx;
  first_ctx.set_deadline(DeadlineIn(std::chrono::seconds(50)));
  auto first = stub_->KeepAlive(&first_ctx);
  ASSERT_TRUE(first->Write(Ka(session, 0, 1)));
  // Revoked while the first stream is attached; it reads it but does not
  // acknowledge it.
  const uint64_t early = AcquireHeldFor(session, "early", 0);
  {
    grpc::ClientContext ctx;
    ctx.set_deadline(DeadlineIn(kCallTime));
    v1::ForceReleaseRequest req;
    req.set_key("early");
    req.set_reason("test takeover");
    v1::ForceReleaseResponse resp;
    grpc::Status s = admin_->ForceRelease(&ctx, req, &resp);
    ASSERT_TRUE(s.ok()) << s.error_message();
  }
  const v1::SessionEvent seen = NextEvent(*first);
  ASSERT_EQ(seen.type(), v1::SessionEvent::GRANT_REVOKED);
  ASSERT_EQ(seen.fencing_token(), early);

  grpc::ClientContext second_ctx;
  second_ctx.set_deadline(DeadlineIn(std::chrono::seconds(50)));
  auto second = stub_->KeepAlive(&second_ctx);
  ASSERT_TRUE(second->Write(Ka(session, 0, 1)));

  // The first is told at once, not silently starved.
  v1::KeepAliveResponse rest;
  while (first->Read(&rest)) {
    EXPECT_FALSE(rest.has_event()) << "an event after the takeover";
  }
  const grpc::Status ended = first->Finish();
  EXPECT_EQ(ended.error_code(), grpc::StatusCode::ABORTED)
      << ended.error_message();
  EXPECT_EQ(ended.error_message(),
            absl::StrCat("another KeepAlive stream took over session ",
                         session));

  // The unacknowledged event is sent again on the second stream.
  const v1::SessionEvent again = NextEvent(*second);
  EXPECT_EQ(again.type(), v1::SessionEvent::GRANT_REVOKED);
  EXPECT_EQ(again.fencing_token(), early);
  EXPECT_EQ(again.sequence(), seen.sequence());
  ASSERT_TRUE(second->Write(Ka(session, again.sequence(), 2)));

  // One posted after the takeover (by --max_hold) reaches the second.
  const uint64_t late = AcquireHeldFor(session, "late", 100);
  const v1::SessionEvent next = NextEvent(*second);
  EXPECT_EQ(next.type(), v1::SessionEvent::GRANT_REVOKED);
  EXPECT_EQ(next.fencing_token(), late);
  EXPECT_GT(next.sequence(), again.sequence());

  second->WritesDone();
  while (second->Read(&rest)) {
  }
  const grpc::Status finished = second->Finish();
  EXPECT_TRUE(finished.ok()) << finished.error_message();
}

// A foreign or unknown session on a KeepAlive stream is NOT_FOUND.
TEST_F(InputTest, KeepAliveStreamOnAnUnknownSessionIsNotFound) {
  grpc::ClientContext ctx;
  ctx.set_deadline(DeadlineIn(kCallTime));
  auto stream = stub_->KeepAlive(&ctx);
  ASSERT_TRUE(stream->Write(Ka(0x1234567, 0, 1)));
  v1::KeepAliveResponse msg;
  while (stream->Read(&msg)) {
  }
  EXPECT_EQ(stream->Finish().error_code(), grpc::StatusCode::NOT_FOUND);
}

// Another identity's session cannot be taken over: its KeepAlive stream is
// NOT_FOUND (as an unknown session), and the owner's stream keeps the
// session and its events.
TEST(InputAuthTest, AForeignSessionsKeepAliveStreamIsNotFound) {
  char dir_template[] = "/tmp/taala_input_auth_XXXXXX";
  ASSERT_NE(mkdtemp(dir_template), nullptr);
  const std::string tokens = std::string(dir_template) + "/tokens";
  {
    std::ofstream out(tokens);
    out << "alice sha256:" << auth::HashToken("alice-secret") << "\n"
        << "bob sha256:" << auth::HashToken("bob-secret") << "\n";
  }
  auto started = test::TaaladProcess::Start({"--auth_tokens_file=" + tokens});
  ASSERT_TRUE(started.ok()) << started.status();
  std::unique_ptr<test::TaaladProcess> daemon = std::move(*started);
  auto stub = LockService::NewStub(grpc::CreateChannel(
      daemon->address(), grpc::InsecureChannelCredentials()));
  auto as = [](grpc::ClientContext* ctx, const std::string& token) {
    ctx->set_deadline(DeadlineIn(std::chrono::seconds(50)));
    ctx->set_wait_for_ready(true);
    ctx->AddMetadata("authorization", "Bearer " + token);
  };
  uint64_t session = 0;
  {
    grpc::ClientContext ctx;
    as(&ctx, "alice-secret");
    v1::CreateSessionRequest req;
    req.set_ttl_ms(600000);
    v1::CreateSessionResponse resp;
    grpc::Status s = stub->CreateSession(&ctx, req, &resp);
    ASSERT_TRUE(s.ok()) << s.error_message();
    session = resp.session_id();
  }
  grpc::ClientContext alice_ctx;
  as(&alice_ctx, "alice-secret");
  auto alice = stub->KeepAlive(&alice_ctx);
  v1::KeepAliveRequest ka;
  ka.set_session_id(session);
  ka.set_acked_event_sequence(0);
  ka.set_request_sequence(1);
  ASSERT_TRUE(alice->Write(ka));
  v1::KeepAliveResponse msg;
  ASSERT_TRUE(alice->Read(&msg));  // Bound.

  grpc::ClientContext bob_ctx;
  as(&bob_ctx, "bob-secret");
  auto bob = stub->KeepAlive(&bob_ctx);
  ASSERT_TRUE(bob->Write(ka));
  while (bob->Read(&msg)) {
    EXPECT_FALSE(msg.has_event()) << "bob got alice's event";
  }
  const grpc::Status refused = bob->Finish();
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::NOT_FOUND)
      << refused.error_message();

  // Alice's stream still has the session: a revocation reaches it.
  uint64_t token = 0;
  {
    grpc::ClientContext ctx;
    as(&ctx, "alice-secret");
    v1::AcquireRequest req;
    req.set_session_id(session);
    req.set_key("mine");
    req.set_max_hold_ms(100);
    v1::AcquireResponse resp;
    grpc::Status s = stub->Acquire(&ctx, req, &resp);
    ASSERT_TRUE(s.ok()) << s.error_message();
    token = resp.grant().fencing_token();
  }
  bool revoked = false;
  while (!revoked && alice->Read(&msg)) {
    if (msg.has_event()) {
      EXPECT_EQ(msg.event().fencing_token(), token);
      revoked = true;
    }
  }
  EXPECT_TRUE(revoked) << "the owner's stream lost its events";
  alice->WritesDone();
  while (alice->Read(&msg)) {
  }
  EXPECT_TRUE(alice->Finish().ok());
  std::remove(tokens.c_str());
  rmdir(dir_template);
}

}  // namespace
}  // namespace taala
