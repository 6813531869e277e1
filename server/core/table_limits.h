#ifndef TAALA_SERVER_CORE_TABLE_LIMITS_H_
#define TAALA_SERVER_CORE_TABLE_LIMITS_H_

// The lock table's resource limits (LockTable::Options::limits; taalad's
// --max_* flags, server/limit_flags.h) and the memory budget gate. Past a
// limit a call gets RESOURCE_EXHAUSTED "limit --flag=VALUE reached: ..."
// and nothing else changes.
//
// Where each is checked (docs/security.md, "Limits in the lock table"):
// sessions per identity as a session is created (exact); keys in the table
// as an acquire brings a new key (exact within a shard, other shards'
// counts read without their mutex); grants per session and per identity as
// an acquire of a key not held is admitted, counting queued waits as
// grants to come and (per identity) running lock-delays as held keys of
// their last holder's identity; waits per key, per session and
// per identity as a wait would be queued. Per-key and per-session counts
// are exact (read under the shard's and the session's mutexes); an
// identity's counts are read without a mutex, so its sessions' calls in
// flight at once may overshoot by that many. A holder's retry of a grant
// it holds, and a retry that takes over its own wait, are never refused.

#include <atomic>
#include <cstddef>
#include <functional>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"

namespace taala {

struct TableLimits {
  size_t max_sessions_per_identity = 10000;
  size_t max_held_per_identity = 100000;
  size_t max_waiters_per_identity = 10000;
  size_t max_waiters_per_key = 10000;
  size_t max_held_per_session = 100000;
  size_t max_waiters_per_session = 10000;
  // Entries of the table's key maps: keys held, waited on or in a
  // lock-delay, and the ancestors that carry intentions of keys below them.
  size_t max_keys = 1000000;
};

// An owner's live sessions, grants held, waits queued and keys in a
// lock-delay charged to it.
struct OwnerCounts {
  int64_t sessions = 0, held = 0, waiting = 0, delayed = 0;
};

namespace table_internal {

// RESOURCE_EXHAUSTED "limit --<flag>=<value> reached: <what>".
absl::Status LimitReached(absl::string_view flag, size_t value,
                          absl::string_view what);

// The memory budget gate (LockTable::SetOverMemoryBudget). Reading it when
// not over costs one relaxed atomic load.
class MemoryGate {
 public:
  void Set(bool over, std::string message);
  bool over() const { return over_.load(std::memory_order_relaxed); }
  // RESOURCE_EXHAUSTED with the monitor's message (call when over()).
  absl::Status Refusal();

 private:
  std::atomic<bool> over_{false};
  absl::Mutex mu_;
  std::string message_ ABSL_GUARDED_BY(mu_);
};

// What the shards check an acquire against (LockTable's, constant after
// construction).
struct Admission {
  TableLimits limits;
  MemoryGate* memory = nullptr;
  // The entries of every shard's key map (relaxed reads, no mutex).
  std::function<size_t()> key_entries;
};

}  // namespace table_internal
}  // namespace taala

#endif  // TAALA_SERVER_CORE_TABLE_LIMITS_H_
