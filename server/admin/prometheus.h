#ifndef TAALA_SERVER_ADMIN_PROMETHEUS_H_
#define TAALA_SERVER_ADMIN_PROMETHEUS_H_

// /metrics: GetMetrics and GetServerStatus in the Prometheus text exposition
// format 0.0.4 (docs/observability.md lists every family). Counters end in
// _total; histograms have cumulative _bucket{le=...} series up to +Inf, then
// _sum and _count; label values are escaped (\\, \", \n). No per-key label
// except the bounded top-keys families (at most kMaxTopKeys series each).
// A source that could not be read leaves its families out and says why in a
// comment line.

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "taala/v1/lock_service.pb.h"

namespace taala::admin {

inline constexpr int kMaxTopKeys = 100;

// `leaks` (optional): GetLeakSuspects with the daemon's thresholds, for the
// taala_leak_suspects gauge.
std::string RenderPrometheus(
    const absl::StatusOr<v1::Metrics>& metrics,
    const absl::StatusOr<v1::ServerStatus>& status,
    const absl::StatusOr<v1::GetLeakSuspectsResponse>& leaks =
        absl::UnknownError("not asked"));

// A sample value: integers as such, others in the shortest form that reads
// back as the same double; +Inf, -Inf, NaN as Prometheus spells them.
std::string PrometheusValue(double value);
// A label value between its quotes.
std::string EscapeLabelValue(absl::string_view value);

}  // namespace taala::admin

#endif  // TAALA_SERVER_ADMIN_PROMETHEUS_H_
