#ifndef TAALA_SERVER_GRPC_SERVER_H_
#define TAALA_SERVER_GRPC_SERVER_H_

// taalad's gRPC server: one port, its credentials, the services, and the
// channel arguments every deployment needs (one daemon per port, client
// pings, the transport limits of limit_transport_flags.h).

#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace taala {

// Builds and starts the server on `listen`; sets `*port` to the port bound.
// An error (a bad transport-limit flag, a port that cannot be bound) says
// why.
absl::StatusOr<std::unique_ptr<grpc::Server>> StartGrpcServer(
    const std::string& listen,
    std::shared_ptr<grpc::ServerCredentials> credentials,
    const std::vector<grpc::Service*>& services, int* port);

}  // namespace taala

#endif  // TAALA_SERVER_GRPC_SERVER_H_
