// File: server/core/lock_table.h
// -----------------------------------------------------------------------------
// LockTable is taala's state machine: sessions with leases, and keys with
// holders and FIFO queues of waiters. It knows nothing of gRPC or logging;
// server/lock_service.cc translates RPCs into the commands of
// server/commands.h and back.
//
// Thread safety: every public method may be called concurrently. Keys live in
// shards (chosen by the hash of the key's first path segment), each with its
// own mutex; sessions each have their own mutex. Lock order: shard mutex, then
// session mutex; the session map's and the timer queue's mutexes are leaves.
// Callbacks (Waiter::Complete, SessionEventSink, TableObserver) are never run
// while any table mutex is held, so they may call back into the table.
//
// Invariants (checked by CheckInvariantsForTest):
//  1. A key has at most one EXCLUSIVE holder.
//  2. A key's queue waits only on a head that cannot be granted: it is held
//     in a conflicting mode, or in a lock-delay (a release hands over).
//  3. Fencing tokens of a key strictly increase with every grant, and never
//     repeat across restarts given a new token epoch (Options::token_epoch).
//  4. A session's `held` and `waiting` indexes match the shards exactly.
//  5. A waiter is completed exactly once, by whoever removed it from a queue.

#ifndef TAALA_SERVER_CORE_LOCK_TABLE_H_
#define TAALA_SERVER_CORE_LOCK_TABLE_H_

#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/btree_map.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/btree_set.h"
#include "absl/container/inlined_vector.h"
#include "absl/container/node_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/core/commands.h"
#include "server/core/event_mailbox.h"
#include "server/core/grant.h"
#include "server/core/key.h"
#include "server/core/lock_mode.h"
#include "server/core/session.h"
#include "server/core/session_registry.h"
#include "server/core/timer_queue.h"
#include "server/core/wait_for_graph.h"

namespace taala {

// Notified of notable state changes, for logs and metrics. Never called under
// a table mutex. Methods may be called concurrently.
class TableObserver {
 public:
  virtual ~TableObserver() = default;
  virtual void OnSessionExpired(uint64_t session_id,
                                absl::string_view client_name,
                                size_t released_grants,
                                size_t cancelled_waits) {}
  virtual void OnGrantRevoked(const Grant& grant, absl::string_view reason) {}
};

struct SessionInfo {
  uint64_t session_id = 0;
  std::string client_name;
  absl::Duration ttl;
  absl::Time expires_at;
};

struct HolderInfo {
  Grant grant;
  std::string client_name;
};

struct WaiterInfo {
  uint64_t session_id = 0;
  std::string client_name;
  LockMode mode = LockMode::kExclusive;
  absl::Time enqueued_at;
  absl::Time deadline;  // InfiniteFuture: until the call ends.
};

struct LockDescription {
  std::string key;
  uint32_t semaphore_size = 0;  // 0: a lock, not a semaphore.
  absl::Time delayed_until = absl::InfinitePast();  // Lock-delay.
  std::vector<HolderInfo> holders;
  std::vector<WaiterInfo> waiters;  // Queue order; may be truncated.
  size_t waiter_count = 0;
};

// One key of a listing (ListLocks): its holders and queue length.
struct LockSummary {
  std::string key;
  std::vector<HolderInfo> holders;
  size_t waiter_count = 0;
};

struct LockPage {
  std::vector<LockSummary> locks;  // In key order (bytewise).
  // Set when more keys may follow: the `after` of the next page.
  std::optional<std::string> next_after;
};

// One live session of a listing (ListSessions).
struct SessionSummary {
  uint64_t session_id = 0;
  std::string client_name;
  Labels labels;
  absl::Duration ttl;
  absl::Time expires_at;
  size_t held_keys = 0;
  size_t waiting_keys = 0;
};

struct SessionPage {
  std::vector<SessionSummary> sessions;  // In session id order.
  // Set when more sessions may follow: the `after` of the next page.
  std::optional<uint64_t> next_after;
};

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
    // Events kept for a session while no KeepAlive stream is attached.
    size_t max_undelivered_events = 64;
    // High bits of every fencing token and session id: a new epoch per
    // daemon start (persisted in the data directory) keeps tokens and ids
    // from ever repeating across restarts. Must be < 2^24.
    uint64_t token_epoch = 0;
  };

  explicit LockTable(Options options);
  ~LockTable();
  LockTable(const LockTable&) = delete;
  LockTable& operator=(const LockTable&) = delete;

  const Options& options() const { return options_; }
  TimerQueue& timers() { return timers_; }
  void set_observer(TableObserver* observer) { observer_ = observer; }

  // A fresh session id for CreateSessionCmd. Thread-safe.
  uint64_t NewSessionId();

  // OK: the session exists with the returned (clamped) lease.
  // INVALID_ARGUMENT: negative TTL, oversized name or labels.
  // ALREADY_EXISTS: the id is taken. UNAVAILABLE: shutting down.
  absl::StatusOr<SessionInfo> CreateSession(const CreateSessionCmd& cmd);

  // Renews the lease. Returns the TTL. NOT_FOUND: unknown or ended session.
  absl::StatusOr<absl::Duration> KeepAlive(const KeepAliveCmd& cmd);

  // Routes the session's events to `sink` (replacing an earlier sink) and
  // delivers the events that waited for one. NOT_FOUND as KeepAlive.
  [[nodiscard]] absl::Status AttachSink(
      uint64_t session_id, std::shared_ptr<SessionEventSink> sink);
  // Stops routing to `sink` if it is still the session's sink.
  void DetachSink(uint64_t session_id, const SessionEventSink* sink);

  // Releases every grant and cancels every wait. Returns the number of
  // grants released. NOT_FOUND: unknown or ended session.
  absl::StatusOr<size_t> CloseSession(const CloseSessionCmd& cmd);

  // Returns the outcome at once, or std::nullopt if the request waits in the
  // key's queue; `waiter->Complete` then gets the outcome exactly once. With
  // a null `waiter`, nullopt means "would wait" and nothing is queued.
  // Errors: INVALID_ARGUMENT (key, mode), NOT_FOUND (session),
  // UNAVAILABLE (shutting down).
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

  // OK with the grant if `token` is the current grant of `key`;
  // FAILED_PRECONDITION otherwise. INVALID_ARGUMENT: malformed key.
  absl::StatusOr<Grant> CheckFence(absl::string_view key, uint64_t token);

  // Holders and (at most `max_waiters`) waiters of `key`, in queue order.
  absl::StatusOr<LockDescription> Describe(absl::string_view key,
                                           size_t max_waiters);

  // Keys that start with `prefix` (bytewise) and sort after `after` ("" =
  // from the first key), in key order, at most `limit` (> 0) of them, with
  // their holders and queue lengths. Each shard's mutex is held only while
  // that shard's candidates are picked and copied out, so the listing is not
  // a snapshot of the whole table; no session mutex is taken. A prefix that
  // contains '/' names its first segment in full and reads one shard only.
  // INVALID_ARGUMENT: `prefix` or `after` is not valid UTF-8 or is longer
  // than the key limit (the message names the field as "prefix" or
  // "page_token").
  absl::StatusOr<LockPage> ListLocks(absl::string_view prefix,
                                     absl::string_view after, size_t limit);

  // Live sessions with ids above `after`, in id order, at most `limit`
  // (> 0). Takes each session map shard's mutex to pick candidates, then each
  // picked session's mutex alone to copy its lease and counts.
  SessionPage ListSessions(uint64_t after, size_t limit);

  // Applies every timer due by `now`: expiries, wait timeouts, max holds.
  // Returns how many timers fired.
  size_t RunDueTimers(absl::Time now);

  // Ends every wait with UNAVAILABLE, closes every event sink, and refuses
  // new sessions and acquires. Sessions and grants stay (for a clean restart
  // they are what the log restores).
  void Shutdown();

  // Counts for introspection and tests.
  uint64_t deadlocks_refused() const { return deadlocks_refused_.load(); }
  // The current wait-for graph (see server/wait_for_graph.h).
  std::vector<WaitForGraph::Edge> WaitForEdges(size_t max_edges,
                                               bool* truncated) {
    return graph_.Edges(max_edges, truncated);
  }
  size_t SessionCount();
  size_t KeyCount();

  // Aborts (in tests: fails) if an invariant above does not hold.
  void CheckInvariantsForTest();

 private:
  struct Effects;

  struct Holder {
    std::shared_ptr<Session> session;
    uint64_t token = 0;
    LockMode mode = LockMode::kExclusive;
    absl::Time granted_at;
    absl::Time revoke_at;
    // Applied to the key if this grant ends by expiry or revocation.
    absl::Duration lock_delay;
    // Set once another call of the session was told it holds the key (an
    // idempotent retry): the grant is then known to the client and is not
    // taken back if its original waiter turns out to have gone.
    bool claimed = false;
  };
  struct QueuedWaiter {
    std::shared_ptr<Session> session;
    Waiter* waiter = nullptr;
    LockMode mode = LockMode::kExclusive;
    absl::Time enqueued_at;
    absl::Time deadline;
    absl::Duration max_hold;
    absl::Duration lock_delay;
    uint32_t semaphore_size = 0;
    bool upgrade = false;  // The session holds the key SHARED.
  };
  struct KeyState {
    absl::InlinedVector<Holder, 1> holders;
    // FIFO by sequence number; O(log n) removal on cancel. Upgrades take
    // sequence numbers below every other wait's, so they come first.
    absl::btree_map<uint64_t, QueuedWaiter> waiters;
    // Semaphore size while the key is in use as a semaphore; 0 for a lock.
    uint32_t limit = 0;
    // Lock-delay: no grant before this instant (InfinitePast: none).
    absl::Time delayed_until = absl::InfinitePast();
    // Hierarchy: grants held strictly below this key, per session (the
    // intention locks of multi-granularity locking). Empty for flat keys.
    struct Below {
      uint32_t shared = 0;
      uint32_t exclusive = 0;
    };
    absl::flat_hash_map<const Session*, Below> below;
    // Queued waiters by mode (semaphore waits count as SHARED): a queued
    // EXCLUSIVE waiter here holds back new grants below this key.
    uint32_t queued_shared = 0;
    uint32_t queued_exclusive = 0;
    bool empty() const {
      return holders.empty() && waiters.empty() && below.empty() &&
             delayed_until == absl::InfinitePast();
    }
  };
  // Whether a request of `mode` (a semaphore if `semaphore_size` > 0) by
  // `session` could be granted now, queue order aside. `upgrade`: the
  // session holds the key SHARED and asks for EXCLUSIVE.
  static bool Compatible(const KeyState& state, LockMode mode,
                         uint32_t semaphore_size, const Session* session,
                         bool upgrade, absl::Time now);

  // Wait sequence numbers: upgrades count up from 1, other waits from
  // kFirstWaitSeq, so a key's upgrades are always at the head of its queue.
  static constexpr uint64_t kFirstWaitSeq = uint64_t{1} << 62;

  struct Shard {
    explicit Shard(uint64_t first_token) : next_token(first_token) {}
    absl::Mutex mu;
    // Node map: references to a key's state stay valid while ancestors'
    // entries are added and removed (hierarchy intentions).
    absl::node_hash_map<std::string, KeyState> keys ABSL_GUARDED_BY(mu);
    // Keys with waiters, sorted: a key's descendants with waiters are a
    // range ("a/b/" .. "a/b0").
    absl::btree_set<std::string, std::less<>> waiting_keys ABSL_GUARDED_BY(mu);
    uint64_t next_token ABSL_GUARDED_BY(mu);
    uint64_t next_wait_seq ABSL_GUARDED_BY(mu) = kFirstWaitSeq;
    uint64_t next_upgrade_seq ABSL_GUARDED_BY(mu) = 1;
  };

  Shard& ShardFor(absl::string_view key);
  static HolderInfo ToHolderInfo(const std::string& key, const Holder& h);

  // Whether the head of `key`'s (non-empty) queue can be granted now, or
  // dropped because its caller or session has gone.
  bool HeadReadyLocked(Shard& shard, const std::string& key, KeyState& state,
                       absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(shard.mu);
  // Grants (or drops) the head of `key`'s queue. REQUIRES: HeadReadyLocked.
  void TakeHeadLocked(Shard& shard, const std::string& key, KeyState& state,
                      absl::Time now, Effects& effects)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(shard.mu);
  // Adds a holder (or, for an upgrade, turns the session's SHARED grant
  // into an EXCLUSIVE one with a new token) and arms its max hold timer.
  Grant MakeGrantLocked(Shard& shard, const std::string& key,
                        KeyState& state, const std::shared_ptr<Session>& s,
                        LockMode mode, absl::Duration max_hold,
                        absl::Duration lock_delay, bool upgrade,
                        absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(shard.mu);
  // A holder's grant ended by expiry or revocation: start its lock-delay.
  void StartLockDelayLocked(Shard& shard, const std::string& key,
                            KeyState& state, const Holder& holder,
                            absl::Time now)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(shard.mu);
  void EndLockDelayInto(const std::string& key, absl::Time now,
                        Effects& effects);
  // What blocks the key's waiters, as wait-for graph parties: its holders,
  // its ancestors' holders and the sessions holding keys below it.
  std::vector<WaitForGraph::Party> GraphHolders(Shard& shard,
                                                const std::string& key,
                                                const KeyState& state)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(shard.mu);
  // Hierarchy: whether the tree around `key` lets `session` hold it in
  // `mode`: no other session holds an ancestor or a key below it in a
  // conflicting mode, and no conflicting waiter queued on an ancestor came
  // before queue position `seq` (kNewRequest for a request not queued yet).
  // Always true for a flat key with nothing below it.
  static constexpr uint64_t kNewRequest = ~uint64_t{0};
  bool TreeAllowsLocked(Shard& shard, const std::string& key,
                        const KeyState& state, LockMode mode,
                        const Session* session, uint64_t seq)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(shard.mu);
  // `key` and, in a tree, its ancestors and the keys below it that have
  // waiters.
  absl::InlinedVector<std::string, 1> RelatedKeysLocked(Shard& shard,
                                                        const std::string& key)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(shard.mu);
  // Refreshes the wait-for graph's view of what blocks the waiters of `key`
  // and its related keys.
  void SyncGraphLocked(Shard& shard, const std::string& key)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(shard.mu);
  // Adds (delta 1) or removes (delta -1) a grant's intentions on every
  // ancestor of `key`.
  void IntentLocked(Shard& shard, absl::string_view key, const Session* s,
                    LockMode mode, int delta)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(shard.mu);
  // Queue bookkeeping for a waiter added to or removed from `key`'s queue.
  void QueuedLocked(Shard& shard, const std::string& key, KeyState& state,
                    const QueuedWaiter& w, int delta)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(shard.mu);
  // After `key`'s state changed: grant what can be granted on it, on its
  // ancestors and on the keys below it, and erase what became empty.
  void ReevaluateLocked(Shard& shard, const std::string& key, absl::Time now,
                        Effects& effects)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(shard.mu);
  // The body of Acquire, with the shard's and the session's mutexes held.
  // Holders to ask for a release are appended to `ask`.
  std::optional<absl::StatusOr<AcquireResult>> AcquireLocked(
      Shard& shard, Session& s, const std::shared_ptr<Session>& session,
      const AcquireCmd& cmd, Waiter* waiter, Effects& effects,
      std::vector<std::pair<std::shared_ptr<Session>, uint64_t>>& ask)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(shard.mu, s.mu);
  // Ends a session: releases grants, cancels waits. `expired` adds the
  // SESSION_EXPIRED event. Returns released grants, or nullopt if the
  // session had already ended.
  struct EndResult {
    size_t released = 0;
    size_t cancelled_waits = 0;
  };
  std::optional<EndResult> EndSession(const std::shared_ptr<Session>& session,
                                      bool expired, absl::Time now,
                                      Effects& effects);
  void ExpireSession(const ExpireSessionCmd& cmd, Effects& effects);
  void RevokeGrant(const RevokeGrantCmd& cmd, Effects& effects);
  void CancelWaitInto(const CancelWaitCmd& cmd, Effects& effects);
  // Ends a wait that a grant put on a cycle with ABORTED (`why`).
  void AbortWaitInto(uint64_t session_id, const std::string& key,
                     uint64_t seq, const std::string& why, absl::Time now,
                     Effects& effects);
  // `undelivered`: the release of a grant whose waiter left before the grant
  // reached it; skipped if the grant has been claimed by a retry.
  absl::Status ReleaseInto(const ReleaseCmd& cmd, Effects& effects,
                           bool undelivered = false);
  void QueueEvent(Session& session, SessionEvent event, Effects& effects)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(session.mu);
  // `sink` failed to deliver `event`: detach it and keep the event.
  void Redeliver(uint64_t session_id, const SessionEventSink* sink,
                 SessionEvent event);
  // Runs completions and delivers events; never under a table mutex.
  void RunEffects(Effects& effects, absl::Time now);

  const Options options_;
  TableObserver* observer_ = nullptr;
  TimerQueue timers_;
  WaitForGraph graph_;
  std::atomic<bool> shutting_down_{false};
  std::atomic<uint64_t> next_session_seq_{1};
  std::atomic<uint64_t> deadlocks_refused_{0};

  std::vector<std::unique_ptr<Shard>> shards_;  // Constant after construction.

  SessionRegistry sessions_;
};

}  // namespace taala

#endif  // TAALA_SERVER_CORE_LOCK_TABLE_H_
