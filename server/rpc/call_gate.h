#ifndef TAALA_SERVER_RPC_CALL_GATE_H_
#define TAALA_SERVER_RPC_CALL_GATE_H_

// The door every call goes through before it reaches the table
// (docs/security.md): who is calling (call_identity.h), whether it is over
// its request rate, and whether the ACL lets it do this to this key. Each
// refusal is written to the audit log.

#include <grpcpp/server_context.h>

#include <cstdint>
#include <optional>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "server/auth/auth_config.h"
#include "server/auth/identity.h"
#include "server/auth/rate_limiter.h"
#include "server/rpc/audit_log.h"

namespace taala {

// Thread safety: every method may be called concurrently.
class CallGate {
 public:
  // Open: anonymous callers, no ACL, no rate limit (unit tests that build
  // a service alone).
  CallGate();
  // Each must outlive *this.
  CallGate(auth::AuthState* state, auth::RateLimiter* limiter,
           AuditLog* audit);
  CallGate(const CallGate&) = delete;
  CallGate& operator=(const CallGate&) = delete;

  // Who makes the call. UNAUTHENTICATED as IdentifyCaller; RESOURCE_EXHAUSTED
  // naming --max_requests_per_second_per_identity past its rate. `call` is
  // the method's name, for the audit log.
  absl::StatusOr<auth::Identity> Authenticate(
      const grpc::ServerContextBase& ctx, absl::string_view call);

  // OK if `who` may use `permission` on `key` (a key, or the prefix a
  // listing covers); PERMISSION_DENIED naming the identity, the key and the
  // permission otherwise (audited).
  absl::Status Authorize(const auth::Identity& who,
                         auth::Permission permission, absl::string_view key,
                         absl::string_view call);
  // OK if `who` has `permission` on some prefix (a call with no key, such
  // as CreateSession, needs `lock` somewhere).
  absl::Status AuthorizeAnywhere(const auth::Identity& who,
                                 auth::Permission permission,
                                 absl::string_view call);
  // True if `who` has `permission` on `key`; nothing audited (a filter of
  // what an allowed call shows, not a refusal).
  bool Allowed(const auth::Identity& who, auth::Permission permission,
               absl::string_view key);
  // True if `who` has `permission` on every key (ListSessions shows other
  // identities' sessions only with `read` on everything).
  bool AllowedEverywhere(const auth::Identity& who,
                         auth::Permission permission);

  // Authenticate, then Authorize.
  absl::StatusOr<auth::Identity> Admit(const grpc::ServerContextBase& ctx,
                                       absl::string_view call,
                                       auth::Permission permission,
                                       absl::string_view key);

  // Writes a refusal decided elsewhere (a limit, a foreign session) to the
  // audit log.
  void NoteRefused(const auth::Identity& who, absl::string_view call,
                   absl::string_view key, const absl::Status& status);
  AuditLog& audit() { return *audit_; }

  // Open streams (a KeepAlive stream, a Watch) outlive a reload (SIGHUP):
  // each notes this version BEFORE it authenticates, and when it has
  // changed calls Recheck (cheap to compare, per message).
  uint64_t config_version() const { return state_->version(); }
  // Who makes the open call `ctx` under the config in force now, and, with
  // `permission`, whether it may still use it on `key`: UNAUTHENTICATED or
  // PERMISSION_DENIED as Authenticate and Authorize. Neither rate-limited
  // nor audited, and it logs nothing, so a stream may call it under its own
  // mutex; the stream audits a refusal (NoteRefused), never under a table
  // or hub mutex.
  absl::StatusOr<auth::Identity> Recheck(
      const grpc::ServerContextBase& ctx,
      std::optional<auth::Permission> permission, absl::string_view key);

 private:
  std::unique_ptr<auth::AuthState> owned_state_;
  std::unique_ptr<auth::RateLimiter> owned_limiter_;
  std::unique_ptr<AuditLog> owned_audit_;
  auth::AuthState* const state_;
  auth::RateLimiter* const limiter_;
  AuditLog* const audit_;
};

}  // namespace taala

#endif  // TAALA_SERVER_RPC_CALL_GATE_H_
