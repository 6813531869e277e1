#ifndef TAALA_SERVER_CORE_OWNER_REGISTRY_H_
#define TAALA_SERVER_CORE_OWNER_REGISTRY_H_

// Per-identity counts for the lock table's limits (table_limits.h): each
// owner (the identity that created a session) has shared counters of its
// live sessions, grants held, queued waits and lock-delays started by its
// grants (`delayed`, moved by the shards). A session's `held` and
// `waiting` indexes are CountedKeys, which move the owner's counters with
// every change, so the counts cannot drift from the indexes.

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"

namespace taala {
namespace table_internal {

// One owner's counts. Atomics: they move under the mutexes of different
// sessions of the owner, and admission reads them with no mutex (a limit
// may so be overshot by the calls of one owner in flight at once).
struct OwnerCounters {
  explicit OwnerCounters(std::string name = "") : owner(std::move(name)) {}
  const std::string owner;
  std::atomic<int64_t> sessions{0};
  std::atomic<int64_t> held{0};
  std::atomic<int64_t> waiting{0};
  // Keys in a lock-delay that one of the owner's grants started (the last
  // one there): each counts as a held key until its delay ends, so one
  // identity's delays cannot fill --max_keys for everyone else.
  std::atomic<int64_t> delayed{0};
};

// A key -> number map that adds its insertions and erasures to `counter`
// (an owner's held or waiting count; null: none). The map's own guard (the
// session's mutex) guards it; the counter is atomic.
class CountedKeys {
 public:
  using Map = absl::flat_hash_map<std::string, uint64_t>;
  using iterator = Map::iterator;
  using const_iterator = Map::const_iterator;

  explicit CountedKeys(std::atomic<int64_t>* counter) : counter_(counter) {}
  CountedKeys(const CountedKeys&) = delete;
  CountedKeys& operator=(const CountedKeys&) = delete;

  uint64_t& operator[](const std::string& key) {
    auto [it, inserted] = map_.try_emplace(key, 0);
    if (inserted) Add(1);
    return it->second;
  }
  void erase(const_iterator it) {
    map_.erase(it);
    Add(-1);
    ReleaseIfEmpty();
  }
  void erase(iterator it) {
    map_.erase(it);
    Add(-1);
    ReleaseIfEmpty();
  }
  size_t erase(const std::string& key) {
    const size_t n = map_.erase(key);
    Add(-static_cast<int64_t>(n));
    ReleaseIfEmpty();
    return n;
  }
  // Empties the map and returns what it held.
  Map TakeAll() {
    Map out;
    out.swap(map_);
    Add(-static_cast<int64_t>(out.size()));
    return out;
  }
  iterator find(absl::string_view key) { return map_.find(key); }
  const_iterator find(absl::string_view key) const { return map_.find(key); }
  bool contains(absl::string_view key) const { return map_.contains(key); }
  size_t count(absl::string_view key) const { return map_.count(key); }
  iterator begin() { return map_.begin(); }
  iterator end() { return map_.end(); }
  const_iterator begin() const { return map_.begin(); }
  const_iterator end() const { return map_.end(); }
  size_t size() const { return map_.size(); }
  const Map& map() const { return map_; }
  bool empty() const { return map_.empty(); }

 private:
  // An empty map gives its storage back: a burst of waits leaves no small
  // block in each of thousands of sessions, scattered over the pages the
  // burst's calls used, which would keep those pages resident after the
  // burst (issue 12's waiter memory: RSS must come back).
  void ReleaseIfEmpty() {
    if (map_.empty() && map_.capacity() > 0) Map().swap(map_);
  }

  void Add(int64_t n) {
    if (counter_ != nullptr && n != 0) {
      counter_->fetch_add(n, std::memory_order_relaxed);
    }
  }
  Map map_;
  std::atomic<int64_t>* const counter_;
};

// Owners with live sessions or running lock-delays. An entry is made by an
// owner's first session and removed when its last session has ended and
// its last lock-delay is over. Its mutex is a leaf, taken only as a session
// is created or ends and as a lock-delay starts or ends (an expiry or a
// revocation, never a plain acquire or release).
class OwnerRegistry {
 public:
  // The owner's counters with one more session, or null (nothing changed)
  // if it has `max_sessions` already.
  std::shared_ptr<OwnerCounters> AddSession(const std::string& owner,
                                            int64_t max_sessions);
  // One session of `owner` fewer (its counters: `counters`).
  void RemoveSession(const std::string& owner,
                     const std::shared_ptr<OwnerCounters>& counters);
  // A lock-delay charged to `counters`' owner starts: returns the counters
  // it is charged to (the owner's current entry, made again if its
  // sessions have all ended since `counters` was taken).
  std::shared_ptr<OwnerCounters> AddDelay(
      const std::shared_ptr<OwnerCounters>& counters);
  // A lock-delay charged by AddDelay ends.
  void RemoveDelay(const std::shared_ptr<OwnerCounters>& counters);
  // The owner's counters, or null if it has no session (tests, metrics).
  std::shared_ptr<OwnerCounters> Find(const std::string& owner);
  size_t OwnerCount();

 private:
  absl::Mutex mu_;
  absl::flat_hash_map<std::string, std::shared_ptr<OwnerCounters>> owners_
      ABSL_GUARDED_BY(mu_);
};

}  // namespace table_internal
}  // namespace taala

#endif  // TAALA_SERVER_CORE_OWNER_REGISTRY_H_
