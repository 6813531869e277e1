#ifndef TAALA_SERVER_ADMIN_HTTP_AUTH_H_
#define TAALA_SERVER_ADMIN_HTTP_AUTH_H_

// Who may read the admin listener (docs/security.md). Its answers come
// through the daemon's in-process channel, whose calls are taalad's own
// (every permission), so the listener checks its HTTP callers itself:
// once taalad has --auth_tokens_file or --acl_file, or does not admit
// anonymous callers (e.g. --tls_client_ca alone), a request needs
// `Authorization: Bearer <token>` of an identity with `admin` on every key
// (the dashboard and /api/v1/...), or `read` on every key (/metrics).
// /healthz and /readyz stay open (probes). Without a tokens file such a
// listener serves the probes only. Internal to server/admin (and its
// address check, server/admin_listener.cc).

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "server/auth/auth_config.h"

namespace taala::admin {

// True when `config` lets every caller read everything the listener
// serves: the gRPC port admits anonymous callers and there is neither a
// tokens file nor an ACL.
bool IsOpenToAnyone(const auth::AuthConfig& config);

// /healthz and /readyz: open to every caller.
bool IsProbePath(absl::string_view path);
// What any other path needs on every key: `read` for /metrics, `admin`
// for the rest.
auth::Permission PermissionForPath(absl::string_view path);

// OK if the caller whose Authorization header is `authorization` may use
// `need` on every key under `state` (null: no auth, open).
// UNAUTHENTICATED if the header is missing, not "Bearer <token>" or names
// no known token; PERMISSION_DENIED (naming the identity and permission)
// if the ACL does not grant it.
absl::Status CheckHttpCaller(const auth::AuthState* state,
                             absl::string_view authorization,
                             auth::Permission need);

}  // namespace taala::admin

#endif  // TAALA_SERVER_ADMIN_HTTP_AUTH_H_
