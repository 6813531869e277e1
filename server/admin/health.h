#ifndef TAALA_SERVER_ADMIN_HEALTH_H_
#define TAALA_SERVER_ADMIN_HEALTH_H_

// /healthz: a score from 100 down to 0, every input shown as a reason
// (taala.v1.Health). The thresholds (docs/observability.md, "Health"):
//
//   leak_suspects                  0: 0; 1-2: -10; 3-9: -20; 10 or more: -30
//   deadlock_refusals_per_minute   0: 0; 1-9: -10; 10 or more: -25
//   wal_fsync_p99_ms               <= 20: 0; > 20: -10; > 100: -25;
//                                  > 1000: -40 (over the last minute or more)
//   grants_refused_window_ms       0: 0; > 0: -30
//   limits_hit                     always 0 for now (limits: issue 12)
//
// status: "ok" (score >= 80), "degraded" (>= 50), "critical". An input that
// could not be read costs nothing and says why in its detail.

#include <cstdint>
#include <deque>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "taala/v1/lock_service.pb.h"

namespace taala::admin {

struct HealthInputs {
  absl::StatusOr<v1::GetLeakSuspectsResponse> leaks;
  absl::StatusOr<v1::GetRecentDeadlocksResponse> deadlocks;
  // The fsync latency histogram over the window FsyncWindow chose, and how
  // long that window is (zero: since the daemon started).
  absl::StatusOr<v1::Histogram> fsync;
  absl::Duration fsync_window;
  absl::StatusOr<v1::ServerStatus> status;
  absl::Time now;
};

v1::Health ComputeHealth(const HealthInputs& in);

// The upper bound of the bucket holding the q-quantile of `h` (a
// conservative estimate); +Inf if it lies above the last bound; 0 when `h`
// is empty.
double HistogramQuantile(const v1::Histogram& h, double q);

// Deadlock refusals in the minute before `now`, from their timestamps.
int64_t DeadlocksInLastMinute(const v1::GetRecentDeadlocksResponse& d,
                              absl::Time now);

// Keeps recent copies of a cumulative histogram so that a quantile can be
// read over the last minute or so rather than since the daemon started.
// Thread safety: Window may be called concurrently.
class FsyncWindow {
 public:
  // Records `lifetime` (as of `now`) and returns the observations since the
  // newest kept copy at least a minute old (none yet: all of `lifetime`),
  // with the window's length (zero for all).
  v1::Histogram Window(const v1::Histogram& lifetime, absl::Time now,
                       absl::Duration* length) ABSL_LOCKS_EXCLUDED(mu_);

 private:
  struct Copy {
    absl::Time at;
    v1::Histogram histogram;
  };
  absl::Mutex mu_;
  std::deque<Copy> copies_ ABSL_GUARDED_BY(mu_);  // Oldest first.
};

}  // namespace taala::admin

#endif  // TAALA_SERVER_ADMIN_HEALTH_H_
