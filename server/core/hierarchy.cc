#include "server/core/hierarchy.h"

#include <algorithm>
#include <string>

#include "absl/strings/match.h"
#include "server/core/key.h"

namespace taala {
namespace table_internal {

void Hierarchy::Intent(KeyMap& keys, absl::string_view key, const Session* s,
                       LockMode mode, int delta) {
  for (absl::string_view a : Ancestors(key)) {
    auto it = keys.find(a);
    if (it == keys.end()) {
      if (delta < 0) continue;
      it = keys.try_emplace(std::string(a)).first;
    }
    KeyState& up = it->second;
    KeyState::Below& below = up.below[s];
    uint32_t& count =
        mode == LockMode::kExclusive ? below.exclusive : below.shared;
    count = delta > 0 ? count + 1 : (count > 0 ? count - 1 : 0);
    if (below.shared == 0 && below.exclusive == 0) up.below.erase(s);
    if (up.empty()) keys.erase(it);
  }
}

bool Hierarchy::TreeAllows(const KeyMap& keys, const std::string& key,
                           const KeyState& state, LockMode mode,
                           const Session* session, uint64_t seq,
                           absl::Time now) {
  if (DelayBlocks(state.below_delayed_until, state.below_exclusive_delay_until,
                  mode, now)) {
    return false;  // A lock-delay below.
  }
  for (const auto& [holder, below] : state.below) {
    if (holder == session) continue;  // A session never blocks itself.
    if (mode == LockMode::kExclusive ? below.shared + below.exclusive > 0
                                     : below.exclusive > 0) {
      return false;
    }
  }
  bool allowed = true;
  for (absl::string_view a : Ancestors(key)) {
    if (!allowed) continue;
    auto it = keys.find(a);
    if (it == keys.end()) continue;
    const KeyState& up = it->second;
    if (DelayBlocks(up.delayed_until, up.exclusive_delay_until, mode, now)) {
      allowed = false;  // A lock-delay above.
      continue;
    }
    for (const Holder& h : up.holders) {
      if (h.session.get() != session && Conflict(mode, h.mode)) {
        allowed = false;
        continue;
      }
    }
    // A conflicting waiter queued on an ancestor before this request is not
    // overtaken by it (FIFO across the tree: a waiting parent writer is not
    // starved by grants below it).
    if (up.queued_exclusive > 0 ||
        (mode == LockMode::kExclusive && up.queued_shared > 0)) {
      for (const auto& [ahead, w] : up.waiters) {
        if (ahead >= seq) break;
        if (w.session.get() != session && Conflict(mode, w.mode)) {
          allowed = false;
          break;
        }
      }
    }
  }
  return allowed;
}

void Hierarchy::DelayBelow(KeyMap& keys, absl::string_view key,
                           LockMode mode, absl::Time until) {
  for (absl::string_view a : Ancestors(key)) {
    KeyState& up = keys.try_emplace(std::string(a)).first->second;
    up.below_delayed_until = std::max(up.below_delayed_until, until);
    if (mode == LockMode::kExclusive) {
      up.below_exclusive_delay_until =
          std::max(up.below_exclusive_delay_until, until);
    }
  }
}

void Hierarchy::EndDelaysBelow(KeyMap& keys, absl::string_view key,
                               absl::Time now) {
  for (absl::string_view a : Ancestors(key)) {
    auto it = keys.find(a);
    if (it == keys.end()) continue;
    KeyState& up = it->second;
    // The latest delay below ends last: a later one keeps its own timer.
    if (up.below_delayed_until <= now) {
      up.below_delayed_until = absl::InfinitePast();
    }
    if (up.below_exclusive_delay_until <= now) {
      up.below_exclusive_delay_until = absl::InfinitePast();
    }
    if (up.empty()) keys.erase(it);
  }
}

void Hierarchy::Queued(const std::string& key, KeyState& state,
                       const QueuedWaiter& w, int delta) {
  uint32_t& count = w.mode == LockMode::kExclusive ? state.queued_exclusive
                                                   : state.queued_shared;
  count = delta > 0 ? count + 1 : (count > 0 ? count - 1 : 0);
  if (delta > 0 && state.waiters.size() == 1) {
    waiting_keys_.insert(key);
  } else if (delta < 0 && state.waiters.size() <= 1) {
    // Called before the erase: this was the last waiter.
    waiting_keys_.erase(key);
  }
}

absl::InlinedVector<std::string, 1> Hierarchy::RelatedKeys(
    const std::string& key) const {
  absl::InlinedVector<std::string, 1> keys;
  keys.push_back(key);
  if (waiting_keys_.empty()) return keys;
  for (absl::string_view a : Ancestors(key)) {
    if (waiting_keys_.contains(a)) keys.emplace_back(a);
  }
  for (auto it = waiting_keys_.lower_bound(key);
       it != waiting_keys_.end() && absl::StartsWith(*it, key); ++it) {
    if (IsBelow(*it, key)) keys.push_back(*it);
  }
  return keys;
}

}  // namespace table_internal
}  // namespace taala
