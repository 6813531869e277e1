#ifndef TAALA_SERVER_LIMIT_FLAGS_H_
#define TAALA_SERVER_LIMIT_FLAGS_H_

// taalad's lock table limits (issue 12): --max_sessions_per_identity,
// --max_held_per_identity, --max_waiters_per_identity,
// --max_waiters_per_key, --max_held_per_session, --max_waiters_per_session
// and --max_keys (server/core/table_limits.h; docs/security.md).

#include "absl/status/status.h"
#include "server/core/lock_table.h"

namespace taala {

// Sets options->limits from the flags. INVALID_ARGUMENT (naming the flag)
// for a value below 1.
absl::Status ApplyLimitFlags(LockTable::Options* options);

}  // namespace taala

#endif  // TAALA_SERVER_LIMIT_FLAGS_H_
