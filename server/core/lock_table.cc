#include "server/core/lock_table.h"

#include <algorithm>
#include <deque>
#include <iterator>
#include <utility>

#include "absl/hash/hash.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "server/core/check.h"
#include "server/core/status_macros.h"

namespace taala {

// Work collected under mutexes and done after they are released.
struct LockTable::Effects {
  struct Completion {
    Waiter* waiter;
    absl::StatusOr<AcquireResult> result;
  };
  struct Expired {
    uint64_t session_id;
    std::string client_name;
    EndResult result;
  };
  struct Revoked {
    Grant grant;
    std::string reason;
  };
  std::vector<Completion> completions;
  std::vector<PendingEvent> events;
  std::vector<Expired> expired;
  std::vector<Revoked> revoked;
  // Waits of sessions just granted a key: a grant can close a cycle.
  struct Recheck {
    uint64_t session_id;
    std::string key;
    uint64_t seq;
  };
  std::vector<Recheck> recheck;
};

namespace {

constexpr int kEpochShift = 40;

// "deadlock: session 5 (a) waits for key "x", held by session 6 (b), which
// waits for key "y", held by session 5 (a); ..."
std::string DeadlockMessage(const std::vector<WaitForGraph::Step>& cycle) {
  std::string out = "deadlock: ";
  for (size_t i = 0; i < cycle.size(); ++i) {
    const WaitForGraph::Step& step = cycle[i];
    const WaitForGraph::Step& next = cycle[(i + 1) % cycle.size()];
    absl::StrAppend(&out, i == 0 ? "" : ", which ", i == 0 ? "session " : "",
                    i == 0 ? absl::StrCat(step.waiter, " (", step.waiter_name,
                                          ") ")
                           : "",
                    "waits for key ", Quote(step.key), ", held by session ",
                    next.waiter, " (", next.waiter_name, ")");
  }
  absl::StrAppend(&out, "; refusing session ", cycle[0].waiter,
                  "'s wait for key ", Quote(cycle[0].key));
  return out;
}

}  // namespace

LockTable::LockTable(Options options) : options_(std::move(options)) {
  TAALA_CHECK(options_.shards > 0);
  TAALA_CHECK(options_.token_epoch < (uint64_t{1} << (64 - kEpochShift)));
  shards_.reserve(options_.shards);
  for (size_t i = 0; i < options_.shards; ++i) {
    shards_.push_back(
        std::make_unique<Shard>((options_.token_epoch << kEpochShift) + 1));
  }
}

LockTable::~LockTable() = default;

uint64_t LockTable::NewSessionId() {
  return (options_.token_epoch << kEpochShift) |
         next_session_seq_.fetch_add(1, std::memory_order_relaxed);
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
  if (cmd.ttl < absl::ZeroDuration()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "ttl_ms: must not be negative (got ", absl::ToInt64Milliseconds(cmd.ttl),
        ")"));
  }
  if (cmd.client_name.size() > options_.max_client_name_bytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("client_name: ", cmd.client_name.size(),
                     " bytes exceeds the limit of ",
                     options_.max_client_name_bytes));
  }
  if (!IsValidUtf8(cmd.client_name)) {
    return absl::InvalidArgumentError("client_name: not valid UTF-8");
  }
  if (cmd.labels.size() > options_.max_labels) {
    return absl::InvalidArgumentError(
        absl::StrCat("labels: ", cmd.labels.size(),
                     " labels exceeds the limit of ", options_.max_labels));
  }
  for (const auto& [k, v] : cmd.labels) {
    if (k.empty() || k.size() > options_.max_label_bytes ||
        v.size() > options_.max_label_bytes) {
      return absl::InvalidArgumentError(absl::StrCat(
          "labels: label ", Quote(k.substr(0, 64)),
          " must have a non-empty name and name and value of at most ",
          options_.max_label_bytes, " bytes"));
    }
  }
  absl::Duration ttl =
      cmd.ttl == absl::ZeroDuration() ? options_.default_session_ttl : cmd.ttl;
  ttl = std::max(options_.min_session_ttl, std::min(options_.max_session_ttl, ttl));
  const absl::Time expires = cmd.now + ttl;
  auto session = std::make_shared<Session>(cmd.session_id, cmd.client_name,
                                           cmd.labels, ttl, expires,
                                           options_.max_undelivered_events);
  if (!sessions_.Insert(std::move(session))) {
    return absl::AlreadyExistsError(
        absl::StrCat("session ", cmd.session_id, " already exists"));
  }
  timers_.Schedule(Timer{expires, Timer::Kind::kSessionExpiry, cmd.session_id, 0, ""});
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
  std::deque<SessionEvent> backlog;
  {
    Session& s = *session;
    absl::MutexLock lock(&s.mu);
    if (s.ended) return absl::NotFoundError(SessionNotFound(session_id));
    // Checked under s.mu: Shutdown sets the flag before it collects sinks.
    if (shutting_down_.load()) {
      return absl::UnavailableError("taalad is shutting down");
    }
    backlog = s.mailbox.Attach(sink);
  }
  for (SessionEvent& e : backlog) {
    if (!sink->Deliver(e)) Redeliver(session_id, sink.get(), std::move(e));
  }
  return absl::OkStatus();
}

void LockTable::DetachSink(uint64_t session_id, const SessionEventSink* sink) {
  std::shared_ptr<Session> session = sessions_.Find(session_id);
  if (session == nullptr) return;
  std::shared_ptr<SessionEventSink> old;  // Destroyed outside the mutex.
  Session& s = *session;
  absl::MutexLock lock(&s.mu);
  old = s.mailbox.Detach(sink);
}

void LockTable::QueueEvent(Session& s, SessionEvent event, Effects& effects) {
  s.mailbox.Post(std::move(event), effects.events);
}

void LockTable::Redeliver(uint64_t session_id, const SessionEventSink* sink,
                          SessionEvent event) {
  std::shared_ptr<Session> session = sessions_.Find(session_id);
  if (session == nullptr) return;  // Ended: nobody to tell.
  Session& s = *session;
  std::shared_ptr<SessionEventSink> detached;  // Destroyed outside the mutex.
  std::shared_ptr<SessionEventSink> current;
  {
    absl::MutexLock lock(&s.mu);
    if (s.ended) return;
    current = s.mailbox.Bounce(sink, event, &detached);
    if (current == nullptr) return;  // Kept for the next stream.
  }
  // A newer stream took over meanwhile: it gets the event now. Each failed
  // sink is detached, so this ends.
  if (!current->Deliver(event)) {
    Redeliver(session_id, current.get(), std::move(event));
  }
}

absl::StatusOr<size_t> LockTable::CloseSession(const CloseSessionCmd& cmd) {
  std::shared_ptr<Session> session = sessions_.Find(cmd.session_id);
  if (session == nullptr) {
    return absl::NotFoundError(SessionNotFound(cmd.session_id));
  }
  Effects effects;
  std::optional<EndResult> ended =
      EndSession(session, /*expired=*/false, cmd.now, effects);
  RunEffects(effects, cmd.now);
  if (!ended.has_value()) {
    return absl::NotFoundError(SessionNotFound(cmd.session_id));
  }
  return ended->released;
}

std::optional<LockTable::EndResult> LockTable::EndSession(
    const std::shared_ptr<Session>& session, bool expired, absl::Time now,
    Effects& effects) {
  Session& s = *session;
  absl::flat_hash_map<std::string, uint64_t> held;
  absl::flat_hash_map<std::string, uint64_t> waiting;
  {
    absl::MutexLock lock(&s.mu);
    if (s.ended) return std::nullopt;
    if (expired && s.expires_at > now) {
      // Renewed since the timer was armed: wait for the new deadline.
      timers_.Schedule(Timer{s.expires_at, Timer::Kind::kSessionExpiry, s.id, 0, ""});
      return std::nullopt;
    }
    s.ended = true;
    held.swap(s.held);
    waiting.swap(s.waiting);
    if (expired) {
      QueueEvent(s,
                 SessionEvent{SessionEvent::Type::kSessionExpired, s.id, "", 0,
                              absl::StrCat("session lease of ",
                                           absl::ToInt64Milliseconds(s.ttl),
                                           "ms ran out"),
                              0, ""},
                 effects);
    }
  }
  sessions_.Erase(s.id);

  EndResult result;
  for (const auto& [key, seq] : waiting) {
    Shard& shard = ShardFor(key);
    absl::MutexLock lock(&shard.mu);
    auto kit = shard.keys.find(key);
    if (kit == shard.keys.end()) continue;
    KeyState& state = kit->second;
    auto wit = state.waiters.find(seq);
    if (wit == state.waiters.end()) continue;
    effects.completions.push_back(
        {wit->second.waiter,
         absl::NotFoundError(absl::StrCat(
             "session ", s.id, (expired ? " expired" : " was closed"),
             " while waiting for key ", Quote(key)))});
    QueuedLocked(shard, key, state, wit->second, -1);
    state.waiters.erase(wit);
    graph_.RemoveWait(key, seq);
    ++result.cancelled_waits;
    ReevaluateLocked(shard, key, now, effects);
  }
  for (const auto& [key, token] : held) {
    Shard& shard = ShardFor(key);
    absl::MutexLock lock(&shard.mu);
    auto kit = shard.keys.find(key);
    if (kit == shard.keys.end()) continue;
    KeyState& state = kit->second;
    for (auto h = state.holders.begin(); h != state.holders.end(); ++h) {
      if (h->session.get() == &s && h->token == token) {
        if (expired) StartLockDelayLocked(shard, kit->first, state, *h, now);
        IntentLocked(shard, key, &s, h->mode, -1);
        state.holders.erase(h);
        ++result.released;
        break;
      }
    }
    ReevaluateLocked(shard, key, now, effects);
  }
  if (expired) {
    effects.expired.push_back({s.id, s.client_name, result});
  }
  return result;
}

bool LockTable::Compatible(const KeyState& state, LockMode mode,
                           uint32_t semaphore_size, const Session* session,
                           bool upgrade, absl::Time now) {
  if (state.delayed_until > now) return false;  // Lock-delay.
  if (semaphore_size > 0) {
    const uint32_t limit = state.limit != 0 ? state.limit : semaphore_size;
    return state.holders.size() < limit;
  }
  for (const Holder& h : state.holders) {
    if (upgrade && h.session.get() == session) continue;  // Its own SHARED.
    if (mode == LockMode::kExclusive || h.mode == LockMode::kExclusive) {
      return false;
    }
  }
  return true;
}

Grant LockTable::MakeGrantLocked(Shard& shard, const std::string& key,
                                 KeyState& state,
                                 const std::shared_ptr<Session>& session,
                                 LockMode mode, absl::Duration max_hold,
                                 absl::Duration lock_delay, bool upgrade,
                                 absl::Time now) {
  Grant grant;
  grant.key = key;
  grant.session_id = session->id;
  grant.token = shard.next_token++;
  grant.mode = mode;
  grant.granted_at = now;
  grant.revoke_at = max_hold > absl::ZeroDuration() ? now + max_hold
                                                    : absl::InfiniteFuture();
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
    state.holders.push_back(Holder{session, 0, mode, now, now, lock_delay});
    holder = &state.holders.back();
    if (hierarchical) IntentLocked(shard, key, session.get(), mode, 1);
  } else if (hierarchical && holder->mode != mode) {
    IntentLocked(shard, key, session.get(), holder->mode, -1);
    IntentLocked(shard, key, session.get(), mode, 1);
  }
  holder->token = grant.token;
  holder->mode = mode;
  holder->granted_at = now;
  holder->revoke_at = grant.revoke_at;
  holder->lock_delay = lock_delay;
  holder->claimed = false;
  if (grant.revoke_at != absl::InfiniteFuture()) {
    timers_.Schedule(Timer{grant.revoke_at, Timer::Kind::kMaxHold, session->id,
                           grant.token, key});
  }
  return grant;
}

void LockTable::StartLockDelayLocked(Shard& shard, const std::string& key,
                                     KeyState& state, const Holder& holder,
                                     absl::Time now) {
  if (holder.lock_delay <= absl::ZeroDuration()) return;
  const absl::Time until = now + holder.lock_delay;
  if (until <= state.delayed_until) return;
  state.delayed_until = until;
  timers_.Schedule(Timer{until, Timer::Kind::kLockDelayEnd, 0, 0, key});
}

void LockTable::EndLockDelayInto(const std::string& key, absl::Time now,
                                 Effects& effects) {
  Shard& shard = ShardFor(key);
  absl::MutexLock lock(&shard.mu);
  auto kit = shard.keys.find(key);
  if (kit == shard.keys.end()) return;
  KeyState& state = kit->second;
  if (state.delayed_until == absl::InfinitePast() ||
      state.delayed_until > now) {
    return;  // No delay, or a longer one started since.
  }
  state.delayed_until = absl::InfinitePast();
  ReevaluateLocked(shard, key, now, effects);
}

bool LockTable::HeadReadyLocked(Shard& shard, const std::string& key,
                                KeyState& state, absl::Time now) {
  const QueuedWaiter& head = state.waiters.begin()->second;
  Session& s = *head.session;
  absl::MutexLock lock(&s.mu);
  // A head whose caller or session is gone is ready to be dropped.
  return head.waiter->Gone() || s.ended ||
         (Compatible(state, head.mode, head.semaphore_size, &s, head.upgrade,
                     now) &&
          TreeAllowsLocked(shard, key, state, head.mode, &s,
                           state.waiters.begin()->first));
}

void LockTable::TakeHeadLocked(Shard& shard, const std::string& key,
                               KeyState& state, absl::Time now,
                               Effects& effects) {
  auto it = state.waiters.begin();
  const uint64_t seq = it->first;
  QueuedLocked(shard, key, state, it->second, -1);
  QueuedWaiter next = std::move(it->second);
  state.waiters.erase(it);
  graph_.RemoveWait(key, seq);
  std::shared_ptr<Session> session = next.session;
  Session& s = *session;
  absl::MutexLock lock(&s.mu);
  auto wit = s.waiting.find(key);
  if (wit != s.waiting.end() && wit->second == seq) s.waiting.erase(wit);
  if (next.waiter->Gone()) {
    effects.completions.push_back(
        {next.waiter,
         absl::CancelledError(absl::StrCat("acquire of key ", Quote(key),
                                           " by session ", s.id,
                                           " was cancelled by the caller"))});
    return;
  }
  if (s.ended) {
    effects.completions.push_back(
        {next.waiter,
         absl::NotFoundError(absl::StrCat(SessionNotFound(s.id),
                                          " while waiting for key ",
                                          Quote(key)))});
    return;
  }
  AcquireResult result;
  result.acquired = true;
  result.grant = MakeGrantLocked(shard, key, state, session, next.mode,
                                 next.max_hold, next.lock_delay, next.upgrade,
                                 now);
  if (next.semaphore_size > 0) state.limit = next.semaphore_size;
  s.held[key] = result.grant.token;
  effects.completions.push_back({next.waiter, std::move(result)});
  // The session now blocks whoever conflicts with its new grant; if it also
  // waits elsewhere, that wait may now be on a cycle.
  for (const auto& [other_key, other_seq] : s.waiting) {
    effects.recheck.push_back({s.id, other_key, other_seq});
  }
}

std::vector<WaitForGraph::Party> LockTable::GraphHolders(
    Shard& shard, const std::string& key, const KeyState& state) {
  std::vector<WaitForGraph::Party> parties;
  parties.reserve(state.holders.size());
  for (const Holder& h : state.holders) {
    parties.push_back(
        WaitForGraph::Party{h.session->id, h.session->client_name, h.mode});
  }
  // Hierarchy: holders below the key block it like holders of it, in their
  // strongest mode; holders of its ancestors too.
  for (const auto& [session, below] : state.below) {
    parties.push_back(WaitForGraph::Party{
        session->id, session->client_name,
        below.exclusive > 0 ? LockMode::kExclusive : LockMode::kShared});
  }
  for (absl::string_view a : Ancestors(key)) {
    auto it = shard.keys.find(a);
    if (it == shard.keys.end()) continue;
    for (const Holder& h : it->second.holders) {
      parties.push_back(
          WaitForGraph::Party{h.session->id, h.session->client_name, h.mode});
    }
  }
  return parties;
}

bool LockTable::TreeAllowsLocked(Shard& shard, const std::string& key,
                                 const KeyState& state, LockMode mode,
                                 const Session* session, uint64_t seq) {
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
    auto it = shard.keys.find(a);
    if (it == shard.keys.end()) continue;
    const KeyState& up = it->second;
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

void LockTable::IntentLocked(Shard& shard, absl::string_view key,
                             const Session* s, LockMode mode, int delta) {
  for (absl::string_view a : Ancestors(key)) {
    auto it = shard.keys.find(a);
    if (it == shard.keys.end()) {
      if (delta < 0) continue;
      it = shard.keys.try_emplace(std::string(a)).first;
    }
    KeyState& up = it->second;
    KeyState::Below& below = up.below[s];
    uint32_t& count =
        mode == LockMode::kExclusive ? below.exclusive : below.shared;
    count = delta > 0 ? count + 1 : (count > 0 ? count - 1 : 0);
    if (below.shared == 0 && below.exclusive == 0) up.below.erase(s);
    if (up.empty()) shard.keys.erase(it);
  }
}

void LockTable::QueuedLocked(Shard& shard, const std::string& key,
                             KeyState& state, const QueuedWaiter& w,
                             int delta) {
  uint32_t& count = w.mode == LockMode::kExclusive ? state.queued_exclusive
                                                   : state.queued_shared;
  count = delta > 0 ? count + 1 : (count > 0 ? count - 1 : 0);
  if (delta > 0 && state.waiters.size() == 1) {
    shard.waiting_keys.insert(key);
  } else if (delta < 0 && state.waiters.size() <= 1) {
    // Called before the erase: this was the last waiter.
    shard.waiting_keys.erase(key);
  }
}

absl::InlinedVector<std::string, 1> LockTable::RelatedKeysLocked(
    Shard& shard, const std::string& key) {
  absl::InlinedVector<std::string, 1> keys;
  keys.push_back(key);
  if (shard.waiting_keys.empty()) return keys;
  for (absl::string_view a : Ancestors(key)) {
    if (shard.waiting_keys.contains(a)) keys.emplace_back(a);
  }
  for (auto it = shard.waiting_keys.lower_bound(key);
       it != shard.waiting_keys.end() && absl::StartsWith(*it, key); ++it) {
    if (IsBelow(*it, key)) keys.push_back(*it);
  }
  return keys;
}

void LockTable::SyncGraphLocked(Shard& shard, const std::string& key) {
  for (const std::string& k : RelatedKeysLocked(shard, key)) {
    auto it = shard.keys.find(k);
    if (it != shard.keys.end() && !it->second.waiters.empty()) {
      graph_.SetHolders(k, GraphHolders(shard, k, it->second));
    }
  }
}

void LockTable::ReevaluateLocked(Shard& shard, const std::string& key,
                                 absl::Time now, Effects& effects) {
  // The keys whose waiters the change may have unblocked.
  absl::InlinedVector<std::string, 1> keys = RelatedKeysLocked(shard, key);
  // FIFO across them: grant (or drop) the ready head with the lowest queue
  // position, one at a time. On one key this grants from the head while the
  // head is ready: adjacent readers together, a waiting writer never
  // overtaken.
  while (true) {
    KeyState* best = nullptr;
    const std::string* best_key = nullptr;
    uint64_t best_seq = 0;
    for (const std::string& k : keys) {
      auto it = shard.keys.find(k);
      if (it == shard.keys.end() || it->second.waiters.empty()) continue;
      const uint64_t seq = it->second.waiters.begin()->first;
      if (best != nullptr && seq >= best_seq) continue;
      if (!HeadReadyLocked(shard, it->first, it->second, now)) continue;
      best = &it->second;
      best_key = &it->first;
      best_seq = seq;
    }
    if (best == nullptr) break;
    const std::string taken = *best_key;
    TakeHeadLocked(shard, taken, *best, now, effects);
    if (taken != key) {
      for (std::string& k : RelatedKeysLocked(shard, taken)) {
        if (std::find(keys.begin(), keys.end(), k) == keys.end()) {
          keys.push_back(std::move(k));
        }
      }
    }
  }
  for (const std::string& k : keys) {
    auto it = shard.keys.find(k);
    if (it == shard.keys.end()) continue;
    if (it->second.empty()) {
      shard.keys.erase(it);
    } else if (!it->second.waiters.empty()) {
      // Holders changed: keep the graph's view of what blocks them current.
      graph_.SetHolders(k, GraphHolders(shard, k, it->second));
    }
  }
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
  {
    Shard& shard = ShardFor(cmd.key);
    absl::MutexLock lock(&shard.mu);
    // Holders asked to release (cmd.request_release) are told once the
    // requester's own mutex is released: two session mutexes are never held
    // together.
    std::vector<std::pair<std::shared_ptr<Session>, uint64_t>> ask;
    {
      absl::MutexLock session_lock(&s.mu);
      outcome = AcquireLocked(shard, s, session, cmd, waiter, effects, ask);
    }
    for (const auto& [holder, token] : ask) {
      absl::MutexLock holder_lock(&holder->mu);
      if (holder->ended) continue;
      QueueEvent(*holder,
                 SessionEvent{SessionEvent::Type::kReleaseRequested,
                              holder->id, cmd.key, token,
                              absl::StrCat("session ", s.id, " (",
                                           s.client_name,
                                           ") is waiting for key ",
                                           Quote(cmd.key)),
                              s.id, s.client_name},
                 effects);
    }
  }
  RunEffects(effects, cmd.now);
  return outcome;
}

std::optional<absl::StatusOr<AcquireResult>> LockTable::AcquireLocked(
    Shard& shard, Session& s, const std::shared_ptr<Session>& session,
    const AcquireCmd& cmd, Waiter* waiter, Effects& effects,
    std::vector<std::pair<std::shared_ptr<Session>, uint64_t>>& ask) {
  if (shutting_down_.load()) {
    return absl::UnavailableError(absl::StrCat(
        "taalad is shutting down; key ", Quote(cmd.key), " not acquired"));
  }
  if (s.ended) {
    return absl::NotFoundError(absl::StrCat(SessionNotFound(s.id),
                                            "; acquiring key ",
                                            Quote(cmd.key)));
  }
  auto [kit, inserted] = shard.keys.try_emplace(cmd.key);
  const std::string& key = kit->first;
  KeyState& state = kit->second;
  const uint32_t sem = cmd.semaphore_size;
  // Semaphore holders are all alike: SHARED (also for the hierarchy).
  const LockMode mode = sem > 0 ? LockMode::kShared : cmd.mode;
  const bool in_use = !state.holders.empty() || !state.waiters.empty();
  if (!in_use) state.limit = 0;  // Free (or only delayed): a new size.
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

  bool upgrade = false;
  for (Holder& h : state.holders) {
    if (h.session.get() != &s) continue;
    if (sem > 0 || h.mode == LockMode::kExclusive ||
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
    upgrade = true;  // Holds SHARED, asks for EXCLUSIVE.
  }
  auto own_wait = s.waiting.find(key);
  const bool already_waiting =
      own_wait != s.waiting.end() && state.waiters.count(own_wait->second) > 0;
  if (upgrade && !already_waiting && !state.waiters.empty()) {
    const QueuedWaiter& head = state.waiters.begin()->second;
    if (head.upgrade && head.session.get() != &s) {
      deadlocks_refused_.fetch_add(1, std::memory_order_relaxed);
      return absl::AbortedError(absl::StrCat(
          "deadlock: sessions ", head.session->id, " (",
          head.session->client_name, ") and ", s.id, " (", s.client_name,
          ") both hold key ", Quote(key),
          " SHARED and wait to upgrade to EXCLUSIVE; refusing session ", s.id,
          "'s upgrade"));
    }
  }
  // An upgrade goes ahead of every waiter but another upgrade.
  const bool head_free = state.waiters.empty() ||
                         (upgrade && !state.waiters.begin()->second.upgrade);
  if (head_free && Compatible(state, mode, sem, &s, upgrade, cmd.now) &&
      // An upgrade would be queued ahead of everyone: it is judged at the
      // place it would take.
      TreeAllowsLocked(shard, key, state, mode, &s,
                       upgrade ? shard.next_upgrade_seq : kNewRequest)) {
    AcquireResult result;
    result.acquired = true;
    result.grant = MakeGrantLocked(shard, key, state, session, mode,
                                   cmd.max_hold, cmd.lock_delay, upgrade,
                                   cmd.now);
    if (sem > 0) state.limit = sem;
    s.held[key] = result.grant.token;
    if (!shard.waiting_keys.empty()) SyncGraphLocked(shard, key);
    for (const auto& [other_key, other_seq] : s.waiting) {
      effects.recheck.push_back({s.id, other_key, other_seq});
    }
    return result;
  }
  if (cmd.wait_timeout != absl::ZeroDuration() && waiter == nullptr) {
    if (state.empty()) shard.keys.erase(kit);
    return std::nullopt;  // Would wait.
  }
  if (cmd.request_release) {
    for (const Holder& h : state.holders) {
      if (h.session.get() != &s) ask.emplace_back(h.session, h.token);
    }
  }
  if (cmd.wait_timeout == absl::ZeroDuration()) {
    if (state.empty()) shard.keys.erase(kit);
    return AcquireResult{};  // Try-lock on a held key: not acquired.
  }

  const absl::Time deadline = cmd.now + cmd.wait_timeout;
  uint64_t seq;
  if (already_waiting) {
    // A retry while the first call still waits: take over its place.
    seq = own_wait->second;
    QueuedWaiter& queued = state.waiters[seq];
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
    seq = upgrade ? shard.next_upgrade_seq : shard.next_wait_seq;
    // A queued first semaphore user fixes the size already.
    if (sem > 0) state.limit = sem;
    if (sem == 0) {
      std::vector<WaitForGraph::Step> cycle = graph_.AddWaitUnlessCycle(
          WaitForGraph::Party{s.id, s.client_name, mode}, key, seq,
          GraphHolders(shard, key, state));
      if (!cycle.empty()) {
        deadlocks_refused_.fetch_add(1, std::memory_order_relaxed);
        ask.clear();  // A refused acquire asks nobody to release.
        if (state.empty()) shard.keys.erase(kit);
        return absl::AbortedError(DeadlockMessage(cycle));
      }
    }
    (upgrade ? shard.next_upgrade_seq : shard.next_wait_seq)++;
    auto [wit, added] = state.waiters.emplace(
        seq, QueuedWaiter{session, waiter, mode, cmd.now, deadline,
                          cmd.max_hold, cmd.lock_delay, sem, upgrade});
    QueuedLocked(shard, key, state, wit->second, 1);
    s.waiting[key] = seq;
  }
  if (deadline != absl::InfiniteFuture()) {
    timers_.Schedule(Timer{deadline, Timer::Kind::kWaitTimeout, s.id, seq, key});
  }
  return std::nullopt;  // Queued.
}

void LockTable::CancelWait(const CancelWaitCmd& cmd) {
  Effects effects;
  CancelWaitInto(cmd, effects);
  RunEffects(effects, cmd.now);
}

void LockTable::CancelWaitInto(const CancelWaitCmd& cmd, Effects& effects) {
  std::shared_ptr<Session> session = sessions_.Find(cmd.session_id);
  // An ended session's waits were all completed when it ended.
  if (session == nullptr) return;
  Session& s = *session;
  Shard& shard = ShardFor(cmd.key);
  absl::MutexLock lock(&shard.mu);
  auto kit = shard.keys.find(cmd.key);
  if (kit == shard.keys.end()) return;
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
    if (cmd.reason == CancelReason::kTimedOut) {
      effects.completions.push_back({queued.waiter, AcquireResult{}});
    } else {
      effects.completions.push_back(
          {queued.waiter,
           absl::CancelledError(absl::StrCat(
               "acquire of key ", Quote(cmd.key), " by session ", s.id,
               " was cancelled by the caller"))});
    }
    QueuedLocked(shard, cmd.key, state, queued, -1);
    state.waiters.erase(wit);
    graph_.RemoveWait(cmd.key, seq);
    s.waiting.erase(sw);
  }
  ReevaluateLocked(shard, cmd.key, cmd.now, effects);
}

void LockTable::AbortWaitInto(uint64_t session_id, const std::string& key,
                              uint64_t seq, const std::string& why,
                              absl::Time now, Effects& effects) {
  std::shared_ptr<Session> session = sessions_.Find(session_id);
  if (session == nullptr) return;
  Session& s = *session;
  Shard& shard = ShardFor(key);
  absl::MutexLock lock(&shard.mu);
  auto kit = shard.keys.find(key);
  if (kit == shard.keys.end()) return;
  KeyState& state = kit->second;
  {
    absl::MutexLock session_lock(&s.mu);
    auto sw = s.waiting.find(key);
    if (sw == s.waiting.end() || sw->second != seq) return;
    auto wit = state.waiters.find(seq);
    if (wit == state.waiters.end()) return;
    effects.completions.push_back({wit->second.waiter,
                                   absl::AbortedError(why)});
    QueuedLocked(shard, key, state, wit->second, -1);
    state.waiters.erase(wit);
    graph_.RemoveWait(key, seq);
    s.waiting.erase(sw);
  }
  deadlocks_refused_.fetch_add(1, std::memory_order_relaxed);
  ReevaluateLocked(shard, key, now, effects);
}

absl::Status LockTable::Release(const ReleaseCmd& cmd) {
  Effects effects;
  absl::Status status = ReleaseInto(cmd, effects);
  RunEffects(effects, cmd.now);
  return status;
}

absl::Status LockTable::ReleaseInto(const ReleaseCmd& cmd, Effects& effects,
                                    bool undelivered) {
  TAALA_RETURN_IF_ERROR(ValidateKey(cmd.key, options_.key_limits));
  Shard& shard = ShardFor(cmd.key);
  absl::MutexLock lock(&shard.mu);
  auto kit = shard.keys.find(cmd.key);
  KeyState* state = kit == shard.keys.end() ? nullptr : &kit->second;
  if (state != nullptr) {
    for (auto h = state->holders.begin(); h != state->holders.end(); ++h) {
      if (h->session->id != cmd.session_id) continue;
      if (h->token != cmd.token) {
        return absl::FailedPreconditionError(absl::StrCat(
            "fencing token ", cmd.token, " is not session ", cmd.session_id,
            "'s grant of key ", Quote(cmd.key), " (its token is ", h->token,
            ")"));
      }
      if (undelivered && h->claimed) return absl::OkStatus();
      IntentLocked(shard, cmd.key, h->session.get(), h->mode, -1);
      std::shared_ptr<Session> owner = std::move(h->session);
      state->holders.erase(h);
      {
        Session& s = *owner;
        absl::MutexLock session_lock(&s.mu);
        auto it = s.held.find(cmd.key);
        if (it != s.held.end() && it->second == cmd.token) s.held.erase(it);
      }
      ReevaluateLocked(shard, cmd.key, cmd.now, effects);
      return absl::OkStatus();
    }
  }
  if (sessions_.Find(cmd.session_id) == nullptr) {
    return absl::NotFoundError(absl::StrCat(SessionNotFound(cmd.session_id),
                                            "; releasing key ",
                                            Quote(cmd.key)));
  }
  if (state == nullptr || state->holders.empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat("session ", cmd.session_id, " does not hold key ",
                     Quote(cmd.key), " (the key is free)"));
  }
  return absl::FailedPreconditionError(absl::StrCat(
      "session ", cmd.session_id, " does not hold key ", Quote(cmd.key),
      " (held by session ", state->holders.front().session->id, ")"));
}

void LockTable::RevokeGrant(const RevokeGrantCmd& cmd, Effects& effects) {
  Shard& shard = ShardFor(cmd.key);
  absl::MutexLock lock(&shard.mu);
  auto kit = shard.keys.find(cmd.key);
  if (kit == shard.keys.end()) return;
  KeyState& state = kit->second;
  for (auto h = state.holders.begin(); h != state.holders.end(); ++h) {
    if (h->token != cmd.token || h->session->id != cmd.session_id) continue;
    Grant grant{kit->first, cmd.session_id, h->token,
                h->mode,    h->granted_at,  h->revoke_at};
    StartLockDelayLocked(shard, kit->first, state, *h, cmd.now);
    IntentLocked(shard, cmd.key, h->session.get(), h->mode, -1);
    std::shared_ptr<Session> owner = std::move(h->session);
    state.holders.erase(h);
    {
      Session& s = *owner;
      absl::MutexLock session_lock(&s.mu);
      auto it = s.held.find(cmd.key);
      if (it != s.held.end() && it->second == cmd.token) s.held.erase(it);
      if (!s.ended) {
        QueueEvent(s,
                   SessionEvent{SessionEvent::Type::kGrantRevoked, s.id,
                                cmd.key, cmd.token,
                                absl::StrCat(cmd.reason, " after holding ",
                                             absl::ToInt64Milliseconds(
                                                 cmd.now - grant.granted_at),
                                             "ms"),
                                0, ""},
                   effects);
      }
    }
    effects.revoked.push_back({std::move(grant), cmd.reason});
    ReevaluateLocked(shard, cmd.key, cmd.now, effects);
    return;
  }
}

void LockTable::ExpireSession(const ExpireSessionCmd& cmd, Effects& effects) {
  std::shared_ptr<Session> session = sessions_.Find(cmd.session_id);
  if (session == nullptr) return;
  EndSession(session, /*expired=*/true, cmd.now, effects);
}

size_t LockTable::RunDueTimers(absl::Time now) {
  std::vector<Timer> due = timers_.PopDue(now);
  Effects effects;
  for (Timer& t : due) {
    switch (t.kind) {
      case Timer::Kind::kSessionExpiry:
        ExpireSession(ExpireSessionCmd{t.session_id, now}, effects);
        break;
      case Timer::Kind::kWaitTimeout:
        CancelWaitInto(CancelWaitCmd{t.session_id, std::move(t.key), t.id,
                                     nullptr, CancelReason::kTimedOut, now},
                       effects);
        break;
      case Timer::Kind::kLockDelayEnd:
        EndLockDelayInto(t.key, now, effects);
        break;
      case Timer::Kind::kMaxHold:
        RevokeGrant(RevokeGrantCmd{t.session_id, std::move(t.key), t.id,
                                   "max hold time reached", now},
                    effects);
        break;
    }
  }
  RunEffects(effects, now);
  return due.size();
}

void LockTable::RunEffects(Effects& effects, absl::Time now) {
  // Notes first: a log line about an expiry or a revocation comes before
  // anyone is told of it.
  for (const Effects::Recheck& r : effects.recheck) {
    std::vector<WaitForGraph::Step> cycle =
        graph_.CycleThrough(r.session_id, r.key, r.seq);
    if (cycle.empty()) continue;
    Effects more;
    AbortWaitInto(r.session_id, r.key, r.seq, DeadlockMessage(cycle), now,
                  more);
    RunEffects(more, now);
  }
  effects.recheck.clear();
  if (observer_ != nullptr) {
    for (const auto& e : effects.expired) {
      observer_->OnSessionExpired(e.session_id, e.client_name,
                                  e.result.released, e.result.cancelled_waits);
    }
    for (const auto& r : effects.revoked) {
      observer_->OnGrantRevoked(r.grant, r.reason);
    }
  }
  for (auto& [sink, event] : effects.events) {
    if (!sink->Deliver(event)) {
      Redeliver(event.session_id, sink.get(), std::move(event));
    }
  }
  for (Effects::Completion& c : effects.completions) {
    std::optional<ReleaseCmd> undo;
    if (c.result.ok() && c.result->acquired) {
      undo = ReleaseCmd{c.result->grant.session_id, c.result->grant.key,
                        c.result->grant.token, now};
    }
    // After Complete the waiter may be gone: do not touch c.waiter again.
    const bool delivered = c.waiter->Complete(std::move(c.result));
    if (!delivered && undo.has_value()) {
      // The caller left between the grant and its delivery: no grant is
      // kept for a waiter that has gone.
      Effects more;
      ReleaseInto(*undo, more, /*undelivered=*/true).IgnoreError();
      RunEffects(more, now);
    }
  }

}

absl::StatusOr<Grant> LockTable::CheckFence(absl::string_view key,
                                            uint64_t token) {
  TAALA_RETURN_IF_ERROR(ValidateKey(key, options_.key_limits));
  Shard& shard = ShardFor(key);
  absl::MutexLock lock(&shard.mu);
  auto kit = shard.keys.find(key);
  if (kit == shard.keys.end() || kit->second.holders.empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat("fencing token ", token, " is not current for key ",
                     Quote(key), ": the key is free"));
  }
  const KeyState& state = kit->second;
  for (const Holder& h : state.holders) {
    if (h.token == token) {
      return Grant{kit->first, h.session->id, h.token,
                   h.mode,     h.granted_at,  h.revoke_at};
    }
  }
  const Holder& current = state.holders.front();
  return absl::FailedPreconditionError(absl::StrCat(
      "fencing token ", token, " is not current for key ", Quote(key),
      ": the current token is ", current.token, " (session ",
      current.session->id, ")"));
}

absl::StatusOr<LockDescription> LockTable::Describe(absl::string_view key,
                                                    size_t max_waiters) {
  TAALA_RETURN_IF_ERROR(ValidateKey(key, options_.key_limits));
  LockDescription d;
  d.key = std::string(key);
  Shard& shard = ShardFor(key);
  absl::MutexLock lock(&shard.mu);
  auto kit = shard.keys.find(key);
  if (kit == shard.keys.end()) return d;
  const KeyState& state = kit->second;
  d.semaphore_size = state.limit;
  d.delayed_until = state.delayed_until;
  for (const Holder& h : state.holders) {
    d.holders.push_back(ToHolderInfo(d.key, h));
  }
  d.waiter_count = state.waiters.size();
  for (const auto& [seq, w] : state.waiters) {
    if (d.waiters.size() >= max_waiters) break;
    d.waiters.push_back(WaiterInfo{w.session->id, w.session->client_name,
                                   w.mode, w.enqueued_at, w.deadline});
  }
  return d;
}

HolderInfo LockTable::ToHolderInfo(const std::string& key, const Holder& h) {
  // A session's id and name are constant: no session mutex needed.
  return HolderInfo{
      Grant{key, h.session->id, h.token, h.mode, h.granted_at, h.revoke_at},
      h.session->client_name};
}

absl::StatusOr<LockPage> LockTable::ListLocks(absl::string_view prefix,
                                              absl::string_view after,
                                              size_t limit) {
  const size_t max_bytes = options_.key_limits.max_bytes;
  for (const auto& [field, value] :
       {std::pair<const char*, absl::string_view>{"prefix", prefix},
        std::pair<const char*, absl::string_view>{"page_token", after}}) {
    if (value.size() > max_bytes) {
      return absl::InvalidArgumentError(
          absl::StrCat(field, ": ", value.size(), " bytes exceeds the limit of ",
                       max_bytes));
    }
    if (!IsValidUtf8(value)) {
      return absl::InvalidArgumentError(
          absl::StrCat(field, ": not valid UTF-8"));
    }
  }
  LockPage page;
  if (limit == 0) return page;
  std::vector<Shard*> shards;
  if (absl::StrContains(prefix, '/')) {
    // Every matching key has the prefix's first segment: one shard.
    shards.push_back(&ShardFor(prefix));
  } else {
    for (auto& shard : shards_) shards.push_back(shard.get());
  }
  // One more than the page holds tells whether another page follows.
  const size_t want = limit + 1;
  std::vector<LockSummary> found;  // The first `want` keys so far, sorted.
  auto by_key = [](const LockSummary& a, const LockSummary& b) {
    return a.key < b.key;
  };
  using Entry = std::pair<const std::string, KeyState>;
  std::vector<const Entry*> matches;
  for (Shard* shard : shards) {
    std::vector<LockSummary> batch;
    {
      absl::MutexLock lock(&shard->mu);
      matches.clear();
      for (const Entry& entry : shard->keys) {
        const std::string& key = entry.first;
        if (key <= after || !absl::StartsWith(key, prefix)) continue;
        const KeyState& st = entry.second;
        if (st.holders.empty() && st.waiters.empty() &&
            st.delayed_until == absl::InfinitePast()) {
          continue;  // Only intentions of keys below: not itself in use.
        }
        if (found.size() == want && key >= found.back().key) continue;
        matches.push_back(&entry);
      }
      if (matches.size() > want) {
        std::nth_element(
            matches.begin(), matches.begin() + want, matches.end(),
            [](const Entry* a, const Entry* b) { return a->first < b->first; });
        matches.resize(want);
      }
      batch.reserve(matches.size());
      for (const Entry* entry : matches) {
        LockSummary summary;
        summary.key = entry->first;
        for (const Holder& h : entry->second.holders) {
          summary.holders.push_back(ToHolderInfo(entry->first, h));
        }
        summary.waiter_count = entry->second.waiters.size();
        batch.push_back(std::move(summary));
      }
    }
    // Merged outside the shard's mutex.
    if (batch.empty()) continue;
    std::sort(batch.begin(), batch.end(), by_key);
    const size_t middle = found.size();
    found.insert(found.end(), std::make_move_iterator(batch.begin()),
                 std::make_move_iterator(batch.end()));
    std::inplace_merge(found.begin(), found.begin() + middle, found.end(),
                       by_key);
    if (found.size() > want) found.resize(want);
  }
  if (found.size() > limit) {
    found.resize(limit);
    page.next_after = found.back().key;
  }
  page.locks = std::move(found);
  return page;
}

SessionPage LockTable::ListSessions(uint64_t after, size_t limit) {
  SessionPage page;
  if (limit == 0) return page;
  std::vector<std::shared_ptr<Session>> found = sessions_.Page(after, limit + 1);
  if (found.size() > limit) {
    found.resize(limit);
    page.next_after = found.back()->id;
  }
  page.sessions.reserve(found.size());
  // The session map's mutexes are leaves: each session's own mutex is taken
  // only now, with no other table mutex held.
  for (const std::shared_ptr<Session>& session : found) {
    Session& s = *session;
    SessionSummary summary;
    {
      absl::MutexLock lock(&s.mu);
      if (s.ended) continue;  // Ended since it was picked.
      summary.expires_at = s.expires_at;
      summary.held_keys = s.held.size();
      summary.waiting_keys = s.waiting.size();
    }
    summary.session_id = s.id;
    summary.client_name = s.client_name;
    summary.labels = s.labels;
    summary.ttl = s.ttl;
    page.sessions.push_back(std::move(summary));
  }
  return page;
}

void LockTable::Shutdown() {
  shutting_down_.store(true);
  Effects effects;
  for (auto& shard_ptr : shards_) {
    Shard& shard = *shard_ptr;
    absl::MutexLock lock(&shard.mu);
    for (auto kit = shard.keys.begin(); kit != shard.keys.end();) {
      KeyState& state = kit->second;
      for (auto& [seq, w] : state.waiters) {
        graph_.RemoveWait(kit->first, seq);
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
        shard.keys.erase(kit++);
      } else {
        ++kit;
      }
    }
    shard.waiting_keys.clear();
  }
  // Shutdown hands no keys over, so completions carry no grants.
  RunEffects(effects, absl::InfinitePast());

  std::vector<std::shared_ptr<Session>> sessions = sessions_.All();
  std::vector<std::shared_ptr<SessionEventSink>> sinks;
  for (const auto& session : sessions) {
    Session& s = *session;
    absl::MutexLock lock(&s.mu);
    if (auto sink = s.mailbox.TakeSink()) sinks.push_back(std::move(sink));
  }
  for (const auto& sink : sinks) {
    sink->Close(absl::UnavailableError("taalad is shutting down"));
  }
  timers_.Wake();
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

void LockTable::CheckInvariantsForTest() {
  // Shards against sessions.
  for (auto& shard_ptr : shards_) {
    Shard& shard = *shard_ptr;
    absl::MutexLock lock(&shard.mu);
    for (const auto& [key, state] : shard.keys) {
      TAALA_CHECK(!state.empty());
      size_t exclusive = 0;
      for (const Holder& h : state.holders) {
        if (h.mode == LockMode::kExclusive) ++exclusive;
        TAALA_CHECK(h.token < shard.next_token);
        Session& s = *h.session;
        absl::MutexLock session_lock(&s.mu);
        if (!s.ended) {
          auto it = s.held.find(key);
          TAALA_CHECK(it != s.held.end() && it->second == h.token);
        }
      }
      if (state.limit > 0) {
        TAALA_CHECK(state.holders.size() <= state.limit);
      } else {
        TAALA_CHECK(exclusive <= 1);
        TAALA_CHECK(exclusive == 0 || state.holders.size() == 1);
      }
      if (!state.waiters.empty()) {
        // A queue only waits on a head that cannot be granted (held
        // incompatibly, or a lock-delay).
        const QueuedWaiter& head = state.waiters.begin()->second;
        Session& hs = *head.session;
        absl::MutexLock session_lock(&hs.mu);
        // (The waiter object itself is not touched: a test may have let it
        // go out of scope while still queued.)
        if (!hs.ended) {
          TAALA_CHECK(!(Compatible(state, head.mode, head.semaphore_size, &hs,
                                   head.upgrade, absl::InfinitePast()) &&
                        TreeAllowsLocked(shard, key, state, head.mode, &hs,
                                         state.waiters.begin()->first)));
        }
      }
      for (const auto& [seq, w] : state.waiters) {
        TAALA_CHECK(seq < shard.next_wait_seq);
        Session& s = *w.session;
        absl::MutexLock session_lock(&s.mu);
        if (!s.ended) {
          auto it = s.waiting.find(key);
          TAALA_CHECK(it != s.waiting.end() && it->second == seq);
        }
      }
    }
  }
  // Sessions against shards.
  std::vector<std::shared_ptr<Session>> sessions = sessions_.All();
  for (const auto& session : sessions) {
    absl::flat_hash_map<std::string, uint64_t> held;
    absl::flat_hash_map<std::string, uint64_t> waiting;
    {
      absl::MutexLock lock(&session->mu);
      if (session->ended) continue;
      held = session->held;
      waiting = session->waiting;
    }
    for (const auto& [key, token] : held) {
      Shard& shard = ShardFor(key);
      absl::MutexLock lock(&shard.mu);
      auto kit = shard.keys.find(key);
      TAALA_CHECK(kit != shard.keys.end());
      bool found = false;
      for (const Holder& h : kit->second.holders) {
        found |= h.session == session && h.token == token;
      }
      TAALA_CHECK(found);
    }
    for (const auto& [key, seq] : waiting) {
      Shard& shard = ShardFor(key);
      absl::MutexLock lock(&shard.mu);
      auto kit = shard.keys.find(key);
      TAALA_CHECK(kit != shard.keys.end());
      auto wit = kit->second.waiters.find(seq);
      TAALA_CHECK(wit != kit->second.waiters.end() &&
                  wit->second.session == session);
    }
  }
}

}  // namespace taala
