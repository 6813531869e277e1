// File: tools/commands.h
// -----------------------------------------------------------------------------
// taalactl's subcommands. Each returns the process exit status
// (tools/exit_codes.h), writes its result to stdout and its diagnostics to
// stderr.

#ifndef TAALA_TOOLS_COMMANDS_H_
#define TAALA_TOOLS_COMMANDS_H_

#include <string>

#include "taala/v1/lock_service.pb.h"
#include "tools/taalactl_args.h"

namespace taala::tools {

// tools/lock_command.cc: take the key, run the command, release.
// Blocks SIGINT, SIGTERM, SIGHUP, SIGCHLD and SIGUSR1 in the calling thread:
// call it before any other thread exists.
int RunLock(const Invocation& inv);

// tools/inspect_commands.cc: read-only calls on the generated stub.
int RunDescribe(const Invocation& inv);
int RunList(const Invocation& inv);
int RunSessions(const Invocation& inv);
int RunHealth(const Invocation& inv);
// tools/admin_health_command.cc: health --admin: GET /healthz (or /readyz)
// of the HTTP admin listener; 0 on HTTP 200, 69 otherwise.
int RunAdminHealth(const Invocation& inv);

// tools/observe_commands.cc: the wait-for graph with recent deadlocks, and
// the statistics the daemon keeps.
int RunDeadlocks(const Invocation& inv);
int RunLeaks(const Invocation& inv);
int RunContention(const Invocation& inv);
int RunStats(const Invocation& inv);

// tools/policy_commands.cc: the lock policies in force.
int RunPolicies(const Invocation& inv);
// "payments/ (line 3): max hold 30s, lock-delay 2s, wait timeout 10s".
std::string PolicyText(const v1::LockPolicy& policy);
// tools/admin_commands.cc: an operator's actions on other clients' locks
// (AdminService: force-release, revoke) and a release on behalf of a
// session (LockService.Release).
int RunForceRelease(const Invocation& inv);
int RunRevoke(const Invocation& inv);
int RunRelease(const Invocation& inv);
// tools/watch_command.cc: Watch, printed as it comes, resumed after
// reconnects. Blocks SIGINT and SIGTERM in the calling thread (they end it
// with exit 0): call it before any other thread exists.
int RunWatch(const Invocation& inv);

// hash-token IDENTITY: the --auth_tokens_file line of the token on stdin.
int RunHashToken(const Invocation& inv);

}  // namespace taala::tools

#endif  // TAALA_TOOLS_COMMANDS_H_
