#include "server/rpc/logging_observer.h"

#include <string>

#include "server/core/key.h"
#include "spdlog/spdlog.h"

namespace taala {
namespace {

// Client names, keys and messages come from clients and may hold any
// UTF-8 (a client name may hold "\n" and ESC): escaped, so that one event
// is one line and no client forges lines or sends terminal escapes to an
// operator tailing the log. Names and keys are shown in quotes or
// parentheses, so quotes are escaped too; messages keep theirs.
std::string Text(absl::string_view s) { return EscapeControl(s); }
std::string Message(absl::string_view s) {
  return EscapeControl(s, /*quotes=*/false);
}

}  // namespace

void LoggingObserver::OnSessionExpired(uint64_t session_id,
                                       absl::string_view client_name,
                                       size_t released_grants,
                                       size_t cancelled_waits) {
  spdlog::info(
      "session {} ({}) expired: released {} grant(s), cancelled {} wait(s)",
      session_id, Text(client_name), released_grants, cancelled_waits);
}

void LoggingObserver::OnGrantRevoked(const Grant& grant,
                                     absl::string_view reason) {
  spdlog::warn("grant of key \"{}\" to session {} (token {}) revoked: {}",
               Text(grant.key), grant.session_id, grant.token,
               Message(reason));
}

void LoggingObserver::OnDeadlockRefused(uint64_t session_id,
                                        absl::string_view client_name,
                                        absl::string_view key,
                                        absl::string_view message) {
  spdlog::warn("acquire of key \"{}\" by session {} ({}) refused: {}",
               Text(key), session_id, Text(client_name), Message(message));
}

void LoggingObserver::OnSlowWait(uint64_t session_id,
                                 absl::string_view client_name,
                                 absl::string_view key, absl::Duration waited,
                                 AcquireOutcome outcome) {
  spdlog::info("slow wait: session {} ({}) waited {} for key \"{}\" ({})",
               session_id, Text(client_name),
               absl::FormatDuration(absl::Trunc(waited, absl::Milliseconds(1))),
               Text(key), AcquireOutcomeName(outcome));
}

}  // namespace taala
