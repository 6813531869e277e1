// taalactl: the taala command-line tool. See docs/taalactl.md.
//
//   taalactl lock [--wait D] [--ttl D] [--shared | --semaphore N] KEY --
//       COMMAND [ARGS...]
//   taalactl describe KEY | list [PREFIX] | sessions | deadlocks | health |
//            leaks | contention | stats [KEY|PREFIX/] | policies  [--json]
//   taalactl watch [PREFIX] [--key KEY] [--after LSN] [--count N] [--json]
//   taalactl --version | --help | COMMAND --help

#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

#include "common/version.h"
#include "tools/command_util.h"
#include "tools/commands.h"
#include "tools/exit_codes.h"
#include "tools/taalactl_args.h"
#include "tools/text_table.h"

int main(int argc, char** argv) {
  using namespace taala::tools;  // NOLINT(build/namespaces)
  const std::vector<std::string> args(argv + 1, argv + argc);
  absl::StatusOr<Invocation> inv = ParseArgs(args, std::getenv("TAALA_ENDPOINT"));
  if (!inv.ok()) {
    // The message quotes the arguments, which a script may fill from
    // anywhere.
    std::cerr << "taalactl: " << TerminalSafe(inv.status().message())
              << "\nRun 'taalactl --help' for usage.\n";
    return kExitUsage;
  }
  if (inv->command == "help") {
    std::cout << (inv->help_topic.empty() ? UsageText()
                                          : CommandUsageText(inv->help_topic));
    return kExitOk;
  }
  if (inv->command == "version") {
    std::cout << taala::VersionLine("taalactl") << "\n";
    return kExitOk;
  }
  if (inv->command == "hash-token") return RunHashToken(*inv);
  // The admin listener's /healthz and /readyz are open to anyone: no
  // credentials to read (a HEALTHCHECK's environment may name unreadable
  // ones).
  if (inv->command == "health" && !inv->admin.empty()) {
    return RunAdminHealth(*inv);
  }
  ApplyCredentialEnvironment(&*inv, std::getenv("TAALA_TLS_CA"),
                             std::getenv("TAALA_TLS_CERT"),
                             std::getenv("TAALA_TLS_KEY"),
                             std::getenv("TAALA_TOKEN"));
  if (absl::Status s = LoadCredentialFiles(&*inv); !s.ok()) {
    std::cerr << "taalactl: " << TerminalSafe(s.message()) << "\n";
    return kExitUsage;
  }
  if (inv->command == "lock") return RunLock(*inv);
  if (inv->command == "describe") return RunDescribe(*inv);
  if (inv->command == "list") return RunList(*inv);
  if (inv->command == "sessions") return RunSessions(*inv);
  if (inv->command == "deadlocks") return RunDeadlocks(*inv);
  if (inv->command == "leaks") return RunLeaks(*inv);
  if (inv->command == "contention") return RunContention(*inv);
  if (inv->command == "stats") return RunStats(*inv);
  if (inv->command == "policies") return RunPolicies(*inv);
  if (inv->command == "force-release") return RunForceRelease(*inv);
  if (inv->command == "revoke") return RunRevoke(*inv);
  if (inv->command == "release") return RunRelease(*inv);
  if (inv->command == "watch") return RunWatch(*inv);
  return RunHealth(*inv);
}
