#ifndef TAALA_SERVER_TABLE_FLAGS_H_
#define TAALA_SERVER_TABLE_FLAGS_H_

// taalad's lock table flags (--shards, session TTL bounds, key limits,
// --max_lock_delay, --max_pending_events), kept out of main.cc.

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "server/core/lock_table.h"

namespace taala {

// Sets the table's fields of `options` from the flags. INVALID_ARGUMENT
// (naming the flag) for a value out of range.
absl::Status ApplyTableFlags(LockTable::Options* options);

// Watch (docs/watch.md): --watch_history (records the hub keeps) and
// --watch_buffer (events queued per watcher). INVALID_ARGUMENT below 1.
struct WatchFlags {
  size_t history = 65536;
  size_t buffer = 4096;
};
absl::StatusOr<WatchFlags> GetWatchFlags();

}  // namespace taala

#endif  // TAALA_SERVER_TABLE_FLAGS_H_
