#ifndef TAALA_SERVER_DAEMON_ENV_H_
#define TAALA_SERVER_DAEMON_ENV_H_

// taalad's configuration from the environment: TAALAD_<FLAG_IN_CAPS> for
// every flag of the daemon's own files (TAALAD_LISTEN, TAALAD_DATA_DIR,
// TAALAD_INSECURE_ALLOW_REMOTE=true, TAALAD_FLAGFILE ...), for containers.
// Precedence, highest first: the command line, the environment, flag files
// (--flagfile or TAALAD_FLAGFILE), the defaults. docs/deploy.md.

#include <functional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace taala {

// The argument list to parse instead of argv, and what it was made of.
struct EnvironmentArgs {
  // argv[0]; every flag file (TAALAD_FLAGFILE's, then the command line's, in
  // order); one --name=value per TAALAD_ variable naming a daemon flag; then
  // the rest of the command line. Abseil reads a flag file's lines where
  // its --flagfile stands and the last value of a flag wins, so this order
  // is the precedence above.
  std::vector<std::string> args;
  // Flags named on the command line, and set from the environment.
  absl::flat_hash_set<std::string> from_command_line;
  absl::flat_hash_set<std::string> from_environment;
  // "environment variable TAALAD_X names no taalad flag (ignored)", one per
  // such variable: logged once logging is set up.
  std::vector<std::string> warnings;
};

// Builds the list from argv and `environ` (NAME=VALUE strings). `is_flag`
// says whether a lower-case name is one of the daemon's flags. An error
// (INVALID_ARGUMENT naming the variable) for a variable whose value
// `check_value(flag, value)` refuses.
absl::StatusOr<EnvironmentArgs> ArgsWithEnvironment(
    int argc, char** argv, char** environ,
    const std::function<bool(absl::string_view)>& is_flag,
    const std::function<std::string(absl::string_view flag,
                                    absl::string_view value)>& check_value);

// The environment variable of a flag: "TAALAD_" and its name in capitals.
std::string EnvironmentVariableOf(absl::string_view flag);

}  // namespace taala

#endif  // TAALA_SERVER_DAEMON_ENV_H_
