#include "server/rpc/audit_log.h"

#include <spdlog/spdlog.h>

#include <string>

namespace taala {

// Skeleton (issue 12): the limits helper adds the per-identity rate limit.
void AuditLog::Refused(const auth::Identity& who, absl::string_view call,
                       absl::string_view key, const absl::Status& status) {
  spdlog::warn("audit: refused {} by {} (key \"{}\"): {}", std::string(call),
               who.name, std::string(key), status.ToString());
}

void AuditLog::AdminAction(const auth::Identity& who, absl::string_view call,
                           absl::string_view key, absl::string_view what) {
  spdlog::warn("audit: {} by {} (key \"{}\"): {}", std::string(call), who.name,
               std::string(key), std::string(what));
}

}  // namespace taala
