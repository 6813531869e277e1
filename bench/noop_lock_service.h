// File: bench/noop_lock_service.h
// -----------------------------------------------------------------------------
// NoopLockService is taala-bench's "physical limit" backend: a
// taala.v1.LockService served on gRPC's callback API whose CreateSession,
// Acquire and Release do no lock work at all. Each handler fills a response
// of the same shape (and about the same size on the wire) as taalad's and
// finishes at once on ctx->DefaultReactor(), exactly like taalad's fast path.
// Comparing taala against it isolates what the lock service adds on top of
// gRPC, protobuf and the loopback network.
//
// Thread safety: gRPC calls the handlers concurrently; they share only an
// atomic session counter (tokens come from per-thread counters).

#ifndef TAALA_BENCH_NOOP_LOCK_SERVICE_H_
#define TAALA_BENCH_NOOP_LOCK_SERVICE_H_

#include <atomic>
#include <cstdint>

#include "taala/v1/lock_service.grpc.pb.h"

namespace taala::bench {

class NoopLockService final : public v1::LockService::CallbackService {
 public:
  // `id_base` is added to session ids and fencing tokens, so that replies
  // have the size of a real backend's: 0 matches an in-process LockTable
  // (LSNs from 1), 1 << 40 a taalad whose data directory was adopted from
  // the format before the log (its LSNs start above 1 << 40).
  explicit NoopLockService(uint64_t id_base = 0) : id_base_(id_base) {}

  grpc::ServerUnaryReactor* CreateSession(
      grpc::CallbackServerContext* ctx, const v1::CreateSessionRequest* req,
      v1::CreateSessionResponse* resp) override;
  grpc::ServerUnaryReactor* Acquire(grpc::CallbackServerContext* ctx,
                                    const v1::AcquireRequest* req,
                                    v1::AcquireResponse* resp) override;
  grpc::ServerUnaryReactor* Release(grpc::CallbackServerContext* ctx,
                                    const v1::ReleaseRequest* req,
                                    v1::ReleaseResponse* resp) override;
  grpc::ServerUnaryReactor* CloseSession(
      grpc::CallbackServerContext* ctx, const v1::CloseSessionRequest* req,
      v1::CloseSessionResponse* resp) override;

 private:
  const uint64_t id_base_;
  // Session ids count from 1 like taalad's.
  std::atomic<uint64_t> next_session_id_{1};
};

}  // namespace taala::bench

#endif  // TAALA_BENCH_NOOP_LOCK_SERVICE_H_
