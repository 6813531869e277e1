#include "server/rpc/call_identity.h"

#include <grpcpp/security/auth_context.h>
#include <sys/random.h>

#include <memory>
#include <optional>
#include <string>

#include "absl/strings/escaping.h"
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

// Equal, in time that does not depend on where they differ.
bool SameSecret(absl::string_view a, absl::string_view b) {
  if (a.size() != b.size()) return false;
  unsigned char diff = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  }
  return diff == 0;
}

}  // namespace

const std::string& InternalCallSecret() {
  static const std::string* const secret = [] {
    unsigned char bytes[32] = {};
    size_t got = 0;
    while (got < sizeof(bytes)) {
      const ssize_t n = getrandom(bytes + got, sizeof(bytes) - got, 0);
      if (n > 0) got += static_cast<size_t>(n);
    }
    return new std::string(absl::BytesToHexString(absl::string_view(
        reinterpret_cast<const char*>(bytes), sizeof(bytes))));
  }();
  return *secret;
}

absl::StatusOr<auth::Identity> IdentifyCaller(
    const grpc::ServerContextBase& ctx, const auth::AuthConfig& config) {
  const auto& metadata = ctx.client_metadata();
  if (auto it = metadata.find(kInternalCallMetadata); it != metadata.end()) {
    if (!SameSecret(absl::string_view(it->second.data(), it->second.size()),
                    InternalCallSecret())) {
      return absl::UnauthenticatedError(
          "the x-taala-internal metadata is taalad's own; callers must not "
          "send it");
    }
    auth::Identity internal;
    internal.name = "taalad";
    internal.internal = true;
    return internal;
  }
  const std::string peer = ctx.peer();
  // The default (no auth flag): nothing to look at but the peer.
  if (!config.tokens.has_value() && !config.client_certificates) {
    return auth::AnonymousIdentity(peer);
  }
  if (config.tokens.has_value()) {
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
      if (auth::IsReservedIdentityName(name)) {
        return absl::UnauthenticatedError(absl::StrCat(
            "the client certificate names \"", name,
            "\", a name reserved for taalad's own identities (anonymous@... "
            "and taalad)"));
      }
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
