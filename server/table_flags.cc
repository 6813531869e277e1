#include "server/table_flags.h"

#include <string>

#include "absl/flags/flag.h"
#include "absl/time/time.h"

ABSL_FLAG(int32_t, shards, 64,
          "Lock table shards (by hash of a key's first path segment).");
ABSL_FLAG(absl::Duration, min_session_ttl, absl::Seconds(1),
          "Shortest session lease granted; shorter requests are raised.");
ABSL_FLAG(absl::Duration, max_session_ttl, absl::Hours(1),
          "Longest session lease granted; longer requests are lowered.");
ABSL_FLAG(absl::Duration, default_session_ttl, absl::Seconds(10),
          "Lease for sessions that ask for ttl_ms = 0.");
ABSL_FLAG(int32_t, max_key_bytes, 1024, "Longest key, in bytes.");
ABSL_FLAG(absl::Duration, max_lock_delay, absl::Hours(1),
          "Longest lock-delay an acquire may ask for (lock_delay_ms).");
ABSL_FLAG(int32_t, max_key_segments, 32, "Most '/'-separated key segments.");
ABSL_FLAG(int32_t, max_pending_events, 1024,
          "Most unacknowledged events kept per session; a GRANT_REVOKED past "
          "it ends the session (\"event backlog overflow\").");
ABSL_FLAG(int64_t, watch_history, 65536,
          "Watch: key records kept for resuming watchers (a watch may resume "
          "after any LSN still among them; older ones get OUT_OF_RANGE).");
ABSL_FLAG(int64_t, watch_buffer, 4096,
          "Watch: events queued per watcher; a watcher that falls this far "
          "behind is ended with RESOURCE_EXHAUSTED (resume after its last "
          "LSN).");

namespace taala {

absl::StatusOr<WatchFlags> GetWatchFlags() {
  WatchFlags f;
  if (absl::GetFlag(FLAGS_watch_history) < 1 ||
      absl::GetFlag(FLAGS_watch_buffer) < 1) {
    return absl::InvalidArgumentError(
        "--watch_history and --watch_buffer must be >= 1");
  }
  f.history = static_cast<size_t>(absl::GetFlag(FLAGS_watch_history));
  f.buffer = static_cast<size_t>(absl::GetFlag(FLAGS_watch_buffer));
  return f;
}

absl::Status ApplyTableFlags(LockTable::Options *options) {
  if (absl::GetFlag(FLAGS_shards) < 1)
    return absl::InvalidArgumentError("--shards must be >= 1");
  options->shards = static_cast<size_t>(absl::GetFlag(FLAGS_shards));
  options->min_session_ttl = absl::GetFlag(FLAGS_min_session_ttl);
  options->max_session_ttl = absl::GetFlag(FLAGS_max_session_ttl);
  options->default_session_ttl = absl::GetFlag(FLAGS_default_session_ttl);
  if (options->min_session_ttl <= absl::ZeroDuration() ||
      options->max_session_ttl < options->min_session_ttl ||
      options->default_session_ttl < options->min_session_ttl ||
      options->default_session_ttl > options->max_session_ttl) {
    return absl::InvalidArgumentError(
        "session TTL flags must satisfy 0 < --min_session_ttl <= "
        "--default_session_ttl <= --max_session_ttl");
  }
  if (absl::GetFlag(FLAGS_max_key_bytes) < 1 ||
      absl::GetFlag(FLAGS_max_key_segments) < 1) {
    return absl::InvalidArgumentError(
        "--max_key_bytes and --max_key_segments must be >= 1");
  }
  options->key_limits.max_bytes =
      static_cast<size_t>(absl::GetFlag(FLAGS_max_key_bytes));
  options->key_limits.max_segments =
      static_cast<size_t>(absl::GetFlag(FLAGS_max_key_segments));

  if (absl::GetFlag(FLAGS_max_pending_events) < 1) {
    return absl::InvalidArgumentError("--max_pending_events must be >= 1");
  }
  options->max_pending_events =
      static_cast<size_t>(absl::GetFlag(FLAGS_max_pending_events));

  options->max_lock_delay = absl::GetFlag(FLAGS_max_lock_delay);
  if (options->max_lock_delay < absl::ZeroDuration()) {
    return absl::InvalidArgumentError("--max_lock_delay must not be negative");
  }
  return absl::OkStatus();
}

} // namespace taala
