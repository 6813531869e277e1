#ifndef TAALA_SERVER_CORE_WATCH_FOLD_H_
#define TAALA_SERVER_CORE_WATCH_FOLD_H_

// Watch's value types: the compact, immutable record a watcher is sent
// (WatchRecord, made from a transition by the hub, watch_hub.h), a
// watcher's filter, and the watched state of keys (WatchKeys) with the one
// pure function that folds a record into it. The snapshot is made with it
// (watch_snapshot.cc: a shard's part, read at one ring position, is brought
// forward to the snapshot's LSN), and so is every test's check that a
// snapshot plus its events equals the table.
//
// Thread safety: values; none of their own.

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "server/core/lock_mode.h"
#include "server/core/transition.h"
#include "server/core/wait_for_graph.h"

namespace taala {

// One event as watchers see it. `lsn` 0: live-only (observer-only records:
// kWaitStarted, kWaitEnded, kDeadlockRefused), made after the logged record
// `after_lsn`; never replayed on resume.
struct WatchRecord {
  TransitionType type = TransitionType::kGrantMade;
  uint64_t lsn = 0;
  uint64_t after_lsn = 0;
  std::string key;
  uint64_t session_id = 0;
  std::string client_name;
  uint64_t token = 0;
  LockMode mode = LockMode::kExclusive;
  uint32_t semaphore_size = 0;
  EndReason reason = EndReason::kNone;
  std::string text;    // Why (a deadlock's message, an admin's reason).
  std::string caller;  // Admin actions.
  absl::Time wall;     // When; kLockDelayStarted: the delay's end.
  bool upgrade = false;
  AcquireOutcome outcome = AcquireOutcome::kAcquired;
  absl::Duration waited;
  std::vector<WaitForGraph::Step> cycle;

  bool live_only() const { return lsn == 0; }
  // The LSN the record is ordered by: its own, or the one it follows.
  uint64_t order_lsn() const { return lsn != 0 ? lsn : after_lsn; }
};

// Whether `t` is a record watchers see (a key's logged record, or one of
// the three observer-only kinds, a retry's takeover of its place aside).
bool IsWatched(const Transition& t);
// The watcher's view of `t` (lsn and after_lsn left to the hub).
WatchRecord ToWatchRecord(const Transition& t);

// A key ("payments/42") or a prefix ("payments/", "pay", "": every key).
struct WatchFilter {
  std::string key;
  std::string prefix;
  bool Matches(absl::string_view k) const;
};

struct WatchedHolderState {
  uint64_t session_id = 0;
  std::string client_name;
  uint64_t token = 0;
  LockMode mode = LockMode::kExclusive;
  absl::Time granted_at;  // Wall clock.
  bool operator==(const WatchedHolderState& o) const;
};

struct WatchedWaiterState {
  uint64_t session_id = 0;
  std::string client_name;
  LockMode mode = LockMode::kExclusive;
  absl::Time since;  // Wall clock.
  bool upgrade = false;
  bool operator==(const WatchedWaiterState& o) const;
};

// A key in use: held, waited for, or in a lock-delay.
struct WatchedKeyState {
  std::vector<WatchedHolderState> holders;  // By token.
  std::vector<WatchedWaiterState> waiters;  // In queue order.
  uint32_t semaphore_size = 0;  // 0 unless held or waited for as one.
  absl::Time delay_until = absl::InfinitePast();  // InfinitePast: none.
  bool in_use() const {
    return !holders.empty() || !waiters.empty() ||
           delay_until != absl::InfinitePast();
  }
  bool operator==(const WatchedKeyState& o) const;
};

using WatchKeys = std::map<std::string, WatchedKeyState>;

// A watch's snapshot (LockTable::SnapshotForWatch): the matching keys in
// use exactly as of the record `lsn`; a watcher goes on from ring position
// `position` (every record there or later comes after it).
struct WatchSnapshotState {
  uint64_t lsn = 0;
  uint64_t position = 0;
  WatchKeys keys;
};

// Applies `r` to `keys` as the table applied it: grants (an upgrade
// replaces the session's SHARED grant), ends (a SHARED grant's end demotes
// its session's upgrade wait to the back of the queue), restores,
// lock-delays, waits (an upgrade wait goes ahead of other waits, behind
// earlier upgrades). Keys no longer in use are erased. A record about a
// holder or waiter the state lacks changes nothing.
void FoldWatchRecord(const WatchRecord& r, WatchKeys& keys);

}  // namespace taala

#endif  // TAALA_SERVER_CORE_WATCH_FOLD_H_
