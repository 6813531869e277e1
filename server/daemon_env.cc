#include "server/daemon_env.h"

#include <cstring>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace taala {
namespace {

constexpr absl::string_view kPrefix = "TAALAD_";

// The flag an argument names: "--name=v", "-name=v", "--name", "--noname"
// (a boolean's false). Empty for anything else ("--", "value", "-").
std::string FlagNameOf(absl::string_view arg) {
  if (!absl::ConsumePrefix(&arg, "--")) {
    if (!absl::ConsumePrefix(&arg, "-")) return "";
  }
  return std::string(arg.substr(0, arg.find('=')));
}

bool IsFlagfile(absl::string_view name) { return name == "flagfile"; }

}  // namespace

std::string EnvironmentVariableOf(absl::string_view flag) {
  return absl::StrCat(kPrefix, absl::AsciiStrToUpper(flag));
}

absl::StatusOr<EnvironmentArgs> ArgsWithEnvironment(
    int argc, char** argv, char** environ,
    const std::function<bool(absl::string_view)>& is_flag,
    const std::function<std::string(absl::string_view flag,
                                    absl::string_view value)>& check_value) {
  EnvironmentArgs out;
  out.args.push_back(argc > 0 ? argv[0] : "taalad");

  std::vector<std::string> env_flagfiles;
  std::vector<std::string> env_flags;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    absl::string_view entry(*e);
    if (!absl::StartsWith(entry, kPrefix)) continue;
    const size_t eq = entry.find('=');
    if (eq == absl::string_view::npos) continue;
    const absl::string_view variable = entry.substr(0, eq);
    const absl::string_view value = entry.substr(eq + 1);
    const std::string flag =
        absl::AsciiStrToLower(variable.substr(kPrefix.size()));
    if (IsFlagfile(flag)) {
      env_flagfiles.push_back(absl::StrCat("--flagfile=", value));
      continue;
    }
    // Upper case only: TAALAD_listen is not TAALAD_LISTEN's spelling.
    if (variable != EnvironmentVariableOf(flag) || !is_flag(flag)) {
      out.warnings.push_back(absl::StrCat(
          "environment variable ", variable,
          " names no taalad flag (ignored); taalad --help lists them"));
      continue;
    }
    if (std::string error = check_value(flag, value); !error.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "environment variable ", variable, "=\"", value, "\": ", error));
    }
    env_flags.push_back(absl::StrCat("--", flag, "=", value));
    out.from_environment.insert(flag);
  }

  // The command line: flag files first (below the environment), the rest
  // after it. "--flagfile PATH" (two arguments) is Abseil's form too.
  std::vector<std::string> cmd_flagfiles;
  std::vector<std::string> rest;
  for (int i = 1; i < argc; ++i) {
    const absl::string_view arg(argv[i]);
    if (arg == "--") {  // Everything after it is positional.
      for (; i < argc; ++i) rest.push_back(argv[i]);
      break;
    }
    const std::string name = FlagNameOf(arg);
    if (IsFlagfile(name)) {
      cmd_flagfiles.push_back(std::string(arg));
      if (!absl::StrContains(arg, '=') && i + 1 < argc) {
        cmd_flagfiles.push_back(argv[++i]);
      }
      continue;
    }
    if (!name.empty()) {
      out.from_command_line.insert(name);
      // --noname sets the boolean flag "name".
      if (absl::StartsWith(name, "no") && !is_flag(name)) {
        out.from_command_line.insert(name.substr(2));
      }
    }
    rest.push_back(std::string(arg));
  }
  for (auto* part : {&env_flagfiles, &cmd_flagfiles, &env_flags, &rest}) {
    out.args.insert(out.args.end(), part->begin(), part->end());
  }
  return out;
}

}  // namespace taala
