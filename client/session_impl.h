#ifndef TAALA_CLIENT_SESSION_IMPL_H_
#define TAALA_CLIENT_SESSION_IMPL_H_

#include <grpcpp/support/status.h>

#include <cstdint>
#include <optional>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "client/keepalive_loop.h"
#include "client/key_table.h"
#include "client/lock_client.h"
#include "client/rpc_caller.h"
#include "taala/v1/lock_service.pb.h"

namespace taala {

// Session::Impl: the session's identity, its calls to the server, its
// revoked grants, the keys its Locks use (KeyTable) and its keepalive loop.
// Internal to taala_client; session.cc defines it, lock.cc uses it.
//
// Thread safety: all methods may be called concurrently. mu_ is a leaf.
class Session::Impl {
 public:
  // The server's answer to an Acquire.
  struct Answer {
    std::optional<LockGrant> grant;  // Empty: the key stayed held.
    // The server said the session already held the key and returned that
    // grant again. Expected only after a call whose answer was lost.
    bool already_held = false;
    int attempts = 0;  // Attempts this call made (retries after UNAVAILABLE).
  };

  Impl(RpcCaller* client, uint64_t id, absl::Duration ttl,
       absl::Time created_at, SessionOptions options);
  ~Impl() { keepalive_.Stop(); }

  void Start() { keepalive_.Start(); }

  uint64_t id() const { return id_; }
  absl::Duration ttl() const { return ttl_; }
  RpcCaller* client() const { return client_; }
  bool lost() const { return keepalive_.lost(); }
  absl::Status lost_status() const { return keepalive_.lost_status(); }
  KeyTable& keys() { return keys_; }

  // Acquire and Release as the server answers them, retried per the
  // client's policy. `options.wait` is the whole wait; a waiting Acquire
  // whose wait died with its server (WaitDied) asks again for as long as
  // the wait and the session last.
  absl::StatusOr<Answer> AcquireOnServer(absl::string_view key,
                                         const AcquireOptions& options);
  absl::Status ReleaseOnServer(const LockGrant& grant);

  bool Revoked(uint64_t token) const ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    return revoked_.contains(token);
  }

  // The grant is gone from the client's hands: forget its revocation.
  void Forget(uint64_t token) ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    revoked_.erase(token);
  }

  // True on the session's own background threads (where callbacks run).
  bool OnOwnThread() const { return keepalive_.OnOwnThread(); }

  // Stops the keepalive thread. Idempotent and thread-safe.
  // REQUIRES: !OnOwnThread().
  void StopKeepAlive() { keepalive_.Stop(); }

  // Returns true the first time only. Ends the key table.
  bool MarkClosed();

 private:
  // After an UNAVAILABLE answer to a waiting Acquire: waits `*backoff`
  // (then grows it), or less once a channel that was down connects. False
  // if the session is lost or `until` has passed: stop retrying.
  bool AwaitServer(absl::Duration* backoff, absl::Time until);
  // A call's status as an absl::Status; NOT_FOUND ends the session.
  absl::Status Answered(const grpc::Status& status);
  // A server event, on the keepalive loop's event thread.
  void HandleEvent(const v1::SessionEvent& e) ABSL_LOCKS_EXCLUDED(mu_);

  RpcCaller* const client_;
  const uint64_t id_;
  const absl::Duration ttl_;
  const SessionOptions options_;
  mutable absl::Mutex mu_;  // A leaf: no other lock is taken under it.
  absl::flat_hash_set<uint64_t> revoked_ ABSL_GUARDED_BY(mu_);
  KeyTable keys_;
  // Last: destroyed (and its threads stopped) first.
  KeepAliveLoop keepalive_;
};

// A waiting Acquire ended without an answer from a working server: the
// server is down or went away (CutInTransit: UNAVAILABLE, or CANCELLED other
// than taalad's own "superseded by a newer acquire" / "cancelled by the
// caller"). Asking again is safe.
bool WaitDied(const grpc::Status& status);

// No answer came (the server may have acted on the call): UNAVAILABLE,
// DEADLINE_EXCEEDED, UNKNOWN or CANCELLED.
bool OutcomeUnknown(const absl::Status& status);

}  // namespace taala

#endif  // TAALA_CLIENT_SESSION_IMPL_H_
