#include "server/policy_flags.h"

#include <algorithm>
#include <string>

#include "absl/flags/flag.h"
#include "absl/time/time.h"

ABSL_FLAG(std::string, policy_file, "",
          "Lock policies per key prefix: default max hold, lock-delay, wait "
          "timeout and semaphore size for acquires that leave them unset "
          "(docs/policies.md). Empty: none. A malformed file stops taalad "
          "at startup; later it is reloaded when its content changes, and a "
          "malformed version is refused (logged, GetPolicies.last_error) "
          "while the policies loaded before stay in force.");
ABSL_FLAG(absl::Duration, policy_reload_interval, absl::Seconds(2),
          "How often --policy_file is read to see whether it changed.");

namespace taala {

absl::StatusOr<std::unique_ptr<PolicyReloader>> StartPolicyFile(
    LockTable::Options* options, PolicyHolder* holder) {
  const std::string file = absl::GetFlag(FLAGS_policy_file);
  if (file.empty()) return nullptr;
  const absl::Duration interval = absl::GetFlag(FLAGS_policy_reload_interval);
  if (interval <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        "--policy_reload_interval must be positive");
  }
  PolicyLimits limits;
  limits.max_lock_delay = options->max_lock_delay;
  auto reloader = std::make_unique<PolicyReloader>(file, limits, holder);
  if (absl::Status s = reloader->LoadInitial(); !s.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--policy_file: ", s.message()));
  }
  // Each policy prefix gets figures of its own, so that `taalactl stats
  // PREFIX` shows the suggestions beside the policy. Fixed with the table:
  // a prefix a reload adds has none until taalad restarts.
  if (options->stats) {
    std::vector<std::string>& prefixes = options->stats_prefixes;
    for (const KeyPolicy& p : holder->Share()->set->policies()) {
      if (p.prefix.empty() ||
          std::find(prefixes.begin(), prefixes.end(), p.prefix) !=
              prefixes.end()) {
        continue;
      }
      prefixes.push_back(p.prefix);
    }
  }
  reloader->Start(interval);
  return reloader;
}

}  // namespace taala
