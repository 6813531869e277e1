#ifndef TAALA_SERVER_TABLE_FLAGS_H_
#define TAALA_SERVER_TABLE_FLAGS_H_

// taalad's lock table flags (--shards, session TTL bounds, key limits,
// --max_lock_delay, --max_pending_events), kept out of main.cc.

#include "absl/status/status.h"
#include "server/core/lock_table.h"

namespace taala {

// Sets the table's fields of `options` from the flags. INVALID_ARGUMENT
// (naming the flag) for a value out of range.
absl::Status ApplyTableFlags(LockTable::Options* options);

}  // namespace taala

#endif  // TAALA_SERVER_TABLE_FLAGS_H_
