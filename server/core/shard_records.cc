// Shard: its records. Every transition record of the shard, logged or
// observer-only (transition.h), goes through RecordLocked, which appends it
// to the log and feeds the statistics (table_stats.h): the one stream that
// metrics and Watch (watch_hub.h) consume.

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "server/core/shard.h"

namespace taala {
namespace table_internal {

uint64_t Shard::RecordLocked(Transition& t) {
  if (!IsObserverOnly(t.type)) {
    t.lsn = log_->Append(t);
  } else if (log_->WantsObserverRecords()) {
    log_->Observe(t);  // Watch: live-only events (watch_hub.h).
  }
  if (stats != nullptr) table_stats_->Observe(*stats, t);
  return t.lsn;
}

bool Shard::ObservedLocked() const {
  return stats != nullptr || log_->WantsObserverRecords();
}

Transition Shard::ObserverRecord(TransitionType type, const std::string& key,
                                 uint64_t session_id, absl::Time now) const {
  Transition t;
  t.type = type;
  t.key = key;
  t.session_id = session_id;
  t.wall = now + wall_offset_;
  return t;
}

void Shard::RecordWaitEndedLocked(const std::string& key,
                                  const QueuedWaiter& w,
                                  AcquireOutcome outcome, absl::Time now,
                                  Effects& effects, bool sample, bool retry) {
  const absl::Duration waited = std::max(now - w.enqueued_at,
                                         absl::ZeroDuration());
  if (sample && slow_wait_ > absl::ZeroDuration() && waited >= slow_wait_) {
    effects.slow_waits.push_back(Effects::SlowWait{
        w.session->id, w.session->client_name, key, waited, outcome});
  }
  if (!ObservedLocked()) return;  // Observer-only: statistics and Watch.
  Transition t =
      ObserverRecord(TransitionType::kWaitEnded, key, w.session->id, now);
  t.session_client_name = &w.session->client_name;
  t.retry = retry;
  t.mode = w.mode;
  t.outcome = outcome;
  t.waited = waited;
  t.wait_sample = sample;
  RecordLocked(t);
}

void Shard::RecordWaitStartedLocked(const std::string& key, const Session& s,
                                    LockMode mode, absl::Time now,
                                    bool upgrade, bool retry) {
  if (!ObservedLocked()) return;
  Transition t = ObserverRecord(TransitionType::kWaitStarted, key, s.id, now);
  t.session_client_name = &s.client_name;
  t.mode = mode;
  t.upgrade = upgrade;
  t.retry = retry;
  if (auto kit = keys.find(key); kit != keys.end()) {
    t.semaphore_size = kit->second.limit;
  }
  RecordLocked(t);
}

void Shard::RecordRefusedLocked(const std::string& key, const Session& s,
                                AcquireOutcome outcome, absl::Time now) {
  if (stats == nullptr) return;  // Statistics only: Watch has no such event.
  Transition t =
      ObserverRecord(TransitionType::kAcquireRefused, key, s.id, now);
  t.outcome = outcome;
  RecordLocked(t);
}

void Shard::RecordDeadlockLocked(const std::string& key, const Session& s,
                                 const std::string& why,
                                 std::vector<WaitForGraph::Step> cycle,
                                 absl::Time now, Effects& effects) {
  deadlocks_refused.fetch_add(1, std::memory_order_relaxed);
  effects.deadlocks.push_back(
      Effects::Deadlock{s.id, s.client_name, key, why});
  if (!ObservedLocked()) return;
  Transition t =
      ObserverRecord(TransitionType::kDeadlockRefused, key, s.id, now);
  t.client_name = s.client_name;
  t.session_client_name = &s.client_name;
  t.text = why;
  t.cycle = std::move(cycle);
  RecordLocked(t);
}

void Shard::RecordGrantEndedLocked(const std::string& key, const Holder& h,
                                   EndReason reason, absl::Time now,
                                   const AdminAction* admin) {
  Transition t;
  t.type = TransitionType::kGrantEnded;
  t.key = key;
  t.session_id = h.session->id;
  t.session_client_name = &h.session->client_name;
  t.token = h.token;
  t.reason = reason;
  t.after_wait = h.after_wait;
  t.wall = now + wall_offset_;
  t.held = std::max(now - h.granted_at, absl::ZeroDuration());
  if (admin != nullptr) {
    t.text = admin->reason;
    t.caller = admin->caller;
  }
  RecordLocked(t);
}

}  // namespace table_internal
}  // namespace taala
