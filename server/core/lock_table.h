// File: server/core/lock_table.h
// -----------------------------------------------------------------------------
// LockTable is taala's state machine: sessions with leases, and keys with
// holders and FIFO queues of waiters. It knows nothing of gRPC or logging;
// server/rpc/ translates RPCs into the commands of server/core/commands.h
// and back.
//
// This class is the facade: one short function per command, which finds the
// session (SessionRegistry), locks the key's Shard, calls down, and runs the
// resulting Effects once every mutex is released. The rooms below it, each
// owning its data: session.h (a session's lease and indexes),
// session_registry.h, event_mailbox.h (a session's event sink and backlog),
// shard.h (keys, grants, queues), key_state.h, hierarchy.h, graph_sync.h
// and wait_for_graph.h (deadlocks), effects.h (the unlocked work),
// introspection.h (read-only views), timer_queue.h. Their internals are in
// namespace taala::table_internal (so that, say, the core's Session never
// meets the client library's taala::Session); the types callers use
// (Grant, Waiter, SessionEvent, LockDescription, ...) are in taala and are
// all reached through this header.
//
// Thread safety: every public method may be called concurrently. Keys live in
// shards (chosen by the hash of the key's first path segment), each with its
// own mutex; sessions each have their own mutex. Lock order:
//   Shard::mu  ->  Session::mu  ->  leaves
// where the leaves are EventMailbox's, TimerQueue's and WaitForGraph's
// mutexes, the SessionRegistry's shard mutexes, and the statistics' KeyTopK
// stripe mutexes and recent-deadlocks mutex (table_stats.h: taken under a
// shard mutex as a record feeds them, or alone by the queries), the memory
// gate's (table_limits.h), and below them all the TransitionLog's (records
// are appended under the mutexes that order the changes they describe;
// transition.h; taalad's is the WatchHub). At most one shard mutex and one
// session mutex are held at a time. Callbacks (Waiter::Complete,
// SessionEventSink, TableObserver) are never run while any table mutex is
// held, so they may call back into the table.
//
// Invariants (checked by CheckInvariantsForTest, invariants.cc):
//  1. A key has at most one EXCLUSIVE holder.
//  2. A key's queue waits only on a head that cannot be granted: it is held
//     in a conflicting mode, or in a lock-delay (a release hands over).
//  3. Fencing tokens of a key strictly increase with every grant, and never
//     repeat across restarts: a token is the LSN of its grant's record.
//  4. A session's `held` and `waiting` indexes match the shards exactly.
//  5. A waiter is completed exactly once, by whoever removed it from a queue.
//  6. Each shard's statistics gauges (held grants, queued waits) equal its
//     holders and waiters.
//  7. Each owner's counters (owner_registry.h) equal its live sessions'
//     count and their `held` and `waiting` sizes, and its `delayed` count
//     the running lock-delays charged to it (KeyState::delay_owner).

#ifndef TAALA_SERVER_CORE_LOCK_TABLE_H_
#define TAALA_SERVER_CORE_LOCK_TABLE_H_

#include <atomic>
#include <cstdint>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "server/core/commands.h"
#include "server/core/durable_state.h"
#include "server/core/effects.h"
#include "server/core/event_mailbox.h"
#include "server/core/grant.h"
#include "server/core/introspection.h"
#include "server/core/key.h"
#include "server/core/lock_mode.h"
#include "server/core/session.h"
#include "server/core/session_registry.h"
#include "server/core/stats_queries.h"
#include "server/core/table_limits.h"
#include "server/core/timer_queue.h"
#include "server/core/transition.h"
#include "server/core/wait_for_graph.h"
#include "server/core/watch_fold.h"
#include "server/core/watch_hub.h"

namespace taala {
namespace table_internal {
class Shard;
}  // namespace table_internal

class LockTable {
 public:
  struct Options {
    size_t shards = 64;
    absl::Duration min_session_ttl = absl::Seconds(1);
    absl::Duration max_session_ttl = absl::Hours(1);
    absl::Duration default_session_ttl = absl::Seconds(10);
    KeyLimits key_limits;
    size_t max_client_name_bytes = 256;
    size_t max_labels = 32;
    size_t max_label_bytes = 256;
    // Longest lock-delay an acquire may ask for.
    absl::Duration max_lock_delay = absl::Hours(1);
    // Unacknowledged events kept per session (taalad --max_pending_events).
    // RELEASE_REQUESTED past it is dropped; GRANT_REVOKED past it ends the
    // session ("event backlog overflow").
    size_t max_pending_events = 1024;
    // Where every transition is recorded (the write-ahead log); must outlive
    // the table. Null: the table keeps its own MemoryLog (LSNs from 1).
    // Fencing tokens and session ids are numbers from the log's sequence.
    TransitionLog* log = nullptr;
    // Records carry wall-clock times: the table's (monotonic) time plus
    // this offset (taalad: the wall clock minus the steady clock at start).
    absl::Duration wall_offset;
    // Statistics (table_stats.h; taalad --stats). Off: nothing is recorded
    // and the statistics queries answer empty figures.
    bool stats = true;
    // Prefixes with figures of their own (the longest match counts).
    std::vector<std::string> stats_prefixes;
    // A wait that ends after this long or longer is told to the observer
    // (OnSlowWait). Zero: never.
    absl::Duration slow_wait_threshold = absl::Seconds(5);
    // GetLeakSuspects' defaults (a request's zero): held longer than this,
    // or longer than this factor times the key's p99 hold.
    absl::Duration leak_threshold = absl::Minutes(10);
    double leak_p99_factor = 10;
    TableLimits limits;  // table_limits.h (taalad's --max_* flags).
  };

  explicit LockTable(Options options);
  ~LockTable();
  LockTable(const LockTable&) = delete;
  LockTable& operator=(const LockTable&) = delete;

  const Options& options() const { return options_; }
  TimerQueue& timers() { return timers_; }
  void set_observer(TableObserver* observer) {
    runner_.set_observer(observer);
  }

  // A fresh session id for CreateSessionCmd: random, non-zero, below 2^63
  // (unguessable; on the rare ALREADY_EXISTS, ask again). Thread-safe.
  uint64_t NewSessionId();
  // OK if the session lives and belongs to `owner` (OwnerMatches); else
  // NOT_FOUND exactly as for an unknown id: an id tells nothing.
  [[nodiscard]] absl::Status CheckSessionOwner(uint64_t id,
                                               absl::string_view owner,
                                               bool anonymous);
  // While `over`, CreateSession and acquires that would wait get
  // RESOURCE_EXHAUSTED `message`; grants without a wait, keepalives and
  // releases go on. Cheap to check when not over.
  void SetOverMemoryBudget(bool over, std::string message);
  // The owner's live sessions, grants and waits (all 0 if none; tests).
  OwnerCounts OwnerCountsForTest(const std::string& owner);
  TransitionLog& log() { return *log_; }

  // Recovery (lock_table_restore.cc). Call before any other command, with
  // the table's log open: restores `state`'s sessions (when
  // `restore_sessions`; each lease restarts: expires = now + its TTL +
  // `grace`), their grants, tokens and recent events, and the lock-delays
  // still running. Max holds and lock-delays count wall-clock time across
  // the downtime: any that fell due fire at the first RunDueTimers. A grant
  // whose session is not restored ends now, as by expiry (its lock-delay
  // starts), and that is recorded. Waiters are not state: none is restored.
  void Restore(const DurableState& state, absl::Time now, absl::Duration grace,
               bool restore_sessions);
  // The table's durable view (the same shape recovery folds the log into).
  // Consistent only while no command runs (tests; a clean shutdown).
  DurableState ExportState();
  // Refuses every grant (UNAVAILABLE) until `until`: after an unclean stop
  // without fsync, no holder of the previous run may still believe it holds
  // a key. Sessions may be created meanwhile.
  void RefuseGrantsUntil(absl::Time until);
  absl::Time grants_refused_until() const;

  // OK: the session exists with the returned (clamped) lease.
  // INVALID_ARGUMENT: negative TTL, oversized name or labels, session id 0.
  // ALREADY_EXISTS: the id is taken. UNAVAILABLE: shutting down.
  // RESOURCE_EXHAUSTED: the owner's sessions limit, or over memory budget.
  absl::StatusOr<SessionInfo> CreateSession(const CreateSessionCmd& cmd);

  // Renews the lease. Returns the TTL. NOT_FOUND: unknown or ended session.
  absl::StatusOr<absl::Duration> KeepAlive(const KeepAliveCmd& cmd);

  // Routes the session's events to `sink` and sends it every unacked event,
  // in sequence order; an earlier sink is Closed with ABORTED (taken over:
  // docs/api.md) outside every mutex. NOT_FOUND as KeepAlive. `only_if_none`: only if the session has no sink now (a
  // stream of the session that renews it takes the events back after a
  // newer stream ended); OK either way.
  [[nodiscard]] absl::Status AttachSink(uint64_t session_id,
                                        std::shared_ptr<SessionEventSink> sink,
                                        bool only_if_none = false);
  // Stops routing to `sink` if it is still the session's sink. Its
  // unacknowledged events wait for the session's next sink.
  void DetachSink(uint64_t session_id, const SessionEventSink* sink);
  // The session's client has processed every event up to `sequence`
  // (SessionEvent::sequence): they are forgotten. No-op for an unknown
  // session. See event_mailbox.h for the protocol.
  void AckEvents(uint64_t session_id, uint64_t sequence);

  // Releases every grant and cancels every wait. Returns the number of
  // grants released. NOT_FOUND: unknown or ended session.
  absl::StatusOr<size_t> CloseSession(const CloseSessionCmd& cmd);

  // Returns the outcome at once, or std::nullopt if the request waits in the
  // key's queue; `waiter->Complete` then gets the outcome exactly once. With
  // a null `waiter`, nullopt means "would wait" and nothing is queued.
  // Errors: INVALID_ARGUMENT (key, mode), NOT_FOUND (session),
  // RESOURCE_EXHAUSTED (a limit, table_limits.h, or a wait over budget),
  // UNAVAILABLE (shutting down, or grants refused after an unclean restart:
  // RefuseGrantsUntil).
  std::optional<absl::StatusOr<AcquireResult>> Acquire(const AcquireCmd& cmd,
                                                       Waiter* waiter);

  // Removes a wait from its queue and completes its waiter: TIMED_OUT gives a
  // "not acquired" result, CANCELLED a CANCELLED status. No-op if the wait is
  // no longer queued (already granted or cancelled) or, for kTimedOut, if
  // its deadline is still ahead.
  void CancelWait(const CancelWaitCmd& cmd);

  // Releases the session's grant and hands the key to the next waiter.
  // FAILED_PRECONDITION: not the holder, or the token is not the grant's.
  // NOT_FOUND: unknown session. INVALID_ARGUMENT: malformed key.
  [[nodiscard]] absl::Status Release(const ReleaseCmd& cmd);

  // Takes back a grant whose caller was never told of it (AcquireAll's
  // rollback): an upgrade goes back to the SHARED grant it replaced, with
  // that grant's token; any other grant is released. Skipped (OK) if a
  // retry of the session has been told it holds the key. Errors as Release.
  [[nodiscard]] absl::Status UndoGrant(const ReleaseCmd& cmd);

  // OK with the grant if `token` is the current grant of `key`;
  // FAILED_PRECONDITION otherwise. INVALID_ARGUMENT: malformed key.
  absl::StatusOr<Grant> CheckFence(absl::string_view key, uint64_t token);

  // Holders and (at most `max_waiters`) waiters of `key`, in queue order,
  // and the holders of its ancestors and of keys below it that keep it from
  // an EXCLUSIVE grant (LockDescription). One shard mutex, no session's;
  // while something below the key is held, the key's whole shard is read.
  absl::StatusOr<LockDescription> Describe(absl::string_view key,
                                           size_t max_waiters);

  // Keys that start with `prefix` (bytewise), sort after `after` ("" =
  // from the first key) and pass `filter`, in key order, at most `limit`
  // (> 0) of them, with their holders and queue lengths. A page is short
  // only when no more keys match (`next_after` is then unset). Each shard's
  // mutex is held only while that shard's candidates are picked and copied
  // out, so the listing is not a snapshot of the whole table; no session
  // mutex is taken. A prefix that contains '/' names its first segment in
  // full and reads one shard only.
  // INVALID_ARGUMENT: `prefix` or `after` is not valid UTF-8 or is longer
  // than the key limit, or filter.held_longer_than is negative (the message
  // names the field as "prefix", "page_token" or "held_longer_than_ms").
  absl::StatusOr<LockPage> ListLocks(absl::string_view prefix,
                                     absl::string_view after, size_t limit,
                                     const ListLocksFilter& filter = {});

  // Live sessions with ids above `after`, in id order, at most `limit`
  // (> 0). Takes each session map shard's mutex to pick candidates, then each
  // picked session's mutex alone to copy its lease and counts.
  SessionPage ListSessions(uint64_t after, size_t limit);

  // Applies every timer due by `now`: expiries, wait timeouts, max holds.
  // Returns how many timers fired.
  size_t RunDueTimers(absl::Time now);

  // Ends every wait with UNAVAILABLE, closes every event sink with
  // UNAVAILABLE "restarting; your session is kept", and refuses new
  // sessions and acquires. Sessions and grants stay (for a clean restart
  // they are what the log restores).
  void Shutdown();

  // Statistics (stats_queries.h, lock_table_stats.cc); empty figures when
  // options().stats is off. GetLockStats: a key, a prefix, or (both empty)
  // every key; INVALID_ARGUMENT if both are set or one is malformed.
  absl::StatusOr<LockStats> GetLockStats(absl::string_view key,
                                         absl::string_view prefix);
  // Grants held longer than `held_longer_than` (zero: the option's), or
  // longer than max(1 s, `p99_factor` (zero: the option's) x their key's
  // p99 hold) for a key tracked with 20 hold samples or more; oldest first,
  // at most `limit`.
  LeakReport GetLeakSuspects(absl::Duration held_longer_than,
                             double p99_factor, size_t limit, absl::Time now);
  // At most `limit` keys by current waiters and by wait time in the window.
  ContentionReport GetContention(size_t limit, absl::Time now);
  // The last deadlock refusals, newest first; `total` since start.
  std::vector<DeadlockRecord> RecentDeadlocks(size_t limit, uint64_t* total);
  TableMetrics GetMetrics();

  // Counts for introspection and tests.
  uint64_t deadlocks_refused() const;
  // The current wait-for graph (see server/wait_for_graph.h).
  std::vector<WaitForGraph::Edge> WaitForEdges(size_t max_edges,
                                               bool* truncated) {
    return graph_.Edges(max_edges, truncated);
  }
  WaitForGraph& wait_for_graph_for_test() { return graph_; }
  size_t SessionCount();
  // Keys in use (held, waited for or in a lock-delay), as ListLocks lists
  // them: not the ancestors that only carry intentions. O(keys) scan.
  size_t KeyCount();
  // Entries in the shards' key maps, intention-only ancestors included (a
  // key's state is freed once nothing refers to it).
  size_t KeyMapSizeForTest();

  // Watch (watch_snapshot.cc): the matching keys in use as of one LSN of
  // `hub` (the table's log; register the watcher with it first).
  absl::StatusOr<WatchSnapshotState> SnapshotForWatch(
      const WatchFilter& filter, WatchHub& hub);
  // Operator actions (AdminService; lock_table_admin.cc). Each is recorded
  // with its reason and caller (the audit trail).
  //
  // Takes cmd.key from its holder(s): every holder, or cmd.session_id's
  // grant, and only the grant with cmd.token if set. Each holder gets
  // GRANT_REVOKED ("force-released by <caller>: <reason>"); the grant's
  // lock-delay starts unless cmd.skip_lock_delay; the next waiter is
  // granted with a higher token. Returns the grants taken away.
  // INVALID_ARGUMENT: malformed key. NOT_FOUND: the key is not held (by
  // cmd.session_id). FAILED_PRECONDITION: no such grant has cmd.token.
  absl::StatusOr<std::vector<Grant>> ForceRelease(const ForceReleaseCmd& cmd);
  struct RevokeResult {
    std::vector<Grant> released;
    size_t cancelled_waits = 0;
  };
  // Ends the session as if its lease ran out: SESSION_EXPIRED ("revoked by
  // <caller>: <reason>"), grants end (lock-delays start unless skipped),
  // waits are cancelled (NOT_FOUND). NOT_FOUND: unknown or ended session.
  absl::StatusOr<RevokeResult> RevokeSession(const RevokeSessionCmd& cmd);

  // Aborts (in tests: fails) if an invariant above does not hold.
  void CheckInvariantsForTest();

 private:
  // The rooms below the facade (server/core/*.h, namespace table_internal).
  using AdminAction = table_internal::AdminAction;
  using Effects = table_internal::Effects;
  using EndResult = table_internal::EndResult;
  using Session = table_internal::Session;
  using Shard = table_internal::Shard;

  Shard& ShardFor(absl::string_view key);

  // What a batch of effects can set off, reached by the runner through
  // EffectsHost (LockTable itself stays non-polymorphic).
  // (lock_table.cc).
  class Host;
  // Ends a wait that a grant put on a cycle with ABORTED (`why`).
  void AbortWaitInto(uint64_t session_id, const std::string& key,
                     uint64_t seq, const std::string& why,
                     const std::vector<WaitForGraph::Step>& cycle,
                     absl::Time now, Effects& effects);

  // Ends a session: releases grants, cancels waits. `expired` adds the
  // SESSION_EXPIRED event. Returns released grants, or nullopt if the
  // session had already ended (or, expiring, was renewed). `overflowed`:
  // ends it now, as expired, for an event backlog overflow. `revoked`: ends
  // it now, as expired, for an operator (RevokeSession); the grants ended
  // are appended to `released_grants` if not null.
  std::optional<EndResult> EndSession(
      const std::shared_ptr<Session>& session, bool expired, absl::Time now,
      Effects& effects, bool overflowed = false,
      const AdminAction* revoked = nullptr,
      std::vector<Grant>* released_grants = nullptr);
  void EndOverflowedInto(uint64_t session_id, absl::Time now,
                         Effects& effects);
  // True if the session has ended or its lease ran out by `now`; in the
  // latter case it is ended now as its expiry timer would end it (its
  // grants end by expiry: lock-delays start).
  bool EndIfLeaseRanOut(const std::shared_ptr<Session>& session,
                        absl::Time now, Effects& effects);
  void CancelWaitInto(const CancelWaitCmd& cmd, Effects& effects);
  // `undelivered`: the release of a grant whose waiter left before the grant
  // reached it; skipped if the grant has been claimed by a retry.
  absl::Status ReleaseInto(const ReleaseCmd& cmd, Effects& effects,
                           bool undelivered = false);
  // Timer commands (table_timers.cc).
  void ExpireSession(const ExpireSessionCmd& cmd, Effects& effects);
  void RevokeGrant(const RevokeGrantCmd& cmd, Effects& effects);
  void EndLockDelayInto(const std::string& key, absl::Time now,
                        Effects& effects);

  const Options options_;
  std::unique_ptr<TransitionLog> own_log_;  // When options_.log is null.
  TransitionLog* const log_;
  // Null when statistics are off. Declared before the shards that feed it.
  const std::unique_ptr<TableStats> stats_;
  TimerQueue timers_;
  WaitForGraph graph_;
  table_internal::SessionRegistry sessions_;
  table_internal::OwnerRegistry owners_;
  table_internal::MemoryGate memory_gate_;
  table_internal::Admission admission_;  // Set up by the constructor.
  const std::unique_ptr<Host> host_;
  table_internal::EffectsRunner runner_;
  std::atomic<bool> shutting_down_{false};
  std::atomic<int64_t> grants_refused_until_ns_{
      std::numeric_limits<int64_t>::min()};
  std::vector<std::unique_ptr<Shard>> shards_;  // Constant after construction.
};

}  // namespace taala

#endif  // TAALA_SERVER_CORE_LOCK_TABLE_H_
