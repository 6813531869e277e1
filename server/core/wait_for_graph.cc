#include "server/core/wait_for_graph.h"

#include <algorithm>
#include <deque>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "server/core/key.h"
#include "server/core/lock_mode.h"

namespace taala {

void WaitForGraph::BlockersLocked(absl::string_view key, const KeyWaits& k,
                                  uint64_t from, uint64_t seq,
                                  const Party& waiter,
                                  std::vector<const Party*>* out) const {
  if (from == 0) {
    for (const Party& h : k.holders) {
      if (h.session != waiter.session && Conflict(waiter.mode, h.mode)) {
        out->push_back(&h);
      }
    }
  }
  // Hierarchy: conflicting waiters queued on an ancestor before this one
  // (positions in one tree are comparable: a tree lives in one shard).
  for (absl::string_view a : table_internal::Ancestors(key)) {
    auto up = keys_.find(a);
    if (up == keys_.end()) continue;
    for (const auto& [ahead, w] : up->second.queue) {
      if (ahead >= seq) break;
      if (w.session != waiter.session && Conflict(waiter.mode, w.mode)) {
        out->push_back(&w);
      }
    }
  }
  // Every waiter ahead on the key, whatever its mode: a queue is granted
  // from its head only, so a waiter never goes before one ahead of it. (A
  // compatible waiter ahead is not always blocked by what blocks this one:
  // in a tree a session never waits for its own grants, so a SHARED head
  // may wait for the very session queued behind it.)
  for (auto it = k.queue.lower_bound(from);
       it != k.queue.end() && it->first < seq; ++it) {
    if (it->second.session != waiter.session) out->push_back(&it->second);
  }
}

bool WaitForGraph::AddWait(const Party& waiter, const std::string& key,
                           uint64_t seq, std::vector<Party> holders) {
  absl::MutexLock lock(&mu_);
  KeyWaits& k = keys_[key];
  SetHoldersLocked(k, std::move(holders));
  // Nobody can be waiting for a session that holds no key with waits and
  // waits for nothing else: no cycle through it (decided before it joins).
  const bool may_cycle = holder_refs_.contains(waiter.session) ||
                         waits_.contains(waiter.session);
  k.queue.emplace(seq, waiter);
  waits_[waiter.session].emplace_back(key, seq);
  return may_cycle;
}

std::vector<WaitForGraph::Step> WaitForGraph::FindCycleLocked(
    const Party& waiter, const std::string& key, uint64_t seq) {
  if (search_hook_) search_hook_();
  const KeyWaits& k = keys_.at(key);
  // Depth-first search from the new wait's blockers: can they reach the
  // waiter? pred[x] = (the session that waits for x, the key it waits on).
  absl::flat_hash_map<uint64_t, std::pair<uint64_t, std::string>> pred;
  absl::flat_hash_map<uint64_t, std::string> names;
  names[waiter.session] = waiter.client_name;
  std::vector<uint64_t> stack;
  // Per key and mode, the queue positions below which the waiters ahead were
  // already pushed: a later waiter's waiters-ahead include an earlier one's,
  // so each key's queue is walked at most once per mode.
  absl::flat_hash_map<std::pair<std::string, bool>, uint64_t> walked;
  std::vector<const Party*> blockers;
  // Not memoized: this walk leaves out the waiter's own session, which is
  // the very one a cycle leads back to. (Later walks leave out a session
  // already visited, so their marks are safe.)
  BlockersLocked(key, k, 0, seq, waiter, &blockers);
  for (const Party* b : blockers) {
    if (pred.emplace(b->session, std::make_pair(waiter.session, key)).second) {
      names.emplace(b->session, b->client_name);
      stack.push_back(b->session);
    }
  }
  bool cycle = false;
  while (!stack.empty() && !cycle) {
    const uint64_t current = stack.back();
    stack.pop_back();
    auto wit = waits_.find(current);
    if (wit == waits_.end()) continue;  // Holds, but waits for nothing.
    for (const auto& [other_key, other_seq] : wit->second) {
      const KeyWaits& ok = keys_.at(other_key);
      const Party& me = ok.queue.at(other_seq);
      const bool exclusive = me.mode == LockMode::kExclusive;
      // What an EXCLUSIVE waiter's walk pushed covers a SHARED one's too.
      uint64_t done = 0;
      auto wx = walked.find({other_key, true});
      if (wx != walked.end()) done = wx->second;
      if (!exclusive) {
        auto ws = walked.find({other_key, false});
        if (ws != walked.end()) done = std::max(done, ws->second);
      }
      if (done >= other_seq) continue;  // Everything ahead already pushed.
      blockers.clear();
      // Holders were pushed by any earlier walk of this key (done > 0).
      BlockersLocked(other_key, ok, done, other_seq, me, &blockers);
      uint64_t& mark = walked[{other_key, exclusive}];
      mark = std::max(mark, other_seq);
      for (const Party* b : blockers) {
        if (!pred.emplace(b->session, std::make_pair(current, other_key))
                 .second) {
          continue;
        }
        names.emplace(b->session, b->client_name);
        if (b->session == waiter.session) {
          cycle = true;
          break;
        }
        stack.push_back(b->session);
      }
      if (cycle) break;
    }
  }
  if (cycle) {
    std::deque<Step> steps;
    uint64_t current = waiter.session;
    do {
      const auto& [prev, via] = pred.at(current);
      steps.push_front(Step{prev, names[prev], via});
      current = prev;
    } while (current != waiter.session);
    return std::vector<Step>(steps.begin(), steps.end());
  }
  return {};
}

std::vector<WaitForGraph::Step> WaitForGraph::CycleThrough(
    uint64_t session, const std::string& key, uint64_t seq) {
  absl::MutexLock lock(&mu_);
  auto kit = keys_.find(key);
  if (kit == keys_.end()) return {};
  auto qit = kit->second.queue.find(seq);
  if (qit == kit->second.queue.end() || qit->second.session != session) {
    return {};
  }
  const Party waiter = qit->second;
  std::vector<Step> cycle = FindCycleLocked(waiter, key, seq);
  // Out of the graph at once: a concurrent search for another wait on this
  // cycle no longer finds it, so only this wait is refused.
  if (!cycle.empty()) RemoveWaitLocked(key, seq);
  return cycle;
}

void WaitForGraph::SetHolders(const std::string& key,
                              std::vector<Party> holders) {
  absl::MutexLock lock(&mu_);
  auto it = keys_.find(key);
  if (it != keys_.end()) SetHoldersLocked(it->second, std::move(holders));
}

void WaitForGraph::SetHoldersLocked(KeyWaits& k, std::vector<Party> holders) {
  for (const Party& h : k.holders) {
    auto r = holder_refs_.find(h.session);
    if (r != holder_refs_.end() && --r->second == 0) holder_refs_.erase(r);
  }
  k.holders = std::move(holders);
  for (const Party& h : k.holders) ++holder_refs_[h.session];
}

void WaitForGraph::EraseKeyLocked(
    absl::flat_hash_map<std::string, KeyWaits>::iterator it) {
  SetHoldersLocked(it->second, {});
  keys_.erase(it);
}

void WaitForGraph::RemoveWait(const std::string& key, uint64_t seq) {
  absl::MutexLock lock(&mu_);
  RemoveWaitLocked(key, seq);
}

void WaitForGraph::RemoveWaitLocked(const std::string& key, uint64_t seq) {
  auto kit = keys_.find(key);
  if (kit == keys_.end()) return;
  auto qit = kit->second.queue.find(seq);
  if (qit == kit->second.queue.end()) return;
  const uint64_t session = qit->second.session;
  kit->second.queue.erase(qit);
  if (kit->second.queue.empty()) EraseKeyLocked(kit);
  auto wit = waits_.find(session);
  if (wit == waits_.end()) return;
  auto& list = wit->second;
  list.erase(std::remove_if(list.begin(), list.end(),
                            [&](const std::pair<std::string, uint64_t>& w) {
                              return w.second == seq && w.first == key;
                            }),
             list.end());
  if (list.empty()) waits_.erase(wit);
}

namespace {

// The nearest waiter so far, and the nearest of another session than it:
// between them, the nearest of any session but one's own. Linear, where a
// walk back through the queue per waiter was quadratic.
struct Nearest {
  const WaitForGraph::Party* last = nullptr;
  const WaitForGraph::Party* last_other = nullptr;

  const WaitForGraph::Party* For(uint64_t session) const {
    return last != nullptr && last->session != session ? last : last_other;
  }
  void Add(const WaitForGraph::Party* w) {
    if (last != nullptr && last->session != w->session) last_other = last;
    last = w;
  }
};

}  // namespace

std::vector<WaitForGraph::Edge> WaitForGraph::Edges(size_t max_edges,
                                                    bool* truncated) {
  absl::MutexLock lock(&mu_);
  std::vector<Edge> edges;
  *truncated = false;
  auto add = [&](Edge edge) {
    if (edges.size() == max_edges) {
      *truncated = true;
      return false;
    }
    edges.push_back(std::move(edge));
    return true;
  };
  for (const auto& [key, k] : keys_) {
    // The nearest conflicting waiter ahead: for an EXCLUSIVE waiter any
    // waiter, for a SHARED one an EXCLUSIVE waiter (the rest are reached
    // through it).
    Nearest any, exclusive;
    for (const auto& [seq, w] : k.queue) {
      for (const Party& h : k.holders) {
        if (h.session != w.session && Conflict(w.mode, h.mode) &&
            !add(Edge{w, h, key, false})) {
          return edges;
        }
      }
      const Party* ahead = (w.mode == LockMode::kExclusive ? any : exclusive)
                               .For(w.session);
      if (ahead != nullptr && !add(Edge{w, *ahead, key, true})) return edges;
      any.Add(&w);
      if (w.mode == LockMode::kExclusive) exclusive.Add(&w);
    }
  }
  return edges;
}

size_t WaitForGraph::KeyCountForTest() {
  absl::MutexLock lock(&mu_);
  return keys_.size();
}

namespace table_internal {

std::string DeadlockMessage(const std::vector<WaitForGraph::Step>& cycle) {
  std::string out = "deadlock: ";
  for (size_t i = 0; i < cycle.size(); ++i) {
    const WaitForGraph::Step& step = cycle[i];
    const WaitForGraph::Step& next = cycle[(i + 1) % cycle.size()];
    absl::StrAppend(&out, i == 0 ? "" : ", which ", i == 0 ? "session " : "",
                    i == 0 ? absl::StrCat(step.waiter, " (", step.waiter_name,
                                          ") ")
                           : "",
                    "waits for key ", Quote(step.key), ", held by session ",
                    next.waiter, " (", next.waiter_name, ")");
  }
  absl::StrAppend(&out, "; refusing session ", cycle[0].waiter,
                  "'s wait for key ", Quote(cycle[0].key));
  return out;
}

}  // namespace table_internal

}  // namespace taala
