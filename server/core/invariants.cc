// LockTable::CheckInvariantsForTest: the invariants of lock_table.h, checked
// shard against sessions and sessions against shards, one shard mutex and
// one session mutex at a time.

#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "server/core/check.h"
#include "server/core/lock_table.h"
#include "server/core/shard.h"

namespace taala {

using table_internal::Compatible;
using table_internal::Hierarchy;
using table_internal::Holder;
using table_internal::QueuedWaiter;

void LockTable::CheckInvariantsForTest() {
  // Lock-delays charged to each owner (OwnerCounters::delayed).
  absl::flat_hash_map<std::string, int64_t> delayed;
  // Shards against sessions.
  for (auto& shard_ptr : shards_) {
    Shard& shard = *shard_ptr;
    absl::MutexLock lock(&shard.mu);
    int64_t holders = 0;
    int64_t waiters = 0;
    for (const auto& [key, state] : shard.keys) {
      holders += static_cast<int64_t>(state.holders.size());
      waiters += static_cast<int64_t>(state.waiters.size());
    }
    if (shard.stats != nullptr) {
      // 6. The statistics' gauges count exactly the grants and waits held.
      TAALA_CHECK(shard.stats->held == holders);
      TAALA_CHECK(shard.stats->waiters == waiters);
    }
    for (const auto& [key, state] : shard.keys) {
      TAALA_CHECK(!state.empty());
      if (state.delay_owner != nullptr) {
        // A charge only for a running delay, to the owner's live entry.
        TAALA_CHECK(state.delayed_until != absl::InfinitePast());
        TAALA_CHECK(owners_.Find(state.delay_owner->owner) ==
                    state.delay_owner);
        ++delayed[state.delay_owner->owner];
      }
      size_t exclusive = 0;
      for (const Holder& h : state.holders) {
        if (h.mode == LockMode::kExclusive) ++exclusive;
        TAALA_CHECK(h.token != 0 && h.token <= log_->LastLsn());
        Session& s = *h.session;
        absl::MutexLock session_lock(&s.mu);
        if (!s.ended) {
          auto it = s.held.find(key);
          TAALA_CHECK(it != s.held.end() && it->second == h.token);
        }
      }
      if (state.limit > 0) {
        TAALA_CHECK(state.holders.size() <= state.limit);
      } else {
        TAALA_CHECK(exclusive <= 1);
        TAALA_CHECK(exclusive == 0 || state.holders.size() == 1);
      }
      if (!state.waiters.empty()) {
        // A queue only waits on a head that cannot be granted (held
        // incompatibly, or a lock-delay).
        const QueuedWaiter& head = state.waiters.begin()->second;
        Session& hs = *head.session;
        absl::MutexLock session_lock(&hs.mu);
        // (The waiter object itself is not touched: a test may have let it
        // go out of scope while still queued.)
        if (!hs.ended) {
          TAALA_CHECK(!(Compatible(state, head.mode, head.semaphore_size, &hs,
                                 head.upgrade, absl::InfinitePast()) &&
                      Hierarchy::TreeAllows(shard.keys, key, state, head.mode,
                                            &hs,
                                            state.waiters.begin()->first,
                                            absl::InfinitePast())));
        }
      }
      for (const auto& [seq, w] : state.waiters) {
        TAALA_CHECK(seq < shard.next_wait_seq);
        Session& s = *w.session;
        absl::MutexLock session_lock(&s.mu);
        if (!s.ended) {
          auto it = s.waiting.find(key);
          TAALA_CHECK(it != s.waiting.end() && it->second == seq);
        }
      }
    }
  }
  // Sessions against shards.
  std::vector<std::shared_ptr<Session>> sessions = sessions_.All();
  // 7. Each owner's counters equal its live sessions and their indexes.
  absl::flat_hash_map<std::string, OwnerCounts> by_owner;
  for (const auto& session : sessions) {
    absl::MutexLock lock(&session->mu);
    if (session->ended) continue;
    OwnerCounts& c = by_owner[session->owner];
    ++c.sessions;
    c.held += static_cast<int64_t>(session->held.size());
    c.waiting += static_cast<int64_t>(session->waiting.size());
  }
  // An owner with no session lives on while its lock-delays run.
  for (const auto& [owner, n] : delayed) by_owner[owner].delayed = n;
  TAALA_CHECK(by_owner.size() == owners_.OwnerCount());
  for (const auto& [owner, c] : by_owner) {
    const OwnerCounts counted = OwnerCountsForTest(owner);
    TAALA_CHECK(counted.sessions == c.sessions);
    TAALA_CHECK(counted.held == c.held);
    TAALA_CHECK(counted.waiting == c.waiting);
    TAALA_CHECK(counted.delayed == c.delayed);
  }
  for (const auto& session : sessions) {
    absl::flat_hash_map<std::string, uint64_t> held;
    absl::flat_hash_map<std::string, uint64_t> waiting;
    {
      absl::MutexLock lock(&session->mu);
      if (session->ended) continue;
      held = session->held.map();
      waiting = session->waiting.map();
    }
    for (const auto& [key, token] : held) {
      Shard& shard = ShardFor(key);
      absl::MutexLock lock(&shard.mu);
      auto kit = shard.keys.find(key);
      TAALA_CHECK(kit != shard.keys.end());
      bool found = false;
      for (const Holder& h : kit->second.holders) {
        found |= h.session == session && h.token == token;
      }
      TAALA_CHECK(found);
    }
    for (const auto& [key, seq] : waiting) {
      Shard& shard = ShardFor(key);
      absl::MutexLock lock(&shard.mu);
      auto kit = shard.keys.find(key);
      TAALA_CHECK(kit != shard.keys.end());
      auto wit = kit->second.waiters.find(seq);
      TAALA_CHECK(wit != kit->second.waiters.end() &&
                  wit->second.session == session);
    }
  }
}

}  // namespace taala
