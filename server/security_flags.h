#ifndef TAALA_SERVER_SECURITY_FLAGS_H_
#define TAALA_SERVER_SECURITY_FLAGS_H_

// taalad's security flags, kept out of main.cc. STAND-IN (acl helper,
// issue 12): only --acl_file and --auth_tokens_file, read once at start, so
// that the ACL can be tested end to end. The identity helper's version
// (TLS, --allow_anonymous, SIGHUP reloads) replaces this file whole.

#include <memory>

#include "absl/status/statusor.h"
#include "server/auth/auth_config.h"
#include "server/auth/rate_limiter.h"
#include "server/rpc/audit_log.h"
#include "server/rpc/call_gate.h"

namespace taala {

struct DaemonSecurity {
  auth::AuthState auth;
  auth::RateLimiter limiter{0, 0};
  AuditLog audit;
  CallGate gate{&auth, &limiter, &audit};
};

// Reads --acl_file and --auth_tokens_file (an error names the flag, the
// file and the line).
absl::StatusOr<std::unique_ptr<DaemonSecurity>> LoadSecurityFlags();

}  // namespace taala

#endif  // TAALA_SERVER_SECURITY_FLAGS_H_
