// taalactl: the taala command-line tool. See docs/taalactl.md.
//
//   taalactl lock [--wait D] [--ttl D] [--shared | --semaphore N] KEY --
//       COMMAND [ARGS...]
//   taalactl describe KEY | list [PREFIX] | sessions | deadlocks | health
//            [--json]

#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

#include "tools/commands.h"
#include "tools/exit_codes.h"
#include "tools/taalactl_args.h"

int main(int argc, char** argv) {
  using namespace taala::tools;  // NOLINT(build/namespaces)
  const std::vector<std::string> args(argv + 1, argv + argc);
  absl::StatusOr<Invocation> inv = ParseArgs(args, std::getenv("TAALA_ENDPOINT"));
  if (!inv.ok()) {
    std::cerr << "taalactl: " << inv.status().message()
              << "\nRun 'taalactl --help' for usage.\n";
    return kExitUsage;
  }
  if (inv->command == "help") {
    std::cout << UsageText();
    return kExitOk;
  }
  if (inv->command == "lock") return RunLock(*inv);
  if (inv->command == "describe") return RunDescribe(*inv);
  if (inv->command == "list") return RunList(*inv);
  if (inv->command == "sessions") return RunSessions(*inv);
  if (inv->command == "deadlocks") return RunDeadlocks(*inv);
  return RunHealth(*inv);
}
