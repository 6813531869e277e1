#include "server/admin/prometheus.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "common/version.h"

namespace taala::admin {
namespace {

using Labels = std::vector<std::pair<std::string, std::string>>;

class Exposition {
 public:
  // # HELP and # TYPE of a family; its samples follow.
  void Family(absl::string_view name, absl::string_view type,
              absl::string_view help) {
    absl::StrAppend(&out_, "# HELP ", name, " ",
                    absl::StrReplaceAll(help, {{"\\", "\\\\"}, {"\n", "\\n"}}),
                    "\n# TYPE ", name, " ", type, "\n");
  }
  void Sample(absl::string_view name, const Labels& labels, double value) {
    out_.append(name.data(), name.size());
    if (!labels.empty()) {
      out_ += '{';
      for (size_t i = 0; i < labels.size(); ++i) {
        if (i > 0) out_ += ',';
        absl::StrAppend(&out_, labels[i].first, "=\"",
                        EscapeLabelValue(labels[i].second), "\"");
      }
      out_ += '}';
    }
    absl::StrAppend(&out_, " ", PrometheusValue(value), "\n");
  }
  void One(absl::string_view name, absl::string_view type,
           absl::string_view help, double value) {
    Family(name, type, help);
    Sample(name, {}, value);
  }
  void Histogram(absl::string_view name, absl::string_view help,
                 const v1::Histogram& h) {
    Family(name, "histogram", help);
    const std::string bucket = absl::StrCat(name, "_bucket");
    for (const v1::Histogram::Bucket& b : h.buckets()) {
      if (std::isinf(b.le())) continue;  // +Inf is written from `count`.
      Sample(bucket, {{"le", PrometheusValue(b.le())}},
             static_cast<double>(b.count()));
    }
    Sample(bucket, {{"le", "+Inf"}}, static_cast<double>(h.count()));
    Sample(absl::StrCat(name, "_sum"), {}, h.sum());
    Sample(absl::StrCat(name, "_count"), {}, static_cast<double>(h.count()));
  }
  // A comment that is neither HELP nor TYPE, on one line.
  void Comment(absl::string_view text) {
    absl::StrAppend(&out_, "# ",
                    absl::StrReplaceAll(text, {{"\n", " "}, {"\r", " "}}),
                    "\n");
  }
  std::string Take() { return std::move(out_); }

 private:
  std::string out_;
};

void RenderMetrics(const v1::Metrics& m, Exposition& e) {
  const v1::AcquireOutcomes& a = m.acquires();
  e.Family("taala_acquires_total", "counter",
           "Acquire calls by how they ended (a call that waited counts once, "
           "when it ends).");
  for (const auto& [outcome, n] :
       std::vector<std::pair<const char*, uint64_t>>{
           {"acquired", a.acquired()},
           {"timed_out", a.timed_out()},
           {"cancelled", a.cancelled()},
           {"deadlock", a.deadlock()},
           {"failed", a.failed()}}) {
    e.Sample("taala_acquires_total", {{"outcome", outcome}},
             static_cast<double>(n));
  }
  e.One("taala_acquires_after_wait_total", "counter",
        "Acquires granted after waiting in the key's queue (part of "
        "outcome=\"acquired\").",
        static_cast<double>(a.acquired_after_wait()));
  e.Histogram("taala_wait_seconds",
              "Seconds waited by acquires that waited, when the wait ended.",
              m.wait_seconds());
  e.Histogram("taala_hold_seconds", "Seconds grants were held, when released.",
              m.hold_seconds());
  e.One("taala_held_locks", "gauge", "Grants held now.",
        static_cast<double>(m.held_locks()));
  e.One("taala_waiters", "gauge", "Acquires waiting in a key's queue now.",
        static_cast<double>(m.waiters()));
  e.One("taala_sessions", "gauge", "Live sessions now.",
        static_cast<double>(m.sessions()));
  e.One("taala_keys", "gauge", "Keys with a holder or a waiter now.",
        static_cast<double>(m.keys()));
  e.One("taala_sessions_created_total", "counter", "Sessions created.",
        static_cast<double>(m.sessions_created()));
  e.One("taala_sessions_expired_total", "counter",
        "Sessions whose lease ran out.",
        static_cast<double>(m.sessions_expired()));
  e.One("taala_grants_expired_total", "counter",
        "Grants ended by their session's expiry.",
        static_cast<double>(m.grants_expired()));
  e.One("taala_revocations_total", "counter",
        "Grants revoked (max hold time reached).",
        static_cast<double>(m.revocations()));
  e.One("taala_deadlock_refusals_total", "counter",
        "Acquires refused with ABORTED: the wait would close a cycle.",
        static_cast<double>(m.deadlock_refusals()));
  e.One("taala_releases_total", "counter", "Grants released by their holder.",
        static_cast<double>(m.releases()));
  e.Histogram("taala_wal_fsync_seconds",
              "Latency of the write-ahead log's fsyncs.",
              m.wal_fsync_seconds());
  e.Histogram("taala_wal_batch_records",
              "Records per written log batch (one fsync each: group commit).",
              m.wal_batch_records());
  e.One("taala_in_flight_calls", "gauge",
        "gRPC calls being served now (waiting acquires and KeepAlive "
        "streams included).",
        static_cast<double>(m.in_flight_calls()));
  e.One("taala_watchers", "gauge", "Watch streams open now.",
        static_cast<double>(m.watchers()));
  e.One("taala_watchers_too_slow_total", "counter",
        "Watch streams ended with RESOURCE_EXHAUSTED: they fell behind.",
        static_cast<double>(m.watchers_too_slow()));
  const int top = std::min(m.top_keys_size(), kMaxTopKeys);
  e.Family("taala_top_key_acquires_total", "counter",
           "Acquires of the most acquired keys (a bounded top-K, at most 100 "
           "keys; counted since the key was tracked).");
  for (int i = 0; i < top; ++i) {
    e.Sample("taala_top_key_acquires_total", {{"key", m.top_keys(i).key()}},
             static_cast<double>(m.top_keys(i).acquires()));
  }
  e.Family("taala_top_key_wait_seconds_total", "counter",
           "Seconds waited for the most acquired keys (the same top-K).");
  for (int i = 0; i < top; ++i) {
    e.Sample("taala_top_key_wait_seconds_total",
             {{"key", m.top_keys(i).key()}}, m.top_keys(i).wait_seconds());
  }
}

void RenderStatus(const v1::ServerStatus& s, Exposition& e) {
  e.One("taala_wal_records_total", "counter",
        "Records appended to the write-ahead log.",
        static_cast<double>(s.wal_records()));
  e.One("taala_wal_fsyncs_total", "counter", "fsyncs of log segments.",
        static_cast<double>(s.wal_fsyncs()));
  e.One("taala_wal_bytes_total", "counter", "Bytes written to the log.",
        static_cast<double>(s.wal_bytes()));
  e.One("taala_last_lsn", "gauge",
        "The last log sequence number issued (fencing tokens are LSNs).",
        static_cast<double>(s.last_lsn()));
  e.One("taala_grants_refused_window_seconds", "gauge",
        "Seconds grants are still refused after an unclean stop in async or "
        "none mode (0: grants are served).",
        static_cast<double>(s.grants_refused_for_ms()) / 1000);
  e.One("taala_recovery_seconds", "gauge",
        "How long recovery took at start.",
        static_cast<double>(s.recovery_ms()) / 1000);
}

}  // namespace

std::string PrometheusValue(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  if (value == std::floor(value) && std::fabs(value) < 1e15) {
    return absl::StrCat(static_cast<int64_t>(value));
  }
  char buf[32];
  for (int precision = 15; precision <= 17; ++precision) {
    std::snprintf(buf, sizeof(buf), "%.*g", precision, value);
    if (std::strtod(buf, nullptr) == value) break;
  }
  return buf;
}

std::string EscapeLabelValue(absl::string_view value) {
  return absl::StrReplaceAll(value,
                             {{"\\", "\\\\"}, {"\"", "\\\""}, {"\n", "\\n"}});
}

std::string RenderPrometheus(
    const absl::StatusOr<v1::Metrics>& metrics,
    const absl::StatusOr<v1::ServerStatus>& status,
    const absl::StatusOr<v1::GetLeakSuspectsResponse>& leaks) {
  Exposition e;
  e.Family("taala_build_info", "gauge",
           "Always 1; the daemon's version and git commit as labels.");
  e.Sample("taala_build_info",
           {{"version", TaalaVersion()}, {"commit", TaalaGitCommit()}}, 1);
  if (metrics.ok()) {
    RenderMetrics(*metrics, e);
  } else {
    e.Comment(absl::StrCat("taala: GetMetrics failed: ",
                           metrics.status().ToString()));
  }
  if (leaks.ok()) {
    e.Family("taala_leak_suspects", "gauge",
             "Grants held now past --leak_threshold or --leak_p99_factor "
             "times their key's p99 hold (GetLeakSuspects; at most 1000).");
    e.Sample("taala_leak_suspects", {}, leaks->suspects_size());
  } else {
    e.Comment(absl::StrCat("taala: GetLeakSuspects failed: ",
                           leaks.status().ToString()));
  }
  if (status.ok()) {
    RenderStatus(*status, e);
  } else {
    e.Comment(absl::StrCat("taala: GetServerStatus failed: ",
                           status.status().ToString()));
  }
  return e.Take();
}

}  // namespace taala::admin
