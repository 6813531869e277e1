#include "server/wal/dump.h"

#include <algorithm>
#include <vector>

#include "absl/time/time.h"
#include "server/core/key.h"
#include "server/core/lock_mode.h"
#include "server/wal/files.h"
#include "server/wal/log_reader.h"
#include "server/wal/snapshot_file.h"

namespace taala::wal {
namespace {

// The snapshot's sessions and grants, one a line, escaped like the records
// (TransitionToString): after a clean stop the snapshot is the whole state,
// so who owns which session shows here or nowhere.
void DumpState(const DurableState& state, std::ostream& out) {
  for (const auto& [id, s] : state.sessions) {
    out << "  session=" << id << " owner=\"" << EscapeControl(s.owner)
        << "\" client=\"" << EscapeControl(s.client_name)
        << "\" ttl=" << absl::FormatDuration(s.ttl);
    for (const auto& [k, v] : s.labels) {
      out << " label:\"" << EscapeControl(k) << "\"=\"" << EscapeControl(v)
          << "\"";
    }
    if (!s.events.empty()) out << " events=" << s.events.size();
    if (s.overflowed) out << " overflowed";
    out << "\n";
  }
  for (const auto& [key, k] : state.keys) {
    for (const DurableGrant& g : k.holders) {
      out << "  grant key=\"" << EscapeControl(key) << "\" session="
          << g.session_id << " token=" << g.token
          << " mode=" << LockModeName(g.mode);
      if (g.semaphore_size > 0) out << " semaphore=" << g.semaphore_size;
      out << " granted_at=" << absl::FormatTime(g.granted_at)
          << " max_hold=" << absl::FormatDuration(g.max_hold)
          << " lock_delay=" << absl::FormatDuration(g.lock_delay) << "\n";
    }
    if (k.delayed_until != absl::InfinitePast() ||
        k.exclusive_delay_until != absl::InfinitePast()) {
      out << "  delay key=\"" << EscapeControl(key)
          << "\" until=" << absl::FormatTime(k.delayed_until)
          << " exclusive_until=" << absl::FormatTime(k.exclusive_delay_until)
          << "\n";
    }
  }
}

}  // namespace

absl::Status DumpWal(const std::string& dir, std::ostream& out) {
  absl::StatusOr<std::vector<uint64_t>> snaps =
      ListNumbered(SnapshotDir(dir), ".snap");
  if (!snaps.ok()) return snaps.status();
  uint64_t after = 0;
  if (snaps->empty()) {
    out << "no snapshot\n";
  } else {
    const uint64_t lsn = snaps->back();
    absl::StatusOr<Snapshot> snap = ReadSnapshot(SnapshotPath(dir, lsn), lsn);
    if (!snap.ok()) return snap.status();
    after = snap->lsn;
    out << "snapshot lsn=" << snap->lsn
        << " clean=" << (snap->clean ? "true" : "false")
        << " sessions=" << snap->state.sessions.size()
        << " keys=" << snap->state.keys.size() << "\n";
    DumpState(snap->state, out);
  }
  LogReadOptions options;
  options.after_lsn = after;
  options.repair = false;
  absl::StatusOr<LogReadResult> log =
      ReadLog(dir, options, [&out](const Transition& t) {
        out << TransitionToString(t) << "\n";
        return absl::OkStatus();
      });
  if (!log.ok()) return log.status();
  for (const std::string& w : log->warnings) out << "warning: " << w << "\n";
  // No record after the snapshot: the last LSN is the snapshot's.
  out << log->records << " records after the snapshot, last lsn "
      << std::max(after, log->last_lsn) << "\n";
  return absl::OkStatus();
}

}  // namespace taala::wal
