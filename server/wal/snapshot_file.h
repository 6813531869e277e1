#ifndef TAALA_SERVER_WAL_SNAPSHOT_FILE_H_
#define TAALA_SERVER_WAL_SNAPSHOT_FILE_H_

// Snapshot files, <dir>/snapshot/<20-digit lsn>.snap: a 40-byte header
// ("TAALASNP", u32 version, u32 flags (bit 0: clean), u64 lsn, u64 body
// length, u32 CRC32C of the body, u32 watch gap; all little-endian), then
// the body (record_codec.h's EncodeSnapshotBody). Written durably: temp
// file, fsync, rename, fsync of the directory. The watch gap (0 in files
// of older taalads, which wrote it as reserved and never read it) is lsn
// minus the snapshot's watch floor (Snapshot::watch_floor); 0 when unknown
// or too large for 32 bits, which makes the floor the lsn, as before.

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "server/core/durable_state.h"

namespace taala::wal {

// Version 2 (issue 12): a session's flags may say that its owner follows.
// Version 1 files read as before (no owner).
inline constexpr uint32_t kSnapshotVersion = 2;

struct Snapshot {
  DurableState state;
  uint64_t lsn = 0;
  bool clean = false;
  // No record a watcher is shown (a key's record, watch_fold.h) has an LSN
  // in (watch_floor, lsn]: a Watch may resume after any LSN from here.
  uint64_t watch_floor = 0;
};

// Writes `state` as the snapshot at `lsn` (state.lsn <= lsn; a larger lsn
// covers numbers no record took). Creates the snapshot directory.
// `watch_floor` (<= lsn; 0: unknown, as lsn) as Snapshot's.
[[nodiscard]] absl::Status WriteSnapshot(const std::string& dir,
                                         const DurableState& state,
                                         uint64_t lsn, bool clean,
                                         uint64_t watch_floor = 0);
// Reads and checks the snapshot file at `path`: DataLossError naming it if
// it is short, its magic, CRC or body is wrong, or its lsn disagrees with
// its name's; FailedPrecondition if its version is newer than ours.
absl::StatusOr<Snapshot> ReadSnapshot(const std::string& path,
                                      uint64_t lsn_from_name);
// Keeps the newest `keep` snapshots in `dir`, removing older ones.
[[nodiscard]] absl::Status PruneSnapshots(const std::string& dir, size_t keep);

}  // namespace taala::wal

#endif  // TAALA_SERVER_WAL_SNAPSHOT_FILE_H_
