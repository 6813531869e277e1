// LockTable's session commands: create, renew, attach and detach a stream,
// acknowledge events, close, and end (expiry, close, backlog overflow).
// Part of the facade (server/core/lock_table.h); split from lock_table.cc
// to keep each file short.

#include <algorithm>
#include <deque>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "server/core/check.h"
#include "server/core/lock_table.h"
#include "server/core/shard.h"
#include "server/core/status_macros.h"

namespace taala {

using table_internal::Quote;
using table_internal::SessionLimits;
using table_internal::SessionNotFound;
using table_internal::ValidateSessionRequest;

absl::StatusOr<SessionInfo> LockTable::CreateSession(
    const CreateSessionCmd& cmd) {
  if (shutting_down_.load()) {
    return absl::UnavailableError("taalad is shutting down");
  }
  if (cmd.session_id == 0) {
    return absl::InvalidArgumentError("session id 0 is not a session id");
  }
  TAALA_RETURN_IF_ERROR(ValidateSessionRequest(
      cmd, SessionLimits{options_.max_client_name_bytes, options_.max_labels,
                         options_.max_label_bytes}));
  if (memory_gate_.over()) return memory_gate_.Refusal();
  const size_t max_sessions = options_.limits.max_sessions_per_identity;
  std::shared_ptr<table_internal::OwnerCounters> counters =
      owners_.AddSession(cmd.owner, static_cast<int64_t>(max_sessions));
  if (counters == nullptr) {
    return table_internal::LimitReached(
        "max_sessions_per_identity", max_sessions,
        absl::StrCat("identity ", Quote(cmd.owner), " has ", max_sessions,
                     " sessions"));
  }
  absl::Duration ttl =
      cmd.ttl == absl::ZeroDuration() ? options_.default_session_ttl : cmd.ttl;
  ttl = std::max(options_.min_session_ttl,
                 std::min(options_.max_session_ttl, ttl));
  const absl::Time expires = cmd.now + ttl;
  auto session = std::make_shared<Session>(
      cmd.session_id, cmd.owner, counters, cmd.client_name, cmd.labels, ttl,
      expires, options_.max_pending_events, log_);
  {
    // Recorded under the session's mutex: no grant to it (recorded under
    // it too) can come first in the log.
    Session& s = *session;
    absl::MutexLock lock(&s.mu);
    if (!sessions_.Insert(session)) {
      owners_.RemoveSession(cmd.owner, counters);
      return absl::AlreadyExistsError(
          absl::StrCat("session ", cmd.session_id, " already exists"));
    }
    Transition t;
    t.type = TransitionType::kSessionCreated;
    t.session_id = s.id;
    t.owner = s.owner;
    t.client_name = s.client_name;
    t.labels = *s.labels;
    t.ttl = ttl;
    t.wall = cmd.now + options_.wall_offset;
    log_->Append(t);
    if (stats_ != nullptr) stats_->ObserveSession(t);
  }
  timers_.Schedule(
      Timer{expires, Timer::Kind::kSessionExpiry, cmd.session_id, 0, ""});
  return SessionInfo{cmd.session_id, cmd.owner, cmd.client_name, ttl,
                     expires};
}

absl::StatusOr<absl::Duration> LockTable::KeepAlive(const KeepAliveCmd& cmd) {
  std::shared_ptr<Session> session = sessions_.Find(cmd.session_id);
  if (session == nullptr) {
    return absl::NotFoundError(SessionNotFound(cmd.session_id));
  }
  Session& s = *session;
  {
    absl::MutexLock lock(&s.mu);
    if (!s.ended && s.expires_at > cmd.now) {
      // The expiry timer is not touched: when it fires it sees the new
      // deadline and re-arms itself.
      s.expires_at = std::max(s.expires_at, cmd.now + s.ttl);
      s.expires_at_hint_ns.store(absl::ToUnixNanos(s.expires_at),
                                 std::memory_order_relaxed);
      return s.ttl;
    }
  }
  // A lease that has run out stays out, even before the reaper ends it: it
  // ends now (and that is recorded before the answer leaves), so that a
  // restart cannot bring back a session its client was told is gone.
  Effects effects;
  EndIfLeaseRanOut(session, cmd.now, effects);
  runner_.Run(effects, cmd.now);
  return absl::NotFoundError(SessionNotFound(cmd.session_id));
}

absl::Status LockTable::AttachSink(uint64_t session_id,
                                   std::shared_ptr<SessionEventSink> sink,
                                   bool only_if_none) {
  std::shared_ptr<SessionEventSink> old;  // Ended below, with no mutex held.
  std::shared_ptr<Session> session = sessions_.Find(session_id);
  if (session == nullptr) {
    return absl::NotFoundError(SessionNotFound(session_id));
  }
  {
    Session& s = *session;
    absl::MutexLock lock(&s.mu);
    if (s.ended) return absl::NotFoundError(SessionNotFound(session_id));
    // Checked under s.mu: Shutdown sets the flag before it collects sinks.
    if (shutting_down_.load()) {
      return absl::UnavailableError("taalad is shutting down");
    }
    if (only_if_none && s.mailbox->HasSink()) return absl::OkStatus();
    old = s.mailbox->Attach(std::move(sink));
  }
  if (old != nullptr) {
    // The newer stream wins (a client back from a network failure must not
    // wait for its half-dead old stream); the old one is told so rather
    // than silently starved of events.
    old->Close(absl::AbortedError(absl::StrCat(
        "another KeepAlive stream took over session ", session_id)));
  }
  // Unacknowledged events, in sequence order, with any posted meanwhile, as
  // soon as their records are durable.
  log_->WhenDurable(log_->LastLsn(),
                    [mailbox = session->mailbox] { mailbox->Flush(); });
  return absl::OkStatus();
}

void LockTable::DetachSink(uint64_t session_id, const SessionEventSink* sink) {
  std::shared_ptr<Session> session = sessions_.Find(session_id);
  if (session == nullptr) return;
  std::shared_ptr<SessionEventSink> old;  // Destroyed outside the mutex.
  Session& s = *session;
  absl::MutexLock lock(&s.mu);
  old = s.mailbox->Detach(sink);
}

void LockTable::AckEvents(uint64_t session_id, uint64_t sequence) {
  std::shared_ptr<Session> session = sessions_.Find(session_id);
  if (session != nullptr) session->mailbox->Ack(sequence);
}

absl::StatusOr<size_t> LockTable::CloseSession(const CloseSessionCmd& cmd) {
  std::shared_ptr<Session> session = sessions_.Find(cmd.session_id);
  if (session == nullptr) {
    return absl::NotFoundError(SessionNotFound(cmd.session_id));
  }
  Effects effects;
  std::optional<EndResult> ended;
  // A session whose lease ran out is dead: it ends as expired, not closed.
  if (!EndIfLeaseRanOut(session, cmd.now, effects)) {
    ended = EndSession(session, /*expired=*/false, cmd.now, effects);
  }
  runner_.Run(effects, cmd.now);
  if (!ended.has_value()) {
    return absl::NotFoundError(SessionNotFound(cmd.session_id));
  }
  return ended->released;
}

std::optional<LockTable::EndResult> LockTable::EndSession(
    const std::shared_ptr<Session>& session, bool expired, absl::Time now,
    Effects& effects, bool overflowed, const AdminAction* revoked,
    std::vector<Grant>* released_grants) {
  // An operator's revocation ends the session as an expiry would (the
  // client learns it from SESSION_EXPIRED), whatever its lease.
  if (revoked != nullptr) expired = true;
  const EndReason reason = revoked != nullptr ? EndReason::kSessionRevoked
                           : overflowed       ? EndReason::kOverflowed
                           : expired          ? EndReason::kExpired
                                              : EndReason::kClosed;
  Session& s = *session;
  table_internal::CountedKeys::Map held;
  table_internal::CountedKeys::Map waiting;
  {
    absl::MutexLock lock(&s.mu);
    if (s.ended) return std::nullopt;
    if (reason == EndReason::kExpired && s.expires_at > now) {
      // Renewed since the timer was armed: wait for the new deadline.
      timers_.Schedule(
          Timer{s.expires_at, Timer::Kind::kSessionExpiry, s.id, 0, ""});
      return std::nullopt;
    }
    s.ended = true;
    held = s.held.TakeAll();
    waiting = s.waiting.TakeAll();
    // The end is recorded before its SESSION_EXPIRED event, whose own
    // record comes after it: a mailbox sends an event only once the event's
    // record is durable, so a client is never told of an end that a crash
    // could undo. (Replay ignores an event of an ended session.)
    Transition t;
    t.type = TransitionType::kSessionEnded;
    t.session_id = s.id;
    t.reason = reason;
    if (revoked != nullptr) {
      t.text = revoked->reason;
      t.caller = revoked->caller;
    }
    t.wall = now + options_.wall_offset;
    log_->Append(t);
    if (stats_ != nullptr) stats_->ObserveSession(t);
    if (expired) {
      s.mailbox->Post(
          SessionEvent{SessionEvent::Type::kSessionExpired, s.id, "", 0,
                       revoked != nullptr
                           ? absl::StrCat("revoked by ", revoked->caller, ": ",
                                          revoked->reason)
                       : overflowed ? std::string("event backlog overflow")
                                    : absl::StrCat("session lease of ",
                                                   absl::ToInt64Milliseconds(
                                                       s.ttl),
                                                   "ms ran out"),
                       0, ""},
          effects.events);
    }
  }
  sessions_.Erase(s.id);
  if (s.owner_counters != nullptr) {
    owners_.RemoveSession(s.owner, s.owner_counters);
  }

  // In key order, never the hash map's: which waiter is served first must
  // not depend on a per-process hash seed (replay and standbys must agree).
  std::vector<std::pair<std::string, uint64_t>> waits(waiting.begin(),
                                                      waiting.end());
  std::vector<std::pair<std::string, uint64_t>> grants(held.begin(),
                                                       held.end());
  std::sort(waits.begin(), waits.end());
  std::sort(grants.begin(), grants.end());
  EndResult result;
  // Shard by shard, every wait leaves its queue before any queue is served
  // again: serving one key's queue would otherwise drop the session's wait
  // on a related key (one below it, say) as a ready head, uncounted and
  // with a vaguer message.
  std::vector<std::pair<Shard*, std::vector<Shard::EndedWait>>> by_shard;
  for (const auto& [key, seq] : waits) {
    Shard* shard = &ShardFor(key);
    auto it = std::find_if(by_shard.begin(), by_shard.end(),
                           [&](const auto& e) { return e.first == shard; });
    if (it == by_shard.end()) {
      it = by_shard.insert(by_shard.end(), {shard, {}});
    }
    it->second.push_back(
        {key, seq,
         absl::NotFoundError(absl::StrCat(
             "session ", s.id,
             (revoked != nullptr ? " was revoked"
              : expired          ? " expired"
                                 : " was closed"),
             " while waiting for key ", Quote(key)))});
  }
  for (auto& [shard, ended] : by_shard) {
    absl::MutexLock lock(&shard->mu);
    result.cancelled_waits += shard->DropWaitsLocked(ended, now, effects);
  }
  for (const auto& [key, token] : grants) {
    Shard& shard = ShardFor(key);
    absl::MutexLock lock(&shard.mu);
    Grant grant;
    if (shard.DropGrantLocked(key, &s, token, reason, now, effects, revoked,
                              &grant)) {
      ++result.released;
      if (released_grants != nullptr) released_grants->push_back(grant);
    }
  }
  // An operator's revocation is logged by the admin service.
  if (expired && revoked == nullptr) {
    effects.expired.push_back({s.id, s.client_name, result});
  }
  return result;
}

void LockTable::EndOverflowedInto(uint64_t session_id, absl::Time now,
                                  Effects& effects) {
  std::shared_ptr<Session> session = sessions_.Find(session_id);
  if (session == nullptr) return;
  // Like an expiry (lock-delays apply: the client may not know yet), with
  // SESSION_EXPIRED "event backlog overflow" as its last event.
  EndSession(session, /*expired=*/true, now, effects, /*overflowed=*/true);
}

}  // namespace taala
