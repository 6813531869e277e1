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

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "client/keepalive_loop.h"
#include "client/key_table.h"
#include "client/rpc_caller.h"
#include "client/session_impl.h"
#include "common/wire_time.h"
#include "taala/v1/lock_service.grpc.pb.h"

namespace taala {

Session::Impl::Impl(RpcCaller* client, uint64_t id, absl::Duration ttl,
                    absl::Time created_at, SessionOptions options)
    : client_(client),
      id_(id),
      ttl_(ttl),
      options_(std::move(options)),
      keepalive_(client, id, ttl, created_at,
                 {[this](const v1::SessionEvent& e) { HandleEvent(e); },
                  [this](const absl::Status& why) {
                    keys_.End(why);
                    if (options_.on_lost) options_.on_lost(why);
                  }}) {}

bool Session::Impl::MarkClosed() {
  const bool first = keepalive_.MarkClosed();
  keys_.End(keepalive_.lost_status());
  return first;
}

void Session::Impl::HandleEvent(const v1::SessionEvent& e) {
  if (e.type() == v1::SessionEvent::GRANT_REVOKED) {
    {
      absl::MutexLock lock(&mu_);
      revoked_.insert(e.fencing_token());
    }
    keys_.Revoked(e.key(), e.fencing_token());
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

absl::Status Session::Impl::Answered(const grpc::Status& status) {
  absl::Status s = FromGrpc(status);
  if (absl::IsNotFound(s)) {
    // The server does not know the session (it expired, or the server
    // restarted without it): final. Every Lock stops owning at once.
    keepalive_.EndedByServer(s);
    keys_.End(s);
  }
  return s;
}

bool WaitDied(const grpc::Status& status) {
  // UNAVAILABLE: the server is down, or ended the wait as it shut down.
  // CANCELLED: the call was cut (a server going away cancels its calls),
  // unless the server says a newer Acquire of the session took its place.
  return CutInTransit(status);
}

bool Session::Impl::AwaitServer(absl::Duration* backoff, absl::Time until) {
  // Like the keepalive's reconnect: a channel that is down is watched in
  // short slices and the call goes again as soon as it connects (a
  // restarted server); a connected one (a server refusing while it shuts
  // down) gets the backoff.
  const size_t endpoint = client_->current();
  const bool down = !client_->Connected(endpoint);
  const absl::Time end =
      std::min(until, absl::Now() + client_->Jitter(*backoff));
  *backoff = client_->NextBackoff(*backoff);
  constexpr absl::Duration kSlice = absl::Milliseconds(100);
  while (!lost()) {
    const absl::Duration rest = end - absl::Now();
    if (rest <= absl::ZeroDuration()) return absl::Now() < until;
    if (down && client_->WaitForConnected(endpoint, std::min(kSlice, rest))) {
      *backoff = client_->options().retry.initial_backoff;
      return !lost();
    }
    if (!down) absl::SleepFor(std::min(kSlice, rest));
  }
  return false;
}

bool OutcomeUnknown(const absl::Status& status) {
  return absl::IsUnavailable(status) || absl::IsDeadlineExceeded(status) ||
         absl::IsUnknown(status) || absl::IsCancelled(status);
}

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
Session::~Session() {
  Close().IgnoreError();
  // Locks still calling on other threads (against the lifetime rule) fail
  // now that the session is closed: let them leave before the table goes.
  impl_->keys().AwaitIdle();
}

uint64_t Session::id() const { return impl_->id(); }
absl::Duration Session::ttl() const { return impl_->ttl(); }
bool Session::lost() const { return impl_->lost(); }
absl::Status Session::lost_status() const { return impl_->lost_status(); }
bool Session::Revoked(const LockGrant& grant) const {
  return impl_->Revoked(grant.fencing_token);
}

absl::StatusOr<Session::Impl::Answer> Session::Impl::AcquireOnServer(
    absl::string_view key, const AcquireOptions& options) {
  if (options.lock_delay < absl::ZeroDuration() ||
      options.lock_delay == absl::InfiniteDuration()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "lock_delay: must be finite and not negative (key \"", key, "\")"));
  }
  if (options.max_hold < absl::ZeroDuration()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "max_hold: must not be negative (key \"", key, "\")"));
  }
  // Whole milliseconds on the wire, rounded up: a sub-millisecond value
  // sent as 0 would mean "no limit" / "no delay", over any policy.
  auto ms_up = [](absl::Duration d) {
    return absl::ToInt64Milliseconds(absl::Ceil(d, absl::Milliseconds(1)));
  };
  RpcCaller* client = client_;
  v1::AcquireRequest req;
  req.set_session_id(id_);
  req.set_key(std::string(key));
  req.set_mode(options.shared ? v1::LOCK_MODE_SHARED
                              : v1::LOCK_MODE_EXCLUSIVE);
  // Left unset when at their defaults, so that the key's lock policy on the
  // server (docs/policies.md) applies. The wait is always explicit (set
  // below): lock() waits until granted whatever a policy says.
  if (options.max_hold == absl::InfiniteDuration()) {
    req.set_max_hold_ms(0);  // Explicitly no limit, over any policy.
  } else if (options.max_hold != absl::ZeroDuration()) {
    req.set_max_hold_ms(ms_up(options.max_hold));
  }
  if (options.semaphore_size > 0) {
    req.set_semaphore_size(options.semaphore_size);
  }
  if (options.lock_delay > absl::ZeroDuration()) {
    req.set_lock_delay_ms(ms_up(options.lock_delay));
  }
  req.set_request_release(options.request_release);
  const absl::Time give_up = absl::Now() + options.wait;
  auto left = [&] {
    return options.wait == absl::InfiniteDuration()
               ? absl::InfiniteDuration()
               : std::max(absl::ZeroDuration(), give_up - absl::Now());
  };
  v1::AcquireResponse resp;
  Answer answer;
  absl::Duration backoff = client->options().retry.initial_backoff;
  grpc::Status status;
  while (true) {
    status = client->Call(
        [&](v1::LockService::Stub& stub, grpc::ClientContext* ctx) {
          ++answer.attempts;
          // A retry waits only for what is left of the wait.
          req.set_wait_timeout_ms(DurationToMs(left()));
          SetTimeout(ctx, left() + client->options().call_timeout);
          return stub.Acquire(ctx, req, &resp);
        });
    // A waiting Acquire whose server went away (crashed or restarting: the
    // wait died with it) asks again, past the retry policy, for as long as
    // the wait and the session last: a restarted server keeps the session.
    if (!WaitDied(status) || options.wait <= absl::ZeroDuration() ||
        !AwaitServer(&backoff, give_up)) {
      break;
    }
  }
  if (WaitDied(status) && lost()) {
    return lost_status();  // Why the waiting stopped.
  }
  if (status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED) {
    // The server did not answer within the wait plus call_timeout. It may
    // have granted the key (the session then holds it until released or
    // closed): this is not "the key stayed held".
    return absl::UnavailableError(absl::StrCat(
        "no answer from taalad to Acquire of key \"", key,
        "\" within the wait plus call_timeout: ", status.error_message()));
  }
  if (!status.ok()) return Answered(status);
  if (resp.result() == v1::AcquireResponse::ACQUIRED) {
    answer.grant = LockGrant{resp.grant().key(), resp.grant().session_id(),
                             resp.grant().fencing_token()};
    answer.already_held = resp.already_held();
  }
  return answer;
}

absl::StatusOr<std::optional<LockGrant>> Session::Acquire(
    absl::string_view key, AcquireOptions options) {
  if (impl_->keys().InUse(std::string(key))) {
    // The server would answer with the Lock's grant: a second ownership.
    return absl::FailedPreconditionError(absl::StrCat(
        "key \"", key, "\" is in use by a taala::Lock of session ",
        impl_->id(), "; Session::Acquire does not share it"));
  }
  absl::StatusOr<Impl::Answer> answer = impl_->AcquireOnServer(key, options);
  if (!answer.ok()) return answer.status();
  return std::move(answer->grant);
}

absl::Status Session::Release(const LockGrant& grant) {
  return impl_->ReleaseOnServer(grant);
}

absl::Status Session::Impl::ReleaseOnServer(const LockGrant& grant) {
  RpcCaller* client = client_;
  v1::ReleaseRequest req;
  req.set_session_id(id_);
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
  Forget(grant.fencing_token);
  if (status.error_code() == grpc::StatusCode::FAILED_PRECONDITION &&
      attempts > 1) {
    // An earlier attempt whose answer was lost released it: either way this
    // session no longer holds the grant, which is what Release is for.
    return absl::OkStatus();
  }
  return Answered(status);
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
