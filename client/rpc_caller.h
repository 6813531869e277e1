#ifndef TAALA_CLIENT_RPC_CALLER_H_
#define TAALA_CLIENT_RPC_CALLER_H_

#include <grpcpp/channel.h>
#include <grpcpp/client_context.h>

#include <atomic>
#include <cstddef>
#include <memory>
#include <random>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "client/circuit_breaker.h"
#include "client/lock_client.h"
#include "taala/v1/lock_service.grpc.pb.h"

namespace taala {

// How the client library talks to taalad: a channel and stub per endpoint,
// calls retried with backoff and jitter, failover to the next endpoint on a
// transport failure, and the circuit breaker that makes calls fail fast while
// every endpoint is down. Knows nothing of sessions or locks.
// Internal to taala_client (not installed).
//
// Thread safety: all methods may be called concurrently. rng_mu_ is a leaf
// (no other lock is taken under it); CircuitBreaker has its own leaf mutex.
class RpcCaller {
 public:
  // One attempt: sets its own deadline on `ctx` and makes one call on `stub`.
  using Attempt = absl::FunctionRef<grpc::Status(v1::LockService::Stub& stub,
                                                 grpc::ClientContext* ctx)>;

  // Creates a channel to every endpoint; does not contact the server.
  // REQUIRES: `options` passed Client::Connect's checks.
  explicit RpcCaller(ClientOptions options);
  RpcCaller(const RpcCaller&) = delete;
  RpcCaller& operator=(const RpcCaller&) = delete;

  const ClientOptions& options() const { return options_; }
  CircuitState circuit_state() const;
  // Adds the caller's credentials (the bearer token) to `ctx`: every call
  // and stream of the library goes through here.
  void AddCredentials(grpc::ClientContext* ctx) const;

  // Runs `attempt` until it succeeds, fails for a reason other than being
  // cut in transit (CutInTransit), or the retry policy is used up; a call
  // still cut then fails with UNAVAILABLE. Transport failures (cut, or
  // DEADLINE_EXCEEDED) move to the next endpoint and feed the circuit
  // breaker; while the circuit is open, calls fail fast with UNAVAILABLE.
  // `attempt` must not cancel its `ctx`.
  grpc::Status Call(Attempt attempt);

  // OK if an endpoint answers the standard health check with SERVING.
  absl::Status CheckHealth();

  // For a stream kept by the caller (KeepAlive): the endpoint in use, its
  // stub, and how the stream fared. A failure on endpoint `i` counts towards
  // the breaker and fails over (unless another call already moved on).
  size_t current() const { return current_.load(); }
  v1::LockService::Stub& stub(size_t i) { return *stubs_[i]; }
  void ReportFailure(size_t i);
  void ReportSuccess();
  // True if endpoint `i`'s channel is connected.
  bool Connected(size_t i);
  // Asks endpoint `i`'s channel to connect and waits until it is, or for
  // `timeout`. True if connected.
  bool WaitForConnected(size_t i, absl::Duration timeout);

  // The retry policy's backoff: `d` scaled by a random factor within the
  // jitter, and the backoff that follows `d`.
  absl::Duration Jitter(absl::Duration d) ABSL_LOCKS_EXCLUDED(rng_mu_);
  absl::Duration NextBackoff(absl::Duration d) const;

 private:
  const ClientOptions options_;
  const std::string bearer_metadata_;  // "Bearer <token>".
  std::vector<std::shared_ptr<grpc::Channel>> channels_;       // Constant.
  std::vector<std::unique_ptr<v1::LockService::Stub>> stubs_;  // Constant.
  std::atomic<size_t> current_{0};
  CircuitBreaker breaker_;
  absl::Mutex rng_mu_;
  std::mt19937_64 rng_ ABSL_GUARDED_BY(rng_mu_);
};

// The public Client's state is exactly its RPC caller.
class Client::Impl final : public RpcCaller {
 public:
  using RpcCaller::RpcCaller;
};

// True if `s` says the call got no answer from a working taalad and asking
// again is safe: UNAVAILABLE (down, unreachable, refusing while it shuts
// down), or CANCELLED other than taalad's own answers ("superseded by a newer
// acquire", "cancelled by the caller") -- gRPC's server cancels the calls it
// accepted but had not handed to taalad when it shuts down.
bool CutInTransit(const grpc::Status& s);

// A gRPC status as an absl::Status (same code and message).
absl::Status FromGrpc(const grpc::Status& s);

// Sets `ctx`'s deadline `timeout` from now; none if it is infinite.
void SetTimeout(grpc::ClientContext* ctx, absl::Duration timeout);

}  // namespace taala

#endif  // TAALA_CLIENT_RPC_CALLER_H_
