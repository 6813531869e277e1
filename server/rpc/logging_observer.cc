#include "server/rpc/logging_observer.h"

#include <string>

#include "spdlog/spdlog.h"

namespace taala {

void LoggingObserver::OnSessionExpired(uint64_t session_id,
                                       absl::string_view client_name,
                                       size_t released_grants,
                                       size_t cancelled_waits) {
  spdlog::info(
      "session {} ({}) expired: released {} grant(s), cancelled {} wait(s)",
      session_id, std::string(client_name), released_grants, cancelled_waits);
}

void LoggingObserver::OnGrantRevoked(const Grant& grant,
                                     absl::string_view reason) {
  spdlog::warn("grant of key \"{}\" to session {} (token {}) revoked: {}",
               grant.key, grant.session_id, grant.token, std::string(reason));
}

}  // namespace taala
