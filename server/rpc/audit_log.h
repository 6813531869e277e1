#ifndef TAALA_SERVER_RPC_AUDIT_LOG_H_
#define TAALA_SERVER_RPC_AUDIT_LOG_H_

// The audit trail in the log (docs/security.md): one warning line per
// refused call and per admin action, with the identity, the call, the key
// and why; at most 10 lines per second per identity, the rest counted and
// reported as suppressed with the next line that is written.

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "server/auth/identity.h"

namespace taala {

// Thread safety: every method may be called concurrently. Never call it
// with a table mutex held (it logs).
class AuditLog {
 public:
  AuditLog() = default;
  AuditLog(const AuditLog&) = delete;
  AuditLog& operator=(const AuditLog&) = delete;

  void Refused(const auth::Identity& who, absl::string_view call,
               absl::string_view key, const absl::Status& status);
  void AdminAction(const auth::Identity& who, absl::string_view call,
                   absl::string_view key, absl::string_view what);
};

}  // namespace taala

#endif  // TAALA_SERVER_RPC_AUDIT_LOG_H_
