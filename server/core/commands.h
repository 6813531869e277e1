#ifndef TAALA_SERVER_CORE_COMMANDS_H_
#define TAALA_SERVER_CORE_COMMANDS_H_

// The commands that change the lock table's state. Each is a plain value:
// everything applying it needs is inside, including the time (`now`), which
// the caller reads from a Clock. Applying the same commands in the same order
// to the same state gives the same result, so the write-ahead log and, later,
// replication carry exactly these values.
//
// Waiters (pending Acquire calls) are transport state, not table state: a
// restarted or follower server never restores them (their RPCs died).

#include <cstdint>
#include <map>
#include <string>

#include "absl/time/time.h"
#include "server/core/lock_mode.h"

namespace taala {

class Waiter;  // server/core/grant.h

using Labels = std::map<std::string, std::string>;

struct CreateSessionCmd {
  uint64_t session_id = 0;  // Chosen by the caller (LockTable::NewSessionId).
  std::string client_name;
  Labels labels;
  absl::Duration ttl;  // Zero: the default; clamped to the table's bounds.
  absl::Time now;
  // The identity that creates (and so owns) the session: only it may name
  // the session in later calls (LockTable::CheckSessionOwner). Last, so
  // that the brace-initialized commands written before it keep their
  // meaning (an empty owner).
  std::string owner;
};

struct KeepAliveCmd {
  uint64_t session_id = 0;
  absl::Time now;
};

struct CloseSessionCmd {
  uint64_t session_id = 0;
  absl::Time now;
};

// Ends the session if its lease has run out by `now` (else re-arms its timer).
struct ExpireSessionCmd {
  uint64_t session_id = 0;
  absl::Time now;
};

struct AcquireCmd {
  uint64_t session_id = 0;
  std::string key;
  LockMode mode = LockMode::kExclusive;
  // Zero: try-lock. absl::InfiniteDuration(): wait until granted or cancelled.
  absl::Duration wait_timeout;
  // Zero: no limit. Otherwise the grant is revoked after this long.
  absl::Duration max_hold;
  // > 0: the key is a semaphore admitting this many holders (mode ignored).
  uint32_t semaphore_size = 0;
  // semaphore_size came from a lock policy, not the request: a key in use
  // keeps its kind (a semaphore of its own size, or a lock) and only a free
  // key takes this size, so a reload never makes acquirers of a busy key
  // fail.
  bool semaphore_size_from_policy = false;
  // If the grant ends by expiry or revocation (not a release), the key is
  // not granted again for this long.
  absl::Duration lock_delay;
  // If the request must wait, ask the current holders to release.
  bool request_release = false;
  absl::Time now;
};

enum class CancelReason {
  kTimedOut,   // The wait timeout ran out: a normal "not acquired" answer.
  kCancelled,  // The caller cancelled or went away.
};

// Removes one wait from a key's queue. `wait_seq` (from the timer) or
// `waiter` (from the transport) names it; zero/null matches any.
struct CancelWaitCmd {
  uint64_t session_id = 0;
  std::string key;
  uint64_t wait_seq = 0;
  const Waiter* waiter = nullptr;
  CancelReason reason = CancelReason::kCancelled;
  absl::Time now;
};

struct ReleaseCmd {
  uint64_t session_id = 0;
  std::string key;
  uint64_t token = 0;
  absl::Time now;
};

// Takes a grant away while its session lives (max hold time).
struct RevokeGrantCmd {
  uint64_t session_id = 0;
  std::string key;
  uint64_t token = 0;
  std::string reason;
  absl::Time now;
};

// An operator takes a key away from its holder(s) (AdminService).
struct ForceReleaseCmd {
  std::string key;
  uint64_t session_id = 0;  // 0: every holder; else only this session's.
  uint64_t token = 0;       // 0: the current grant; else only this grant.
  std::string reason;       // As the operator gave it (validated upstream).
  std::string caller;       // Who asked (the audit trail).
  bool skip_lock_delay = false;
  absl::Time now;
};

// An operator ends a session as if its lease ran out (AdminService).
struct RevokeSessionCmd {
  uint64_t session_id = 0;
  std::string reason;
  std::string caller;
  bool skip_lock_delay = false;
  absl::Time now;
};

}  // namespace taala

#endif  // TAALA_SERVER_CORE_COMMANDS_H_
