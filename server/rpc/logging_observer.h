#ifndef TAALA_SERVER_RPC_LOGGING_OBSERVER_H_
#define TAALA_SERVER_RPC_LOGGING_OBSERVER_H_

#include <cstddef>
#include <cstdint>

#include "absl/strings/string_view.h"
#include "server/core/lock_table.h"

namespace taala {

// Logs notable transitions of the lock table (one line each) with spdlog:
// session expiries, grant revocations, deadlock refusals and slow waits.
// Client names, keys and messages are escaped (EscapeControl, key.h): no
// raw control byte reaches the log. Thread-safe (spdlog's default logger
// is).
class LoggingObserver final : public TableObserver {
 public:
  void OnSessionExpired(uint64_t session_id, absl::string_view client_name,
                        size_t released_grants,
                        size_t cancelled_waits) override;
  void OnGrantRevoked(const Grant& grant, absl::string_view reason) override;
  // Warning: with the cycle (in the message).
  void OnDeadlockRefused(uint64_t session_id, absl::string_view client_name,
                         absl::string_view key,
                         absl::string_view message) override;
  // Info: a wait past LockTable::Options::slow_wait_threshold.
  void OnSlowWait(uint64_t session_id, absl::string_view client_name,
                  absl::string_view key, absl::Duration waited,
                  AcquireOutcome outcome) override;
};

}  // namespace taala

#endif  // TAALA_SERVER_RPC_LOGGING_OBSERVER_H_
