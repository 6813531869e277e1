#include "server/stats_flags.h"

#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_split.h"

ABSL_FLAG(bool, stats, true,
          "Keep statistics (per-shard counters and histograms, a bounded "
          "top-K of keys with wait and hold percentiles) for GetLockStats, "
          "GetLeakSuspects, GetContention, GetRecentDeadlocks and "
          "GetMetrics. false: nothing is recorded and those answer empty "
          "figures.");
ABSL_FLAG(std::string, stats_prefixes, "",
          "Comma-separated key prefixes with statistics of their own (a key "
          "counts under its longest matching prefix), e.g. "
          "\"payments/,orders/\".");
ABSL_FLAG(absl::Duration, slow_wait_threshold, absl::Seconds(5),
          "An acquire that waited this long or longer is logged (info) when "
          "its wait ends. 0: never.");
ABSL_FLAG(absl::Duration, leak_threshold, absl::Minutes(10),
          "GetLeakSuspects: a grant held longer than this is a suspect "
          "(unless the request sets its own).");
ABSL_FLAG(double, leak_p99_factor, 10,
          "GetLeakSuspects: a grant held longer than this many times its "
          "key's p99 hold (with 20 hold samples or more; at least 1s) is a "
          "suspect (unless the request sets its own).");

namespace taala {

absl::Status ApplyStatsFlags(LockTable::Options* options) {
  options->stats = absl::GetFlag(FLAGS_stats);
  options->stats_prefixes.clear();
  // Entries are trimmed: "cfg/, other/" (a space after the comma, as lists
  // are written) means "other/", not " other/", which no key would match.
  for (absl::string_view p :
       absl::StrSplit(absl::GetFlag(FLAGS_stats_prefixes), ',',
                      absl::SkipWhitespace())) {
    options->stats_prefixes.emplace_back(absl::StripAsciiWhitespace(p));
  }
  options->slow_wait_threshold = absl::GetFlag(FLAGS_slow_wait_threshold);
  if (options->slow_wait_threshold < absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        "--slow_wait_threshold must not be negative");
  }
  options->leak_threshold = absl::GetFlag(FLAGS_leak_threshold);
  if (options->leak_threshold <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("--leak_threshold must be positive");
  }
  options->leak_p99_factor = absl::GetFlag(FLAGS_leak_p99_factor);
  if (!(options->leak_p99_factor > 0)) {
    return absl::InvalidArgumentError("--leak_p99_factor must be positive");
  }
  return absl::OkStatus();
}

}  // namespace taala
