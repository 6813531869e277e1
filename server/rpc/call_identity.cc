#include "server/rpc/call_identity.h"

#include <grpcpp/security/auth_context.h>

#include <memory>
#include <optional>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace taala {
namespace {

constexpr absl::string_view kBearer = "Bearer ";

// The first value of `property` in a verified connection's auth context.
std::string FirstProperty(const grpc::AuthContext& auth,
                          const char* property) {
  for (const grpc::string_ref& value : auth.FindPropertyValues(property)) {
    if (value.size() > 0) return std::string(value.data(), value.size());
  }
  return std::string();
}

// The identity a verified client certificate names: its subject CN, else
// its first subject alternative name. Empty without a verified certificate.
std::string CertificateIdentity(const grpc::ServerContextBase& ctx) {
  std::shared_ptr<const grpc::AuthContext> auth = ctx.auth_context();
  // gRPC marks a connection "peer identity"-authenticated only once the
  // client's certificate chain was verified against --tls_client_ca.
  if (auth == nullptr || !auth->IsPeerAuthenticated()) return std::string();
  std::string name = FirstProperty(*auth, "x509_common_name");
  if (name.empty()) name = FirstProperty(*auth, "x509_subject_alternative_name");
  return name;
}

}  // namespace

absl::StatusOr<auth::Identity> IdentifyCaller(
    const grpc::ServerContextBase& ctx, const auth::AuthConfig& config) {
  const std::string peer = ctx.peer();
  if (peer.rfind("inproc", 0) == 0) {
    auth::Identity internal;
    internal.name = "taalad";
    internal.internal = true;
    return internal;
  }
  // The default (no auth flag): nothing to look at but the peer.
  if (!config.tokens.has_value() && !config.client_certificates) {
    return auth::AnonymousIdentity(peer);
  }
  if (config.tokens.has_value()) {
    const auto& metadata = ctx.client_metadata();
    auto it = metadata.find("authorization");
    if (it != metadata.end()) {
      const absl::string_view value(it->second.data(), it->second.size());
      if (!absl::StartsWith(value, kBearer)) {
        return absl::UnauthenticatedError(
            "the authorization metadata is not \"Bearer <token>\"");
      }
      std::optional<std::string> name =
          config.tokens->IdentityFor(value.substr(kBearer.size()));
      if (!name.has_value()) {
        return absl::UnauthenticatedError(
            "the bearer token is not in --auth_tokens_file");
      }
      auth::Identity who;
      who.name = *std::move(name);
      return who;
    }
  }
  if (config.client_certificates) {
    std::string name = CertificateIdentity(ctx);
    if (!name.empty()) {
      auth::Identity who;
      who.name = std::move(name);
      return who;
    }
  }
  if (!config.allow_anonymous) {
    return absl::UnauthenticatedError(absl::StrCat(
        "no credentials: this taalad admits only callers with ",
        config.tokens.has_value() && config.client_certificates
            ? "a bearer token (authorization: Bearer <token>) or a client "
              "certificate"
        : config.tokens.has_value()
            ? "a bearer token (authorization: Bearer <token>)"
            : "a client certificate"));
  }
  return auth::AnonymousIdentity(peer);
}

}  // namespace taala
