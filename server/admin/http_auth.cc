#include "server/admin/http_auth.h"

#include <memory>
#include <optional>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace taala::admin {

bool IsProbePath(absl::string_view path) {
  return path == "/healthz" || path == "/readyz";
}

auth::Permission PermissionForPath(absl::string_view path) {
  // Prometheus scrapes figures, not lock state: `read` is enough. The
  // dashboard and the JSON endpoints show every holder, label and session.
  return path == "/metrics" ? auth::Permission::kRead
                            : auth::Permission::kAdmin;
}

bool IsOpenToAnyone(const auth::AuthConfig& config) {
  return config.allow_anonymous && !config.tokens.has_value() &&
         !config.acl.has_value();
}

absl::Status CheckHttpCaller(const auth::AuthState* state,
                             absl::string_view authorization,
                             auth::Permission need) {
  if (state == nullptr) return absl::OkStatus();
  const std::shared_ptr<const auth::AuthConfig> config = state->Current();
  // Open only when the gRPC port admits anonymous callers too and
  // nothing narrows what they may do: otherwise the listener (whose
  // answers are taalad's own) would bypass mutual TLS or the ACL.
  if (IsOpenToAnyone(*config)) return absl::OkStatus();
  if (!config->tokens.has_value()) {
    return absl::UnauthenticatedError(
        "the admin listener takes bearer tokens only and taalad has no "
        "--auth_tokens_file: only /healthz and /readyz are served");
  }
  if (authorization.empty()) {
    return absl::UnauthenticatedError(
        "no credentials: send Authorization: Bearer <token> (a token of "
        "--auth_tokens_file)");
  }
  absl::string_view token = authorization;
  if (token.size() < 7 || !absl::EqualsIgnoreCase(token.substr(0, 7),
                                                  "Bearer ")) {
    return absl::UnauthenticatedError(
        "Authorization: want \"Bearer <token>\"");
  }
  token = absl::StripAsciiWhitespace(token.substr(7));
  std::optional<std::string> name;
  if (!token.empty()) {
    name = config->tokens->IdentityFor(token);
  }
  if (!name.has_value()) {
    return absl::UnauthenticatedError(
        "bearer token unknown (not in --auth_tokens_file)");
  }
  auth::Identity who;
  who.name = *name;
  // Without an ACL every identity admitted may do everything.
  if (!config->acl.has_value() || config->acl->AllowsEverywhere(who, need)) {
    return absl::OkStatus();
  }
  return absl::PermissionDeniedError(absl::StrCat(
      "identity \"", who.name, "\" lacks permission '",
      auth::PermissionName(need), "' on key \"\" (every key; --acl_file)"));
}

}  // namespace taala::admin
