#include "server/core/shard.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "server/core/graph_sync.h"
#include "server/core/key.h"

namespace taala {
namespace table_internal {

bool Shard::HeadReadyLocked(const std::string& key, KeyState& state,
                            absl::Time now) {
  const QueuedWaiter& head = state.waiters.begin()->second;
  Session& s = *head.session;
  absl::MutexLock lock(&s.mu);
  // A head whose caller or session is gone is ready to be dropped.
  return head.waiter->Gone() || s.ended || s.expires_at <= now ||
         (Compatible(state, head.mode, head.semaphore_size, &s, head.upgrade,
                     now) &&
          Hierarchy::TreeAllows(keys, key, state, head.mode, &s,
                                state.waiters.begin()->first, now));
}

void Shard::TakeHeadLocked(const std::string& key, KeyState& state,
                           absl::Time now, Effects& effects) {
  auto it = state.waiters.begin();
  const uint64_t seq = it->first;
  QueuedWaiter next = std::move(it->second);
  EraseWaitLocked(key, state, it);
  std::shared_ptr<Session> session = next.session;
  Session& s = *session;
  absl::MutexLock lock(&s.mu);
  auto wit = s.waiting.find(key);
  if (wit != s.waiting.end() && wit->second == seq) s.waiting.erase(wit);
  if (next.waiter->Gone()) {
    RecordWaitEndedLocked(key, next, AcquireOutcome::kCancelled, now, effects);
    effects.completions.push_back(
        {next.waiter,
         absl::CancelledError(absl::StrCat("acquire of key ", Quote(key),
                                           " by session ", s.id,
                                           " was cancelled by the caller"))});
    return;
  }
  if (s.ended || s.expires_at <= now) {  // Ended, or its lease ran out.
    RecordWaitEndedLocked(key, next, AcquireOutcome::kFailed, now, effects);
    effects.completions.push_back(
        {next.waiter,
         absl::NotFoundError(absl::StrCat(SessionNotFound(s.id),
                                          " while waiting for key ",
                                          Quote(key)))});
    return;
  }
  AcquireResult result;
  result.acquired = true;
  if (next.semaphore_size > 0) state.limit = next.semaphore_size;
  result.grant = MakeGrantLocked(key, state, session, next.mode, next.max_hold,
                                 next.lock_delay, next.upgrade,
                                 /*after_wait=*/true, now);
  RecordWaitEndedLocked(key, next, AcquireOutcome::kAcquired, now, effects);
  s.held[key] = result.grant.token;
  effects.completions.push_back({next.waiter, std::move(result)});
  // The session now blocks whoever conflicts with its new grant; if it also
  // waits elsewhere, that wait may now be on a cycle.
  for (const auto& [other_key, other_seq] : s.waiting) {
    effects.recheck.push_back({s.id, other_key, other_seq});
  }
}

Grant Shard::MakeGrantLocked(const std::string& key, KeyState& state,
                             const std::shared_ptr<Session>& session,
                             LockMode mode, absl::Duration max_hold,
                             absl::Duration lock_delay, bool upgrade,
                             bool after_wait, absl::Time now) {
  Transition record;
  record.type = TransitionType::kGrantMade;
  record.key = key;
  record.session_id = session->id;
  record.session_client_name = &session->client_name;
  record.mode = mode;
  record.semaphore_size = state.limit;  // Set by the caller for a semaphore.
  const absl::Time revoke_at = max_hold > absl::ZeroDuration()
                                  ? now + max_hold
                                  : absl::InfiniteFuture();
  // Zero for none (an infinite max hold is none).
  record.max_hold = revoke_at == absl::InfiniteFuture() ? absl::ZeroDuration()
                                                        : revoke_at - now;
  record.lock_delay = lock_delay;
  record.upgrade = upgrade;
  record.after_wait = after_wait;
  record.wall = now + wall_offset_;
  Grant grant;
  grant.key = key;
  grant.session_id = session->id;
  grant.token = RecordLocked(record);  // A token is its grant's LSN.
  grant.mode = mode;
  grant.granted_at = now;
  grant.revoke_at = revoke_at;
  Holder* holder = nullptr;
  const bool hierarchical = key.find('/') != std::string::npos;
  if (upgrade) {
    // The SHARED grant becomes EXCLUSIVE, with a new token: a resource that
    // fences on tokens sees the writer as newer than every reader.
    for (Holder& h : state.holders) {
      if (h.session == session) holder = &h;
    }
  }
  if (holder == nullptr) {
    state.holders.push_back(Holder{});
    holder = &state.holders.back();
    holder->session = session;
    if (hierarchical) Hierarchy::Intent(keys, key, session.get(), mode, 1);
  } else {
    holder->upgraded_from =
        Holder::Replaced{holder->token, holder->granted_at, holder->revoke_at,
                         holder->lock_delay, holder->claimed,
                         holder->after_wait};
    if (hierarchical && holder->mode != mode) {
      Hierarchy::Intent(keys, key, session.get(), holder->mode, -1);
      Hierarchy::Intent(keys, key, session.get(), mode, 1);
    }
  }
  holder->token = grant.token;
  holder->mode = mode;
  holder->granted_at = now;
  holder->revoke_at = grant.revoke_at;
  holder->lock_delay = lock_delay;
  holder->claimed = false;
  holder->after_wait = after_wait;
  // An upgrade's SHARED grant ends here: so does its max hold.
  timers_->Cancel(holder->max_hold_timer);
  if (grant.revoke_at != absl::InfiniteFuture()) {
    holder->max_hold_timer = timers_->Schedule(Timer{
        grant.revoke_at, Timer::Kind::kMaxHold, session->id, grant.token, key});
  }
  return grant;
}

void Shard::ArmWaitTimerLocked(const std::string& key, uint64_t seq,
                               QueuedWaiter& w, uint64_t session_id) {
  timers_->Cancel(w.timeout_timer);
  if (w.deadline != absl::InfiniteFuture()) {
    w.timeout_timer = timers_->Schedule(
        Timer{w.deadline, Timer::Kind::kWaitTimeout, session_id, seq, key});
  }
}

void Shard::StartLockDelayLocked(const std::string& key, KeyState& state,
                                 const Holder& holder, absl::Time now) {
  if (holder.lock_delay <= absl::ZeroDuration()) return;
  const absl::Time until = now + holder.lock_delay;
  Transition record;
  record.type = TransitionType::kLockDelayStarted;
  record.key = key;
  record.mode = holder.mode;
  record.wall = until + wall_offset_;
  RecordLocked(record);
  // The delay covers the lost grant's tree: its ancestors learn of it.
  Hierarchy::DelayBelow(keys, key, holder.mode, until);
  bool later = false;  // Does the delay end after every one running here?
  if (holder.mode == LockMode::kExclusive &&
      until > state.exclusive_delay_until) {
    state.exclusive_delay_until = until;
    later = true;
  }
  if (until > state.delayed_until) {
    state.delayed_until = until;
    later = true;
  }
  ChargeDelayLocked(state, holder.session.get());
  if (!later) return;  // A timer at or after `until` ends it.
  timers_->Schedule(Timer{until, Timer::Kind::kLockDelayEnd, 0, 0, key});
}

void Shard::EndLockDelayLocked(const std::string& key, absl::Time now,
                               Effects& effects) {
  // What the delays on `key` held back around it, in the tree too.
  Hierarchy::EndDelaysBelow(keys, key, now);
  auto kit = keys.find(key);
  if (kit == keys.end()) return;
  KeyState& state = kit->second;
  bool ended = false;  // Unless a longer delay started since.
  for (absl::Time* until :
       {&state.exclusive_delay_until, &state.delayed_until}) {
    if (*until != absl::InfinitePast() && *until <= now) {
      *until = absl::InfinitePast();
      ended = true;
    }
  }
  if (!ended) return;
  if (state.delayed_until == absl::InfinitePast()) {
    ChargeDelayLocked(state, nullptr);  // Over: its owner's charge too.
  }
  Transition record;
  record.type = TransitionType::kLockDelayEnded;
  record.key = key;
  record.wall = now + wall_offset_;
  RecordLocked(record);
  // Serves the key, its ancestors and the keys below it.
  ReevaluateLocked(key, now, effects);
}

void Shard::ChargeDelayLocked(KeyState& state, const Session* last) {
  const std::shared_ptr<OwnerCounters>* counters =
      last != nullptr ? &last->owner_counters : nullptr;
  if (counters != nullptr && *counters != nullptr && state.delay_owner &&
      state.delay_owner->owner == (*counters)->owner) {
    return;  // Charged to this owner already: one key, one charge.
  }
  if (state.delay_owner != nullptr && owners != nullptr) {
    owners->RemoveDelay(state.delay_owner);
  }
  state.delay_owner = nullptr;
  if (counters != nullptr && *counters != nullptr && owners != nullptr) {
    state.delay_owner = owners->AddDelay(*counters);
  }
}

std::shared_ptr<Session> Shard::EraseHolderLocked(
    const std::string& key, KeyState& state,
    absl::InlinedVector<Holder, 1>::iterator h, EndReason reason,
    absl::Time now, const AdminAction* admin) {
  RecordGrantEndedLocked(key, *h, reason, now, admin);
  if (reason != EndReason::kReleased && reason != EndReason::kUndone &&
      reason != EndReason::kClosed &&
      !(admin != nullptr && admin->skip_lock_delay)) {
    StartLockDelayLocked(key, state, *h, now);
  }
  Hierarchy::Intent(keys, key, h->session.get(), h->mode, -1);
  timers_->Cancel(h->max_hold_timer);
  std::shared_ptr<Session> owner = std::move(h->session);
  state.holders.erase(h);
  return owner;
}

void Shard::EraseWaitLocked(
    const std::string& key, KeyState& state,
    absl::btree_map<uint64_t, QueuedWaiter>::iterator wit) {
  const uint64_t seq = wit->first;
  tree.Queued(key, state, wit->second, -1);
  timers_->Cancel(wit->second.timeout_timer);
  state.waiters.erase(wit);
  graph_->RemoveWait(key, seq);
}

void Shard::ReevaluateLocked(const std::string& key, absl::Time now,
                             Effects& effects) {
  // The keys whose waiters the change may have unblocked.
  absl::InlinedVector<std::string, 1> related = tree.RelatedKeys(key);
  // FIFO across them: grant (or drop) the ready head with the lowest queue
  // position, one at a time. On one key this grants from the head while the
  // head is ready: adjacent readers together, a waiting writer never
  // overtaken.
  while (true) {
    KeyState* best = nullptr;
    const std::string* best_key = nullptr;
    uint64_t best_seq = 0;
    for (const std::string& k : related) {
      auto it = keys.find(k);
      if (it == keys.end() || it->second.waiters.empty()) continue;
      const uint64_t seq = it->second.waiters.begin()->first;
      if (best != nullptr && seq >= best_seq) continue;
      if (!HeadReadyLocked(it->first, it->second, now)) continue;
      best = &it->second;
      best_key = &it->first;
      best_seq = seq;
    }
    if (best == nullptr) break;
    const std::string taken = *best_key;
    TakeHeadLocked(taken, *best, now, effects);
    if (taken != key) {
      for (std::string& k : tree.RelatedKeys(taken)) {
        if (std::find(related.begin(), related.end(), k) == related.end()) {
          related.push_back(std::move(k));
        }
      }
    }
  }
  for (const std::string& k : related) {
    auto it = keys.find(k);
    if (it == keys.end()) continue;
    if (it->second.empty()) {
      keys.erase(it);
    } else if (!it->second.waiters.empty()) {
      // Holders changed: keep the graph's view of what blocks them current.
      graph_->SetHolders(k, GraphHolders(keys, k, it->second));
    }
  }
}

size_t Shard::DropWaitsLocked(std::vector<EndedWait>& waits, absl::Time now,
                              Effects& effects) {
  size_t dropped = 0;
  for (EndedWait& w : waits) {
    auto kit = keys.find(w.key);
    if (kit == keys.end()) continue;
    KeyState& state = kit->second;
    auto wit = state.waiters.find(w.seq);
    if (wit == state.waiters.end()) continue;
    RecordWaitEndedLocked(w.key, wit->second, AcquireOutcome::kFailed, now,
                          effects);
    effects.completions.push_back({wit->second.waiter, std::move(w.why)});
    EraseWaitLocked(w.key, state, wit);
    ++dropped;
  }
  for (const EndedWait& w : waits) ReevaluateLocked(w.key, now, effects);
  return dropped;
}

bool Shard::DropGrantLocked(const std::string& key, const Session* s,
                            uint64_t token, EndReason reason, absl::Time now,
                            Effects& effects, const AdminAction* admin,
                            Grant* dropped_grant) {
  auto kit = keys.find(key);
  if (kit == keys.end()) return false;
  KeyState& state = kit->second;
  bool dropped = false;
  // By session alone (a session holds a key at most once): the undo of an
  // undelivered upgrade may have turned `token`, the EXCLUSIVE grant the
  // ended session's held map named, back into the SHARED grant it replaced
  // after that map was taken. No new grant reaches an ended session.
  (void)token;
  for (auto h = state.holders.begin(); h != state.holders.end(); ++h) {
    if (h->session.get() == s) {
      if (dropped_grant != nullptr) {
        *dropped_grant = Grant{kit->first,   h->session->id, h->token,
                               h->mode,      h->granted_at,  h->revoke_at};
      }
      EraseHolderLocked(kit->first, state, h, reason, now, admin);
      dropped = true;
      break;
    }
  }
  ReevaluateLocked(key, now, effects);
  return dropped;
}

void Shard::FailAllWaitsLocked(Effects& effects) {
  for (auto kit = keys.begin(); kit != keys.end();) {
    KeyState& state = kit->second;
    for (auto& [seq, w] : state.waiters) {
      // Shutdown knows no time: counted as failed, with no time waited.
      RecordWaitEndedLocked(kit->first, w, AcquireOutcome::kFailed,
                            w.enqueued_at, effects);
      graph_->RemoveWait(kit->first, seq);
      timers_->Cancel(w.timeout_timer);
      Session& s = *w.session;
      absl::MutexLock session_lock(&s.mu);
      s.waiting.erase(kit->first);
      effects.completions.push_back(
          {w.waiter, absl::UnavailableError(absl::StrCat(
                         "taalad is shutting down; key ", Quote(kit->first),
                         " not acquired by session ", s.id))});
    }
    state.waiters.clear();
    state.queued_shared = state.queued_exclusive = 0;
    if (state.empty()) {
      keys.erase(kit++);
    } else {
      ++kit;
    }
  }
  tree.ClearWaitingKeys();
}

}  // namespace table_internal
}  // namespace taala
