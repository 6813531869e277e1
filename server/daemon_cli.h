#ifndef TAALA_SERVER_DAEMON_CLI_H_
#define TAALA_SERVER_DAEMON_CLI_H_

// taalad's command line: --help (every flag of the daemon's own files),
// --version ("taalad 0.1.0 (commit ...)"), and the log flags (--log_level,
// --log_format).

#include <string>

#include "absl/status/status.h"

namespace taala {

// Parses the command line; --help, --helpfull and --version print and exit.
void ParseDaemonCommandLine(int argc, char** argv);

// `message` (an error stopping taalad), with "(--name from environment
// variable TAALAD_NAME)" appended for each flag it names ("--name") whose
// value came from the environment, so that the operator finds the
// variable to fix.
std::string WithFlagSources(std::string message);

// Applies --log_level and --log_format to spdlog's default logger.
// InvalidArgument naming the flag for an unknown value.
absl::Status SetUpLogging();

// The write-ahead log's on_fatal: logs "write-ahead log failed: <message>"
// (critical, through the logger, so --log_format=json stays one object a
// line) and exits with status 1 at once.
[[noreturn]] void LogFatalLogErrorAndExit(const std::string& message);

}  // namespace taala

#endif  // TAALA_SERVER_DAEMON_CLI_H_
