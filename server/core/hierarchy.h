#ifndef TAALA_SERVER_CORE_HIERARCHY_H_
#define TAALA_SERVER_CORE_HIERARCHY_H_

// Multi-granularity locking over a shard's keys: the intention counts a
// grant leaves on its ancestors, the checks that a grant fits the tree, and
// the sorted set of keys that have waiters (a key's waiting descendants are
// one range of it).
//
// Thread safety: none of its own. A Hierarchy is a member of its Shard and,
// like the key map it reads, is used only with the shard's mutex held
// (REQUIRES: Shard::mu). It takes no mutex.

#include <cstdint>
#include <functional>
#include <string>

#include "absl/container/btree_set.h"
#include "absl/container/inlined_vector.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "server/core/key_state.h"
#include "server/core/lock_mode.h"

namespace taala {
namespace table_internal {

class Hierarchy {
 public:
  // The queue position TreeAllows gives a request not queued yet.
  static constexpr uint64_t kNewRequest = ~uint64_t{0};

  // Adds (delta 1) or removes (delta -1) a grant's intentions on every
  // ancestor of `key`, adding and erasing ancestors' entries as needed.
  static void Intent(KeyMap& keys, absl::string_view key, const Session* s,
                     LockMode mode, int delta);

  // Whether the tree around `key` lets `session` hold it in `mode` at
  // `now`: no other session holds an ancestor or a key below it in a
  // conflicting mode, no lock-delay on an ancestor or below blocks it
  // (DelayBlocks), and no conflicting waiter queued on an ancestor came
  // before queue position `seq` (kNewRequest for a request not queued yet).
  // Always true for a flat key with nothing below it.
  static bool TreeAllows(const KeyMap& keys, const std::string& key,
                         const KeyState& state, LockMode mode,
                         const Session* session, uint64_t seq,
                         absl::Time now);

  // A lock-delay until `until` began on `key` after a grant of `mode`:
  // its ancestors record it as a delay below them (adding entries).
  static void DelayBelow(KeyMap& keys, absl::string_view key, LockMode mode,
                         absl::Time until);
  // The delays below `key`'s ancestors that are over by `now` are
  // forgotten; ancestors left empty are erased.
  static void EndDelaysBelow(KeyMap& keys, absl::string_view key,
                             absl::Time now);

  // Queue bookkeeping for a waiter added to (delta 1) or, before its erase,
  // removed from (delta -1) `key`'s queue.
  void Queued(const std::string& key, KeyState& state, const QueuedWaiter& w,
              int delta);

  // `key` and, in a tree, its ancestors and the keys below it that have
  // waiters.
  absl::InlinedVector<std::string, 1> RelatedKeys(const std::string& key) const;

  bool has_waiting_keys() const { return !waiting_keys_.empty(); }
  // Keys with waiters, sorted (contention views).
  const absl::btree_set<std::string, std::less<>>& waiting_keys() const {
    return waiting_keys_;
  }
  // Every queue was emptied (shutdown).
  void ClearWaitingKeys() { waiting_keys_.clear(); }

 private:
  // Keys with waiters, sorted: a key's descendants with waiters are a
  // range ("a/b/" .. "a/b0").
  absl::btree_set<std::string, std::less<>> waiting_keys_;
};

}  // namespace table_internal
}  // namespace taala

#endif  // TAALA_SERVER_CORE_HIERARCHY_H_
