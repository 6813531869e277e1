#ifndef TAALA_SERVER_WAL_RECOVERY_H_
#define TAALA_SERVER_WAL_RECOVERY_H_

// Recovery: what the data directory says the state was, before the log is
// opened (Wal::Open takes the result).
//
// Loads the newest snapshot (a corrupt one is a DataLossError naming it:
// never silently an older state), replays the log's records after it with
// DurableState::Apply (a record Apply rejects is a DataLossError naming its
// LSN), cuts off a torn tail (a warning), refuses a corrupt middle
// (log_reader.h). LSNs continue above everything that may have been issued:
// the reservation, the log, the snapshot, and a token_epoch file left by
// the format before the log (adopted: next_lsn >= (epoch + 1) << 40).
//
// If the previous run stopped uncleanly in async or none mode, the log may
// miss grants the clients were told of, so sessions and grants are dropped
// (lock-delays kept) and grants are refused for the longest session TTL
// ever granted (at most `max_session_ttl_flag`): by then every lease the
// old run gave out has run out. An adopted token_epoch directory counts as
// an unclean none-mode run whose longest TTL is unknown: the window is
// `max_session_ttl_flag`. Wal::Open persists the window's end
// (<dir>/grants_refused_until, wall clock), and every later recovery
// refuses grants until at least then, however the runs in between stopped
// (a clean stop or a crash in any mode inside the window does not end it).

#include <cstdint>
#include <deque>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "server/core/durable_state.h"
#include "server/wal/wal_options.h"

namespace taala::wal {

struct Recovered {
  DurableState state;
  uint64_t next_lsn = 1;
  bool previous_clean = true;
  Durability previous_mode = Durability::kFsync;
  bool restore_sessions = true;
  // Grants are refused for this long from recovery, until
  // refuse_grants_until (wall clock; InfinitePast: no window).
  absl::Duration refuse_grants_for;
  absl::Time refuse_grants_until = absl::InfinitePast();
  // The whole window's length as first computed (persisted beside its end,
  // so that a clock set back cannot stretch what is left beyond it).
  absl::Duration refuse_window;
  uint64_t snapshot_lsn = 0;  // 0: no snapshot.
  // The snapshot's Snapshot::watch_floor (<= snapshot_lsn).
  uint64_t snapshot_watch_floor = 0;
  // The LSN of the log's last valid record (0: none); the next segment's
  // header chains to it (files.h).
  uint64_t last_log_lsn = 0;
  uint64_t records_replayed = 0;
  // The last WalOptions::keep_replayed records replayed, in LSN order, and
  // the LSN of the newest one dropped to keep them (0: none dropped).
  std::deque<Transition> replayed;
  uint64_t replayed_dropped_lsn = 0;
  std::vector<std::string> warnings;
};

absl::StatusOr<Recovered> Recover(const WalOptions& options,
                                  absl::Duration max_session_ttl_flag);

}  // namespace taala::wal

#endif  // TAALA_SERVER_WAL_RECOVERY_H_
