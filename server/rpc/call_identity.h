#ifndef TAALA_SERVER_RPC_CALL_IDENTITY_H_
#define TAALA_SERVER_RPC_CALL_IDENTITY_H_

// Reads who makes a gRPC call off the call itself (docs/security.md): the
// bearer token in its metadata, the verified client certificate of its
// connection, or else its peer address (anonymous).

#include <grpcpp/server_context.h>

#include <string>

#include "absl/status/statusor.h"
#include "server/auth/auth_config.h"
#include "server/auth/identity.h"

namespace taala {

// Calls taalad makes to itself (the admin listener's in-process channel)
// carry this metadata with InternalCallSecret(): a random value made once
// per process that never leaves it, so no network caller can claim to be
// taalad (the in-process peer's name is no proof: gRPC calls it "unknown").
inline constexpr char kInternalCallMetadata[] = "x-taala-internal";
const std::string& InternalCallSecret();

// The caller's identity under `config`. UNAUTHENTICATED (saying what was
// missing or wrong) for an unknown token, or for an anonymous caller when
// `config` does not admit anonymous callers. Calls carrying
// InternalCallSecret() are internal.
absl::StatusOr<auth::Identity> IdentifyCaller(
    const grpc::ServerContextBase& ctx, const auth::AuthConfig& config);

}  // namespace taala

#endif  // TAALA_SERVER_RPC_CALL_IDENTITY_H_
