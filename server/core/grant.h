#ifndef TAALA_SERVER_CORE_GRANT_H_
#define TAALA_SERVER_CORE_GRANT_H_

// What an Acquire gives back, and the transport's side of a pending one.

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "server/core/lock_mode.h"

namespace taala {

// One session's hold on one key.
struct Grant {
  std::string key;
  uint64_t session_id = 0;
  uint64_t token = 0;
  LockMode mode = LockMode::kExclusive;
  absl::Time granted_at;
  absl::Time revoke_at = absl::InfiniteFuture();  // Max hold; or never.
};

struct AcquireResult {
  bool acquired = false;  // False: the wait timed out (a normal answer).
  Grant grant;            // Set when acquired.
  bool already_held = false;
};

// A pending Acquire, implemented by the transport (a gRPC reactor).
class Waiter {
 public:
  // Called exactly once with the outcome, never under a table mutex and
  // possibly on any thread. Returns false if the caller has gone, in which
  // case the table releases a grant in `result` again at once.
  virtual bool Complete(absl::StatusOr<AcquireResult> result) = 0;
  // True once the caller has gone (cancelled, disconnected). Called under a
  // table mutex: must not block or call into the table.
  virtual bool Gone() const = 0;

 protected:
  ~Waiter() = default;
};

}  // namespace taala

#endif  // TAALA_SERVER_CORE_GRANT_H_
