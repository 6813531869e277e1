// LockTable: the commands timers set off (session expiry, wait timeout,
// max hold, end of a lock-delay), dispatched by RunDueTimers.

#include <utility>
#include <vector>

#include "server/core/lock_table.h"
#include "server/core/shard.h"

namespace taala {

size_t LockTable::RunDueTimers(absl::Time now) {
  std::vector<Timer> due = timers_.PopDue(now);
  Effects effects;
  for (Timer& t : due) {
    switch (t.kind) {
      case Timer::Kind::kSessionExpiry:
        ExpireSession(ExpireSessionCmd{t.session_id, now}, effects);
        break;
      case Timer::Kind::kWaitTimeout:
        CancelWaitInto(CancelWaitCmd{t.session_id, std::move(t.key), t.id,
                                     nullptr, CancelReason::kTimedOut, now},
                       effects);
        break;
      case Timer::Kind::kLockDelayEnd:
        EndLockDelayInto(t.key, now, effects);
        break;
      case Timer::Kind::kMaxHold:
        RevokeGrant(RevokeGrantCmd{t.session_id, std::move(t.key), t.id,
                                   "max hold time reached", now},
                    effects);
        break;
    }
  }
  runner_.Run(effects, now);
  return due.size();
}

bool LockTable::EndIfLeaseRanOut(const std::shared_ptr<Session>& session,
                                 absl::Time now, Effects& effects) {
  {
    Session& s = *session;
    absl::MutexLock lock(&s.mu);
    if (s.ended) return true;
    // A lease that ran out is never renewed (KeepAlive refuses it), so
    // this answer holds until the session ends.
    if (s.expires_at > now) return false;
  }
  EndSession(session, /*expired=*/true, now, effects);
  return true;
}

void LockTable::ExpireSession(const ExpireSessionCmd& cmd, Effects& effects) {
  std::shared_ptr<Session> session = sessions_.Find(cmd.session_id);
  if (session == nullptr) return;
  EndSession(session, /*expired=*/true, cmd.now, effects);
}

void LockTable::RevokeGrant(const RevokeGrantCmd& cmd, Effects& effects) {
  Shard& shard = ShardFor(cmd.key);
  absl::MutexLock lock(&shard.mu);
  shard.RevokeLocked(cmd, effects);
}

void LockTable::EndLockDelayInto(const std::string& key, absl::Time now,
                                 Effects& effects) {
  Shard& shard = ShardFor(key);
  absl::MutexLock lock(&shard.mu);
  shard.EndLockDelayLocked(key, now, effects);
}

}  // namespace taala
