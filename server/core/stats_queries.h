#ifndef TAALA_SERVER_CORE_STATS_QUERIES_H_
#define TAALA_SERVER_CORE_STATS_QUERIES_H_

// Read-only views of the statistics (table_stats.h) and of the holders and
// queues they are about: a key's or prefix's figures with suggested
// timeouts, leak suspects, contention, recent deadlocks and the table's
// metrics, with their result types.
//
// Thread safety: each function takes one mutex at a time (a shard's, or a
// KeyTopK stripe's) and copies out what it needs: a result is not a
// snapshot of the whole table.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "server/core/commands.h"
#include "server/core/grant.h"
#include "server/core/table_stats.h"

namespace taala {

// A suggested timeout from observed times, or why there is none.
struct Suggestion {
  bool available = false;
  absl::Duration value;
  uint64_t samples = 0;
  std::string source;  // "p95 hold x 1.5, clamped to [100ms, 1h]".
  std::string reason;  // Why none.
};

// GetLockStats' answer (see proto KeyStats).
struct LockStats {
  std::string scope;
  // "key", "segment", "prefix", "all", "untracked", or "disabled"
  // (statistics are off).
  std::string source;
  absl::Time tracked_since = absl::InfinitePast();  // Wall; Past: start.
  uint64_t error_bound = 0;
  uint32_t keys = 0;  // Tracked keys summed ("prefix").
  Figures figures;
  Suggestion max_hold;
  Suggestion wait_timeout;
};

struct LeakSuspectInfo {
  Grant grant;  // granted_at on the table's clock.
  std::string client_name;
  Labels labels;
  std::string reason;
  absl::Duration key_p99_hold;  // Zero: not known.
};

struct LeakReport {
  std::vector<LeakSuspectInfo> suspects;  // Oldest first.
  absl::Duration threshold;
  double p99_factor = 0;
  bool truncated = false;
};

struct ContendedKeyInfo {
  std::string key;
  uint32_t waiters = 0;
  uint32_t holders = 0;
  absl::Duration longest_wait;
  double wait_seconds_in_window = 0;
  uint64_t waits_in_window = 0;
};

struct ContentionReport {
  std::vector<ContendedKeyInfo> by_waiters;
  std::vector<ContendedKeyInfo> by_wait_time;
  absl::Duration window;
};

// The table's part of GetMetrics (sessions and keys are counted apart).
struct TableMetrics {
  bool enabled = false;
  AcquireCounts acquires;
  FixedHistogram wait;
  FixedHistogram hold;
  uint64_t held_locks = 0;
  uint64_t waiters = 0;
  uint64_t sessions_created = 0;
  uint64_t sessions_expired = 0;
  uint64_t grants_expired = 0;
  uint64_t revocations = 0;
  uint64_t deadlock_refusals = 0;
  uint64_t releases = 0;
  struct TopKey {
    std::string key;
    uint64_t acquires = 0;
    double wait_seconds = 0;
  };
  std::vector<TopKey> top_keys;  // At most kMetricsTopKeys, most first.
};

inline constexpr size_t kMetricsTopKeys = 100;
inline constexpr uint64_t kMinSuggestionSamples = 20;

namespace table_internal {

class Shard;

// The suggestions of lock_table.h from `f`.
Suggestion SuggestMaxHold(const Figures& f);
Suggestion SuggestWaitTimeout(const Figures& f);

// LockTable's queries, on its shards; `stats` is null when statistics are
// off. `shard_for` maps a key to its shard. Arguments are valid.
LockStats LockStatsIn(TableStats* stats, const std::vector<Shard*>& shards,
                      const std::function<Shard&(absl::string_view)>& shard_for,
                      absl::string_view key, absl::string_view prefix);
LeakReport LeakSuspectsIn(TableStats* stats, const std::vector<Shard*>& shards,
                          absl::Duration threshold, double p99_factor,
                          size_t limit, absl::Time now);
ContentionReport ContentionIn(
    TableStats* stats, const std::vector<Shard*>& shards,
    const std::function<Shard&(absl::string_view)>& shard_for, size_t limit,
    absl::Time now, absl::Duration wall_offset);
TableMetrics MetricsIn(TableStats* stats, const std::vector<Shard*>& shards);

}  // namespace table_internal
}  // namespace taala

#endif  // TAALA_SERVER_CORE_STATS_QUERIES_H_
