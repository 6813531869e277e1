// File: tools/exit_codes.h
// -----------------------------------------------------------------------------
// taalactl's exit statuses (sysexits.h values where one fits); documented in
// docs/taalactl.md. `taalactl lock` otherwise exits with its command's status.

#ifndef TAALA_TOOLS_EXIT_CODES_H_
#define TAALA_TOOLS_EXIT_CODES_H_

#include "absl/status/status.h"

namespace taala::tools {

inline constexpr int kExitOk = 0;
inline constexpr int kExitError = 1;         // Any other failure.
inline constexpr int kExitUsage = 64;        // EX_USAGE: bad command line.
inline constexpr int kExitUnavailable = 69;  // EX_UNAVAILABLE: no server.
inline constexpr int kExitNotAcquired = 75;  // EX_TEMPFAIL: lock busy.
// A COMMAND that could not be started (as in sh(1)).
inline constexpr int kExitCannotRun = 126;
inline constexpr int kExitNotFound = 127;

// kExitUnavailable for UNAVAILABLE and DEADLINE_EXCEEDED (the server is down,
// unreachable or did not answer in time), kExitError for anything else.
inline int ExitCodeFor(absl::StatusCode code) {
  return code == absl::StatusCode::kUnavailable ||
                 code == absl::StatusCode::kDeadlineExceeded
             ? kExitUnavailable
             : kExitError;
}

}  // namespace taala::tools

#endif  // TAALA_TOOLS_EXIT_CODES_H_
