#ifndef TAALA_SERVER_WAL_DUMP_H_
#define TAALA_SERVER_WAL_DUMP_H_

// taalad --dump_wal: a readable account of a data directory's log.

#include <ostream>
#include <string>

#include "absl/status/status.h"

namespace taala::wal {

// Prints the newest snapshot's summary (lsn, clean, sessions, keys), then
// every log record after it, one a line (TransitionToString), then any
// torn-tail warning. Never modifies a file. Errors: a corrupt snapshot or a
// corrupt middle (the records before it are printed first).
[[nodiscard]] absl::Status DumpWal(const std::string& dir, std::ostream& out);

}  // namespace taala::wal

#endif  // TAALA_SERVER_WAL_DUMP_H_
