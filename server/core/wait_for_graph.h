#ifndef TAALA_SERVER_CORE_WAIT_FOR_GRAPH_H_
#define TAALA_SERVER_CORE_WAIT_FOR_GRAPH_H_

#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/btree_map.h"
#include "absl/container/flat_hash_map.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "server/core/lock_mode.h"

namespace taala {

// The wait-for graph between sessions, kept only for keys that have waiters
// (an uncontended acquire or release never touches it). A waiting session
// waits for every holder of the key whose mode conflicts with its own, and
// for every waiter ahead of it in the key's FIFO queue, whatever its mode
// (head-of-line: it cannot be granted before them). A wait that would close
// a cycle is a deadlock: nobody in the cycle can ever be granted.
//
// Semaphore waits are not entered: a semaphore admits whichever holder
// leaves first, so a cycle through one is not necessarily a deadlock.
//
// Thread safety: every method may be called concurrently. mu_ is a leaf
// lock: the lock table calls in with a shard mutex held, except for
// CycleThrough (the search), which it calls with no table mutex held.
class WaitForGraph {
 public:
  struct Party {
    uint64_t session = 0;
    std::string client_name;
    LockMode mode = LockMode::kExclusive;
  };

  // One step of a cycle: `waiter` waits for `key`, held (or queued ahead)
  // by the next step's waiter.
  struct Step {
    uint64_t waiter = 0;
    std::string waiter_name;
    std::string key;
  };

  // An edge of the graph, for introspection.
  struct Edge {
    Party waiter;
    Party blocker;
    std::string key;
    bool queued_ahead = false;  // Blocker waits ahead in the queue.
  };

  // Records that `waiter` waits for `key` at queue position `seq`, and
  // `holders` as the key's holders. Cheap: no search. Returns true if the
  // wait may close a cycle (its session holds a key others wait for, or
  // waits elsewhere): the caller then calls CycleThrough once its shard
  // mutex is released. False: nobody can be waiting for this session, so
  // no cycle goes through the new wait.
  bool AddWait(const Party& waiter, const std::string& key, uint64_t seq,
               std::vector<Party> holders) ABSL_LOCKS_EXCLUDED(mu_);

  // If the wait of `session` at `seq` on `key` (in the graph) is on a
  // cycle, removes it from the graph and returns the cycle (first step: that
  // wait); the caller then ends the wait with ABORTED. Searches run one at a
  // time and a found wait leaves at once, so of waits that close one cycle
  // concurrently exactly one is found on it. A new wait (AddWait) or a
  // grant can close a cycle: a grant to a session that also waits
  // elsewhere, in a tree (see docs/design.md).
  std::vector<Step> CycleThrough(uint64_t session, const std::string& key,
                                 uint64_t seq) ABSL_LOCKS_EXCLUDED(mu_);

  // The holders of `key` changed; ignored unless the key has waits.
  void SetHolders(const std::string& key, std::vector<Party> holders)
      ABSL_LOCKS_EXCLUDED(mu_);

  // The wait at `seq` on `key` ended (granted, cancelled, timed out...).
  // No-op if it is not in the graph.
  void RemoveWait(const std::string& key, uint64_t seq)
      ABSL_LOCKS_EXCLUDED(mu_);

  // The current edges: each waiter to its conflicting holders and to the
  // nearest conflicting waiter ahead of it in the key's queue (the others
  // ahead are reached through that one). At most `max_edges`; `truncated`
  // says if more were left out. Linear in the waits listed.
  std::vector<Edge> Edges(size_t max_edges, bool* truncated)
      ABSL_LOCKS_EXCLUDED(mu_);

  // Test only: called at the start of every cycle search.
  void SetSearchHookForTest(std::function<void()> hook)
      ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    search_hook_ = std::move(hook);
  }

  // Number of keys with waits (for tests).
  size_t KeyCountForTest() ABSL_LOCKS_EXCLUDED(mu_);

 private:
  struct KeyWaits {
    std::vector<Party> holders;
    absl::btree_map<uint64_t, Party> queue;  // By queue position.
  };

  // Sessions that block the wait at `seq` on `key` and are queued at or
  // after `from` (holders too if `from` is 0).
  void BlockersLocked(absl::string_view key, const KeyWaits& k,
                      uint64_t from, uint64_t seq, const Party& waiter,
                      std::vector<const Party*>* out) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // A cycle from `waiter`'s wait at `seq` on `key` back to its session.
  std::vector<Step> FindCycleLocked(const Party& waiter,
                                    const std::string& key, uint64_t seq)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void RemoveWaitLocked(const std::string& key, uint64_t seq)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void SetHoldersLocked(KeyWaits& k, std::vector<Party> holders)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void EraseKeyLocked(absl::flat_hash_map<std::string, KeyWaits>::iterator it)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  absl::Mutex mu_;
  absl::flat_hash_map<std::string, KeyWaits> keys_ ABSL_GUARDED_BY(mu_);
  // Each session's waits: (key, seq).
  absl::flat_hash_map<uint64_t, std::vector<std::pair<std::string, uint64_t>>>
      waits_ ABSL_GUARDED_BY(mu_);
  // For each session, how many keys with waits it holds. A new wait by a
  // session that holds none of them and waits for nothing else cannot close
  // a cycle: no search is needed (the common case, however long the queue).
  absl::flat_hash_map<uint64_t, int> holder_refs_ ABSL_GUARDED_BY(mu_);
  std::function<void()> search_hook_ ABSL_GUARDED_BY(mu_);  // Test only.
};

namespace table_internal {

// "deadlock: session 5 (a) waits for key "x", held by session 6 (b), which
// waits for key "y", held by session 5 (a); refusing ..." (a cycle of
// WaitForGraph::CycleThrough, for error messages).
std::string DeadlockMessage(const std::vector<WaitForGraph::Step>& cycle);

}  // namespace table_internal

}  // namespace taala

#endif  // TAALA_SERVER_CORE_WAIT_FOR_GRAPH_H_
