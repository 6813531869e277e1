#ifndef TAALA_SERVER_STATS_FLAGS_H_
#define TAALA_SERVER_STATS_FLAGS_H_

// taalad's statistics flags (--stats, --stats_prefixes, --slow_wait_threshold,
// --leak_threshold, --leak_p99_factor), kept out of main.cc.

#include "absl/status/status.h"
#include "server/core/lock_table.h"

namespace taala {

// Sets the statistics fields of `options` from the flags. INVALID_ARGUMENT
// (naming the flag) for a negative duration or factor.
absl::Status ApplyStatsFlags(LockTable::Options* options);

}  // namespace taala

#endif  // TAALA_SERVER_STATS_FLAGS_H_
