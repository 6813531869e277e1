#include "server/core/lock_table.h"

#include <algorithm>
#include <deque>
#include <utility>

#include "absl/hash/hash.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "server/core/check.h"
#include "server/core/shard.h"
#include "server/core/status_macros.h"

namespace taala {

using table_internal::CheckFenceIn;
using table_internal::DescribeIn;
using table_internal::ListLocksIn;
using table_internal::ListSessionsIn;
using table_internal::Quote;
using table_internal::ReleaseAsks;
using table_internal::SessionLimits;
using table_internal::SessionNotFound;
using table_internal::ValidateListArgs;
using table_internal::ValidateSessionRequest;

namespace {

constexpr int kEpochShift = 40;

}  // namespace

LockTable::LockTable(Options options) : options_(std::move(options)) {
  TAALA_CHECK(options_.shards > 0);
  TAALA_CHECK(options_.token_epoch < (uint64_t{1} << (64 - kEpochShift)));
  TAALA_CHECK(options_.first_counter_for_test > 0 &&
              options_.first_counter_for_test < (uint64_t{1} << kEpochShift));
  next_session_seq_.store(options_.first_counter_for_test);
  shards_.reserve(options_.shards);
  for (size_t i = 0; i < options_.shards; ++i) {
    shards_.push_back(std::make_unique<Shard>(
        i, (options_.token_epoch << kEpochShift) +
            options_.first_counter_for_test,
        &timers_, &graph_));
  }
}

LockTable::~LockTable() = default;

uint64_t LockTable::NewSessionId() {
  const uint64_t seq =
      next_session_seq_.fetch_add(1, std::memory_order_relaxed);
  // Never carry into the epoch bits: 0 (refused by CreateSession) instead.
  if (seq > Shard::kCounterMask) return 0;
  return (options_.token_epoch << kEpochShift) | seq;
}

LockTable::Shard& LockTable::ShardFor(absl::string_view key) {
  const size_t h = absl::Hash<absl::string_view>{}(FirstSegment(key));
  return *shards_[h % shards_.size()];
}

absl::StatusOr<SessionInfo> LockTable::CreateSession(
    const CreateSessionCmd& cmd) {
  if (shutting_down_.load()) {
    return absl::UnavailableError("taalad is shutting down");
  }
  if (cmd.session_id == 0) {  // NewSessionId ran out.
    return absl::ResourceExhaustedError(
        "no session id left: this token epoch's 2^40 session ids are used "
        "up; restart taalad to start a new token epoch");
  }
  TAALA_RETURN_IF_ERROR(ValidateSessionRequest(
      cmd, SessionLimits{options_.max_client_name_bytes, options_.max_labels,
                         options_.max_label_bytes}));
  absl::Duration ttl =
      cmd.ttl == absl::ZeroDuration() ? options_.default_session_ttl : cmd.ttl;
  ttl = std::max(options_.min_session_ttl,
                 std::min(options_.max_session_ttl, ttl));
  const absl::Time expires = cmd.now + ttl;
  auto session = std::make_shared<Session>(cmd.session_id, cmd.client_name,
                                           cmd.labels, ttl, expires,
                                           options_.max_pending_events);
  if (!sessions_.Insert(std::move(session))) {
    return absl::AlreadyExistsError(
        absl::StrCat("session ", cmd.session_id, " already exists"));
  }
  timers_.Schedule(
      Timer{expires, Timer::Kind::kSessionExpiry, cmd.session_id, 0, ""});
  return SessionInfo{cmd.session_id, cmd.client_name, ttl, expires};
}

absl::StatusOr<absl::Duration> LockTable::KeepAlive(const KeepAliveCmd& cmd) {
  std::shared_ptr<Session> session = sessions_.Find(cmd.session_id);
  if (session == nullptr) {
    return absl::NotFoundError(SessionNotFound(cmd.session_id));
  }
  Session& s = *session;
  absl::MutexLock lock(&s.mu);
  if (s.ended || s.expires_at <= cmd.now) {
    // A lease that has run out stays out, even before the reaper ends it.
    return absl::NotFoundError(SessionNotFound(cmd.session_id));
  }
  // The expiry timer is not touched: when it fires it sees the new deadline
  // and re-arms itself.
  s.expires_at = std::max(s.expires_at, cmd.now + s.ttl);
  return s.ttl;
}

absl::Status LockTable::AttachSink(uint64_t session_id,
                                   std::shared_ptr<SessionEventSink> sink) {
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
    s.mailbox->Attach(std::move(sink));
  }
  // Unacknowledged events, in sequence order, with any posted meanwhile.
  session->mailbox->Flush();
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
    Effects& effects, bool overflowed) {
  Session& s = *session;
  absl::flat_hash_map<std::string, uint64_t> held;
  absl::flat_hash_map<std::string, uint64_t> waiting;
  {
    absl::MutexLock lock(&s.mu);
    if (s.ended) return std::nullopt;
    if (expired && !overflowed && s.expires_at > now) {
      // Renewed since the timer was armed: wait for the new deadline.
      timers_.Schedule(
          Timer{s.expires_at, Timer::Kind::kSessionExpiry, s.id, 0, ""});
      return std::nullopt;
    }
    s.ended = true;
    held.swap(s.held);
    waiting.swap(s.waiting);
    if (expired) {
      s.mailbox->Post(
          SessionEvent{SessionEvent::Type::kSessionExpired, s.id, "", 0,
                       overflowed ? std::string("event backlog overflow")
                                  : absl::StrCat("session lease of ",
                                                 absl::ToInt64Milliseconds(
                                                     s.ttl),
                                                 "ms ran out"),
                       0, ""},
          effects.events);
    }
  }
  sessions_.Erase(s.id);

  EndResult result;
  for (const auto& [key, seq] : waiting) {
    absl::Status why = absl::NotFoundError(
        absl::StrCat("session ", s.id, (expired ? " expired" : " was closed"),
                     " while waiting for key ", Quote(key)));
    Shard& shard = ShardFor(key);
    absl::MutexLock lock(&shard.mu);
    result.cancelled_waits +=
        shard.DropWaitLocked(key, seq, std::move(why), now, effects);
  }
  for (const auto& [key, token] : held) {
    Shard& shard = ShardFor(key);
    absl::MutexLock lock(&shard.mu);
    result.released +=
        shard.DropGrantLocked(key, &s, token, expired, now, effects);
  }
  if (expired) {
    effects.expired.push_back({s.id, s.client_name, result});
  }
  return result;
}

std::optional<absl::StatusOr<AcquireResult>> LockTable::Acquire(
    const AcquireCmd& cmd, Waiter* waiter) {
  TAALA_RETURN_IF_ERROR(ValidateKey(cmd.key, options_.key_limits));
  if (cmd.wait_timeout < absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        absl::StrCat("wait_timeout_ms: must not be negative (key ",
                     Quote(cmd.key), ")"));
  }
  if (cmd.max_hold < absl::ZeroDuration()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "max_hold_ms: must not be negative (key ", Quote(cmd.key), ")"));
  }
  if (cmd.lock_delay < absl::ZeroDuration() ||
      cmd.lock_delay > options_.max_lock_delay) {
    return absl::InvalidArgumentError(absl::StrCat(
        "lock_delay_ms: must be between 0 and ",
        absl::ToInt64Milliseconds(options_.max_lock_delay), " (key ",
        Quote(cmd.key), ")"));
  }
  std::shared_ptr<Session> session = sessions_.Find(cmd.session_id);
  if (session == nullptr) {
    return absl::NotFoundError(absl::StrCat(SessionNotFound(cmd.session_id),
                                            "; acquiring key ",
                                            Quote(cmd.key)));
  }
  Session& s = *session;
  Effects effects;
  std::optional<absl::StatusOr<AcquireResult>> outcome;
  Shard& shard = ShardFor(cmd.key);
  // Holders asked to release (cmd.request_release) are told once the
  // requester's own mutex is released: two session mutexes are never held
  // together.
  ReleaseAsks ask;
  {
    absl::MutexLock lock(&shard.mu);
    absl::MutexLock session_lock(&s.mu);
    if (shutting_down_.load()) {
      outcome = absl::UnavailableError(absl::StrCat(
          "taalad is shutting down; key ", Quote(cmd.key), " not acquired"));
    } else {
      outcome = shard.AcquireLocked(s, session, cmd, waiter, effects, ask);
    }
  }
  if (effects.new_wait.has_value()) {
    // The cycle search, outside the shard mutex (on a long queue it takes a
    // while). A wait found on a cycle is refused here and now: the caller is
    // answered ABORTED, never left waiting.
    const Effects::Recheck w = *std::move(effects.new_wait);
    effects.new_wait.reset();
    std::vector<WaitForGraph::Step> cycle =
        graph_.CycleThrough(w.session_id, w.key, w.seq);
    if (!cycle.empty()) {
      const std::string why = table_internal::DeadlockMessage(cycle);
      absl::MutexLock lock(&shard.mu);
      // False if it was granted, ended or taken over by a retry meanwhile:
      // its waiter hears of that.
      if (shard.AbortWaitLocked(s, w.key, w.seq, why, cmd.now, effects,
                                waiter)) {
        outcome = absl::AbortedError(why);
        ask.clear();  // A refused acquire asks nobody to release.
      }
    }
  }
  {
    for (const auto& [holder, token] : ask) {
      absl::MutexLock holder_lock(&holder->mu);
      if (holder->ended) continue;
      holder->mailbox->Post(
          SessionEvent{SessionEvent::Type::kReleaseRequested, holder->id,
                       cmd.key, token,
                       absl::StrCat("session ", s.id, " (", s.client_name,
                                    ") is waiting for key ", Quote(cmd.key)),
                       s.id, s.client_name},
          effects.events);
    }
  }
  runner_.Run(effects, cmd.now);
  if (outcome.has_value() && absl::IsNotFound(outcome->status())) {
    Effects end;  // Refused as dead: end it as its expiry timer would.
    EndIfLeaseRanOut(session, cmd.now, end);
    runner_.Run(end, cmd.now);
  }
  return outcome;
}

void LockTable::CancelWait(const CancelWaitCmd& cmd) {
  Effects effects;
  CancelWaitInto(cmd, effects);
  runner_.Run(effects, cmd.now);
}

void LockTable::CancelWaitInto(const CancelWaitCmd& cmd, Effects& effects) {
  std::shared_ptr<Session> session = sessions_.Find(cmd.session_id);
  // An ended session's waits were all completed when it ended.
  if (session == nullptr) return;
  Shard& shard = ShardFor(cmd.key);
  absl::MutexLock lock(&shard.mu);
  shard.CancelWaitLocked(*session, cmd, effects);
}

void LockTable::EndOverflowedInto(uint64_t session_id, absl::Time now,
                                  Effects& effects) {
  std::shared_ptr<Session> session = sessions_.Find(session_id);
  if (session == nullptr) return;
  // Like an expiry (lock-delays apply: the client may not know yet), with
  // SESSION_EXPIRED "event backlog overflow" as its last event.
  EndSession(session, /*expired=*/true, now, effects, /*overflowed=*/true);
}

void LockTable::AbortWaitInto(uint64_t session_id, const std::string& key,
                              uint64_t seq, const std::string& why,
                              absl::Time now, Effects& effects) {
  std::shared_ptr<Session> session = sessions_.Find(session_id);
  if (session == nullptr) return;
  Shard& shard = ShardFor(key);
  absl::MutexLock lock(&shard.mu);
  shard.AbortWaitLocked(*session, key, seq, why, now, effects);
}

absl::Status LockTable::Release(const ReleaseCmd& cmd) {
  Effects effects;
  absl::Status status;
  std::shared_ptr<Session> session = sessions_.Find(cmd.session_id);
  if (session != nullptr && EndIfLeaseRanOut(session, cmd.now, effects)) {
    // Its grants ended by expiry, as the timers would have ended them.
    status = absl::NotFoundError(absl::StrCat(
        SessionNotFound(cmd.session_id), "; releasing key ", Quote(cmd.key)));
  } else {
    status = ReleaseInto(cmd, effects);
  }
  runner_.Run(effects, cmd.now);
  return status;
}

absl::Status LockTable::UndoGrant(const ReleaseCmd& cmd) {
  Effects effects;
  absl::Status status = ReleaseInto(cmd, effects, /*undelivered=*/true);
  runner_.Run(effects, cmd.now);
  return status;
}

absl::Status LockTable::ReleaseInto(const ReleaseCmd& cmd, Effects& effects,
                                    bool undelivered) {
  TAALA_RETURN_IF_ERROR(ValidateKey(cmd.key, options_.key_limits));
  Shard& shard = ShardFor(cmd.key);
  absl::MutexLock lock(&shard.mu);
  std::optional<absl::Status> released =
      shard.ReleaseLocked(cmd, undelivered, effects);
  if (released.has_value()) return *released;
  if (sessions_.Find(cmd.session_id) == nullptr) {
    return absl::NotFoundError(absl::StrCat(SessionNotFound(cmd.session_id),
                                            "; releasing key ",
                                            Quote(cmd.key)));
  }
  return shard.NotHolderLocked(cmd);
}

absl::StatusOr<Grant> LockTable::CheckFence(absl::string_view key,
                                            uint64_t token) {
  TAALA_RETURN_IF_ERROR(ValidateKey(key, options_.key_limits));
  return CheckFenceIn(ShardFor(key), key, token);
}

absl::StatusOr<LockDescription> LockTable::Describe(absl::string_view key,
                                                    size_t max_waiters) {
  TAALA_RETURN_IF_ERROR(ValidateKey(key, options_.key_limits));
  return DescribeIn(ShardFor(key), key, max_waiters);
}

absl::StatusOr<LockPage> LockTable::ListLocks(absl::string_view prefix,
                                              absl::string_view after,
                                              size_t limit) {
  TAALA_RETURN_IF_ERROR(
      ValidateListArgs(prefix, after, options_.key_limits.max_bytes));
  std::vector<Shard*> shards;
  if (absl::StrContains(prefix, '/')) {
    // Every matching key has the prefix's first segment: one shard.
    shards.push_back(&ShardFor(prefix));
  } else {
    for (auto& shard : shards_) shards.push_back(shard.get());
  }
  return ListLocksIn(shards, prefix, after, limit);
}

SessionPage LockTable::ListSessions(uint64_t after, size_t limit) {
  return ListSessionsIn(sessions_, after, limit);
}

void LockTable::Shutdown() {
  shutting_down_.store(true);
  Effects effects;
  for (auto& shard : shards_) {
    absl::MutexLock lock(&shard->mu);
    shard->FailAllWaitsLocked(effects);
  }
  // Shutdown hands no keys over, so completions carry no grants.
  runner_.Run(effects, absl::InfinitePast());

  std::vector<std::shared_ptr<SessionEventSink>> sinks;
  for (const auto& session : sessions_.All()) {
    Session& s = *session;
    absl::MutexLock lock(&s.mu);
    if (auto sink = s.mailbox->TakeSink()) sinks.push_back(std::move(sink));
  }
  for (const auto& sink : sinks) {
    sink->Close(absl::UnavailableError("taalad is shutting down"));
  }
  timers_.Wake();
}

uint64_t LockTable::deadlocks_refused() const {
  uint64_t n = 0;
  for (const auto& shard : shards_) n += shard->deadlocks_refused.load();
  return n;
}

size_t LockTable::SessionCount() { return sessions_.Count(); }

size_t LockTable::KeyCount() {
  size_t n = 0;
  for (auto& shard : shards_) {
    absl::MutexLock lock(&shard->mu);
    n += shard->keys.size();
  }
  return n;
}

}  // namespace taala
