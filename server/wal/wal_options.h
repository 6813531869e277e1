#ifndef TAALA_SERVER_WAL_WAL_OPTIONS_H_
#define TAALA_SERVER_WAL_WAL_OPTIONS_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace taala::wal {

// When a reply may be released:
//  kFsync: once its records are fsynced (group commit).
//  kAsync: at once; records are written and fsynced in the background.
//  kNone:  at once; no log file at all (LSNs still never repeat).
enum class Durability { kFsync, kAsync, kNone };

// "fsync", "async", "none".
absl::StatusOr<Durability> ParseDurability(absl::string_view text);
const char* DurabilityName(Durability d);

struct WalOptions {
  std::string dir;  // The data directory.
  Durability durability = Durability::kFsync;
  uint64_t segment_bytes = uint64_t{32} << 20;
  uint64_t snapshot_every_bytes = uint64_t{32} << 20;
  size_t max_events = 1024;  // DurableState::max_events.
  // Recovery keeps the last this many replayed records in
  // Recovered::replayed (taalad: --watch_history, to seed Watch's history).
  size_t keep_replayed = 0;
  // LSNs reserved durably ahead of use (<dir>/lsn_reserved).
  uint64_t reserve_block = uint64_t{1} << 20;
  // Called (on the log's thread) when a write, fsync or open fails, with a
  // message naming the file and the errno text. Default: print it to
  // stderr and _exit(1). The log never retries and does nothing more.
  std::function<void(const std::string&)> on_fatal;
  // Fault injection for tests: log writes fail with ENOSPC once this many
  // bytes have been written (-1: never); every log fsync fails with EIO.
  int64_t fail_write_after_bytes = -1;
  bool fail_fsync = false;
};

}  // namespace taala::wal

#endif  // TAALA_SERVER_WAL_WAL_OPTIONS_H_
