#ifndef TAALA_SERVER_CORE_TRANSITION_H_
#define TAALA_SERVER_CORE_TRANSITION_H_

// Transition records: what a command changed, emitted inside the critical
// section where the change happens. They, not the commands, are what the
// write-ahead log stores (server/wal/), what replay applies with no
// decisions (durable_state.h), and the vocabulary that replication, Watch
// and metrics consume.
//
// Every record gets a log sequence number (LSN) from the TransitionLog while
// the mutexes that order conflicting changes are held (the key's shard
// mutex for a key's records, the session's mutex for a session's), so the
// log's order is consistent with every real conflict. A grant's fencing
// token is the LSN of its kGrantMade record. Records hold durations and
// wall-clock times, never the table's monotonic instants.

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/functional/any_invocable.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/core/commands.h"
#include "server/core/lock_mode.h"
#include "server/core/wait_for_graph.h"

namespace taala {

enum class TransitionType : uint8_t {
  // session_id, owner (the identity that created it; empty in logs written
  // before issue 12), client_name, labels, ttl, wall (created at).
  kSessionCreated = 1,
  // session_id, reason (kClosed, kExpired, kOverflowed or kSessionRevoked),
  // wall; for kSessionRevoked also text (the operator's reason) and caller.
  // Its SESSION_EXPIRED event (kEventPosted) and the kGrantEnded records of
  // its grants follow.
  kSessionEnded = 2,
  // key, session_id, token (== lsn), mode, semaphore_size, max_hold,
  // lock_delay, wall (granted at), upgrade (the session's SHARED grant of
  // the key became this EXCLUSIVE one).
  kGrantMade = 3,
  // key, session_id, token, reason, wall; for kForceReleased and
  // kSessionRevoked also text (the operator's reason) and caller (the audit
  // trail). A lock-delay that starts with the end is its own
  // kLockDelayStarted record, right after.
  kGrantEnded = 4,
  // The undo of an upgrade its caller never learnt of: the session's grant
  // of key goes back to the SHARED grant it replaced. key, session_id, token
  // (the SHARED grant's), mode (kShared), max_hold, lock_delay, wall (the
  // SHARED grant's granted_at).
  kGrantRestored = 5,
  // key, mode (of the lost grant), wall (the delay's end).
  kLockDelayStarted = 6,
  // key, wall (delays on key ending at or before it are over).
  kLockDelayEnded = 7,
  // An event kept in a session's mailbox: session_id, event_sequence,
  // event_type, key, token, text (the reason), requester_session_id,
  // requester_client_name.
  kEventPosted = 8,

  // Observer-only records (IsObserverOnly): never appended to the log,
  // stored or replayed (the log and DurableState check it). The shard hands
  // them, with every logged record, to its statistics (table_stats.h);
  // Watch will consume the same stream. lsn stays 0.
  //
  // A call joined `key`'s queue: key, session_id, mode, wall.
  kWaitStarted = 100,
  // A queued call left the queue: key, session_id, outcome, waited, wall.
  kWaitEnded = 101,
  // A wait refused (or aborted) as a deadlock: key, session_id,
  // client_name, text (the ABORTED message), cycle, wall. Follows the
  // wait's kWaitEnded (or the acquire's kAcquireRefused).
  kDeadlockRefused = 102,
  // An acquire answered at once without a grant or a wait: key,
  // session_id, outcome (kTimedOut: a try-lock on a held key; kDeadlock: an
  // upgrade refused), wall.
  kAcquireRefused = 103,
};

// True for the observer-only record types above.
inline bool IsObserverOnly(TransitionType type) {
  return static_cast<uint8_t>(type) >= 100;
}

// How an acquire call ended (kWaitEnded, kAcquireRefused), as counted in
// the statistics (proto AcquireOutcomes).
enum class AcquireOutcome : uint8_t {
  kAcquired = 0,
  kTimedOut = 1,   // Not acquired: try-lock, or the wait timed out.
  kCancelled = 2,  // The caller left, or a retry took over its place.
  kDeadlock = 3,   // ABORTED.
  kFailed = 4,     // Any other error after queueing (session ended, ...).
};

// Why a grant or a session ended.
enum class EndReason : uint8_t {
  kNone = 0,
  kReleased = 1,    // Release (or the session was closed).
  kExpired = 2,     // The session's lease ran out.
  kRevoked = 3,     // Max hold time reached.
  kUndone = 4,      // The caller never learnt of the grant.
  kClosed = 5,      // CloseSession.
  kOverflowed = 6,  // The session's event backlog overflowed.
  // Operator actions (AdminService), with text and caller in the record.
  kForceReleased = 7,   // A grant taken by ForceRelease.
  kSessionRevoked = 8,  // RevokeSession: the session's end and its grants'.
};

struct Transition {
  TransitionType type = TransitionType::kSessionCreated;
  uint64_t lsn = 0;  // Set by the log; 0 in a record not yet appended.
  uint64_t session_id = 0;
  std::string key;
  uint64_t token = 0;
  LockMode mode = LockMode::kExclusive;
  uint32_t semaphore_size = 0;
  EndReason reason = EndReason::kNone;
  bool upgrade = false;
  absl::Time wall = absl::UnixEpoch();  // Wall-clock time (see above).
  absl::Duration ttl;
  absl::Duration max_hold;    // Zero: none.
  absl::Duration lock_delay;  // Zero: none.
  std::string client_name;
  Labels labels;
  // kEventPosted. event_type is SessionEvent::Type's value (0 revoked,
  // 1 session expired, 2 release requested).
  uint64_t event_sequence = 0;
  uint8_t event_type = 0;
  std::string text;
  uint64_t requester_session_id = 0;
  std::string requester_client_name;
  // kGrantEnded / kSessionEnded by an operator: who asked (the peer's
  // address and what the operator said; later the authenticated identity).
  std::string caller;
  // kSessionCreated: the identity that owns the session.
  std::string owner;

  // Not stored: filled for observers only, never encoded by the log, and
  // ignored by operator== (a decoded record has them at their defaults).
  // kGrantEnded: how long the grant was held; `never_held`: the grant of a
  // session recovery did not restore (it ends at once, never held here).
  absl::Duration held;
  bool never_held = false;
  // kGrantMade: the grant ends a wait (its kWaitEnded follows).
  // kGrantEnded, kGrantRestored: the ended (or undone) grant had ended a
  // wait (the statistics move an undone grant's call to cancelled).
  bool after_wait = false;
  // kWaitEnded: how long the call waited, and how it ended; `wait_sample`
  // false: the call counts (its outcome) but `waited` is no wait sample (a
  // call superseded by a retry, whose own sample covers the queue place's
  // whole wait; a call refused at once as a deadlock, which never waited).
  absl::Duration waited;
  bool wait_sample = true;
  AcquireOutcome outcome = AcquireOutcome::kAcquired;
  // kDeadlockRefused: the cycle the wait would have closed (first step:
  // the refused wait).
  std::vector<WaitForGraph::Step> cycle;
  // Watch (watch_hub.h): the client name of session_id's session, when the
  // shard has it at hand (it is constant while the record is made), and, on
  // kWaitStarted and kWaitEnded, that a retry took over the wait's queue
  // place (the place itself did not change: watchers are not told).
  const std::string* session_client_name = nullptr;
  bool retry = false;

  bool operator==(const Transition& o) const;
};

// Where the table appends its transitions: the write-ahead log
// (server/wal/), or MemoryLog below for a table without one.
//
// Thread safety: every method may be called concurrently. Append is called
// under shard and session mutexes: it must not do file I/O or call out; it
// may take its own leaf mutex (the lowest in the lock order).
class TransitionLog {
 public:
  virtual ~TransitionLog() = default;
  // Gives `t` the next LSN and appends it. Returns the LSN.
  virtual uint64_t Append(const Transition& t) = 0;
  // A number from the LSN sequence that no record takes (a session id):
  // unique and above every LSN issued before, across restarts too.
  virtual uint64_t TakeNumber() = 0;
  // The highest LSN issued so far (by Append or TakeNumber).
  virtual uint64_t LastLsn() const = 0;
  // Runs `fn` once every record up to `lsn` is durable (in fsync mode, on
  // disk; in the other modes, at once): on this thread if it is already,
  // else later on the log's thread, never under a table mutex. Call with no
  // table mutex held.
  virtual void WhenDurable(uint64_t lsn, absl::AnyInvocable<void()> fn) = 0;
  // True if every record up to `lsn` is durable.
  virtual bool IsDurable(uint64_t lsn) const = 0;
  // Watch (watch_hub.h): whether observer-only records are wanted (someone
  // watches), and where they go. Called under the shard's mutex, like
  // Append. A plain log wants none.
  virtual bool WantsObserverRecords() const { return false; }
  virtual void Observe(const Transition& t) {}
};

// A log that keeps nothing: LSNs from a counter, everything durable at once.
// An optional `tap` sees every record (tests fold them into a DurableState).
class MemoryLog final : public TransitionLog {
 public:
  explicit MemoryLog(uint64_t first_lsn = 1);
  void set_tap(std::function<void(const Transition&)> tap);
  uint64_t Append(const Transition& t) override;
  uint64_t TakeNumber() override;
  uint64_t LastLsn() const override;
  void WhenDurable(uint64_t lsn, absl::AnyInvocable<void()> fn) override;
  bool IsDurable(uint64_t lsn) const override;

 private:
  mutable absl::Mutex mu_;
  uint64_t last_lsn_ ABSL_GUARDED_BY(mu_);
  std::function<void(const Transition&)> tap_ ABSL_GUARDED_BY(mu_);
};

// "SESSION_CREATED lsn=5 session=3 ..." (taalad --dump_wal, test output).
std::string TransitionToString(const Transition& t);
const char* TransitionTypeName(TransitionType type);
const char* EndReasonName(EndReason reason);
const char* AcquireOutcomeName(AcquireOutcome outcome);

}  // namespace taala

#endif  // TAALA_SERVER_CORE_TRANSITION_H_
