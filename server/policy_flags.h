#ifndef TAALA_SERVER_POLICY_FLAGS_H_
#define TAALA_SERVER_POLICY_FLAGS_H_

// taalad's lock policy flags (--policy_file, --policy_reload_interval),
// kept out of main.cc.

#include <memory>

#include "absl/status/statusor.h"
#include "server/core/lock_table.h"
#include "server/core/policy.h"
#include "server/policy_reloader.h"

namespace taala {

// With --policy_file set: loads it into `holder` (an error names the file
// and the line), adds its prefixes (but the catch-all "") to
// options->stats_prefixes, and starts reloading it every
// --policy_reload_interval. Without: null, and `holder` stays empty.
// Call after ApplyTableFlags (the lock-delay limit) and ApplyStatsFlags,
// before the table is built.
absl::StatusOr<std::unique_ptr<PolicyReloader>> StartPolicyFile(
    LockTable::Options* options, PolicyHolder* holder);

}  // namespace taala

#endif  // TAALA_SERVER_POLICY_FLAGS_H_
