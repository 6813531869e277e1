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

void LoggingObserver::OnDeadlockRefused(uint64_t session_id,
                                        absl::string_view client_name,
                                        absl::string_view key,
                                        absl::string_view message) {
  spdlog::warn("acquire of key \"{}\" by session {} ({}) refused: {}",
               std::string(key), session_id, std::string(client_name),
               std::string(message));
}

void LoggingObserver::OnSlowWait(uint64_t session_id,
                                 absl::string_view client_name,
                                 absl::string_view key, absl::Duration waited,
                                 AcquireOutcome outcome) {
  spdlog::info("slow wait: session {} ({}) waited {} for key \"{}\" ({})",
               session_id, std::string(client_name),
               absl::FormatDuration(absl::Trunc(waited, absl::Milliseconds(1))),
               std::string(key), AcquireOutcomeName(outcome));
}

}  // namespace taala
