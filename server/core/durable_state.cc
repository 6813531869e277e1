#include "server/core/durable_state.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "server/core/check.h"

namespace taala {
namespace {

std::vector<DurableGrant>::iterator HolderOf(DurableKey& k,
                                             uint64_t session_id) {
  return std::find_if(
      k.holders.begin(), k.holders.end(),
      [&](const DurableGrant& g) { return g.session_id == session_id; });
}

std::string Describe(const DurableGrant& g) {
  return absl::StrCat("session ", g.session_id, " token ", g.token, " ",
                      LockModeName(g.mode), " sem ", g.semaphore_size,
                      " granted_at ", absl::FormatTime(g.granted_at),
                      " max_hold ", absl::FormatDuration(g.max_hold),
                      " lock_delay ", absl::FormatDuration(g.lock_delay));
}

}  // namespace

bool DurableEvent::operator==(const DurableEvent& o) const {
  return sequence == o.sequence && type == o.type && key == o.key &&
         token == o.token && text == o.text &&
         requester_session_id == o.requester_session_id &&
         requester_client_name == o.requester_client_name;
}

bool DurableSession::operator==(const DurableSession& o) const {
  return id == o.id && owner == o.owner && client_name == o.client_name &&
         labels == o.labels &&
         ttl == o.ttl && events == o.events &&
         last_event_sequence == o.last_event_sequence &&
         overflowed == o.overflowed;
}

bool DurableGrant::operator==(const DurableGrant& o) const {
  return session_id == o.session_id && token == o.token && mode == o.mode &&
         semaphore_size == o.semaphore_size && granted_at == o.granted_at &&
         max_hold == o.max_hold && lock_delay == o.lock_delay;
}

bool DurableKey::operator==(const DurableKey& o) const {
  return holders == o.holders && delayed_until == o.delayed_until &&
         exclusive_delay_until == o.exclusive_delay_until;
}

bool DurableState::operator==(const DurableState& o) const {
  return sessions == o.sessions && keys == o.keys;
}

bool DurableState::Apply(const Transition& t) {
  // Observer-only records are never state (transition.h).
  TAALA_CHECK(!IsObserverOnly(t.type));
  if (t.lsn != 0 && t.lsn <= lsn) return true;  // In the snapshot already.
  switch (t.type) {
    case TransitionType::kSessionCreated: {
      DurableSession s;
      s.id = t.session_id;
      s.owner = t.owner;
      s.client_name = t.client_name;
      s.labels = t.labels;
      s.ttl = t.ttl;
      if (!sessions.emplace(t.session_id, std::move(s)).second) return false;
      break;
    }
    case TransitionType::kSessionEnded:
      if (sessions.erase(t.session_id) == 0) return false;
      break;
    case TransitionType::kGrantMade: {
      if (sessions.count(t.session_id) == 0) return false;
      DurableKey& k = keys[t.key];
      DurableGrant g{t.session_id, t.lsn,        t.mode,      t.semaphore_size,
                     t.wall,       t.max_hold,   t.lock_delay};
      auto h = HolderOf(k, t.session_id);
      if (t.upgrade) {
        if (h == k.holders.end() || h->mode != LockMode::kShared) return false;
        *h = g;  // The SHARED grant becomes the EXCLUSIVE one, in place.
      } else {
        if (h != k.holders.end()) return false;
        k.holders.push_back(g);
      }
      break;
    }
    case TransitionType::kGrantEnded: {
      auto kit = keys.find(t.key);
      if (kit == keys.end()) return false;
      auto h = HolderOf(kit->second, t.session_id);
      if (h == kit->second.holders.end() || h->token != t.token) return false;
      kit->second.holders.erase(h);
      if (kit->second.empty()) keys.erase(kit);
      break;
    }
    case TransitionType::kGrantRestored: {
      auto kit = keys.find(t.key);
      if (kit == keys.end()) return false;
      auto h = HolderOf(kit->second, t.session_id);
      if (h == kit->second.holders.end()) return false;
      h->token = t.token;
      h->mode = t.mode;
      h->granted_at = t.wall;
      h->max_hold = t.max_hold;
      h->lock_delay = t.lock_delay;
      break;
    }
    case TransitionType::kLockDelayStarted: {
      DurableKey& k = keys[t.key];
      if (t.mode == LockMode::kExclusive) {
        k.exclusive_delay_until = std::max(k.exclusive_delay_until, t.wall);
      }
      k.delayed_until = std::max(k.delayed_until, t.wall);
      break;
    }
    case TransitionType::kLockDelayEnded: {
      auto kit = keys.find(t.key);
      if (kit == keys.end()) break;  // Nothing left to end.
      DurableKey& k = kit->second;
      for (absl::Time* until : {&k.exclusive_delay_until, &k.delayed_until}) {
        if (*until <= t.wall) *until = absl::InfinitePast();
      }
      if (k.empty()) keys.erase(kit);
      break;
    }
    case TransitionType::kEventPosted: {
      auto sit = sessions.find(t.session_id);
      // The last event of a session (SESSION_EXPIRED) follows its end: an
      // ended session's events are not state.
      if (sit == sessions.end()) break;
      DurableSession& s = sit->second;
      s.events.push_back(DurableEvent{t.event_sequence, t.event_type, t.key,
                                      t.token, t.text, t.requester_session_id,
                                      t.requester_client_name});
      while (s.events.size() > max_events) s.events.pop_front();
      s.last_event_sequence = t.event_sequence;
      if (t.reason == EndReason::kOverflowed) s.overflowed = true;
      break;
    }
    default:
      return false;
  }
  if (t.lsn > lsn) lsn = t.lsn;
  return true;
}

std::string DurableState::Diff(const DurableState& o) const {
  std::string out;
  for (const auto& [id, s] : sessions) {
    auto it = o.sessions.find(id);
    if (it == o.sessions.end()) {
      absl::StrAppend(&out, "session ", id, " only on the left\n");
    } else if (!(it->second == s)) {
      absl::StrAppend(&out, "session ", id, " differs (ttl ",
                      absl::FormatDuration(s.ttl), " vs ",
                      absl::FormatDuration(it->second.ttl), ", events ",
                      s.events.size(), " vs ", it->second.events.size(),
                      ", last event ", s.last_event_sequence, " vs ",
                      it->second.last_event_sequence, ")\n");
    }
  }
  for (const auto& [id, s] : o.sessions) {
    if (sessions.count(id) == 0) {
      absl::StrAppend(&out, "session ", id, " only on the right\n");
    }
  }
  for (const auto& [key, k] : keys) {
    auto it = o.keys.find(key);
    if (it == o.keys.end()) {
      absl::StrAppend(&out, "key \"", key, "\" only on the left\n");
      continue;
    }
    if (k == it->second) continue;
    absl::StrAppend(&out, "key \"", key, "\" differs:\n");
    for (const DurableGrant& g : k.holders) {
      absl::StrAppend(&out, "  left:  ", Describe(g), "\n");
    }
    for (const DurableGrant& g : it->second.holders) {
      absl::StrAppend(&out, "  right: ", Describe(g), "\n");
    }
    absl::StrAppend(&out, "  delays ", absl::FormatTime(k.delayed_until), "/",
                    absl::FormatTime(k.exclusive_delay_until), " vs ",
                    absl::FormatTime(it->second.delayed_until), "/",
                    absl::FormatTime(it->second.exclusive_delay_until), "\n");
  }
  for (const auto& [key, k] : o.keys) {
    if (keys.count(key) == 0) {
      absl::StrAppend(&out, "key \"", key, "\" only on the right\n");
    }
  }
  return out;
}

}  // namespace taala
