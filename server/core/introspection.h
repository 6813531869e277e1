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
#include <memory>
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
  // The holder session's labels (host, pid, ...): the session's own
  // constant map, shared rather than copied. Null only if default-built.
  std::shared_ptr<const Labels> labels;
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
  // Hierarchy: grants of other keys of the tree that conflict with an
  // EXCLUSIVE acquire of `key` (every grant does), so that a key that looks
  // free may still not be granted. Each holder's grant.key names its key.
  // Holders of `key`'s ancestors, nearest ancestor first ...
  std::vector<HolderInfo> blocked_from_above;
  // ... and of keys strictly below `key`, in key order (bytewise), at most
  // kMaxBlockersBelow.
  std::vector<HolderInfo> blocked_from_below;
};

// The most holders of keys below a key that Describe lists.
inline constexpr size_t kMaxBlockersBelow = 100;

// What a ListLocks page keeps besides the prefix; every condition set must
// hold.
struct ListLocksFilter {
  // > 0: only keys whose oldest current grant has been held longer than
  // this at `now` (a key with only waiters does not match). Negative:
  // INVALID_ARGUMENT.
  absl::Duration held_longer_than = absl::ZeroDuration();
  // Only keys with at least one waiter.
  bool contended_only = false;
  // The instant held_longer_than is measured at.
  absl::Time now = absl::InfinitePast();
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
  std::string owner;  // The identity that created it.
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
// or longer than `max_bytes`, or filter.held_longer_than is negative
// ("held_longer_than_ms").
[[nodiscard]] absl::Status ValidateListArgs(absl::string_view prefix,
                                            absl::string_view after,
                                            const ListLocksFilter& filter,
                                            size_t max_bytes);
LockPage ListLocksIn(const std::vector<Shard*>& shards,
                     absl::string_view prefix, absl::string_view after,
                     size_t limit, const ListLocksFilter& filter);
SessionPage ListSessionsIn(SessionRegistry& sessions, uint64_t after,
                           size_t limit);

}  // namespace table_internal

}  // namespace taala

#endif  // TAALA_SERVER_CORE_INTROSPECTION_H_
