#include "server/rpc/call_identity.h"

#include <string>

namespace taala {

// Skeleton (issue 12): the identity helper adds tokens and certificates.
absl::StatusOr<auth::Identity> IdentifyCaller(
    const grpc::ServerContextBase& ctx, const auth::AuthConfig& config) {
  const std::string peer = ctx.peer();
  if (peer.rfind("inproc", 0) == 0) {
    auth::Identity internal;
    internal.name = "taalad";
    internal.internal = true;
    return internal;
  }
  if (!config.allow_anonymous) {
    return absl::UnauthenticatedError(
        "no credentials: this taalad admits only callers with a bearer token "
        "or a client certificate");
  }
  return auth::AnonymousIdentity(peer);
}

}  // namespace taala
