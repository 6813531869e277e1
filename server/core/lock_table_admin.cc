// LockTable: an operator's actions on other clients' locks and sessions
// (AdminService): force-release a key, revoke a session. They reuse the
// paths of revocation by max hold (Shard::TakeAwayLocked) and of expiry
// (EndSession), and add the operator's reason and caller to the records
// (the audit trail). Part of the facade (server/core/lock_table.h).

#include <memory>
#include <utility>
#include <vector>

#include "server/core/lock_table.h"
#include "server/core/shard.h"
#include "server/core/status_macros.h"

namespace taala {

using table_internal::SessionNotFound;

absl::StatusOr<std::vector<Grant>> LockTable::ForceRelease(
    const ForceReleaseCmd& cmd) {
  TAALA_RETURN_IF_ERROR(ValidateExistingKey(cmd.key, options_.key_limits));
  Effects effects;
  std::vector<Grant> released;
  absl::Status status;
  {
    Shard& shard = ShardFor(cmd.key);
    absl::MutexLock lock(&shard.mu);
    status = shard.ForceReleaseLocked(cmd, effects, released);
  }
  runner_.Run(effects, cmd.now);
  if (!status.ok()) return status;
  return released;
}

absl::StatusOr<LockTable::RevokeResult> LockTable::RevokeSession(
    const RevokeSessionCmd& cmd) {
  std::shared_ptr<Session> session = sessions_.Find(cmd.session_id);
  if (session == nullptr) {
    return absl::NotFoundError(SessionNotFound(cmd.session_id));
  }
  Effects effects;
  std::optional<EndResult> ended;
  RevokeResult result;
  // A session whose lease ran out is dead already: it ends as expired.
  if (!EndIfLeaseRanOut(session, cmd.now, effects)) {
    const AdminAction admin{cmd.reason, cmd.caller, cmd.skip_lock_delay};
    ended = EndSession(session, /*expired=*/true, cmd.now, effects,
                       /*overflowed=*/false, &admin, &result.released);
  }
  runner_.Run(effects, cmd.now);
  if (!ended.has_value()) {
    return absl::NotFoundError(SessionNotFound(cmd.session_id));
  }
  result.cancelled_waits = ended->cancelled_waits;
  return result;
}

}  // namespace taala
