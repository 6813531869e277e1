#ifndef TAALA_SERVER_WAL_LOG_READER_H_
#define TAALA_SERVER_WAL_LOG_READER_H_

// Reads the log's segments (files.h) in LSN order.
//
// A bad frame (short header, length past the end of the file or over
// kMaxPayload, CRC mismatch, a payload that does not decode, or an LSN not
// above the previous record's) ends the good part of the log. The writer
// starts a segment only after everything before it was written and fsynced,
// so a bad frame in a segment that is not the last one, or a segment that
// lost records at its end (the next one's header chains past its last
// record), is a corrupt middle whatever follows. In the last segment, what
// follows decides what it is:
//  - a torn tail: no valid record with a higher LSN follows in the segment
//    (scanning byte by byte). Reported as a warning naming the file and
//    offset; with `repair`, the file is cut there (removed if its header is
//    bad).
//  - a corrupt middle: some valid record with a higher LSN follows.
// A corrupt middle's records would be lost, so reading fails with a
// DataLossError naming the file and offset.
// A segment whose header has a newer format version fails reading with a
// FailedPreconditionError naming the file and both versions.
//
// Thread safety: none needed; run before the log is opened (or on a log no
// one writes, for dumps).

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "server/core/transition.h"

namespace taala::wal {

struct LogReadOptions {
  // Records at or below this LSN are checked but not passed on.
  uint64_t after_lsn = 0;
  // Cut a torn tail off (and remove later segments). Otherwise the files
  // are only read.
  bool repair = false;
};

struct LogReadResult {
  uint64_t last_lsn = 0;      // The highest valid record's LSN (0: none).
  uint64_t records = 0;       // Records passed to the callback.
  uint64_t segments = 0;      // Segment files read.
  bool torn_tail = false;
  std::vector<std::string> warnings;
};

// Calls `fn` with every valid record whose lsn > options.after_lsn, in LSN
// order; an error from `fn` stops reading and is returned.
absl::StatusOr<LogReadResult> ReadLog(
    const std::string& dir, const LogReadOptions& options,
    const std::function<absl::Status(const Transition&)>& fn);

}  // namespace taala::wal

#endif  // TAALA_SERVER_WAL_LOG_READER_H_
