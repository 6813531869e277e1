#include "tools/taalactl_args.h"

#include <cmath>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"

namespace taala::tools {
namespace {

struct OptionSpec {
  const char* name;
  bool takes_value;
  const char* only_for;  // Commands separated by ',', or null: every command.
};

constexpr OptionSpec kOptions[] = {
    {"endpoint", true, nullptr},
    {"json", false, nullptr},
    {"timeout", true, nullptr},
    {"help", false, nullptr},
    {"version", false, nullptr},
    {"tls-ca", true, nullptr},
    {"tls-cert", true, nullptr},
    {"tls-key", true, nullptr},
    {"auth-token", true, nullptr},
    {"wait", true, "lock"},
    {"ttl", true, "lock"},
    {"shared", false, "lock"},
    {"semaphore", true, "lock"},
    {"limit", true, "list,contention,leaks,deadlocks"},
    {"held-longer-than", true, "list,leaks"},
    {"contended", false, "list"},
    {"p99-factor", true, "leaks"},
    {"prefix", false, "stats"},
    {"key", true, "watch"},
    {"after", true, "watch"},
    {"count", true, "watch"},
    {"reason", true, "force-release,revoke"},
    {"skip-lock-delay", false, "force-release,revoke"},
    {"session", true, "force-release,release"},
    {"token", true, "force-release,release"},
    {"admin", true, "health"},
    {"ready", false, "health"},
};

constexpr const char* kCommands[] = {"lock",      "describe",   "list",
                                     "sessions",  "deadlocks",  "health",
                                     "leaks",     "contention", "stats",
                                     "policies",
                                     "force-release", "revoke", "release",
                                     "watch", "hash-token"};

bool IsCommand(absl::string_view name) {
  for (const char* c : kCommands) {
    if (name == c) return true;
  }
  return false;
}

const OptionSpec* FindOption(absl::string_view name) {
  for (const OptionSpec& spec : kOptions) {
    if (name == spec.name) return &spec;
  }
  return nullptr;
}

bool AllowedFor(const OptionSpec& spec, absl::string_view command) {
  if (spec.only_for == nullptr) return true;
  for (absl::string_view c : absl::StrSplit(spec.only_for, ',')) {
    if (c == command) return true;
  }
  return false;
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

// force-release KEY --reason R; revoke SESSION --reason R; release KEY
// --session ID --token T.
absl::StatusOr<Invocation> AdminArgs(Invocation inv,
                                     const std::vector<std::string>& args) {
  const bool revoke = inv.command == "revoke";
  const char* what = revoke ? "SESSION" : "KEY";
  if (args.size() != 1) {
    return Usage(absl::StrCat(inv.command, ": needs exactly one ", what));
  }
  if (revoke) {
    if (!absl::SimpleAtoi(args[0], &inv.session_id) || inv.session_id == 0) {
      return Usage(absl::StrCat("revoke: SESSION \"", args[0],
                                "\" is not a session id (a positive number)"));
    }
  } else {
    inv.key = args[0];
  }
  if (inv.command == "release") {
    if (inv.session_id == 0 || inv.token == 0) {
      return Usage("release: needs --session ID and --token T (the grant's, "
                   "as taalactl describe shows them)");
    }
  } else if (inv.reason.empty()) {
    return Usage(absl::StrCat(inv.command,
                              ": needs --reason R (the holder and the audit "
                              "trail are told it)"));
  }
  return inv;
}

}  // namespace

absl::StatusOr<Invocation> ParseArgs(const std::vector<std::string>& args,
                                     const char* env_endpoint) {
  Invocation inv;
  std::vector<std::pair<const OptionSpec*, std::string>> options;
  std::vector<std::string> positional;
  bool help = false;
  bool version = false;
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
      if (name == "version") {
        version = true;
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
  const bool help_command = !positional.empty() && positional[0] == "help";
  if (help || help_command) {
    inv.command = "help";
    // `taalactl lock --help`, `taalactl help lock`.
    const size_t topic = help_command ? 1 : 0;
    if (positional.size() > topic) {
      if (!IsCommand(positional[topic])) {
        return Usage(absl::StrCat("unknown command \"", positional[topic],
                                  "\""));
      }
      inv.help_topic = positional[topic];
    }
    return inv;
  }
  if (version || (!positional.empty() && positional[0] == "version")) {
    inv.command = "version";
    return inv;
  }
  if (positional.empty()) return Usage("missing COMMAND");
  inv.command = positional[0];
  positional.erase(positional.begin());
  if (!IsCommand(inv.command)) {
    return Usage(absl::StrCat("unknown command \"", inv.command, "\""));
  }

  std::string endpoint;
  bool prefix_flag = false;
  for (const auto& [spec, value] : options) {
    const std::string name = spec->name;
    if (!AllowedFor(*spec, inv.command)) {
      return Usage(absl::StrCat(
          "--", name, " is only for taalactl ",
          absl::StrReplaceAll(spec->only_for, {{",", ", "}})));
    }
    if (name == "endpoint") {
      if (value.empty()) return Usage("--endpoint: must not be empty");
      endpoint = value;
    } else if (name == "json") {
      inv.json = true;
    } else if (name == "tls-ca" || name == "tls-cert" || name == "tls-key" ||
               name == "auth-token") {
      if (value.empty()) return Usage(absl::StrCat("--", name, ": empty"));
      (name == "tls-ca"     ? inv.tls_ca
       : name == "tls-cert" ? inv.tls_cert
       : name == "tls-key"  ? inv.tls_key
                            : inv.auth_token) = value;
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
    } else if (name == "held-longer-than") {
      absl::StatusOr<absl::Duration> d = ParseDurationFlag(name, value);
      if (!d.ok()) return d.status();
      if (*d == absl::InfiniteDuration()) {
        return Usage("--held-longer-than: must be finite");
      }
      inv.held_longer_than = *d;
    } else if (name == "shared") {
      inv.shared = true;
    } else if (name == "contended") {
      inv.contended = true;
    } else if (name == "prefix") {
      prefix_flag = true;
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
    } else if (name == "key") {
      if (value.empty()) return Usage("--key: needs a KEY");
      inv.key = value;
    } else if (name == "after") {
      if (!absl::SimpleAtoi(value, &inv.after_lsn)) {
        return Usage(absl::StrCat("--after: \"", value,
                                  "\" is not an LSN (a non-negative number)"));
      }
    } else if (name == "count") {
      if (!absl::SimpleAtoi(value, &inv.count)) {
        return Usage(absl::StrCat("--count: \"", value,
                                  "\" is not a non-negative number"));
      }
    } else if (name == "reason") {
      if (value.empty()) return Usage("--reason: must not be empty");
      inv.reason = value;
    } else if (name == "admin") {
      if (value.empty()) return Usage("--admin: needs HOST[:PORT]");
      inv.admin = value;
    } else if (name == "ready") {
      inv.ready = true;
    } else if (name == "skip-lock-delay") {
      inv.skip_lock_delay = true;
    } else if (name == "session" || name == "token") {
      uint64_t& id = name == "session" ? inv.session_id : inv.token;
      if (!absl::SimpleAtoi(value, &id) || id == 0) {
        return Usage(absl::StrCat("--", name, ": \"", value,
                                  "\" is not a positive number"));
      }
    } else if (name == "p99-factor") {
      if (!absl::SimpleAtod(value, &inv.p99_factor) ||
          !std::isfinite(inv.p99_factor) || inv.p99_factor < 0) {
        return Usage(absl::StrCat("--p99-factor: \"", value,
                                  "\" is not a non-negative number"));
      }
    }
  }
  absl::StatusOr<std::string> resolved =
      ResolveEndpoint(endpoint, env_endpoint);
  if (!resolved.ok()) {
    // Nothing is sent: gRPC would wrap a port out of range modulo 65536 and
    // reach another service.
    return Usage(absl::StrCat(endpoint.empty() ? "" : "--endpoint: ",
                              resolved.status().message()));
  }
  inv.endpoint = *std::move(resolved);

  if (inv.shared && inv.semaphore > 0) {
    return Usage("--shared and --semaphore exclude each other (a semaphore "
                 "has no modes)");
  }
  if (inv.ready && inv.admin.empty()) return Usage("--ready needs --admin");
  if (inv.json && !inv.admin.empty()) {
    return Usage("health --admin prints the answer's body as it comes "
                 "(/healthz: JSON already); leave out --json");
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
  } else if (inv.command == "stats") {
    if (positional.size() > 1) {
      return Usage("stats: at most one KEY or PREFIX");
    }
    if (positional.empty()) {
      if (prefix_flag) return Usage("stats: --prefix needs a PREFIX");
    } else if (prefix_flag || absl::EndsWith(positional[0], "/")) {
      inv.prefix = positional[0];
    } else {
      inv.key = positional[0];
    }
  } else if (inv.command == "watch") {
    if (positional.size() > 1) return Usage("watch: at most one PREFIX");
    if (!positional.empty()) inv.prefix = positional[0];
    if (!inv.key.empty() && !inv.prefix.empty()) {
      return Usage("watch: a PREFIX or --key KEY, not both");
    }
  } else if (inv.command == "hash-token") {
    if (positional.size() != 1 || positional[0].empty()) {
      return Usage("hash-token: needs exactly one IDENTITY (the token is "
                   "read from stdin)");
    }
    inv.key = positional[0];
  } else if (inv.command == "force-release" || inv.command == "revoke" ||
             inv.command == "release") {
    return AdminArgs(std::move(inv), positional);
  } else if (!positional.empty()) {
    return Usage(absl::StrCat(inv.command, ": takes no arguments (got \"",
                              positional[0], "\")"));
  }
  return inv;
}

void ApplyCredentialEnvironment(Invocation* inv, const char* tls_ca,
                                const char* tls_cert, const char* tls_key,
                                const char* token) {
  auto fill = [](std::string* field, const char* env) {
    if (field->empty() && env != nullptr) *field = env;
  };
  fill(&inv->tls_ca, tls_ca);
  fill(&inv->tls_cert, tls_cert);
  fill(&inv->tls_key, tls_key);
  fill(&inv->auth_token, token);
}

}  // namespace taala::tools
