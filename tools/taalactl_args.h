// File: tools/taalactl_args.h
// -----------------------------------------------------------------------------
// taalactl's command line, parsed without side effects (tested apart from the
// binary). Options may come before or after the subcommand, as `--name value`
// or `--name=value`; `--` ends the options. For `lock`, the first argument
// after KEY also ends them: it and everything after it is COMMAND.

#ifndef TAALA_TOOLS_TAALACTL_ARGS_H_
#define TAALA_TOOLS_TAALACTL_ARGS_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace taala::tools {

inline constexpr char kDefaultEndpoint[] = "127.0.0.1:7070";

struct Invocation {
  // "lock", "describe", "list", "sessions", "health"; "help" for --help,
  // -h or `taalactl help`.
  std::string command;
  // --endpoint, else $TAALA_ENDPOINT, else kDefaultEndpoint.
  std::string endpoint = kDefaultEndpoint;
  bool json = false;
  // --timeout: deadline of each call that does not wait for a lock.
  absl::Duration timeout = absl::Seconds(5);

  // lock
  absl::Duration wait = absl::InfiniteDuration();  // --wait; inf by default.
  absl::Duration ttl = absl::Seconds(10);          // --ttl
  bool shared = false;                             // --shared: SHARED mode.
  uint32_t semaphore = 0;                          // --semaphore N; 0 = lock.
  std::vector<std::string> argv;                   // COMMAND [ARGS...]

  std::string key;     // lock, describe
  std::string prefix;  // list
  size_t limit = 0;    // list --limit; 0 = every lock
};

// Parses `args` (argv without the program name). `env_endpoint` is
// $TAALA_ENDPOINT or null. INVALID_ARGUMENT with a message for the user on a
// usage error (exit 64).
absl::StatusOr<Invocation> ParseArgs(const std::vector<std::string>& args,
                                     const char* env_endpoint);

// The --help text.
const char* UsageText();

}  // namespace taala::tools

#endif  // TAALA_TOOLS_TAALACTL_ARGS_H_
