// taala::Session (client/lock_client.h), and Client::CreateSession, which
// makes one. The lease is kept by a KeepAliveLoop; calls go through the
// Client's RpcCaller.

#include "client/lock_client.h"

#include <grpcpp/client_context.h>

#include <algorithm>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "client/keepalive_loop.h"
#include "client/rpc_caller.h"
#include "common/wire_time.h"
#include "taala/v1/lock_service.grpc.pb.h"

namespace taala {

// Session::Impl: the session's identity, its revoked grants and its
// keepalive loop.

class Session::Impl {
 public:
  Impl(RpcCaller* client, uint64_t id, absl::Duration ttl,
       absl::Time created_at, SessionOptions options)
      : client_(client),
        id_(id),
        ttl_(ttl),
        options_(std::move(options)),
        keepalive_(client, id, ttl, created_at,
                   {[this](const v1::SessionEvent& e) { HandleEvent(e); },
                    [this](const absl::Status& why) {
                      if (options_.on_lost) options_.on_lost(why);
                    }}) {}

  ~Impl() { keepalive_.Stop(); }

  void Start() { keepalive_.Start(); }

  uint64_t id() const { return id_; }
  absl::Duration ttl() const { return ttl_; }
  RpcCaller* client() const { return client_; }
  bool lost() const { return keepalive_.lost(); }
  absl::Status lost_status() const { return keepalive_.lost_status(); }

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

  // Returns true the first time only.
  bool MarkClosed() { return keepalive_.MarkClosed(); }

 private:
  // A server event on the keepalive's reader thread.
  void HandleEvent(const v1::SessionEvent& e) ABSL_LOCKS_EXCLUDED(mu_) {
    if (e.type() == v1::SessionEvent::GRANT_REVOKED) {
      {
        absl::MutexLock lock(&mu_);
        revoked_.insert(e.fencing_token());
      }
      if (options_.on_revoked) {
        options_.on_revoked(e.key(), e.fencing_token(), e.reason());
      }
    } else if (e.type() == v1::SessionEvent::RELEASE_REQUESTED) {
      if (options_.on_release_requested) {
        options_.on_release_requested(e.key(), e.fencing_token(),
                                      e.requester_session_id(),
                                      e.requester_client_name());
      }
    }
  }

  RpcCaller* const client_;
  const uint64_t id_;
  const absl::Duration ttl_;
  const SessionOptions options_;
  mutable absl::Mutex mu_;  // A leaf: no other lock is taken under it.
  absl::flat_hash_set<uint64_t> revoked_ ABSL_GUARDED_BY(mu_);
  // Last: destroyed (and its threads stopped) first.
  KeepAliveLoop keepalive_;
};

absl::StatusOr<std::unique_ptr<Session>> Client::CreateSession(
    SessionOptions options) {
  v1::CreateSessionRequest req;
  req.set_ttl_ms(absl::ToInt64Milliseconds(options.ttl));
  req.set_client_name(options.client_name);
  for (const auto& [k, v] : options.labels) (*req.mutable_labels())[k] = v;
  v1::CreateSessionResponse resp;
  absl::Time sent;
  grpc::Status status = impl_->Call(
      [&](v1::LockService::Stub& stub, grpc::ClientContext* ctx) {
        SetTimeout(ctx, impl_->options().call_timeout);
        sent = SteadyNow();
        return stub.CreateSession(ctx, req, &resp);
      });
  if (!status.ok()) return FromGrpc(status);
  const absl::Duration ttl = absl::Milliseconds(resp.ttl_ms());
  auto impl = std::make_unique<Session::Impl>(
      impl_.get(), resp.session_id(), ttl, sent, std::move(options));
  impl->Start();
  return std::unique_ptr<Session>(new Session(std::move(impl)));
}

Session::Session(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Session::~Session() { Close().IgnoreError(); }

uint64_t Session::id() const { return impl_->id(); }
absl::Duration Session::ttl() const { return impl_->ttl(); }
bool Session::lost() const { return impl_->lost(); }
absl::Status Session::lost_status() const { return impl_->lost_status(); }
bool Session::Revoked(const LockGrant& grant) const {
  return impl_->Revoked(grant.fencing_token);
}

absl::StatusOr<std::optional<LockGrant>> Session::Acquire(
    absl::string_view key, AcquireOptions options) {
  if (options.lock_delay < absl::ZeroDuration() ||
      options.lock_delay == absl::InfiniteDuration()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "lock_delay: must be finite and not negative (key \"", key, "\")"));
  }
  RpcCaller* client = impl_->client();
  v1::AcquireRequest req;
  req.set_session_id(impl_->id());
  req.set_key(std::string(key));
  req.set_mode(options.shared ? v1::LOCK_MODE_SHARED
                              : v1::LOCK_MODE_EXCLUSIVE);
  req.set_max_hold_ms(DurationToMs(options.max_hold == absl::InfiniteDuration()
                               ? absl::ZeroDuration()
                               : options.max_hold));
  req.set_semaphore_size(options.semaphore_size);
  req.set_lock_delay_ms(DurationToMs(options.lock_delay));
  req.set_request_release(options.request_release);
  const absl::Time give_up = absl::Now() + options.wait;
  v1::AcquireResponse resp;
  grpc::Status status =
      client->Call([&](v1::LockService::Stub& stub, grpc::ClientContext* ctx) {
        // A retry waits only for what is left of the wait.
        const absl::Duration left =
            options.wait == absl::InfiniteDuration()
                ? absl::InfiniteDuration()
                : std::max(absl::ZeroDuration(), give_up - absl::Now());
        req.set_wait_timeout_ms(DurationToMs(left));
        SetTimeout(ctx, left + client->options().call_timeout);
        return stub.Acquire(ctx, req, &resp);
      });
  if (status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED) {
    // The server did not answer within the wait plus call_timeout. It may
    // have granted the key (the session then holds it until released or
    // closed): this is not "the key stayed held".
    return absl::UnavailableError(absl::StrCat(
        "no answer from taalad to Acquire of key \"", key,
        "\" within the wait plus call_timeout: ", status.error_message()));
  }
  if (!status.ok()) return FromGrpc(status);
  if (resp.result() != v1::AcquireResponse::ACQUIRED) {
    return std::optional<LockGrant>();
  }
  return std::optional<LockGrant>(LockGrant{
      resp.grant().key(), resp.grant().session_id(),
      resp.grant().fencing_token()});
}

absl::Status Session::Release(const LockGrant& grant) {
  RpcCaller* client = impl_->client();
  v1::ReleaseRequest req;
  req.set_session_id(impl_->id());
  req.set_key(grant.key);
  req.set_fencing_token(grant.fencing_token);
  v1::ReleaseResponse resp;
  int attempts = 0;
  grpc::Status status =
      client->Call([&](v1::LockService::Stub& stub, grpc::ClientContext* ctx) {
        ++attempts;
        SetTimeout(ctx, client->options().call_timeout);
        return stub.Release(ctx, req, &resp);
      });
  impl_->Forget(grant.fencing_token);
  if (status.error_code() == grpc::StatusCode::FAILED_PRECONDITION &&
      attempts > 1) {
    // An earlier attempt whose answer was lost released it: either way this
    // session no longer holds the grant, which is what Release is for.
    return absl::OkStatus();
  }
  return FromGrpc(status);
}

absl::Status Session::Close() {
  if (impl_->OnOwnThread()) {
    return absl::FailedPreconditionError(
        "Session::Close() called from a session callback; close it from "
        "another thread");
  }
  impl_->StopKeepAlive();
  const absl::Status lost = impl_->lost_status();
  if (!impl_->MarkClosed()) return absl::OkStatus();
  if (absl::IsNotFound(lost)) return absl::OkStatus();  // Ended by the server.
  RpcCaller* client = impl_->client();
  v1::CloseSessionRequest req;
  req.set_session_id(impl_->id());
  v1::CloseSessionResponse resp;
  grpc::Status status =
      client->Call([&](v1::LockService::Stub& stub, grpc::ClientContext* ctx) {
        SetTimeout(ctx, client->options().call_timeout);
        return stub.CloseSession(ctx, req, &resp);
      });
  if (status.error_code() == grpc::StatusCode::NOT_FOUND) {
    return absl::OkStatus();  // Expired meanwhile: nothing left to close.
  }
  return FromGrpc(status);
}

}  // namespace taala
