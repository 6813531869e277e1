// Shard: recovery (restored grants and lock-delays, grants of sessions that
// were not restored) and the export of its keys as durable state. The rest
// of the shard is in shard.cc, shard_acquire.cc and shard_release.cc.

#include <algorithm>
#include <string>

#include "server/core/shard.h"

namespace taala {
namespace table_internal {

void Shard::RestoreGrantLocked(const std::string& key,
                               const std::shared_ptr<Session>& s,
                               uint64_t token, LockMode mode,
                               uint32_t semaphore_size, absl::Time granted_at,
                               absl::Time revoke_at, absl::Duration lock_delay,
                               absl::Time now) {
  KeyState& state = keys[key];
  state.holders.push_back(Holder{});
  Holder& h = state.holders.back();
  h.session = s;
  h.token = token;
  h.mode = mode;
  h.granted_at = granted_at;
  h.revoke_at = revoke_at;
  h.lock_delay = lock_delay;
  // No call of the previous run can take it back: it is the client's.
  h.claimed = true;
  if (semaphore_size > 0) state.limit = semaphore_size;
  // Held again, though no record says so: the held gauge counts it.
  if (stats != nullptr) ++stats->held;
  if (key.find('/') != std::string::npos) {
    Hierarchy::Intent(keys, key, s.get(), mode, 1);
  }
  if (revoke_at != absl::InfiniteFuture()) {
    // A max hold that fell due during the downtime fires at once.
    h.max_hold_timer = timers_->Schedule(Timer{
        std::max(revoke_at, now), Timer::Kind::kMaxHold, s->id, token, key});
  }
  absl::MutexLock lock(&s->mu);
  s->held[key] = token;
}

void Shard::RestoreDelaysLocked(const std::string& key,
                                absl::Time delayed_until,
                                absl::Time exclusive_delay_until,
                                absl::Time now) {
  if (delayed_until == absl::InfinitePast() &&
      exclusive_delay_until == absl::InfinitePast()) {
    return;
  }
  KeyState& state = keys[key];
  state.delayed_until = delayed_until;
  state.exclusive_delay_until = exclusive_delay_until;
  if (exclusive_delay_until != absl::InfinitePast()) {
    Hierarchy::DelayBelow(keys, key, LockMode::kExclusive,
                          exclusive_delay_until);
  }
  if (delayed_until != absl::InfinitePast()) {
    Hierarchy::DelayBelow(keys, key, LockMode::kShared, delayed_until);
  }
  // One that ended during the downtime ends (and is recorded) at once.
  timers_->Schedule(Timer{std::max(std::max(delayed_until,
                                            exclusive_delay_until),
                                   now),
                          Timer::Kind::kLockDelayEnd, 0, 0, key});
}

void Shard::EndOrphanGrantLocked(const std::string& key, uint64_t session_id,
                                 uint64_t token, LockMode mode,
                                 absl::Duration lock_delay, absl::Time now) {
  Transition ended;
  ended.type = TransitionType::kGrantEnded;
  ended.key = key;
  ended.session_id = session_id;
  ended.token = token;
  ended.reason = EndReason::kExpired;
  ended.wall = now + wall_offset_;
  ended.never_held = true;  // Not restored: never held in this run.
  RecordLocked(ended);
  if (lock_delay <= absl::ZeroDuration()) return;
  Holder lost;
  lost.mode = mode;
  lost.lock_delay = lock_delay;
  keys.try_emplace(key);
  StartLockDelayLocked(key, keys[key], lost, now);
}

void Shard::ExportLocked(DurableState& out) {
  for (const auto& [key, state] : keys) {
    DurableKey k;
    for (const Holder& h : state.holders) {
      DurableGrant g;
      g.session_id = h.session->id;
      g.token = h.token;
      g.mode = h.mode;
      g.semaphore_size = state.limit;
      g.granted_at = h.granted_at + wall_offset_;
      g.max_hold = h.revoke_at == absl::InfiniteFuture()
                       ? absl::ZeroDuration()
                       : h.revoke_at - h.granted_at;
      g.lock_delay = h.lock_delay;
      k.holders.push_back(g);
    }
    auto wall = [&](absl::Time t) {
      return t == absl::InfinitePast() ? t : t + wall_offset_;
    };
    k.delayed_until = wall(state.delayed_until);
    k.exclusive_delay_until = wall(state.exclusive_delay_until);
    if (!k.empty()) out.keys.emplace(key, std::move(k));
  }
}

}  // namespace table_internal
}  // namespace taala
