#ifndef TAALA_SERVER_CORE_KEY_STATE_H_
#define TAALA_SERVER_CORE_KEY_STATE_H_

// One key's state: its holders, its FIFO queue of waiters, its semaphore
// size and lock-delay, and the intention counts of the hierarchy.
//
// Thread safety: none of its own. A KeyState lives in a Shard's key map and
// is read and written only with that shard's mutex held (REQUIRES:
// Shard::mu); the session mutexes of its holders and waiters are taken
// under it when their indexes change.

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "absl/container/btree_map.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/inlined_vector.h"
#include "absl/container/node_hash_map.h"
#include "absl/time/time.h"
#include "server/core/grant.h"
#include "server/core/lock_mode.h"
#include "server/core/session.h"
#include "server/core/timer_queue.h"

namespace taala {
namespace table_internal {

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
  // The grant ended a wait: if it is undone, the statistics move its call
  // from acquired_after_wait (and acquired) to cancelled.
  bool after_wait = false;
  // The max-hold timer (unarmed without a max hold); cancelled when the
  // grant ends.
  TimerId max_hold_timer{};
  // For an upgraded grant: the SHARED grant it replaced, so that an upgrade
  // its caller never learnt of is undone exactly (Shard::UndoUpgradeLocked).
  struct Replaced {
    uint64_t token = 0;
    absl::Time granted_at;
    absl::Time revoke_at;
    absl::Duration lock_delay;
    bool claimed = false;
    bool after_wait = false;
  };
  std::optional<Replaced> upgraded_from;
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
  // The wait's timeout timer (unarmed for an infinite wait); cancelled when
  // the wait ends or a retry takes its place.
  TimerId timeout_timer{};
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
  // In a tree a lock-delay covers what its lost grant covered: it blocks
  // requests on ancestors and below that would have conflicted with that
  // grant (see DelayBlocks). The end of this key's delays after EXCLUSIVE
  // grants (<= delayed_until; after SHARED or semaphore grants only
  // EXCLUSIVE requests conflict) ...
  absl::Time exclusive_delay_until = absl::InfinitePast();
  // The owner the running lock-delay here is charged to (the last holder
  // whose grant started one; OwnerCounters::delayed): set while
  // delayed_until is, null for an uncharged delay (restored, or a session
  // with no owner counters).
  std::shared_ptr<OwnerCounters> delay_owner;
  // ... and the same two ends for delays on keys strictly below this one
  // (the latest of each), so that a request here sees them.
  absl::Time below_delayed_until = absl::InfinitePast();
  absl::Time below_exclusive_delay_until = absl::InfinitePast();
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
  // In use itself (held, waited for, or in a lock-delay of its own), not
  // only carrying intentions of keys below it: what ListLocks lists and
  // the `keys` gauge counts.
  bool in_use() const {
    return !holders.empty() || !waiters.empty() ||
           delayed_until != absl::InfinitePast();
  }
  bool empty() const {
    return holders.empty() && waiters.empty() && below.empty() &&
           delayed_until == absl::InfinitePast() &&
           exclusive_delay_until == absl::InfinitePast() &&
           below_delayed_until == absl::InfinitePast() &&
           below_exclusive_delay_until == absl::InfinitePast();
  }
};

// A shard's keys. Node map: references to a key's state stay valid while
// ancestors' entries are added and removed (hierarchy intentions). Every
// change of its size is published in `entries` (read with no mutex by the
// --max_keys admission, table_limits.h).
class KeyMap : public absl::node_hash_map<std::string, KeyState> {
  using Base = absl::node_hash_map<std::string, KeyState>;

 public:
  template <typename K>
  std::pair<iterator, bool> try_emplace(K&& key) {
    auto r = Base::try_emplace(std::forward<K>(key));
    if (r.second) Publish();
    return r;
  }
  template <typename... A>
  std::pair<iterator, bool> emplace(A&&... args) {
    auto r = Base::emplace(std::forward<A>(args)...);
    if (r.second) Publish();
    return r;
  }
  KeyState& operator[](const std::string& key) {
    return try_emplace(key).first->second;
  }
  void erase(const_iterator it) {
    Base::erase(it);
    Publish();
  }
  void erase(iterator it) {
    Base::erase(it);
    Publish();
  }
  size_t erase(const std::string& key) {
    const size_t n = Base::erase(key);
    Publish();
    return n;
  }
  size_t entries() const { return entries_.load(std::memory_order_relaxed); }

 private:
  void Publish() { entries_.store(size(), std::memory_order_relaxed); }
  std::atomic<size_t> entries_{0};
};

// Whether a request of `mode` (a semaphore if `semaphore_size` > 0) by
// `session` could be granted now, queue order and the tree aside.
// `upgrade`: the session holds the key SHARED and asks for EXCLUSIVE.
inline bool Compatible(const KeyState& state, LockMode mode,
                       uint32_t semaphore_size, const Session* session,
                       bool upgrade, absl::Time now) {
  if (state.delayed_until > now) return false;  // Lock-delay.
  if (semaphore_size > 0) {
    const uint32_t limit = state.limit != 0 ? state.limit : semaphore_size;
    return state.holders.size() < limit;
  }
  for (const Holder& h : state.holders) {
    if (upgrade && h.session.get() == session) continue;  // Its own SHARED.
    if (mode == LockMode::kExclusive || h.mode == LockMode::kExclusive) {
      return false;
    }
  }
  return true;
}

// Whether a lock-delay on another key of a request's path (an ancestor, or
// a key below), ending at `until` and, for its part after EXCLUSIVE grants,
// at `exclusive_until`, blocks a request of `mode` at `now`: it does if the
// lost grant would have conflicted with it.
inline bool DelayBlocks(absl::Time until, absl::Time exclusive_until,
                        LockMode mode, absl::Time now) {
  return exclusive_until > now || (mode == LockMode::kExclusive && until > now);
}

}  // namespace table_internal
}  // namespace taala

#endif  // TAALA_SERVER_CORE_KEY_STATE_H_
