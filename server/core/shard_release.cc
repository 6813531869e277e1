// Shard: the ways a grant ends at its holder's word or by revocation
// (release, the undo of an undelivered upgrade, revoke, an operator's
// force-release), and the refusal of a release by a session that is not the
// holder. The rest of the shard is in
// shard.cc and shard_acquire.cc.

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "server/core/key.h"
#include "server/core/shard.h"

namespace taala {
namespace table_internal {

std::optional<absl::Status> Shard::ReleaseLocked(const ReleaseCmd& cmd,
                                                 bool undelivered,
                                                 Effects& effects) {
  auto kit = keys.find(cmd.key);
  if (kit == keys.end()) return std::nullopt;
  KeyState& state = kit->second;
  for (auto h = state.holders.begin(); h != state.holders.end(); ++h) {
    if (h->session->id != cmd.session_id) continue;
    if (h->token != cmd.token) {
      return absl::FailedPreconditionError(absl::StrCat(
          "fencing token ", cmd.token, " is not session ", cmd.session_id,
          "'s grant of key ", Quote(cmd.key), " (its token is ", h->token,
          ")"));
    }
    if (undelivered && h->claimed) return absl::OkStatus();
    if (undelivered && h->upgraded_from.has_value()) {
      // UndoUpgradeLocked records the grant it restores.
      UndoUpgradeLocked(cmd.key, state, *h, cmd.now);
      ReevaluateLocked(cmd.key, cmd.now, effects);
      return absl::OkStatus();
    }
    std::shared_ptr<Session> owner =
        EraseHolderLocked(cmd.key, state, h,
                          undelivered ? EndReason::kUndone
                                      : EndReason::kReleased,
                          cmd.now);
    {
      Session& s = *owner;
      absl::MutexLock session_lock(&s.mu);
      auto it = s.held.find(cmd.key);
      if (it != s.held.end() && it->second == cmd.token) s.held.erase(it);
      DemoteUpgradeWaitLocked(cmd.key, state, s, effects);
    }
    ReevaluateLocked(cmd.key, cmd.now, effects);
    return absl::OkStatus();
  }
  return std::nullopt;
}

void Shard::UndoUpgradeLocked(const std::string& key, KeyState& state,
                              Holder& h, absl::Time now) {
  // The client never learnt of the EXCLUSIVE token: the session keeps the
  // SHARED grant it knows, with its old token, start and max hold. The
  // EXCLUSIVE token is never issued again (tokens only grow).
  const Holder::Replaced was = *h.upgraded_from;
  const bool undone_after_wait = h.after_wait;
  if (key.find('/') != std::string::npos) {
    Hierarchy::Intent(keys, key, h.session.get(), h.mode, -1);
    Hierarchy::Intent(keys, key, h.session.get(), LockMode::kShared, 1);
  }
  h.token = was.token;
  h.mode = LockMode::kShared;
  h.granted_at = was.granted_at;
  h.revoke_at = was.revoke_at;
  h.lock_delay = was.lock_delay;
  h.claimed = was.claimed;
  h.after_wait = was.after_wait;
  h.upgraded_from.reset();
  Transition record;
  record.type = TransitionType::kGrantRestored;
  record.key = key;
  record.session_id = h.session->id;
  record.session_client_name = &h.session->client_name;
  record.token = h.token;
  record.mode = h.mode;
  record.max_hold = h.revoke_at == absl::InfiniteFuture()
                        ? absl::ZeroDuration()
                        : h.revoke_at - h.granted_at;
  record.lock_delay = h.lock_delay;
  record.wall = h.granted_at + wall_offset_;
  record.after_wait = undone_after_wait;  // Of the undone upgrade.
  RecordLocked(record);
  // The EXCLUSIVE grant's max hold ends with it; the SHARED one's is back.
  timers_->Cancel(h.max_hold_timer);
  if (h.revoke_at != absl::InfiniteFuture()) {
    h.max_hold_timer = timers_->Schedule(
        Timer{std::max(h.revoke_at, now), Timer::Kind::kMaxHold,
              h.session->id, h.token, key});
  }
  Session& s = *h.session;
  absl::MutexLock session_lock(&s.mu);
  if (!s.ended) s.held[key] = h.token;
}

absl::Status Shard::NotHolderLocked(const ReleaseCmd& cmd) {
  auto kit = keys.find(cmd.key);
  if (kit == keys.end() || kit->second.holders.empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat("session ", cmd.session_id, " does not hold key ",
                     Quote(cmd.key), " (the key is free)"));
  }
  return absl::FailedPreconditionError(absl::StrCat(
      "session ", cmd.session_id, " does not hold key ", Quote(cmd.key),
      " (held by session ", kit->second.holders.front().session->id, ")"));
}

void Shard::RevokeLocked(const RevokeGrantCmd& cmd, Effects& effects) {
  auto kit = keys.find(cmd.key);
  if (kit == keys.end()) return;
  KeyState& state = kit->second;
  for (auto h = state.holders.begin(); h != state.holders.end(); ++h) {
    if (h->token != cmd.token || h->session->id != cmd.session_id) continue;
    const std::string text =
        absl::StrCat(cmd.reason, " after holding ",
                     absl::ToInt64Milliseconds(cmd.now - h->granted_at), "ms");
    Grant grant = TakeAwayLocked(kit->first, state, h, EndReason::kRevoked,
                                 text, cmd.now, nullptr, effects);
    effects.revoked.push_back({std::move(grant), cmd.reason});
    ReevaluateLocked(cmd.key, cmd.now, effects);
    return;
  }
}

Grant Shard::TakeAwayLocked(const std::string& key, KeyState& state,
                            absl::InlinedVector<Holder, 1>::iterator h,
                            EndReason reason, const std::string& event_text,
                            absl::Time now, const AdminAction* admin,
                            Effects& effects) {
  Grant grant{key,     h->session->id, h->token,
              h->mode, h->granted_at,  h->revoke_at};
  // An upgrade whose caller may not have learnt of it yet (its reply may be
  // undelivered, and then its undo finds nothing to undo): the client may
  // know only the SHARED token it replaced, so that one is revoked too.
  std::optional<uint64_t> known_token;
  if (h->upgraded_from.has_value() && !h->claimed) {
    known_token = h->upgraded_from->token;
  }
  std::shared_ptr<Session> owner =
      EraseHolderLocked(key, state, h, reason, now, admin);
  Session& s = *owner;
  absl::MutexLock session_lock(&s.mu);
  auto it = s.held.find(key);
  if (it != s.held.end() && it->second == grant.token) s.held.erase(it);
  DemoteUpgradeWaitLocked(key, state, s, effects);
  if (!s.ended) {
    bool overflowed = false;
    auto post = [&](uint64_t token) {
      overflowed |=
          s.mailbox->Post(SessionEvent{SessionEvent::Type::kGrantRevoked, s.id,
                                       key, token, event_text, 0, ""},
                          effects.events) == EventMailbox::Posted::kOverflow;
    };
    if (known_token.has_value()) post(*known_token);
    post(grant.token);
    if (overflowed) effects.overflowed.push_back(s.id);
  }
  return grant;
}

absl::Status Shard::ForceReleaseLocked(const ForceReleaseCmd& cmd,
                                       Effects& effects,
                                       std::vector<Grant>& released) {
  auto kit = keys.find(cmd.key);
  if (kit == keys.end() || kit->second.holders.empty()) {
    return absl::NotFoundError(
        absl::StrCat("key ", Quote(cmd.key), " is not held"));
  }
  KeyState& state = kit->second;
  bool session_holds = false;
  bool token_held = false;
  for (const Holder& h : state.holders) {
    if (cmd.session_id != 0 && h.session->id != cmd.session_id) continue;
    session_holds = true;
    token_held |= cmd.token == 0 || h.token == cmd.token;
  }
  if (!session_holds) {
    return absl::NotFoundError(absl::StrCat(
        "key ", Quote(cmd.key), " is not held by session ", cmd.session_id,
        " (held by session ", state.holders.front().session->id, ")"));
  }
  if (!token_held) {
    const Holder& now_held = state.holders.front();
    return absl::FailedPreconditionError(absl::StrCat(
        "fencing token ", cmd.token, " is not a current grant of key ",
        Quote(cmd.key), " (session ", now_held.session->id,
        " holds it with token ", now_held.token, ")"));
  }
  const AdminAction admin{cmd.reason, cmd.caller, cmd.skip_lock_delay};
  const std::string text =
      absl::StrCat("force-released by ", cmd.caller, ": ", cmd.reason);
  // From the back, so that the whole pass is linear in the holders under
  // the shard mutex, however many SHARED holders the key has: taking all of
  // them, each erase is at the end; taking one session's, there is one
  // erase. TakeAwayLocked removes only holder `i`, so the indexes below it
  // stay valid. The grants are reported in holder order.
  const size_t first = released.size();
  for (size_t i = state.holders.size(); i-- > 0;) {
    const Holder& h = state.holders[i];
    if (cmd.session_id != 0 && h.session->id != cmd.session_id) continue;
    if (cmd.token != 0 && h.token != cmd.token) continue;
    released.push_back(TakeAwayLocked(kit->first, state,
                                      state.holders.begin() + i,
                                      EndReason::kForceReleased, text, cmd.now,
                                      &admin, effects));
  }
  std::reverse(released.begin() + first, released.end());
  // The next waiters get the key (unless its lock-delay holds them back).
  ReevaluateLocked(cmd.key, cmd.now, effects);
  return absl::OkStatus();
}

}  // namespace table_internal
}  // namespace taala
