#include "server/core/lock_table.h"

#include <algorithm>
#include <deque>
#include <utility>

#include "absl/hash/hash.h"
#include "absl/random/random.h"
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
using table_internal::SessionNotFound;
using table_internal::ValidateListArgs;

class LockTable::Host final : public table_internal::EffectsHost {
 public:
  explicit Host(LockTable* table) : table_(table) {}
  void AbortWaitInto(uint64_t session_id, const std::string& key,
                     uint64_t seq, const std::string& why,
                     const std::vector<WaitForGraph::Step>& cycle,
                     absl::Time now, Effects& effects) override {
    table_->AbortWaitInto(session_id, key, seq, why, cycle, now, effects);
  }
  void ReleaseUndeliveredInto(const ReleaseCmd& cmd,
                              Effects& effects) override {
    table_->ReleaseInto(cmd, effects, /*undelivered=*/true).IgnoreError();
  }
  void EndOverflowedInto(uint64_t session_id, absl::Time now,
                         Effects& effects) override {
    table_->EndOverflowedInto(session_id, now, effects);
  }

 private:
  LockTable* const table_;
};

LockTable::LockTable(Options options)
    : options_(std::move(options)),
      own_log_(options_.log == nullptr ? std::make_unique<MemoryLog>()
                                       : nullptr),
      log_(options_.log != nullptr ? options_.log : own_log_.get()),
      stats_(options_.stats ? std::make_unique<TableStats>(
                                  options_.stats_prefixes, options_.shards)
                            : nullptr),
      host_(std::make_unique<Host>(this)),
      runner_(&graph_, host_.get(), log_) {
  TAALA_CHECK(options_.shards > 0);
  shards_.reserve(options_.shards);
  for (size_t i = 0; i < options_.shards; ++i) {
    shards_.push_back(std::make_unique<Shard>(
        log_, options_.wall_offset, &timers_, &graph_, stats_.get(),
        options_.slow_wait_threshold));
    shards_.back()->owners = &owners_;
  }
  admission_.limits = options_.limits;
  admission_.memory = &memory_gate_;
  admission_.key_entries = [this] {
    size_t n = 0;
    // The entry counts are atomics: no shard mutex.
    for (const auto& shard : shards_) {
      n += ABSL_TS_UNCHECKED_READ(shard->keys).entries();
    }
    return n;
  };
}

LockTable::~LockTable() = default;

uint64_t LockTable::NewSessionId() {
  // Unguessable: from a generator seeded by the OS's entropy, one per
  // thread (no lock). Not the log's sequence, whose next number anyone
  // can tell from their own id.
  thread_local absl::BitGen gen;
  return absl::Uniform<uint64_t>(gen, 1, uint64_t{1} << 63);
}

absl::Status LockTable::CheckSessionOwner(uint64_t id,
                                          absl::string_view owner,
                                          bool anonymous) {
  // One registry lookup; the owner is constant and read with no mutex. An
  // ended session is refused by the call itself, as an unknown one.
  std::shared_ptr<Session> session = sessions_.Find(id);
  if (session == nullptr ||
      !table_internal::OwnerMatches(session->owner, owner, anonymous)) {
    return absl::NotFoundError(SessionNotFound(id));
  }
  return absl::OkStatus();
}

void LockTable::SetOverMemoryBudget(bool over, std::string message) {
  memory_gate_.Set(over, std::move(message));
}

OwnerCounts LockTable::OwnerCountsForTest(const std::string& owner) {
  OwnerCounts out;
  if (auto c = owners_.Find(owner)) {
    out.sessions = c->sessions.load();
    out.held = c->held.load();
    out.waiting = c->waiting.load();
    out.delayed = c->delayed.load();
  }
  return out;
}

void LockTable::RefuseGrantsUntil(absl::Time until) {
  grants_refused_until_ns_.store(absl::ToUnixNanos(until));
}

absl::Time LockTable::grants_refused_until() const {
  return absl::FromUnixNanos(grants_refused_until_ns_.load());
}

LockTable::Shard& LockTable::ShardFor(absl::string_view key) {
  const size_t h = absl::Hash<absl::string_view>{}(FirstSegment(key));
  return *shards_[h % shards_.size()];
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
    } else if (absl::ToUnixNanos(cmd.now) <
               grants_refused_until_ns_.load(std::memory_order_relaxed)) {
      outcome = absl::UnavailableError(absl::StrCat(
          "taalad restarted after an unclean stop without fsync durability: "
          "no grants for another ",
          absl::ToInt64Milliseconds(grants_refused_until() - cmd.now),
          " ms, so that no holder of the previous run still believes it "
          "holds a key; key ",
          Quote(cmd.key), " not acquired"));
    } else {
      outcome = shard.AcquireLocked(s, session, cmd, waiter, effects, ask,
                                    admission_);
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
      if (shard.AbortWaitLocked(s, w.key, w.seq, why, cycle, cmd.now,
                                effects, waiter)) {
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

void LockTable::AbortWaitInto(uint64_t session_id, const std::string& key,
                              uint64_t seq, const std::string& why,
                              const std::vector<WaitForGraph::Step>& cycle,
                              absl::Time now, Effects& effects) {
  std::shared_ptr<Session> session = sessions_.Find(session_id);
  if (session == nullptr) return;
  Shard& shard = ShardFor(key);
  absl::MutexLock lock(&shard.mu);
  shard.AbortWaitLocked(*session, key, seq, why, cycle, now, effects);
}

absl::Status LockTable::Release(const ReleaseCmd& cmd) {
  Effects effects;
  absl::Status status;
  std::shared_ptr<Session> session = sessions_.Find(cmd.session_id);
  // The common case, a live lease, costs no session mutex here.
  if (session != nullptr && !session->LeaseCertainlyLiveAt(cmd.now) &&
      EndIfLeaseRanOut(session, cmd.now, effects)) {
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
  TAALA_RETURN_IF_ERROR(ValidateExistingKey(cmd.key, options_.key_limits));
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
  TAALA_RETURN_IF_ERROR(ValidateExistingKey(key, options_.key_limits));
  return CheckFenceIn(ShardFor(key), key, token);
}

absl::StatusOr<LockDescription> LockTable::Describe(absl::string_view key,
                                                    size_t max_waiters) {
  TAALA_RETURN_IF_ERROR(ValidateExistingKey(key, options_.key_limits));
  return DescribeIn(ShardFor(key), key, max_waiters);
}

absl::StatusOr<LockPage> LockTable::ListLocks(absl::string_view prefix,
                                              absl::string_view after,
                                              size_t limit,
                                              const ListLocksFilter& filter) {
  TAALA_RETURN_IF_ERROR(
      ValidateListArgs(prefix, after, filter, options_.key_limits.max_bytes));
  std::vector<Shard*> shards;
  if (absl::StrContains(prefix, '/')) {
    // Every matching key has the prefix's first segment: one shard.
    shards.push_back(&ShardFor(prefix));
  } else {
    for (auto& shard : shards_) shards.push_back(shard.get());
  }
  return ListLocksIn(shards, prefix, after, limit, filter);
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
    sink->Close(absl::UnavailableError(
        "taalad is restarting; your session is kept"));
  }
  timers_.Wake();
}

uint64_t LockTable::deadlocks_refused() const {
  uint64_t n = 0;
  for (const auto& shard : shards_) n += shard->deadlocks_refused.load();
  return n;
}

size_t LockTable::SessionCount() { return sessions_.Count(); }

size_t LockTable::KeyMapSizeForTest() {
  size_t n = 0;
  for (auto& shard : shards_) {
    absl::MutexLock lock(&shard->mu);
    n += shard->keys.size();
  }
  return n;
}

size_t LockTable::KeyCount() {
  size_t n = 0;
  for (auto& shard : shards_) {
    // The map also holds ancestors that only carry intentions of keys
    // below them: not counted (ListLocks does not list them). A scan of
    // the shard's keys, for a gauge read per scrape.
    absl::MutexLock lock(&shard->mu);
    for (const auto& entry : shard->keys) {
      if (entry.second.in_use()) ++n;
    }
  }
  return n;
}

}  // namespace taala
