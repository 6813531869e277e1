#include "server/policy_flags.h"

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "server/core/key.h"
#include "spdlog/spdlog.h"

ABSL_FLAG(std::string, policy_file, "",
          "Lock policies per key prefix: default max hold, lock-delay, wait "
          "timeout and semaphore size for acquires that leave them unset "
          "(docs/policies.md). Empty: none. At most 10000 policies and 1 MiB. "
          "A malformed (or empty) file stops taalad at startup; later it is reloaded when its content changes, and a "
          "malformed version is refused (logged, GetPolicies.last_error) "
          "while the policies loaded before stay in force.");
ABSL_FLAG(absl::Duration, policy_reload_interval, absl::Seconds(2),
          "How often --policy_file is read to see whether it changed (at "
          "least 100ms); a change is loaded once two reads in a row agree.");

namespace taala {
namespace {

// Most policy prefixes that become statistics prefixes (TableStats looks a
// key up among them linearly on every recorded acquire).
constexpr size_t kMaxPolicyStatsPrefixes = 64;

}  // namespace

absl::StatusOr<std::unique_ptr<PolicyReloader>> StartPolicyFile(
    LockTable::Options* options, PolicyHolder* holder) {
  const std::string file = absl::GetFlag(FLAGS_policy_file);
  if (file.empty()) return nullptr;
  const absl::Duration interval = absl::GetFlag(FLAGS_policy_reload_interval);
  // Each poll reads the whole file: not a busy loop.
  if (interval < absl::Milliseconds(100)) {
    return absl::InvalidArgumentError(
        absl::StrCat("--policy_reload_interval: ",
                     absl::FormatDuration(interval), " is below 100ms"));
  }
  PolicyLimits limits;
  limits.max_lock_delay = options->max_lock_delay;
  limits.max_policies = kMaxPolicies;
  auto reloader = std::make_unique<PolicyReloader>(file, limits, holder);
  if (absl::Status s = reloader->LoadInitial(); !s.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--policy_file: ", s.message()));
  }
  // Each policy prefix gets figures of its own, so that `taalactl stats
  // PREFIX` shows the suggestions beside the policy. Fixed with the table:
  // a prefix a reload adds has none until taalad restarts. Only the first
  // kMaxPolicyStatsPrefixes (by line): every recorded acquire looks its key
  // up among the statistics prefixes.
  if (options->stats) {
    std::vector<std::string>& prefixes = options->stats_prefixes;
    absl::flat_hash_set<std::string> have(prefixes.begin(), prefixes.end());
    std::vector<const KeyPolicy*> by_line;
    std::shared_ptr<const PolicyState> state = holder->Share();
    for (const KeyPolicy& p : state->set->policies()) {
      if (!p.prefix.empty() && !have.contains(p.prefix)) by_line.push_back(&p);
    }
    std::sort(by_line.begin(), by_line.end(),
              [](const KeyPolicy* a, const KeyPolicy* b) {
                return a->line < b->line;
              });
    size_t added = 0;
    for (const KeyPolicy* p : by_line) {
      if (added == kMaxPolicyStatsPrefixes) {
        spdlog::warn(
            "--policy_file: only the first {} policy prefixes get "
            "statistics of their own; {} (line {}) and later ones do not",
            kMaxPolicyStatsPrefixes, EscapeControl(p->prefix), p->line);
        break;
      }
      if (!have.insert(p->prefix).second) continue;
      prefixes.push_back(p->prefix);
      ++added;
    }
  }
  reloader->Start(interval);
  return reloader;
}

}  // namespace taala
