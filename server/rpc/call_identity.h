#ifndef TAALA_SERVER_RPC_CALL_IDENTITY_H_
#define TAALA_SERVER_RPC_CALL_IDENTITY_H_

// Reads who makes a gRPC call off the call itself (docs/security.md): the
// bearer token in its metadata, the verified client certificate of its
// connection, or else its peer address (anonymous).

#include <grpcpp/server_context.h>

#include "absl/status/statusor.h"
#include "server/auth/auth_config.h"
#include "server/auth/identity.h"

namespace taala {

// The caller's identity under `config`. UNAUTHENTICATED (saying what was
// missing or wrong) for an unknown token, or for an anonymous caller when
// `config` does not admit anonymous callers. Calls over the daemon's own
// in-process channel are internal.
absl::StatusOr<auth::Identity> IdentifyCaller(
    const grpc::ServerContextBase& ctx, const auth::AuthConfig& config);

}  // namespace taala

#endif  // TAALA_SERVER_RPC_CALL_IDENTITY_H_
