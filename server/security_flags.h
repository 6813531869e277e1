#ifndef TAALA_SERVER_SECURITY_FLAGS_H_
#define TAALA_SERVER_SECURITY_FLAGS_H_

// taalad's transport security and authentication flags (--tls_cert,
// --tls_key, --tls_client_ca, --tls_reload_interval, --auth_tokens_file,
// --acl_file, --allow_anonymous; docs/security.md), kept out of main.cc:
// what they build is one DaemonSecurity that main.cc hands to the server
// and the services.

#include <grpcpp/security/server_credentials.h>

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "server/auth/auth_config.h"
#include "server/auth/rate_limiter.h"
#include "server/rpc/audit_log.h"
#include "server/rpc/call_gate.h"

namespace taala {

// Everything the flags decide, for the daemon's life. Build it before the
// services; it must outlive the server.
struct DaemonSecurity {
  DaemonSecurity();
  ~DaemonSecurity();

  // The gRPC port's credentials: TLS (certificates reloaded when their
  // files change) with --tls_cert/--tls_key, else plaintext.
  std::shared_ptr<grpc::ServerCredentials> credentials;
  bool tls = false;

  auth::AuthState auth;
  auth::RateLimiter limiter{0, 0};  // The limits helper sets the real rate.
  AuditLog audit;
  CallGate gate{&auth, &limiter, &audit};

  // Re-reads --auth_tokens_file and --acl_file (SIGHUP) and swaps them in
  // whole; if either fails, keeps the config in force and logs why (the
  // file and the line) at error. Logs the counts on success.
  void Reload();

  // The flags, as read at startup.
  std::string tokens_file;
  std::string acl_file;
  bool client_certificates = false;
  bool allow_anonymous = true;
};

// Checks the flags (a certificate without a key, a client CA without a
// certificate, unreadable or unparsable files: an error that says which),
// loads the token and ACL files and builds the credentials.
absl::StatusOr<std::unique_ptr<DaemonSecurity>> SetUpSecurity();

}  // namespace taala

#endif  // TAALA_SERVER_SECURITY_FLAGS_H_
