#include "server/core/watch_fold.h"

#include <algorithm>

#include "absl/strings/match.h"

namespace taala {

bool IsWatched(const Transition& t) {
  switch (t.type) {
    case TransitionType::kGrantMade:
    case TransitionType::kGrantEnded:
    case TransitionType::kGrantRestored:
    case TransitionType::kLockDelayStarted:
    case TransitionType::kLockDelayEnded:
    case TransitionType::kDeadlockRefused:
      return true;
    case TransitionType::kWaitStarted:
    case TransitionType::kWaitEnded:
      return !t.retry;  // A retry keeps its place: nothing to tell.
    default:
      return false;
  }
}

WatchRecord ToWatchRecord(const Transition& t) {
  WatchRecord r;
  r.type = t.type;
  r.key = t.key;
  r.session_id = t.session_id;
  if (t.session_client_name != nullptr) {
    r.client_name = *t.session_client_name;
  } else {
    r.client_name = t.client_name;
  }
  r.token = t.token;
  r.mode = t.mode;
  r.semaphore_size = t.semaphore_size;
  r.reason = t.reason;
  r.text = t.text;
  r.caller = t.caller;
  r.wall = t.wall;
  r.upgrade = t.upgrade;
  r.outcome = t.outcome;
  r.waited = t.waited;
  r.cycle = t.cycle;
  return r;
}

bool WatchFilter::Matches(absl::string_view k) const {
  if (!key.empty()) return k == key;
  return absl::StartsWith(k, prefix);
}

bool WatchedHolderState::operator==(const WatchedHolderState& o) const {
  return session_id == o.session_id && client_name == o.client_name &&
         token == o.token && mode == o.mode && granted_at == o.granted_at;
}

bool WatchedWaiterState::operator==(const WatchedWaiterState& o) const {
  return session_id == o.session_id && client_name == o.client_name &&
         mode == o.mode && since == o.since && upgrade == o.upgrade;
}

bool WatchedKeyState::operator==(const WatchedKeyState& o) const {
  return holders == o.holders && waiters == o.waiters &&
         semaphore_size == o.semaphore_size && delay_until == o.delay_until;
}

namespace {

auto FindHolder(WatchedKeyState& k, uint64_t session_id) {
  return std::find_if(k.holders.begin(), k.holders.end(),
                      [&](const WatchedHolderState& h) {
                        return h.session_id == session_id;
                      });
}

auto FindWaiter(WatchedKeyState& k, uint64_t session_id) {
  return std::find_if(k.waiters.begin(), k.waiters.end(),
                      [&](const WatchedWaiterState& w) {
                        return w.session_id == session_id;
                      });
}

void SortHolders(WatchedKeyState& k) {
  std::sort(k.holders.begin(), k.holders.end(),
            [](const WatchedHolderState& a, const WatchedHolderState& b) {
              return a.token < b.token;
            });
}

// The size a key shows: a semaphore's while held or waited for.
void Settle(WatchKeys& keys, WatchKeys::iterator it) {
  WatchedKeyState& k = it->second;
  if (k.holders.empty() && k.waiters.empty()) k.semaphore_size = 0;
  if (!k.in_use()) keys.erase(it);
}

}  // namespace

void FoldWatchRecord(const WatchRecord& r, WatchKeys& keys) {
  switch (r.type) {
    case TransitionType::kGrantMade: {
      auto it = keys.try_emplace(r.key).first;
      WatchedKeyState& k = it->second;
      if (r.upgrade) {
        auto h = FindHolder(k, r.session_id);
        if (h != k.holders.end()) k.holders.erase(h);
      }
      k.holders.push_back(WatchedHolderState{r.session_id, r.client_name,
                                             r.token, r.mode, r.wall});
      SortHolders(k);
      k.semaphore_size = r.semaphore_size;
      return;
    }
    case TransitionType::kGrantEnded:
    case TransitionType::kGrantRestored: {
      auto it = keys.find(r.key);
      if (it == keys.end()) return;
      WatchedKeyState& k = it->second;
      auto h = FindHolder(k, r.session_id);
      if (h == k.holders.end()) return;
      if (r.type == TransitionType::kGrantRestored) {
        h->token = r.token;
        h->mode = r.mode;
        h->granted_at = r.wall;
        SortHolders(k);
        return;
      }
      if (h->token != r.token) return;
      k.holders.erase(h);
      // Without its SHARED grant a session's upgrade wait is an ordinary
      // EXCLUSIVE wait at the back (Shard::DemoteUpgradeWaitLocked).
      auto w = FindWaiter(k, r.session_id);
      if (w != k.waiters.end() && w->upgrade) {
        WatchedWaiterState moved = *w;
        moved.upgrade = false;
        k.waiters.erase(w);
        k.waiters.push_back(std::move(moved));
      }
      Settle(keys, it);
      return;
    }
    case TransitionType::kLockDelayStarted: {
      WatchedKeyState& k = keys[r.key];
      k.delay_until = std::max(k.delay_until, r.wall);
      return;
    }
    case TransitionType::kLockDelayEnded: {
      auto it = keys.find(r.key);
      if (it == keys.end()) return;
      if (it->second.delay_until <= r.wall) {
        it->second.delay_until = absl::InfinitePast();
      }
      Settle(keys, it);
      return;
    }
    case TransitionType::kWaitStarted: {
      WatchedKeyState& k = keys[r.key];
      if (FindWaiter(k, r.session_id) != k.waiters.end()) return;
      WatchedWaiterState w{r.session_id, r.client_name, r.mode, r.wall,
                           r.upgrade};
      auto pos = k.waiters.end();
      if (r.upgrade) {  // Behind earlier upgrades, ahead of the rest.
        pos = std::find_if(k.waiters.begin(), k.waiters.end(),
                           [](const WatchedWaiterState& o) {
                             return !o.upgrade;
                           });
      }
      k.waiters.insert(pos, std::move(w));
      if (r.semaphore_size > 0) k.semaphore_size = r.semaphore_size;
      return;
    }
    case TransitionType::kWaitEnded: {
      auto it = keys.find(r.key);
      if (it == keys.end()) return;
      auto w = FindWaiter(it->second, r.session_id);
      if (w == it->second.waiters.end()) return;
      it->second.waiters.erase(w);
      Settle(keys, it);
      return;
    }
    default:
      return;  // Deadlock refusals change no state.
  }
}

}  // namespace taala
