#include "server/rpc/stats_translation.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "common/wire_time.h"
#include "server/rpc/translation.h"

namespace taala {
namespace {

uint32_t Limit(uint32_t requested, uint32_t fallback, uint32_t max) {
  return requested == 0 ? fallback : std::min(requested, max);
}

double Ms(double seconds) { return seconds * 1000; }

void ToProto(const Suggestion& s, v1::Suggestion* out) {
  out->set_available(s.available);
  if (s.available) out->set_value_ms(absl::ToInt64Milliseconds(s.value));
  out->set_samples(s.samples);
  out->set_source(s.source);
  out->set_reason(s.reason);
}

void ToProto(const ContendedKeyInfo& c, v1::ContendedKey* out) {
  out->set_key(c.key);
  out->set_waiters(c.waiters);
  out->set_holders(c.holders);
  out->set_longest_wait_ms(DurationToMs(c.longest_wait));
  out->set_wait_ms_in_window(Ms(c.wait_seconds_in_window));
  out->set_waits_in_window(c.waits_in_window);
}

}  // namespace

uint32_t LeakLimit(uint32_t requested) { return Limit(requested, 100, 1000); }
uint32_t ContentionLimit(uint32_t requested) {
  return Limit(requested, 10, 100);
}
uint32_t DeadlockLimit(uint32_t requested) { return Limit(requested, 20, 100); }

absl::Status ValidateLeakRequest(const v1::GetLeakSuspectsRequest& req) {
  if (req.held_longer_than_ms() < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("held_longer_than_ms: must not be negative (got ",
                     req.held_longer_than_ms(), ")"));
  }
  if (!std::isfinite(req.p99_factor()) || req.p99_factor() < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("p99_factor: must be a finite number, not negative (got ",
                     req.p99_factor(), ")"));
  }
  return absl::OkStatus();
}

void ToProto(const QuantileSketch& sketch, v1::DurationQuantiles* out) {
  out->set_count(sketch.count());
  if (sketch.count() == 0) return;
  out->set_p50_ms(Ms(sketch.Quantile(0.50)));
  out->set_p95_ms(Ms(sketch.Quantile(0.95)));
  out->set_p99_ms(Ms(sketch.Quantile(0.99)));
  out->set_max_ms(Ms(sketch.max()));
  out->set_sum_ms(Ms(sketch.sum()));
}

void ToProto(const AcquireCounts& c, v1::AcquireOutcomes* out) {
  out->set_acquired(c.acquired);
  out->set_acquired_after_wait(c.acquired_after_wait);
  out->set_timed_out(c.timed_out);
  out->set_cancelled(c.cancelled);
  out->set_deadlock(c.deadlock);
  out->set_failed(c.failed);
}

void ToProto(const FixedHistogram& h, v1::Histogram* out) {
  uint64_t cumulative = 0;
  for (size_t i = 0; i < kHistogramBounds.size(); ++i) {
    cumulative += h.counts[i];
    v1::Histogram::Bucket* b = out->add_buckets();
    b->set_le(kHistogramBounds[i]);
    b->set_count(cumulative);
  }
  out->set_count(h.count);
  out->set_sum(h.sum);
}

void ToProto(const LockStats& s, v1::KeyStats* out) {
  out->set_scope(s.scope);
  out->set_source(s.source);
  if (s.tracked_since != absl::InfinitePast()) {
    out->set_tracked_since_ms(absl::ToUnixMillis(s.tracked_since));
  }
  out->set_error_bound(s.error_bound);
  ToProto(s.figures.acquires, out->mutable_acquires());
  ToProto(s.figures.wait, out->mutable_wait());
  ToProto(s.figures.hold, out->mutable_hold());
  out->set_revocations(s.figures.revocations);
  out->set_expiries(s.figures.expiries);
  out->set_deadlock_refusals(s.figures.deadlocks);
  ToProto(s.max_hold, out->mutable_suggested_max_hold());
  ToProto(s.wait_timeout, out->mutable_suggested_wait_timeout());
  out->set_keys(s.keys);
}

void ToProto(const LeakReport& report, absl::Time now,
             v1::GetLeakSuspectsResponse* out) {
  // Within the reply's size budget (translation.h): suspects past it are
  // left out and `truncated` says so.
  size_t left = kReplyBudgetBytes;
  bool cut = false;
  for (const LeakSuspectInfo& s : report.suspects) {
    v1::LeakSuspect* p = out->add_suspects();
    ToProto(s.grant, now, p->mutable_grant());
    p->set_client_name(s.client_name);
    for (const auto& [k, v] : s.labels) (*p->mutable_labels())[k] = v;
    p->set_reason(s.reason);
    p->set_key_p99_hold_ms(absl::ToDoubleMilliseconds(s.key_p99_hold));
    const size_t bytes = ElementBytes(*p);
    if (bytes > left) {
      out->mutable_suspects()->RemoveLast();
      cut = true;
      break;
    }
    left -= bytes;
  }
  out->set_held_longer_than_ms(DurationToMs(report.threshold));
  out->set_p99_factor(report.p99_factor);
  out->set_truncated(report.truncated || cut);
}

void ToProto(const ContentionReport& report, v1::GetContentionResponse* out) {
  for (const ContendedKeyInfo& c : report.by_waiters) {
    ToProto(c, out->add_by_waiters());
  }
  for (const ContendedKeyInfo& c : report.by_wait_time) {
    ToProto(c, out->add_by_wait_time());
  }
  out->set_window_ms(DurationToMs(report.window));
}

void ToProto(const std::vector<DeadlockRecord>& deadlocks, uint64_t total,
             v1::GetRecentDeadlocksResponse* out) {
  // Within the reply's size budget (translation.h): a cycle may be long,
  // and each step names its key and sessions. `total` still counts all.
  size_t left = kReplyBudgetBytes;
  for (const DeadlockRecord& d : deadlocks) {
    v1::DeadlockRefusal* p = out->add_deadlocks();
    p->set_at_unix_ms(absl::ToUnixMillis(d.at));
    p->set_session_id(d.session_id);
    p->set_client_name(d.client_name);
    p->set_key(d.key);
    // Step i waits for its key, held (or queued ahead) by step i + 1.
    for (size_t i = 0; i < d.cycle.size(); ++i) {
      const WaitForGraph::Step& step = d.cycle[i];
      const WaitForGraph::Step& next = d.cycle[(i + 1) % d.cycle.size()];
      v1::WaitForEdge* e = p->add_cycle();
      e->set_waiter_session_id(step.waiter);
      e->set_waiter_client_name(step.waiter_name);
      e->set_blocker_session_id(next.waiter);
      e->set_blocker_client_name(next.waiter_name);
      e->set_key(step.key);
    }
    p->set_message(d.message);
    const size_t bytes = ElementBytes(*p);
    if (bytes > left) {
      out->mutable_deadlocks()->RemoveLast();
      break;
    }
    left -= bytes;
  }
  out->set_total(total);
}

void ToProto(const TableMetrics& m, v1::Metrics* out) {
  ToProto(m.acquires, out->mutable_acquires());
  ToProto(m.wait, out->mutable_wait_seconds());
  ToProto(m.hold, out->mutable_hold_seconds());
  out->set_held_locks(m.held_locks);
  out->set_waiters(m.waiters);
  out->set_sessions_created(m.sessions_created);
  out->set_sessions_expired(m.sessions_expired);
  out->set_grants_expired(m.grants_expired);
  out->set_revocations(m.revocations);
  out->set_deadlock_refusals(m.deadlock_refusals);
  out->set_releases(m.releases);
  for (const TableMetrics::TopKey& k : m.top_keys) {
    v1::KeyCounter* c = out->add_top_keys();
    c->set_key(k.key);
    c->set_acquires(k.acquires);
    c->set_wait_seconds(k.wait_seconds);
  }
}

void ToProto(const KeyPolicy& policy, v1::LockPolicy* out) {
  out->set_prefix(policy.prefix);
  if (policy.max_hold_ms) out->set_max_hold_ms(*policy.max_hold_ms);
  if (policy.lock_delay_ms) out->set_lock_delay_ms(*policy.lock_delay_ms);
  if (policy.wait_timeout_ms) out->set_wait_timeout_ms(*policy.wait_timeout_ms);
  if (policy.semaphore_size) out->set_semaphore_size(*policy.semaphore_size);
  out->set_line(static_cast<uint32_t>(policy.line));
}

void ToProto(const PolicyState& state, v1::GetPoliciesResponse* out) {
  out->set_file(state.file);
  for (const KeyPolicy& p : state.set->policies()) {
    ToProto(p, out->add_policies());
  }
  if (state.generation > 0) {
    out->set_loaded_at_unix_ms(absl::ToUnixMillis(state.loaded_at));
  }
  out->set_generation(state.generation);
  out->set_last_error(state.last_error);
  if (!state.last_error.empty()) {
    out->set_last_error_at_unix_ms(absl::ToUnixMillis(state.last_error_at));
  }
}

}  // namespace taala
