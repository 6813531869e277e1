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
#include "common/endpoint.h"

namespace taala::tools {

struct Invocation {
  // "lock", "describe", "list", "sessions", "deadlocks", "health", "leaks",
  // "contention", "stats", "force-release", "revoke", "release", "watch";
  // "hash-token" (IDENTITY in `key`); "help" for
  // --help, -h or `taalactl help`;
  // "version" for --version.
  std::string command;
  // With "help": the command whose usage is asked for (`taalactl lock
  // --help`, `taalactl help lock`); empty for the general usage.
  std::string help_topic;
  // --endpoint, else $TAALA_ENDPOINT, else 127.0.0.1:7070; a host without a
  // port or with an empty one gets port 7070, a port outside 1..65535 is a
  // usage error (common/endpoint.h).
  std::string endpoint = kDefaultEndpoint;
  bool json = false;
  // Credentials (docs/security.md): --tls-ca, --tls-cert, --tls-key (PEM
  // files) and --auth-token, else $TAALA_TLS_CA, $TAALA_TLS_CERT,
  // $TAALA_TLS_KEY and $TAALA_TOKEN (ApplyCredentialEnvironment). Any TLS
  // file set: TLS. The *_pem fields are the files' contents, read by
  // LoadCredentialFiles (tools/command_util.h) before any call.
  std::string tls_ca;
  std::string tls_cert;
  std::string tls_key;
  std::string auth_token;
  std::string tls_ca_pem;
  std::string tls_cert_pem;
  std::string tls_key_pem;
  // --timeout: deadline of each call that does not wait for a lock.
  absl::Duration timeout = absl::Seconds(5);

  // lock
  absl::Duration wait = absl::InfiniteDuration();  // --wait; inf by default.
  absl::Duration ttl = absl::Seconds(10);          // --ttl
  bool shared = false;                             // --shared: SHARED mode.
  uint32_t semaphore = 0;                          // --semaphore N; 0 = lock.
  std::vector<std::string> argv;                   // COMMAND [ARGS...]

  std::string key;     // lock, describe, stats (a key)
  std::string prefix;  // list, stats (a prefix: ends in '/' or --prefix)
  // --limit: list (0 = every lock), contention, leaks, deadlocks (0 = the
  // server's default).
  size_t limit = 0;
  // list, leaks --held-longer-than; 0 = no filter (list), the daemon's
  // --leak_threshold (leaks).
  absl::Duration held_longer_than = absl::ZeroDuration();
  bool contended = false;   // list --contended: keys with waiters only.
  double p99_factor = 0;    // leaks --p99-factor; 0 = the daemon's default.

  // watch: PREFIX is `prefix` (empty: every key), --key KEY is `key`.
  uint64_t after_lsn = 0;  // --after LSN: resume after it (0: a snapshot).
  uint64_t count = 0;      // --count N: stop after N events (0: never).
  // force-release (KEY), revoke (SESSION), release (KEY): admin actions.
  std::string reason;            // --reason; required by force-release, revoke
  bool skip_lock_delay = false;  // --skip-lock-delay
  uint64_t session_id = 0;       // revoke's SESSION; --session (0 = any)
  uint64_t token = 0;            // --token (0 = the current grant)
  // health --admin HOST[:PORT]: ask taalad's HTTP admin listener (/healthz,
  // or /readyz with --ready) instead of the gRPC health service.
  std::string admin;
  bool ready = false;
};

// Parses `args` (argv without the program name). `env_endpoint` is
// $TAALA_ENDPOINT or null. INVALID_ARGUMENT with a message for the user on a
// usage error (exit 64).
absl::StatusOr<Invocation> ParseArgs(const std::vector<std::string>& args,
                                     const char* env_endpoint);

// Fills each credential that no flag gave from its environment variable
// (null or empty: none): flags win over the environment.
void ApplyCredentialEnvironment(Invocation* inv, const char* tls_ca,
                                const char* tls_cert, const char* tls_key,
                                const char* token);

// The --help text: every command and option.
const char* UsageText();

// `taalactl COMMAND --help`: that command's usage, whose first line names it
// ("Usage: taalactl describe KEY"); null for an unknown command.
const char* CommandUsageText(const std::string& command);

}  // namespace taala::tools

#endif  // TAALA_TOOLS_TAALACTL_ARGS_H_
