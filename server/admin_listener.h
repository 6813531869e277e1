#ifndef TAALA_SERVER_ADMIN_LISTENER_H_
#define TAALA_SERVER_ADMIN_LISTENER_H_

// taalad's --admin_listen: the address check and the start of the HTTP
// admin listener (server/admin) over the gRPC server's in-process channel.

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "server/admin/admin_server.h"

namespace grpc {
class Server;
}  // namespace grpc

namespace taala {

// OK for an empty address (no listener) or a loopback one. A non-loopback
// address (0.0.0.0:7071 for a container's probes) when `auth` closes the
// listener to anonymous callers (then only /healthz and /readyz answer
// without a bearer token), or with `allow_remote` (--insecure_allow_remote).
absl::Status CheckAdminListen(const std::string& listen, bool allow_remote,
                              const auth::AuthState* auth = nullptr);

// Starts the listener on `listen` ("host:port"; null if empty) with its
// answers read through `server`, and writes its port to `port_file` (if
// set). The error names the flag and why the address could not be had
// ("address in use ..."). `auth` (the daemon's; null: open) decides who
// may read it (server/admin/http_auth.h); it must outlive the listener.
absl::StatusOr<std::unique_ptr<admin::AdminServer>> StartAdmin(
    const std::string& listen, const std::string& port_file,
    grpc::Server* server, const auth::AuthState* auth = nullptr);

}  // namespace taala

#endif  // TAALA_SERVER_ADMIN_LISTENER_H_
