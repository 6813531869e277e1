#include "server/rpc/call_gate.h"

#include <memory>
#include <utility>

#include "absl/strings/str_cat.h"
#include "server/core/key.h"
#include "server/rpc/call_identity.h"

namespace taala {

CallGate::CallGate()
    : owned_state_(std::make_unique<auth::AuthState>()),
      owned_limiter_(std::make_unique<auth::RateLimiter>(0, 0)),
      owned_audit_(std::make_unique<AuditLog>()),
      state_(owned_state_.get()),
      limiter_(owned_limiter_.get()),
      audit_(owned_audit_.get()) {}

CallGate::CallGate(auth::AuthState* state, auth::RateLimiter* limiter,
                   AuditLog* audit)
    : state_(state), limiter_(limiter), audit_(audit) {}

absl::StatusOr<auth::Identity> CallGate::Authenticate(
    const grpc::ServerContextBase& ctx, absl::string_view call) {
  // Per call: no mutex shared by every call (AuthState::Get).
  const auth::AuthConfig& config = state_->Get();
  absl::StatusOr<auth::Identity> who = IdentifyCaller(ctx, config);
  if (!who.ok()) {
    auth::Identity unknown = auth::AnonymousIdentity(ctx.peer());
    audit_->Refused(unknown, call, "", who.status());
    return who.status();
  }
  if (!who->internal && !limiter_->Take(who->name, absl::Now())) {
    absl::Status s = absl::ResourceExhaustedError(absl::StrCat(
        "limit --max_requests_per_second_per_identity=", limiter_->rate(),
        " reached by identity \"", who->name, "\"; retry with backoff"));
    audit_->Refused(*who, call, "", s);
    return s;
  }
  return who;
}

absl::Status CallGate::Authorize(const auth::Identity& who,
                                 auth::Permission permission,
                                 absl::string_view key,
                                 absl::string_view call) {
  if (who.internal) return absl::OkStatus();
  // Per call: no mutex shared by every call (AuthState::Get).
  const auth::AuthConfig& config = state_->Get();
  if (!config.acl.has_value() || config.acl->Allows(who, permission, key)) {
    return absl::OkStatus();
  }
  absl::Status s = absl::PermissionDeniedError(absl::StrCat(
      "identity ", table_internal::Quote(who.name), " lacks permission '",
      auth::PermissionName(permission), "' on key ",
      table_internal::Quote(key), " (--acl_file)"));
  audit_->Refused(who, call, key, s);
  return s;
}

absl::Status CallGate::AuthorizeAnywhere(const auth::Identity& who,
                                         auth::Permission permission,
                                         absl::string_view call) {
  if (who.internal) return absl::OkStatus();
  // Per call: no mutex shared by every call (AuthState::Get).
  const auth::AuthConfig& config = state_->Get();
  if (!config.acl.has_value() ||
      config.acl->AllowsAnywhere(who, permission)) {
    return absl::OkStatus();
  }
  absl::Status s = absl::PermissionDeniedError(absl::StrCat(
      "identity \"", who.name, "\" lacks permission '",
      auth::PermissionName(permission), "' on any key (--acl_file)"));
  audit_->Refused(who, call, "", s);
  return s;
}

bool CallGate::Allowed(const auth::Identity& who,
                       auth::Permission permission, absl::string_view key) {
  if (who.internal) return true;
  // Per call: no mutex shared by every call (AuthState::Get).
  const auth::AuthConfig& config = state_->Get();
  return !config.acl.has_value() || config.acl->Allows(who, permission, key);
}

bool CallGate::AllowedEverywhere(const auth::Identity& who,
                                 auth::Permission permission) {
  if (who.internal) return true;
  // Per call: no mutex shared by every call (AuthState::Get).
  const auth::AuthConfig& config = state_->Get();
  return !config.acl.has_value() ||
         config.acl->AllowsEverywhere(who, permission);
}

absl::StatusOr<auth::Identity> CallGate::Admit(
    const grpc::ServerContextBase& ctx, absl::string_view call,
    auth::Permission permission, absl::string_view key) {
  absl::StatusOr<auth::Identity> who = Authenticate(ctx, call);
  if (!who.ok()) return who.status();
  if (absl::Status s = Authorize(*who, permission, key, call); !s.ok()) {
    return s;
  }
  return who;
}

absl::StatusOr<auth::Identity> CallGate::Recheck(
    const grpc::ServerContextBase& ctx,
    std::optional<auth::Permission> permission, absl::string_view key) {
  const auth::AuthConfig& config = state_->Get();
  absl::StatusOr<auth::Identity> who = IdentifyCaller(ctx, config);
  if (!who.ok()) {
    return absl::UnauthenticatedError(absl::StrCat(
        "credentials refused after a reload: ", who.status().message()));
  }
  if (permission.has_value() && !who->internal && config.acl.has_value() &&
      !config.acl->Allows(*who, *permission, key)) {
    return absl::PermissionDeniedError(absl::StrCat(
        "identity ", table_internal::Quote(who->name), " lacks permission '",
        auth::PermissionName(*permission), "' on key ",
        table_internal::Quote(key), " (--acl_file, reloaded)"));
  }
  return who;
}

void CallGate::NoteRefused(const auth::Identity& who, absl::string_view call,
                           absl::string_view key, const absl::Status& status) {
  audit_->Refused(who, call, key, status);
}

}  // namespace taala
