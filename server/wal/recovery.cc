#include "server/wal/recovery.h"

#include <algorithm>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "server/wal/files.h"
#include "server/wal/log_reader.h"
#include "server/wal/snapshot_file.h"

namespace taala::wal {
namespace {

constexpr uint64_t kMaxEpoch = (uint64_t{1} << 24) - 1;

// "<mode> running" | "<mode> clean" -> previous_mode, previous_clean.
absl::Status ParseRunState(const std::string& path, const std::string& text,
                           Recovered* r) {
  std::vector<absl::string_view> parts = absl::StrSplit(
      absl::StripAsciiWhitespace(text), ' ', absl::SkipEmpty());
  if (parts.size() == 2) {
    absl::StatusOr<Durability> mode = ParseDurability(parts[0]);
    if (mode.ok() && (parts[1] == "running" || parts[1] == "clean")) {
      r->previous_mode = *mode;
      r->previous_clean = parts[1] == "clean";
      return absl::OkStatus();
    }
  }
  return absl::DataLossError(absl::StrCat(
      path, " is corrupt (expected \"<fsync|async|none> <running|clean>\", "
            "found \"", absl::StripAsciiWhitespace(text), "\")"));
}

// The number in `path`, or 0 if there is no such file.
absl::StatusOr<uint64_t> NumberOrZero(const std::string& path) {
  absl::StatusOr<uint64_t> n = ReadNumberFile(path);
  if (absl::IsNotFound(n.status())) return 0;
  return n;
}

struct RefusalWindow {
  absl::Time end = absl::InfinitePast();
  absl::Duration length;
};

// <dir>/grants_refused_until: "END_MS LENGTH_MS" (wall clock, unix ms).
// A file with the end alone (an earlier build) is bounded by `fallback`.
absl::StatusOr<RefusalWindow> ReadRefusalWindow(const std::string& path,
                                                absl::Duration fallback) {
  absl::StatusOr<std::string> text = ReadFile(path);
  if (absl::IsNotFound(text.status())) return RefusalWindow{};
  if (!text.ok()) return text.status();
  std::vector<absl::string_view> parts = absl::StrSplit(
      absl::StripAsciiWhitespace(*text), ' ', absl::SkipEmpty());
  int64_t end_ms = 0, length_ms = 0;
  if (parts.empty() || parts.size() > 2 ||
      !absl::SimpleAtoi(parts[0], &end_ms) ||
      (parts.size() == 2 && !absl::SimpleAtoi(parts[1], &length_ms))) {
    return absl::DataLossError(absl::StrCat(
        path, " is corrupt (expected \"END_MS LENGTH_MS\"); refusing to "
              "start, since the grant window after an unclean stop could be "
              "cut short"));
  }
  return RefusalWindow{absl::FromUnixMillis(end_ms),
                       parts.size() == 2 ? absl::Milliseconds(length_ms)
                                         : fallback};
}

void DropSessions(DurableState* state) {
  state->sessions.clear();
  for (auto it = state->keys.begin(); it != state->keys.end();) {
    it->second.holders.clear();
    if (it->second.empty()) {
      it = state->keys.erase(it);
    } else {
      ++it;
    }
  }
}

}  // namespace

absl::StatusOr<Recovered> Recover(const WalOptions& options,
                                  absl::Duration max_session_ttl_flag) {
  const std::string& dir = options.dir;
  Recovered r;
  r.previous_mode = options.durability;
  r.state.max_events = options.max_events;

  absl::StatusOr<std::vector<uint64_t>> snaps =
      ListNumbered(SnapshotDir(dir), ".snap");
  if (!snaps.ok()) return snaps.status();
  absl::StatusOr<std::vector<uint64_t>> segments =
      ListNumbered(WalDir(dir), ".log");
  if (!segments.ok()) return segments.status();
  const bool has_log_state = !snaps->empty() || !segments->empty() ||
                             FileExists(ReservationPath(dir)) ||
                             FileExists(RunStatePath(dir));

  absl::StatusOr<std::string> run_state = ReadFile(RunStatePath(dir));
  if (run_state.ok()) {
    absl::Status s = ParseRunState(RunStatePath(dir), *run_state, &r);
    if (!s.ok()) return s;
  } else if (!absl::IsNotFound(run_state.status())) {
    return run_state.status();
  } else if (has_log_state) {
    r.previous_clean = false;
    r.previous_mode = Durability::kFsync;
    r.warnings.push_back(absl::StrCat(
        RunStatePath(dir),
        " is missing: treating the previous run as an unclean fsync run"));
  }

  if (!snaps->empty()) {
    const uint64_t lsn = snaps->back();
    absl::StatusOr<Snapshot> snap = ReadSnapshot(SnapshotPath(dir, lsn), lsn);
    if (!snap.ok()) return snap.status();
    r.state = std::move(snap->state);
    r.state.max_events = options.max_events;
    r.snapshot_lsn = snap->lsn;
    r.snapshot_watch_floor = snap->watch_floor;
  }

  LogReadOptions read_options;
  read_options.after_lsn = r.snapshot_lsn;
  read_options.repair = true;
  absl::StatusOr<LogReadResult> log =
      ReadLog(dir, read_options, [&](const Transition& t) -> absl::Status {
        if (!r.state.Apply(t)) {
          return absl::DataLossError(absl::StrCat(
              "refusing to start: the log record with LSN ", t.lsn, " (",
              TransitionToString(t),
              ") does not fit the state before it; the log is not this "
              "state's history"));
        }
        ++r.records_replayed;
        if (options.keep_replayed > 0) {
          r.replayed.push_back(t);
          if (r.replayed.size() > options.keep_replayed) {
            r.replayed_dropped_lsn = r.replayed.front().lsn;
            r.replayed.pop_front();
          }
        }
        return absl::OkStatus();
      });
  if (!log.ok()) return log.status();
  for (std::string& w : log->warnings) r.warnings.push_back(std::move(w));
  r.last_log_lsn = log->last_lsn;

  absl::StatusOr<uint64_t> reserved = NumberOrZero(ReservationPath(dir));
  if (!reserved.ok()) return reserved.status();
  r.next_lsn = std::max({*reserved, log->last_lsn, r.snapshot_lsn,
                         r.state.lsn}) + 1;

  // The old format kept no session TTLs: its holders may believe they hold
  // their keys for as long as any lease it could give.
  bool ttls_unknown = false;
  absl::StatusOr<uint64_t> epoch = ReadNumberFile(TokenEpochPath(dir));
  if (epoch.ok()) {
    if (*epoch >= kMaxEpoch) {
      return absl::ResourceExhaustedError(absl::StrCat(
          TokenEpochPath(dir), ": epoch ", *epoch, " leaves no LSN space"));
    }
    const uint64_t floor = (*epoch + 1) << 40;
    if (r.next_lsn < floor) r.next_lsn = floor;
    if (!has_log_state) {
      // Today's format: no log, so nothing of the old run survives.
      r.previous_mode = Durability::kNone;
      r.previous_clean = false;
      ttls_unknown = true;
      r.warnings.push_back(absl::StrCat(
          "adopted the data directory of a taalad without a log (",
          TokenEpochPath(dir), " holds epoch ", *epoch,
          "): LSNs, tokens and session ids start at ", r.next_lsn));
    }
  } else if (!absl::IsNotFound(epoch.status())) {
    return epoch.status();
  }

  if (!r.previous_clean && r.previous_mode != Durability::kFsync) {
    // The log may miss grants that clients were told of: forget every
    // session and grant, and wait out the leases the old run may have given.
    r.restore_sessions = false;
    DropSessions(&r.state);
    absl::StatusOr<uint64_t> ttl_ms = NumberOrZero(SessionTtlPath(dir));
    if (!ttl_ms.ok()) return ttl_ms.status();
    // The previous run's own longest lease (it was at most that run's
    // --max_session_ttl); a lower flag now must not shorten the wait.
    r.refuse_grants_for =
        ttls_unknown ? max_session_ttl_flag
                     : absl::Milliseconds(static_cast<int64_t>(*ttl_ms));
  } else {
    r.restore_sessions = true;
    r.refuse_grants_for = absl::ZeroDuration();
  }
  r.refuse_window = r.refuse_grants_for;
  // A window an earlier recovery started runs to its end, whatever the
  // runs since then did (a clean stop or a crash inside it). What is left
  // of it is at most its own length: a wall clock set back (or a damaged
  // file) cannot stretch it.
  const absl::Time now = absl::Now();
  absl::StatusOr<RefusalWindow> earlier =
      ReadRefusalWindow(GrantsRefusedUntilPath(dir), max_session_ttl_flag);
  if (!earlier.ok()) return earlier.status();
  const absl::Duration left =
      std::min(earlier->end - now, earlier->length);
  if (left > r.refuse_grants_for) {
    r.refuse_grants_for = left;
    r.refuse_window = earlier->length;
  }
  if (r.refuse_grants_for > absl::ZeroDuration()) {
    r.refuse_grants_until = now + r.refuse_grants_for;
  }
  return r;
}

}  // namespace taala::wal
