#ifndef TAALA_TESTS_INTEGRATION_RPC_HELPERS_H_
#define TAALA_TESTS_INTEGRATION_RPC_HELPERS_H_

// Plain blocking calls to a real taalad, for tests that kill and restart it:
// channels reconnect quickly, and every call has a deadline.

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "taala/v1/lock_service.grpc.pb.h"

namespace taala::test {

inline std::chrono::system_clock::time_point DeadlineIn(
    std::chrono::milliseconds d) {
  return std::chrono::system_clock::now() + d;
}

// A stub whose channel retries connecting every 100-250 ms (the defaults
// back off to two minutes, far past a restart). `channel_id` apart gives a
// separate connection.
inline std::unique_ptr<v1::LockService::Stub> RestartableStub(
    const std::string& address, int channel_id = 0) {
  grpc::ChannelArguments args;
  args.SetInt("taala.test.channel", channel_id);
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 250);
  return v1::LockService::NewStub(grpc::CreateCustomChannel(
      address, grpc::InsecureChannelCredentials(), args));
}

// The call's outcome is unknown (the daemon died or was unreachable).
inline bool Unknown(const grpc::Status& s) {
  return s.error_code() == grpc::StatusCode::UNAVAILABLE ||
         s.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED ||
         s.error_code() == grpc::StatusCode::CANCELLED ||
         s.error_code() == grpc::StatusCode::UNKNOWN ||
         s.error_code() == grpc::StatusCode::INTERNAL;
}

inline grpc::Status CreateSession(v1::LockService::Stub* stub, int64_t ttl_ms,
                                  uint64_t* session,
                                  const std::string& name = "test") {
  grpc::ClientContext ctx;
  ctx.set_deadline(DeadlineIn(std::chrono::seconds(10)));
  ctx.set_wait_for_ready(true);
  v1::CreateSessionRequest req;
  req.set_ttl_ms(ttl_ms);
  req.set_client_name(name);
  v1::CreateSessionResponse resp;
  grpc::Status s = stub->CreateSession(&ctx, req, &resp);
  *session = resp.session_id();
  return s;
}

inline grpc::Status Acquire(v1::LockService::Stub* stub, uint64_t session,
                            const std::string& key, int64_t wait_ms,
                            v1::AcquireResponse* resp) {
  grpc::ClientContext ctx;
  ctx.set_deadline(DeadlineIn(std::chrono::milliseconds(10000 + wait_ms)));
  v1::AcquireRequest req;
  req.set_session_id(session);
  req.set_key(key);
  req.set_wait_timeout_ms(wait_ms);
  return stub->Acquire(&ctx, req, resp);
}

inline grpc::Status Release(v1::LockService::Stub* stub, uint64_t session,
                            const std::string& key, uint64_t token) {
  grpc::ClientContext ctx;
  ctx.set_deadline(DeadlineIn(std::chrono::seconds(10)));
  v1::ReleaseRequest req;
  req.set_session_id(session);
  req.set_key(key);
  req.set_fencing_token(token);
  v1::ReleaseResponse resp;
  return stub->Release(&ctx, req, &resp);
}

inline grpc::Status KeepAliveOnce(v1::LockService::Stub* stub,
                                  uint64_t session) {
  grpc::ClientContext ctx;
  ctx.set_deadline(DeadlineIn(std::chrono::seconds(10)));
  v1::KeepAliveRequest req;
  req.set_session_id(session);
  v1::KeepAliveResponse resp;
  return stub->KeepAliveOnce(&ctx, req, &resp);
}

inline grpc::Status Describe(v1::LockService::Stub* stub,
                             const std::string& key,
                             v1::DescribeLockResponse* resp) {
  grpc::ClientContext ctx;
  ctx.set_deadline(DeadlineIn(std::chrono::seconds(10)));
  ctx.set_wait_for_ready(true);
  v1::DescribeLockRequest req;
  req.set_key(key);
  return stub->DescribeLock(&ctx, req, resp);
}

inline grpc::Status ServerStatus(v1::LockService::Stub* stub,
                                 v1::ServerStatus* status) {
  grpc::ClientContext ctx;
  ctx.set_deadline(DeadlineIn(std::chrono::seconds(10)));
  ctx.set_wait_for_ready(true);
  v1::GetServerStatusResponse resp;
  grpc::Status s =
      stub->GetServerStatus(&ctx, v1::GetServerStatusRequest(), &resp);
  *status = resp.status();
  return s;
}

}  // namespace taala::test

#endif  // TAALA_TESTS_INTEGRATION_RPC_HELPERS_H_
