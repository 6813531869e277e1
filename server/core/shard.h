#ifndef TAALA_SERVER_CORE_SHARD_H_
#define TAALA_SERVER_CORE_SHARD_H_

// One shard of the lock table: the keys whose first path segment hashes
// here (so a path's whole tree is in one shard), their counters, and every
// change to them: grant, release, revoke, queue and dequeue, re-evaluate a
// queue after a change, lock-delay start and end.
//
// Thread safety: the key map, the hierarchy and the counters are protected
// by mu, and every ...Locked method REQUIRES it. Lock order: mu, then a
// session's mutex (one at a time); the timer queue's and the wait-for
// graph's mutexes are leaves taken under both. Nothing here calls a waiter,
// a sink or an observer: what is to be done unlocked goes into Effects.

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/core/commands.h"
#include "server/core/durable_state.h"
#include "server/core/effects.h"
#include "server/core/grant.h"
#include "server/core/hierarchy.h"
#include "server/core/key_state.h"
#include "server/core/session.h"
#include "server/core/table_limits.h"
#include "server/core/table_stats.h"
#include "server/core/timer_queue.h"
#include "server/core/transition.h"
#include "server/core/wait_for_graph.h"

namespace taala {
namespace table_internal {

// Holders asked to release a key (AcquireCmd::request_release), with their
// tokens; told once the requester's own mutex is released.
using ReleaseAsks = std::vector<std::pair<std::shared_ptr<Session>, uint64_t>>;

class Shard {
 public:
  // Wait sequence numbers: upgrades count up from 1, other waits from
  // kFirstWaitSeq, so a key's upgrades are always at the head of its queue.
  static constexpr uint64_t kFirstWaitSeq = uint64_t{1} << 62;

  // `log`, `timers`, `graph` and `stats` are the table's and must outlive
  // the shard. Every change to a key is recorded in `log` (transition.h)
  // under mu; a grant's token is the LSN of its record. Records carry
  // wall-clock times: the table's time plus `wall_offset`. Every record,
  // logged or observer-only, also feeds `stats` (null: statistics are off).
  // A wait that ends after `slow_wait` or more (zero: never) is noted for
  // the observer (Effects::slow_waits).
  Shard(TransitionLog* log, absl::Duration wall_offset, TimerQueue* timers,
        WaitForGraph* graph, TableStats* stats = nullptr,
        absl::Duration slow_wait = absl::ZeroDuration())
      : stats(stats != nullptr ? stats->NewShardStats() : nullptr),
        log_(log),
        wall_offset_(wall_offset),
        timers_(timers),
        graph_(graph),
        table_stats_(stats),
        slow_wait_(slow_wait) {}

  absl::Mutex mu;
  KeyMap keys ABSL_GUARDED_BY(mu);
  Hierarchy tree ABSL_GUARDED_BY(mu);
  uint64_t next_wait_seq ABSL_GUARDED_BY(mu) = kFirstWaitSeq;
  uint64_t next_upgrade_seq ABSL_GUARDED_BY(mu) = 1;
  // Waits refused or aborted as deadlocks here. Read without mu.
  std::atomic<uint64_t> deadlocks_refused{0};
  // This shard's statistics (table_stats.h); null when they are off.
  const std::unique_ptr<ShardStats> stats ABSL_PT_GUARDED_BY(mu);
  // The table's owners: lock-delays are charged to them (set once by the
  // table before use; null: uncharged).
  OwnerRegistry* owners = nullptr;

  // The body of Acquire (shard_acquire.cc), for the session `s` (==
  // *session; NOT_FOUND if it has ended). Returns the outcome, or nullopt
  // if the request waits (or, with a null `waiter`, would wait).
  std::optional<absl::StatusOr<AcquireResult>> AcquireLocked(
      Session& s, const std::shared_ptr<Session>& session,
      const AcquireCmd& cmd, Waiter* waiter, Effects& effects,
      ReleaseAsks& ask, const Admission& admit)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu, s.mu);
  // CancelWait of the session `s` (shard_acquire.cc).
  void CancelWaitLocked(Session& s, const CancelWaitCmd& cmd, Effects& effects)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
  // Ends `s`'s wait at `seq` on `key` with ABORTED (`why`): a deadlock.
  // Its waiter is completed, unless it is `answered`: then this returns
  // true and the caller answers it ABORTED itself. No-op if the wait is no
  // longer queued.
  // `cycle` is the cycle it would close (for the statistics and the log).
  bool AbortWaitLocked(Session& s, const std::string& key, uint64_t seq,
                       const std::string& why,
                       const std::vector<WaitForGraph::Step>& cycle,
                       absl::Time now, Effects& effects,
                       const Waiter* answered = nullptr)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);

  // Release of the key by cmd.session_id's grant. nullopt if that session
  // holds no grant of the key (see NotHolderLocked); else OK, or
  // FAILED_PRECONDITION for another token. `undelivered` (a grant its
  // caller never learnt of): skipped (OK) if the grant has been claimed by
  // a retry; an upgrade goes back to the SHARED grant it replaced.
  std::optional<absl::Status> ReleaseLocked(const ReleaseCmd& cmd,
                                            bool undelivered, Effects& effects)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
  // FAILED_PRECONDITION for a session that does not hold cmd.key.
  absl::Status NotHolderLocked(const ReleaseCmd& cmd)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
  // Takes cmd's grant away (max hold), with a lock-delay and an event.
  void RevokeLocked(const RevokeGrantCmd& cmd, Effects& effects)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
  // ForceRelease (shard_release.cc): takes cmd.key from its holder(s)
  // as cmd selects them, each with a GRANT_REVOKED event, and appends the
  // grants taken to `released`. NOT_FOUND: the key is not held (by
  // cmd.session_id); FAILED_PRECONDITION: no such grant has cmd.token.
  absl::Status ForceReleaseLocked(const ForceReleaseCmd& cmd, Effects& effects,
                                  std::vector<Grant>& released)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
  // The lock-delay on `key` may be over.
  void EndLockDelayLocked(const std::string& key, absl::Time now,
                          Effects& effects) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);

  // For a session that ended (its indexes already emptied): completes its
  // waits here, each `seq` on `key` with `why`, all of them taken out of
  // their queues before any queue is served again. Returns how many were
  // still queued.
  struct EndedWait {
    std::string key;
    uint64_t seq = 0;
    absl::Status why;
  };
  size_t DropWaitsLocked(std::vector<EndedWait>& waits, absl::Time now,
                         Effects& effects) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
  // Likewise for its grant `token` of `key`, ended for `reason` (kClosed,
  // kExpired, kOverflowed or kSessionRevoked, with `admin`; all but the
  // first start its lock-delay). True if the grant was still held; then
  // `dropped`, if not null, gets it.
  bool DropGrantLocked(const std::string& key, const Session* s,
                       uint64_t token, EndReason reason, absl::Time now,
                       Effects& effects, const AdminAction* admin = nullptr,
                       Grant* dropped = nullptr)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
  // Recovery (shard_restore.cc). Installs a restored grant of `key` for
  // `s` (its intentions, max-hold timer, the session's index), with its
  // times already on the table's clock. REQUIRES: no waiters anywhere yet.
  void RestoreGrantLocked(const std::string& key,
                          const std::shared_ptr<Session>& s, uint64_t token,
                          LockMode mode, uint32_t semaphore_size,
                          absl::Time granted_at, absl::Time revoke_at,
                          absl::Duration lock_delay, absl::Time now)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
  // Restores the lock-delays running on `key` (table clock; InfinitePast:
  // none) and arms the timer that ends them.
  void RestoreDelaysLocked(const std::string& key, absl::Time delayed_until,
                           absl::Time exclusive_delay_until, absl::Time now)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
  // A restored grant whose session was not restored ends now, as by expiry:
  // recorded, with its lock-delay (`lock_delay` from now) if it has one.
  void EndOrphanGrantLocked(const std::string& key, uint64_t session_id,
                            uint64_t token, LockMode mode,
                            absl::Duration lock_delay, absl::Time now)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
  // Adds this shard's keys to `out` (LockTable::ExportState).
  void ExportLocked(DurableState& out) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);

  // Completes every wait with UNAVAILABLE (shutdown).
  void FailAllWaitsLocked(Effects& effects) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);

 private:
  // Whether the head of `key`'s (non-empty) queue can be granted now, or
  // dropped because its caller or session has gone.
  bool HeadReadyLocked(const std::string& key, KeyState& state, absl::Time now)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
  // Grants (or drops) the head of `key`'s queue. REQUIRES: HeadReadyLocked.
  void TakeHeadLocked(const std::string& key, KeyState& state, absl::Time now,
                      Effects& effects) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
  // Adds a holder (or, for an upgrade, turns the session's SHARED grant
  // into an EXCLUSIVE one with a new token) and arms its max hold timer.
  // `after_wait`: it ends a wait (the queue's head).
  Grant MakeGrantLocked(const std::string& key, KeyState& state,
                        const std::shared_ptr<Session>& s, LockMode mode,
                        absl::Duration max_hold, absl::Duration lock_delay,
                        bool upgrade, bool after_wait, absl::Time now)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
  // (Re)arms the timeout of `s`'s wait `w` at `seq` on `key` for its
  // deadline, cancelling the timer of the call it took over (shard.cc).
  void ArmWaitTimerLocked(const std::string& key, uint64_t seq,
                          QueuedWaiter& w, uint64_t session_id)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
  // Turns the upgraded holder `h` back into the SHARED grant it replaced
  // (Holder::upgraded_from). REQUIRES: h.upgraded_from.
  void UndoUpgradeLocked(const std::string& key, KeyState& state, Holder& h,
                         absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
  // Charges the lock-delay running on `state` to `last`'s owner (null:
  // to nobody, as when it ends), moving OwnerCounters::delayed.
  void ChargeDelayLocked(KeyState& state, const Session* last)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
  // A holder's grant ended by expiry or revocation: start its lock-delay.
  void StartLockDelayLocked(const std::string& key, KeyState& state,
                            const Holder& holder, absl::Time now)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
  // Removes the holder `h` of `key` (its intentions too), records why its
  // grant ended (with `admin`'s audit trail), starts its lock-delay if it
  // ended by expiry or revocation (unless admin->skip_lock_delay), and
  // returns its session.
  std::shared_ptr<Session> EraseHolderLocked(
      const std::string& key, KeyState& state,
      absl::InlinedVector<Holder, 1>::iterator h, EndReason reason,
      absl::Time now, const AdminAction* admin = nullptr)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
  // Takes `h`'s grant of `key` away from its living session (revocation:
  // max hold or force-release): erases it as above, demotes the session's
  // upgrade wait and posts GRANT_REVOKED with `event_text`. Returns the
  // grant.
  Grant TakeAwayLocked(const std::string& key, KeyState& state,
                       absl::InlinedVector<Holder, 1>::iterator h,
                       EndReason reason, const std::string& event_text,
                       absl::Time now, const AdminAction* admin,
                       Effects& effects) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
  // The SHARED grant of `s` on `key` has gone (released or revoked): its
  // upgrade wait, if any, loses its place at the head of the queue and
  // becomes an ordinary EXCLUSIVE wait at the back (ABORTED if that wait
  // would close a cycle).
  void DemoteUpgradeWaitLocked(const std::string& key, KeyState& state,
                               Session& s, Effects& effects)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu, s.mu);
  // Removes the wait `wit` from `key`'s queue and from the graph.
  void EraseWaitLocked(const std::string& key, KeyState& state,
                       absl::btree_map<uint64_t, QueuedWaiter>::iterator wit)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
  // After `key`'s state changed: grant what can be granted on it, on its
  // ancestors and on the keys below it, and erase what became empty.
  void ReevaluateLocked(const std::string& key, absl::Time now,
                        Effects& effects) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);

  // The one funnel of this shard's records: a logged one is appended to the
  // log (its LSN is returned and set in `t`); an observer-only one
  // (IsObserverOnly) is not (0). Either way it then feeds the statistics.
  uint64_t RecordLocked(Transition& t) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
  // Records that `w`'s wait on `key` ended with `outcome` (kWaitEnded) and,
  // if it was slow, notes it for the log. `sample` false: the call ends but
  // its time is no wait sample (nor a slow wait): a call superseded by a
  // retry (the retry's sample covers the queue place's whole wait), or one
  // refused at once as a deadlock (it never waited).
  void RecordWaitEndedLocked(const std::string& key, const QueuedWaiter& w,
                             AcquireOutcome outcome, absl::Time now,
                             Effects& effects, bool sample = true,
                             bool retry = false)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
  // Whether observer-only records are wanted: statistics on, or watchers.
  bool ObservedLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
  // An observer-only record of `type` on `key` by `session_id` at `now`
  // (the fields every such record has); the caller adds the rest.
  Transition ObserverRecord(TransitionType type, const std::string& key,
                            uint64_t session_id, absl::Time now) const;
  // Records that `s` joined `key`'s queue (kWaitStarted); `upgrade`: at
  // its head, as an upgrade; `retry`: a retry took over its own place.
  void RecordWaitStartedLocked(const std::string& key, const Session& s,
                               LockMode mode, absl::Time now,
                               bool upgrade = false, bool retry = false)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
  // Records an acquire answered at once with no grant (kAcquireRefused).
  void RecordRefusedLocked(const std::string& key, const Session& s,
                           AcquireOutcome outcome, absl::Time now)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
  // Records a deadlock refusal (kDeadlockRefused) and notes it for the log.
  void RecordDeadlockLocked(const std::string& key, const Session& s,
                            const std::string& why,
                            std::vector<WaitForGraph::Step> cycle,
                            absl::Time now, Effects& effects)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);

  // Appends the kGrantEnded record of `h`'s grant of `key`.
  void RecordGrantEndedLocked(const std::string& key, const Holder& h,
                              EndReason reason, absl::Time now,
                              const AdminAction* admin = nullptr)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);

  TransitionLog* const log_;
  const absl::Duration wall_offset_;
  TimerQueue* const timers_;
  WaitForGraph* const graph_;
  TableStats* const table_stats_;
  const absl::Duration slow_wait_;
};

}  // namespace table_internal
}  // namespace taala

#endif  // TAALA_SERVER_CORE_SHARD_H_
