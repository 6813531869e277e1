#ifndef TAALA_SERVER_CORE_INTROSPECTION_H_
#define TAALA_SERVER_CORE_INTROSPECTION_H_

// Read-only views of the table (describe a key, list keys and sessions,
// check a fence) and their result types.
//
// Thread safety: each function takes one mutex at a time (a shard's, a
// registry shard's, or a session's) and copies out what it needs, so a
// listing is not a snapshot of the whole table.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "server/core/commands.h"
#include "server/core/grant.h"
#include "server/core/lock_mode.h"
#include "server/core/session_registry.h"

namespace taala {

struct HolderInfo {
  Grant grant;
  std::string client_name;
};

struct WaiterInfo {
  uint64_t session_id = 0;
  std::string client_name;
  LockMode mode = LockMode::kExclusive;
  absl::Time enqueued_at;
  absl::Time deadline;  // InfiniteFuture: until the call ends.
};

struct LockDescription {
  std::string key;
  uint32_t semaphore_size = 0;  // 0: a lock, not a semaphore.
  absl::Time delayed_until = absl::InfinitePast();  // Lock-delay.
  std::vector<HolderInfo> holders;
  std::vector<WaiterInfo> waiters;  // Queue order; may be truncated.
  size_t waiter_count = 0;
};

// One key of a listing (ListLocks): its holders and queue length.
struct LockSummary {
  std::string key;
  std::vector<HolderInfo> holders;
  size_t waiter_count = 0;
};

struct LockPage {
  std::vector<LockSummary> locks;  // In key order (bytewise).
  // Set when more keys may follow: the `after` of the next page.
  std::optional<std::string> next_after;
};

// One live session of a listing (ListSessions).
struct SessionSummary {
  uint64_t session_id = 0;
  std::string client_name;
  Labels labels;
  absl::Duration ttl;
  absl::Time expires_at;
  size_t held_keys = 0;
  size_t waiting_keys = 0;
};

struct SessionPage {
  std::vector<SessionSummary> sessions;  // In session id order.
  // Set when more sessions may follow: the `after` of the next page.
  std::optional<uint64_t> next_after;
};

namespace table_internal {

class Shard;

// LockTable::CheckFence, Describe, ListLocks and ListSessions, on the
// shard(s) the table picked; `key` is valid.
absl::StatusOr<Grant> CheckFenceIn(Shard& shard, absl::string_view key,
                                   uint64_t token);
LockDescription DescribeIn(Shard& shard, absl::string_view key,
                           size_t max_waiters);
// INVALID_ARGUMENT: `prefix` or `after` ("page_token") is not valid UTF-8
// or longer than `max_bytes`.
[[nodiscard]] absl::Status ValidateListArgs(absl::string_view prefix,
                                            absl::string_view after,
                                            size_t max_bytes);
LockPage ListLocksIn(const std::vector<Shard*>& shards,
                     absl::string_view prefix, absl::string_view after,
                     size_t limit);
SessionPage ListSessionsIn(SessionRegistry& sessions, uint64_t after,
                           size_t limit);

}  // namespace table_internal

}  // namespace taala

#endif  // TAALA_SERVER_CORE_INTROSPECTION_H_
