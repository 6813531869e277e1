#include "tools/taalactl_args.h"

#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace taala::tools {
namespace {

struct OptionSpec {
  const char* name;
  bool takes_value;
  const char* only_for;  // A command, or null: every command.
};

constexpr OptionSpec kOptions[] = {
    {"endpoint", true, nullptr}, {"json", false, nullptr},
    {"timeout", true, nullptr},  {"help", false, nullptr},
    {"wait", true, "lock"},      {"ttl", true, "lock"},
    {"shared", false, "lock"},   {"semaphore", true, "lock"},
    {"limit", true, "list"},
};

const OptionSpec* FindOption(absl::string_view name) {
  for (const OptionSpec& spec : kOptions) {
    if (name == spec.name) return &spec;
  }
  return nullptr;
}

absl::Status Usage(absl::string_view message) {
  return absl::InvalidArgumentError(message);
}

absl::StatusOr<absl::Duration> ParseDurationFlag(absl::string_view name,
                                                 const std::string& value) {
  absl::Duration d;
  if (!absl::ParseDuration(value, &d)) {
    return Usage(absl::StrCat("--", name, ": \"", value,
                              "\" is not a duration (e.g. 500ms, 10s, 2m, inf)"));
  }
  if (d < absl::ZeroDuration()) {
    return Usage(absl::StrCat("--", name, ": must not be negative"));
  }
  return d;
}

}  // namespace

const char* UsageText() {
  return R"(Usage: taalactl [OPTIONS] COMMAND [ARGS]

Commands:
  lock [--wait D] [--ttl D] [--shared | --semaphore N]
       KEY [--] COMMAND [ARGS...]
            Take KEY, run COMMAND with TAALA_KEY and TAALA_FENCING_TOKEN in
            its environment while keeping the session alive, release KEY when
            it exits, and exit with its status. Exits 75 without running
            COMMAND if KEY is not acquired within --wait.
  describe KEY        Holders and waiters (in queue order) of KEY.
  list [PREFIX]       Held keys starting with PREFIX (all keys if none).
  sessions            Live sessions.
  deadlocks           The wait-for graph (who waits for whom, on which key)
                      and how many acquires were refused as deadlocks.
  health              The server's health (exit 0 when SERVING).
  help                This text.

Options (before or after COMMAND):
  --endpoint HOST:PORT  taalad to talk to (default: $TAALA_ENDPOINT, else
                        127.0.0.1:7070)
  --json                One JSON object on stdout instead of tables
  --timeout D           Deadline of each call that does not wait for a lock
                        (default 5s)
  --wait D              lock: how long to wait for KEY (default inf; 0 = try
                        once)
  --ttl D               lock: session lease, renewed in the background
                        (default 10s)
  --shared              lock: take KEY in SHARED mode (a reader): any number
                        of --shared runs hold it together, never with an
                        exclusive holder
  --semaphore N         lock: KEY is a semaphore of N slots: up to N runs hold
                        it at once (every user of KEY must give the same N)
  --limit N             list: at most N keys (default 0 = all)
Durations: 500ms, 10s, 2m, 1h30m, inf.

Exit status: 0 success; 1 error; 64 usage error; 69 server unavailable;
75 lock not acquired within --wait; lock: COMMAND's status (128+N if it was
killed by signal N; 126/127 if it could not be run).
)";
}

absl::StatusOr<Invocation> ParseArgs(const std::vector<std::string>& args,
                                     const char* env_endpoint) {
  Invocation inv;
  if (env_endpoint != nullptr && env_endpoint[0] != '\0') {
    inv.endpoint = env_endpoint;
  }
  std::vector<std::pair<const OptionSpec*, std::string>> options;
  std::vector<std::string> positional;
  bool help = false;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg == "--") {
      positional.insert(positional.end(), args.begin() + i + 1, args.end());
      break;
    }
    if (arg == "-h") {
      help = true;
      continue;
    }
    if (absl::StartsWith(arg, "--")) {
      absl::string_view name = absl::string_view(arg).substr(2);
      std::string value;
      bool has_value = false;
      if (size_t eq = name.find('='); eq != absl::string_view::npos) {
        value = std::string(name.substr(eq + 1));
        name = name.substr(0, eq);
        has_value = true;
      }
      const OptionSpec* spec = FindOption(name);
      if (spec == nullptr) {
        return Usage(absl::StrCat("unknown option --", name));
      }
      if (spec->takes_value && !has_value) {
        if (i + 1 >= args.size()) {
          return Usage(absl::StrCat("--", name, " needs a value"));
        }
        value = args[++i];
      } else if (!spec->takes_value && has_value) {
        return Usage(absl::StrCat("--", name, " takes no value"));
      }
      if (name == "help") {
        help = true;
        continue;
      }
      options.emplace_back(spec, std::move(value));
      continue;
    }
    if (arg.size() > 1 && arg[0] == '-') {
      return Usage(absl::StrCat("unknown option ", arg));
    }
    positional.push_back(arg);
    if (positional[0] == "lock" && positional.size() == 3) {
      // COMMAND starts here: the rest is its own.
      positional.insert(positional.end(), args.begin() + i + 1, args.end());
      break;
    }
  }
  if (help || (!positional.empty() && positional[0] == "help")) {
    inv.command = "help";
    return inv;
  }
  if (positional.empty()) return Usage("missing COMMAND");
  inv.command = positional[0];
  positional.erase(positional.begin());
  if (inv.command != "lock" && inv.command != "describe" &&
      inv.command != "list" && inv.command != "sessions" &&
      inv.command != "deadlocks" && inv.command != "health") {
    return Usage(absl::StrCat("unknown command \"", inv.command, "\""));
  }

  for (const auto& [spec, value] : options) {
    const std::string name = spec->name;
    if (spec->only_for != nullptr && inv.command != spec->only_for) {
      return Usage(absl::StrCat("--", name, " is only for taalactl ",
                                spec->only_for));
    }
    if (name == "endpoint") {
      if (value.empty()) return Usage("--endpoint: must not be empty");
      inv.endpoint = value;
    } else if (name == "json") {
      inv.json = true;
    } else if (name == "timeout" || name == "ttl") {
      absl::StatusOr<absl::Duration> d = ParseDurationFlag(name, value);
      if (!d.ok()) return d.status();
      if (*d == absl::ZeroDuration() || *d == absl::InfiniteDuration()) {
        return Usage(absl::StrCat("--", name, ": must be positive and finite"));
      }
      (name == "ttl" ? inv.ttl : inv.timeout) = *d;
    } else if (name == "wait") {
      absl::StatusOr<absl::Duration> d = ParseDurationFlag(name, value);
      if (!d.ok()) return d.status();
      inv.wait = *d;
    } else if (name == "shared") {
      inv.shared = true;
    } else if (name == "semaphore") {
      if (!absl::SimpleAtoi(value, &inv.semaphore) || inv.semaphore == 0) {
        return Usage(absl::StrCat("--semaphore: \"", value,
                                  "\" is not a positive number"));
      }
    } else if (name == "limit") {
      if (!absl::SimpleAtoi(value, &inv.limit)) {
        return Usage(absl::StrCat("--limit: \"", value,
                                  "\" is not a non-negative number"));
      }
    }
  }

  if (inv.shared && inv.semaphore > 0) {
    return Usage("--shared and --semaphore exclude each other (a semaphore "
                 "has no modes)");
  }
  if (inv.command == "lock") {
    if (positional.empty()) return Usage("lock: missing KEY");
    inv.key = positional[0];
    inv.argv.assign(positional.begin() + 1, positional.end());
    if (inv.argv.empty()) return Usage("lock: missing COMMAND to run");
  } else if (inv.command == "describe") {
    if (positional.size() != 1) return Usage("describe: needs exactly one KEY");
    inv.key = positional[0];
  } else if (inv.command == "list") {
    if (positional.size() > 1) return Usage("list: at most one PREFIX");
    if (!positional.empty()) inv.prefix = positional[0];
  } else if (!positional.empty()) {
    return Usage(absl::StrCat(inv.command, ": takes no arguments (got \"",
                              positional[0], "\")"));
  }
  return inv;
}

}  // namespace taala::tools
