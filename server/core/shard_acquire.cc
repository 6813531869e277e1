// Shard: the requests that join or leave a key's queue (acquire, cancel,
// abort, demote an upgrade that lost its SHARED grant). The rest of the shard
// is in shard.cc.

#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "server/core/graph_sync.h"
#include "server/core/key.h"
#include "server/core/shard.h"

namespace taala {
namespace table_internal {
namespace {

// "SHARED", "EXCLUSIVE" or "a semaphore of size 3".
std::string WaitName(LockMode mode, uint32_t semaphore_size) {
  if (semaphore_size > 0) {
    return absl::StrCat("a semaphore of size ", semaphore_size);
  }
  return LockModeName(mode);
}

}  // namespace

std::optional<absl::StatusOr<AcquireResult>> Shard::AcquireLocked(
    Session& s, const std::shared_ptr<Session>& session,
    const AcquireCmd& cmd, Waiter* waiter, Effects& effects,
    ReleaseAsks& ask, const Admission& admit) {
  // A lease that ran out is dead even before the timers end the session.
  if (s.ended || s.expires_at <= cmd.now) {
    return absl::NotFoundError(absl::StrCat(SessionNotFound(s.id),
                                            "; acquiring key ",
                                            Quote(cmd.key)));
  }
  const TableLimits& limits = admit.limits;
  // A new key (no entry yet) counts against --max_keys; a retry's key
  // has its entry.
  if (!keys.contains(cmd.key) && admit.key_entries &&
      admit.key_entries() >= limits.max_keys) {
    return LimitReached("max_keys", limits.max_keys,
                        absl::StrCat("the table has ", limits.max_keys,
                                     " keys; key ", Quote(cmd.key),
                                     " not acquired"));
  }
  auto [kit, inserted] = keys.try_emplace(cmd.key);
  const std::string& key = kit->first;
  KeyState& state = kit->second;
  const bool in_use = !state.holders.empty() || !state.waiters.empty();
  if (!in_use) state.limit = 0;  // Free (or only delayed): a new size.
  // A policy's size yields to the kind of a key in use.
  const uint32_t sem = cmd.semaphore_size_from_policy && in_use
                           ? state.limit
                           : cmd.semaphore_size;
  // Semaphore holders are all alike: SHARED (also for the hierarchy).
  const LockMode mode = sem > 0 ? LockMode::kShared : cmd.mode;

  // A holder's retry (as after a lost response) answers its grant, whatever
  // size it asks for now (a reload may have changed the policy's): checked
  // before the key's kind.
  bool upgrade = false;
  for (Holder& h : state.holders) {
    if (h.session.get() != &s) continue;
    if (sem > 0 || state.limit != 0 || h.mode == LockMode::kExclusive ||
        cmd.mode == LockMode::kShared) {
      // Idempotent retry (EXCLUSIVE covers SHARED): the same grant again.
      h.claimed = true;
      AcquireResult result;
      result.acquired = true;
      result.already_held = true;
      result.grant = Grant{key, s.id, h.token, h.mode, h.granted_at,
                           h.revoke_at};
      return result;
    }
    upgrade = true;  // Holds SHARED of a lock, asks for EXCLUSIVE.
  }
  if (sem > 0 && state.limit != 0 && state.limit != sem) {
    return absl::FailedPreconditionError(absl::StrCat(
        "key ", Quote(key), " is a semaphore of size ", state.limit,
        "; session ", s.id, " asked for size ", sem));
  }
  if (sem > 0 && state.limit == 0 && in_use) {
    return absl::FailedPreconditionError(absl::StrCat(
        "key ", Quote(key), " is in use as a lock, not a semaphore; session ",
        s.id, " asked for a semaphore of size ", sem));
  }
  if (sem == 0 && state.limit != 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        "key ", Quote(key), " is a semaphore of size ", state.limit,
        "; session ", s.id, " must acquire it with semaphore_size ",
        state.limit));
  }

  auto own_wait = s.waiting.find(key);
  const bool already_waiting =
      own_wait != s.waiting.end() && state.waiters.count(own_wait->second) > 0;
  if (already_waiting) {
    // A retry takes over the waiting call's place only if it asks for the
    // same thing: a grant in the mode the first call was queued for would
    // not be what the retry's caller believes it holds.
    const QueuedWaiter& queued = state.waiters.at(own_wait->second);
    if (queued.mode != mode || queued.semaphore_size != sem) {
      return absl::FailedPreconditionError(absl::StrCat(
          "session ", s.id, " already waits for key ", Quote(key), " as ",
          WaitName(queued.mode, queued.semaphore_size),
          "; a retry must ask for the same, not ", WaitName(mode, sem),
          " (cancel the first call, then acquire again)"));
    }
  }
  // Admission of a grant the session does not hold (an upgrade or a
  // retry of its own wait brings no new entry): the grant limits. A queued
  // wait is a grant to come (serving it is never refused), and a running
  // lock-delay counts as a held key of its last holder's identity.
  if (!upgrade && !already_waiting) {
    std::optional<absl::Status> refused;
    const size_t session_keys = s.held.size() + s.waiting.size();
    const int64_t identity_keys =
        s.owner_counters == nullptr
            ? 0
            : s.owner_counters->held.load(std::memory_order_relaxed) +
                  s.owner_counters->waiting.load(std::memory_order_relaxed) +
                  s.owner_counters->delayed.load(std::memory_order_relaxed);
    if (session_keys >= limits.max_held_per_session) {
      refused = LimitReached(
          "max_held_per_session", limits.max_held_per_session,
          absl::StrCat("session ", s.id, " holds or waits for ", session_keys,
                       " keys; key ", Quote(key), " not acquired"));
    } else if (s.owner_counters != nullptr &&
               identity_keys >=
                   static_cast<int64_t>(limits.max_held_per_identity)) {
      refused = LimitReached(
          "max_held_per_identity", limits.max_held_per_identity,
          absl::StrCat("identity ", Quote(s.owner), " holds, waits for or ",
                       "keeps in a lock-delay ", identity_keys, " keys; key ",
                       Quote(key), " not acquired"));
    }
    if (refused.has_value()) {
      if (state.empty()) keys.erase(kit);
      return *refused;
    }
  }
  if (upgrade && !already_waiting && !state.waiters.empty()) {
    const QueuedWaiter& head = state.waiters.begin()->second;
    if (head.upgrade && head.session.get() != &s) {
      std::string why = absl::StrCat(
          "deadlock: sessions ", head.session->id, " (",
          head.session->client_name, ") and ", s.id, " (", s.client_name,
          ") both hold key ", Quote(key),
          " SHARED and wait to upgrade to EXCLUSIVE; refusing session ", s.id,
          "'s upgrade");
      // Each waits for the other's SHARED grant to go.
      std::vector<WaitForGraph::Step> cycle = {
          {s.id, s.client_name, key},
          {head.session->id, head.session->client_name, key}};
      RecordRefusedLocked(key, s, AcquireOutcome::kDeadlock, cmd.now);
      RecordDeadlockLocked(key, s, why, std::move(cycle), cmd.now, effects);
      return absl::AbortedError(why);
    }
  }
  // An upgrade goes ahead of every waiter but another upgrade.
  const bool head_free = state.waiters.empty() ||
                         (upgrade && !state.waiters.begin()->second.upgrade);
  if (head_free && Compatible(state, mode, sem, &s, upgrade, cmd.now) &&
      // An upgrade would be queued ahead of everyone: it is judged at the
      // place it would take.
      Hierarchy::TreeAllows(
          keys, key, state, mode, &s,
          upgrade ? next_upgrade_seq : Hierarchy::kNewRequest, cmd.now)) {
    AcquireResult result;
    result.acquired = true;
    if (sem > 0) state.limit = sem;
    result.grant = MakeGrantLocked(key, state, session, mode, cmd.max_hold,
                                   cmd.lock_delay, upgrade,
                                   /*after_wait=*/false, cmd.now);
    s.held[key] = result.grant.token;
    if (tree.has_waiting_keys()) SyncGraph(*graph_, keys, tree, key);
    for (const auto& [other_key, other_seq] : s.waiting) {
      effects.recheck.push_back({s.id, other_key, other_seq});
    }
    return result;
  }
  if (cmd.wait_timeout != absl::ZeroDuration() && waiter == nullptr) {
    if (state.empty()) keys.erase(kit);
    return std::nullopt;  // Would wait.
  }
  if (cmd.request_release) {
    for (const Holder& h : state.holders) {
      if (h.session.get() != &s) ask.emplace_back(h.session, h.token);
    }
  }
  if (cmd.wait_timeout == absl::ZeroDuration()) {
    RecordRefusedLocked(key, s, AcquireOutcome::kTimedOut, cmd.now);
    if (state.empty()) keys.erase(kit);
    return AcquireResult{};  // Try-lock on a held key: not acquired.
  }

  // A new wait (a retry takes over its own place, never refused).
  if (!already_waiting) {
    std::optional<absl::Status> refused;
    if (admit.memory != nullptr && admit.memory->over()) {
      refused = admit.memory->Refusal();
    } else if (state.waiters.size() >= limits.max_waiters_per_key) {
      refused = LimitReached(
          "max_waiters_per_key", limits.max_waiters_per_key,
          absl::StrCat("key ", Quote(key), " has ", state.waiters.size(),
                       " waiters; session ", s.id, " not queued"));
    } else if (s.waiting.size() >= limits.max_waiters_per_session) {
      refused = LimitReached(
          "max_waiters_per_session", limits.max_waiters_per_session,
          absl::StrCat("session ", s.id, " waits for ", s.waiting.size(),
                       " keys; key ", Quote(key), " not queued"));
    } else if (s.owner_counters != nullptr &&
               s.owner_counters->waiting.load(std::memory_order_relaxed) >=
                   static_cast<int64_t>(limits.max_waiters_per_identity)) {
      refused = LimitReached(
          "max_waiters_per_identity", limits.max_waiters_per_identity,
          absl::StrCat("identity ", Quote(s.owner), " has ",
                       limits.max_waiters_per_identity,
                       " waits; key ", Quote(key), " not queued"));
    }
    if (refused.has_value()) {
      ask.clear();  // A refused acquire asks nobody to release.
      if (state.empty()) keys.erase(kit);
      return *refused;
    }
  }
  const absl::Time deadline = cmd.now + cmd.wait_timeout;
  uint64_t seq;
  if (already_waiting) {
    // A retry while the first call still waits: take over its place.
    seq = own_wait->second;
    QueuedWaiter& queued = state.waiters[seq];
    // The first call ends (cancelled); the retry's wait goes on in its
    // place, as a new call whose wait counts from the first call's start
    // (the queue place's). So the first call's time is no wait sample of
    // its own: one queue place, one sample, or its first seconds would be
    // counted twice.
    RecordWaitEndedLocked(key, queued, AcquireOutcome::kCancelled, cmd.now,
                          effects, /*sample=*/false, /*retry=*/true);
    RecordWaitStartedLocked(key, s, mode, cmd.now, queued.upgrade,
                            /*retry=*/true);
    effects.completions.push_back(
        {queued.waiter,
         absl::CancelledError(absl::StrCat(
             "acquire of key ", Quote(key), " by session ", s.id,
             " was superseded by a newer acquire of the same key"))});
    queued.waiter = waiter;
    queued.deadline = deadline;
    queued.max_hold = cmd.max_hold;
    queued.lock_delay = cmd.lock_delay;
  } else {
    seq = upgrade ? next_upgrade_seq : next_wait_seq;
    // A queued first semaphore user fixes the size already.
    if (sem > 0) state.limit = sem;
    // The cycle search, if one is needed, runs once the shard mutex is
    // released (LockTable::Acquire): a long queue makes it slow.
    if (sem == 0 && graph_->AddWait(
                        WaitForGraph::Party{s.id, s.client_name, mode}, key,
                        seq, GraphHolders(keys, key, state))) {
      effects.new_wait = Effects::Recheck{s.id, key, seq};
    }
    (upgrade ? next_upgrade_seq : next_wait_seq)++;
    auto [wit, added] = state.waiters.emplace(
        seq, QueuedWaiter{session, waiter, mode, cmd.now, deadline,
                          cmd.max_hold, cmd.lock_delay, sem, upgrade});
    tree.Queued(key, state, wit->second, 1);
    s.waiting[key] = seq;
    RecordWaitStartedLocked(key, s, mode, cmd.now, upgrade);
  }
  ArmWaitTimerLocked(key, seq, state.waiters.find(seq)->second, s.id);
  return std::nullopt;  // Queued.
}

void Shard::CancelWaitLocked(Session& s, const CancelWaitCmd& cmd,
                             Effects& effects) {
  auto kit = keys.find(cmd.key);
  if (kit == keys.end()) return;
  KeyState& state = kit->second;
  uint64_t seq = cmd.wait_seq;
  {
    absl::MutexLock session_lock(&s.mu);
    auto sw = s.waiting.find(cmd.key);
    if (sw == s.waiting.end()) return;
    if (seq == 0) seq = sw->second;
    if (sw->second != seq) return;
    auto wit = state.waiters.find(seq);
    if (wit == state.waiters.end()) return;
    QueuedWaiter& queued = wit->second;
    if (cmd.waiter != nullptr && queued.waiter != cmd.waiter) return;
    if (cmd.reason == CancelReason::kTimedOut && queued.deadline > cmd.now) {
      return;  // Superseded by a call with a later deadline.
    }
    RecordWaitEndedLocked(cmd.key, queued,
                          cmd.reason == CancelReason::kTimedOut
                              ? AcquireOutcome::kTimedOut
                              : AcquireOutcome::kCancelled,
                          cmd.now, effects);
    if (cmd.reason == CancelReason::kTimedOut) {
      effects.completions.push_back({queued.waiter, AcquireResult{}});
    } else {
      effects.completions.push_back(
          {queued.waiter,
           absl::CancelledError(absl::StrCat(
               "acquire of key ", Quote(cmd.key), " by session ", s.id,
               " was cancelled by the caller"))});
    }
    EraseWaitLocked(cmd.key, state, wit);
    s.waiting.erase(sw);
  }
  ReevaluateLocked(cmd.key, cmd.now, effects);
}

bool Shard::AbortWaitLocked(Session& s, const std::string& key, uint64_t seq,
                            const std::string& why,
                            const std::vector<WaitForGraph::Step>& cycle,
                            absl::Time now, Effects& effects,
                            const Waiter* answered) {
  auto kit = keys.find(key);
  if (kit == keys.end()) return false;
  KeyState& state = kit->second;
  bool ours = false;
  {
    absl::MutexLock session_lock(&s.mu);
    auto sw = s.waiting.find(key);
    if (sw == s.waiting.end() || sw->second != seq) return false;
    auto wit = state.waiters.find(seq);
    if (wit == state.waiters.end()) return false;
    ours = wit->second.waiter == answered;
    // Refused at once (the acquire itself answers ABORTED): it never
    // waited, so it is an outcome but no wait sample.
    RecordWaitEndedLocked(key, wit->second, AcquireOutcome::kDeadlock, now,
                          effects, /*sample=*/!ours);
    if (!ours) {
      effects.completions.push_back({wit->second.waiter,
                                     absl::AbortedError(why)});
    }
    EraseWaitLocked(key, state, wit);
    s.waiting.erase(sw);
  }
  RecordDeadlockLocked(key, s, why, cycle, now, effects);
  ReevaluateLocked(key, now, effects);
  return ours;
}

void Shard::DemoteUpgradeWaitLocked(const std::string& key, KeyState& state,
                                    Session& s, Effects& effects) {
  auto sw = s.waiting.find(key);
  if (sw == s.waiting.end()) return;
  auto wit = state.waiters.find(sw->second);
  if (wit == state.waiters.end() || !wit->second.upgrade) return;
  // Without its SHARED grant the wait is no upgrade: kept at the head, it
  // would jump ahead of earlier writers. It becomes an ordinary EXCLUSIVE
  // wait at the back of the queue, with its deadline and caller.
  QueuedWaiter w = std::move(wit->second);
  EraseWaitLocked(key, state, wit);
  w.upgrade = false;
  // The SHARED grant that just ended may still be in the graph as a
  // blocker of this tree's waiters: refresh it, or the search finds a
  // cycle through a grant that no longer exists.
  if (tree.has_waiting_keys()) SyncGraph(*graph_, keys, tree, key);
  const uint64_t seq = next_wait_seq;
  // As a writer at the back it may close a cycle: searched once the shard
  // mutex is released (EffectsRunner), and ABORTED if so.
  if (graph_->AddWait(WaitForGraph::Party{s.id, s.client_name, w.mode}, key,
                      seq, GraphHolders(keys, key, state))) {
    effects.recheck.push_back({s.id, key, seq});
  }
  ++next_wait_seq;
  sw->second = seq;
  auto added = state.waiters.emplace(seq, std::move(w)).first;
  tree.Queued(key, state, added->second, 1);
  // Its old timer went with its old place (EraseWaitLocked).
  added->second.timeout_timer = TimerId();
  ArmWaitTimerLocked(key, seq, added->second, s.id);
}

}  // namespace table_internal
}  // namespace taala
