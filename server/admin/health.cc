#include "server/admin/health.h"

#include <cmath>
#include <limits>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace taala::admin {
namespace {

constexpr absl::Duration kWindow = absl::Minutes(1);
constexpr absl::Duration kCopyEvery = absl::Seconds(10);

v1::Health::Reason* AddReason(v1::Health* h, const char* name, double value,
                              int penalty, std::string detail) {
  v1::Health::Reason* r = h->add_reasons();
  r->set_name(name);
  r->set_value(value);
  r->set_penalty(penalty);
  r->set_detail(std::move(detail));
  return r;
}

std::string Unknown(const absl::Status& s) {
  return absl::StrCat("unknown (no penalty): ", s.ToString());
}

void LeakSuspects(const HealthInputs& in, v1::Health* h) {
  if (!in.leaks.ok()) {
    AddReason(h, "leak_suspects", 0, 0, Unknown(in.leaks.status()));
    return;
  }
  const int n = in.leaks->suspects_size();
  const int penalty = n >= 10 ? 30 : n >= 3 ? 20 : n >= 1 ? 10 : 0;
  AddReason(h, "leak_suspects", n, penalty,
            absl::StrCat(n, in.leaks->truncated() ? " or more" : "",
                         " grant(s) held longer than ",
                         absl::FormatDuration(absl::Milliseconds(
                             in.leaks->held_longer_than_ms())),
                         " or ", in.leaks->p99_factor(),
                         " x their key's p99 hold; penalty 10 from 1, 20 from "
                         "3, 30 from 10"));
}

void Deadlocks(const HealthInputs& in, v1::Health* h) {
  if (!in.deadlocks.ok()) {
    AddReason(h, "deadlock_refusals_per_minute", 0, 0,
              Unknown(in.deadlocks.status()));
    return;
  }
  const int64_t n = DeadlocksInLastMinute(*in.deadlocks, in.now);
  const int penalty = n >= 10 ? 25 : n >= 1 ? 10 : 0;
  AddReason(h, "deadlock_refusals_per_minute", static_cast<double>(n),
            penalty,
            absl::StrCat(n, " acquire(s) refused as deadlocks in the last "
                            "minute (",
                         in.deadlocks->total(),
                         " since start); penalty 10 from 1, 25 from 10"));
}

void FsyncP99(const HealthInputs& in, v1::Health* h) {
  if (!in.fsync.ok()) {
    AddReason(h, "wal_fsync_p99_ms", 0, 0, Unknown(in.fsync.status()));
    return;
  }
  const std::string over =
      in.fsync_window == absl::ZeroDuration()
          ? std::string("since start")
          : absl::StrCat("over the last ",
                         absl::FormatDuration(absl::Trunc(in.fsync_window,
                                                          absl::Seconds(1))));
  if (in.fsync->count() == 0) {
    AddReason(h, "wal_fsync_p99_ms", 0, 0,
              absl::StrCat("no log fsync ", over));
    return;
  }
  const double p99_ms = HistogramQuantile(*in.fsync, 0.99) * 1000;
  const int penalty =
      p99_ms > 1000 ? 40 : p99_ms > 100 ? 25 : p99_ms > 20 ? 10 : 0;
  // JSON has no infinity: above the last bucket shows as its bound.
  double shown = p99_ms;
  if (std::isinf(shown)) {
    const int n = in.fsync->buckets_size();
    shown = n > 0 ? in.fsync->buckets(n - 1).le() * 1000 : 0;
  }
  AddReason(h, "wal_fsync_p99_ms", shown, penalty,
            absl::StrCat(std::isinf(p99_ms) ? "above " : "at most ",
                         absl::StrFormat("%g", shown), " ms (p99 of ",
                         in.fsync->count(), " fsyncs ", over,
                         "); penalty 10 above 20 ms, 25 above 100 ms, 40 "
                         "above 1 s"));
}

void GrantsRefused(const HealthInputs& in, v1::Health* h) {
  if (!in.status.ok()) {
    AddReason(h, "grants_refused_window_ms", 0, 0, Unknown(in.status.status()));
    return;
  }
  const int64_t ms = in.status->grants_refused_for_ms();
  AddReason(h, "grants_refused_window_ms", static_cast<double>(ms),
            ms > 0 ? 30 : 0,
            ms > 0 ? absl::StrCat(
                         "grants are refused for ",
                         absl::FormatDuration(absl::Milliseconds(ms)),
                         " more after an unclean stop in async or none mode "
                         "(sessions still renew); penalty 30 while it lasts")
                   : std::string("grants are served"));
}

}  // namespace

double HistogramQuantile(const v1::Histogram& h, double q) {
  if (h.count() == 0) return 0;
  const double rank = q * static_cast<double>(h.count());
  for (const v1::Histogram::Bucket& b : h.buckets()) {
    if (static_cast<double>(b.count()) >= rank) return b.le();
  }
  return std::numeric_limits<double>::infinity();
}

int64_t DeadlocksInLastMinute(const v1::GetRecentDeadlocksResponse& d,
                              absl::Time now) {
  const int64_t since = absl::ToUnixMillis(now - kWindow);
  int64_t n = 0;
  for (const v1::DeadlockRefusal& r : d.deadlocks()) {
    if (r.at_unix_ms() >= since) ++n;
  }
  return n;
}

v1::Health ComputeHealth(const HealthInputs& in) {
  v1::Health h;
  LeakSuspects(in, &h);
  Deadlocks(in, &h);
  FsyncP99(in, &h);
  GrantsRefused(in, &h);
  AddReason(&h, "limits_hit", 0, 0,
            "limits arrive with issue 12: nothing to count yet");
  int score = 100;
  for (const v1::Health::Reason& r : h.reasons()) score -= r.penalty();
  if (score < 0) score = 0;
  h.set_score(score);
  h.set_status(score >= 80 ? "ok" : score >= 50 ? "degraded" : "critical");
  return h;
}

v1::Histogram FsyncWindow::Window(const v1::Histogram& lifetime,
                                  absl::Time now, absl::Duration* length) {
  absl::MutexLock lock(&mu_);
  if (copies_.empty() || now - copies_.back().at >= kCopyEvery) {
    copies_.push_back({now, lifetime});
  }
  // Keep the newest copy at least a window old (and everything newer).
  while (copies_.size() >= 2 && copies_[1].at <= now - kWindow) {
    copies_.pop_front();
  }
  const Copy& base = copies_.front();
  *length = absl::ZeroDuration();
  if (base.at > now - kWindow ||
      base.histogram.buckets_size() != lifetime.buckets_size()) {
    return lifetime;
  }
  v1::Histogram window = lifetime;
  for (int i = 0; i < window.buckets_size(); ++i) {
    window.mutable_buckets(i)->set_count(lifetime.buckets(i).count() -
                                         base.histogram.buckets(i).count());
  }
  window.set_count(lifetime.count() - base.histogram.count());
  window.set_sum(lifetime.sum() - base.histogram.sum());
  *length = now - base.at;
  return window;
}

}  // namespace taala::admin
