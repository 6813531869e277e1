// LockTable's statistics queries (stats_queries.h): argument checks and
// defaults, then the views over the shards. Part of the facade
// (server/core/lock_table.h).

#include <algorithm>
#include <vector>

#include "absl/strings/str_cat.h"
#include "server/core/key.h"
#include "server/core/lock_table.h"
#include "server/core/shard.h"
#include "server/core/status_macros.h"

namespace taala {
namespace {

std::vector<table_internal::Shard*> All(
    const std::vector<std::unique_ptr<table_internal::Shard>>& shards) {
  std::vector<table_internal::Shard*> out;
  out.reserve(shards.size());
  for (const auto& shard : shards) out.push_back(shard.get());
  return out;
}

}  // namespace

absl::StatusOr<LockStats> LockTable::GetLockStats(absl::string_view key,
                                                  absl::string_view prefix) {
  if (!key.empty() && !prefix.empty()) {
    return absl::InvalidArgumentError(
        "key and prefix: set one of them (or neither, for every key), not "
        "both");
  }
  if (!key.empty()) {
    TAALA_RETURN_IF_ERROR(ValidateExistingKey(key, options_.key_limits));
  }
  TAALA_RETURN_IF_ERROR(
      ValidateKeyPrefix("prefix", prefix, options_.key_limits.max_bytes));
  return table_internal::LockStatsIn(
      stats_.get(), All(shards_),
      [this](absl::string_view k) -> Shard& { return ShardFor(k); }, key,
      prefix);
}

LeakReport LockTable::GetLeakSuspects(absl::Duration held_longer_than,
                                      double p99_factor, size_t limit,
                                      absl::Time now) {
  if (held_longer_than <= absl::ZeroDuration()) {
    held_longer_than = options_.leak_threshold;
  }
  if (!(p99_factor > 0)) p99_factor = options_.leak_p99_factor;
  return table_internal::LeakSuspectsIn(stats_.get(), All(shards_),
                                        held_longer_than, p99_factor, limit,
                                        now);
}

ContentionReport LockTable::GetContention(size_t limit, absl::Time now) {
  return table_internal::ContentionIn(
      stats_.get(), All(shards_),
      [this](absl::string_view k) -> Shard& { return ShardFor(k); }, limit,
      now, options_.wall_offset);
}

std::vector<DeadlockRecord> LockTable::RecentDeadlocks(size_t limit,
                                                       uint64_t* total) {
  if (stats_ == nullptr) {
    *total = deadlocks_refused();
    return {};
  }
  return stats_->RecentDeadlocks(limit, total);
}

TableMetrics LockTable::GetMetrics() {
  TableMetrics m = table_internal::MetricsIn(stats_.get(), All(shards_));
  if (!m.enabled) m.deadlock_refusals = deadlocks_refused();
  return m;
}

}  // namespace taala
