#include "bench/noop_lock_service.h"

namespace taala::bench {
namespace {

grpc::ServerUnaryReactor* FinishOk(grpc::CallbackServerContext* ctx) {
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

}  // namespace

grpc::ServerUnaryReactor* NoopLockService::CreateSession(
    grpc::CallbackServerContext* ctx, const v1::CreateSessionRequest* req,
    v1::CreateSessionResponse* resp) {
  resp->set_session_id(id_base_ +
                      next_session_id_.fetch_add(1, std::memory_order_relaxed));
  resp->set_ttl_ms(req->ttl_ms());
  return FinishOk(ctx);
}

grpc::ServerUnaryReactor* NoopLockService::Acquire(
    grpc::CallbackServerContext* ctx, const v1::AcquireRequest* req,
    v1::AcquireResponse* resp) {
  // A per-thread counter gives tokens of the magnitude taalad's per-shard
  // counters reach in a benchmark, without shared state.
  thread_local uint64_t next_token = 1;
  resp->set_result(v1::AcquireResponse::ACQUIRED);
  v1::Grant* grant = resp->mutable_grant();
  grant->set_key(req->key());
  grant->set_session_id(req->session_id());
  grant->set_fencing_token(id_base_ + next_token++);
  grant->set_mode(v1::LOCK_MODE_EXCLUSIVE);
  grant->set_held_for_ms(0);  // What taalad reports for a fresh grant.
  return FinishOk(ctx);
}

grpc::ServerUnaryReactor* NoopLockService::Release(
    grpc::CallbackServerContext* ctx, const v1::ReleaseRequest* req,
    v1::ReleaseResponse* resp) {
  return FinishOk(ctx);
}

grpc::ServerUnaryReactor* NoopLockService::CloseSession(
    grpc::CallbackServerContext* ctx, const v1::CloseSessionRequest* req,
    v1::CloseSessionResponse* resp) {
  resp->set_released_grants(0);
  return FinishOk(ctx);
}

}  // namespace taala::bench
