#include "server/wal/dump.h"

#include <vector>

#include "server/wal/files.h"
#include "server/wal/log_reader.h"
#include "server/wal/snapshot_file.h"

namespace taala::wal {

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
  out << log->records << " records after the snapshot, last lsn "
      << log->last_lsn << "\n";
  return absl::OkStatus();
}

}  // namespace taala::wal
