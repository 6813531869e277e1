#include "server/daemon_env.h"

#include <stdlib.h>

#include <cerrno>
#include <cstring>
#include <fstream>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace taala {
namespace {

constexpr absl::string_view kPrefix = "TAALAD_";
constexpr absl::string_view kFlagfileVariable = "TAALAD_FLAGFILE";

// The flag an argument names: "--name=v", "-name=v", "--name", "--noname"
// (a boolean's false). Empty for anything else ("--", "value", "-").
std::string FlagNameOf(absl::string_view arg) {
  if (!absl::ConsumePrefix(&arg, "--")) {
    if (!absl::ConsumePrefix(&arg, "-")) return "";
  }
  return std::string(arg.substr(0, arg.find('=')));
}

bool IsFlagfile(absl::string_view name) { return name == "flagfile"; }

// The files of a --flagfile value: Abseil's comma-separated list. An empty
// value names none; an empty entry in a list ("a,,b") is kept, so that the
// walk refuses it naming its source (Abseil would, with less to go on).
std::vector<std::string> FlagfileList(absl::string_view value) {
  if (value.empty()) return {};
  return absl::StrSplit(value, ',');
}

// A file's identity: the same file under two names (a symlink, "./f") is
// one file; the name itself if it cannot be resolved.
std::string FileKey(const std::string& path) {
  char* real = realpath(path.c_str(), nullptr);
  if (real == nullptr) return path;
  std::string key(real);
  free(real);
  return key;
}

// Follows the --flagfile= lines of flag files depth first, as Abseil will
// read them: a file that cannot be opened, or one on the chain of files
// that led to it (a cycle), is an error naming the chain.
class FlagfileWalk {
 public:
  // `origin`: where the first file was named, for the messages.
  absl::Status VisitRoot(const std::string& path, std::string origin) {
    origin_ = std::move(origin);
    return Visit(path);
  }

 private:
  absl::Status Visit(const std::string& path) {
    const std::string key = FileKey(path);
    for (size_t i = 0; i < keys_.size(); ++i) {
      if (keys_[i] != key) continue;
      std::vector<std::string> cycle(chain_.begin() + i, chain_.end());
      cycle.push_back(path);
      return absl::InvalidArgumentError(absl::StrCat(
          "flag file ", absl::CEscape(path),
          " includes itself (Abseil would read it forever): ",
          absl::CEscape(absl::StrJoin(cycle, " -> ")), Origin()));
    }
    if (done_.contains(key)) return absl::OkStatus();
    errno = 0;
    std::ifstream in(path);
    if (!in) {
      const int error = errno;
      return absl::InvalidArgumentError(absl::StrCat(
          "cannot open flag file ", absl::CEscape(path),
          chain_.empty() ? "" : " (named by --flagfile in ",
          absl::CEscape(absl::StrJoin(chain_, " -> ")),
          chain_.empty() ? "" : ")", ": ",
          error != 0 ? std::strerror(error) : "unreadable", Origin()));
    }
    chain_.push_back(path);
    keys_.push_back(key);
    for (std::string line; std::getline(in, line);) {
      // Abseil strips leading white space only; "-flagfile=" works too.
      absl::string_view arg = absl::StripLeadingAsciiWhitespace(line);
      if (!absl::ConsumePrefix(&arg, "--")) absl::ConsumePrefix(&arg, "-");
      if (!absl::ConsumePrefix(&arg, "flagfile=")) continue;
      for (const std::string& next : FlagfileList(arg)) {
        if (absl::Status s = Visit(next); !s.ok()) return s;
      }
    }
    chain_.pop_back();
    keys_.pop_back();
    done_.insert(key);
    return absl::OkStatus();
  }

  std::string Origin() const {
    return origin_.empty() ? "" : absl::StrCat(" (from ", origin_, ")");
  }

  std::string origin_;
  std::vector<std::string> chain_;  // The files that led here, and keys.
  std::vector<std::string> keys_;
  absl::flat_hash_set<std::string> done_;  // Followed, no cycle below.
};

// Abseil's spellings of a boolean value.
bool IsBooleanWord(absl::string_view arg) {
  const std::string word = absl::AsciiStrToLower(arg);
  for (const char* b : {"true", "false", "t", "f", "yes", "no", "y", "n",
                        "1", "0"}) {
    if (word == b) return true;
  }
  return false;
}

// `arg` where taalad takes none. `bool_before`: the boolean flag written
// just before it ("--name" or "--noname"), if any.
absl::Status PositionalError(absl::string_view arg,
                             absl::string_view bool_before,
                             const FlagFacts& facts) {
  const std::string shown = absl::StrCat("\"", absl::CEscape(arg), "\"");
  std::string flag(bool_before);
  if (!flag.empty() && !facts.is_flag(flag) && absl::StartsWith(flag, "no")) {
    flag = flag.substr(2);  // --noname.
  }
  if (!flag.empty() && facts.is_flag(flag) && IsBooleanWord(arg)) {
    if (flag != bool_before) {
      return absl::InvalidArgumentError(absl::StrCat(
          "unexpected argument ", shown, " after --", bool_before, ": --",
          bool_before, " takes no value (it sets --", flag,
          " false); write --", flag, "=true or --", flag, "=false"));
    }
    return absl::InvalidArgumentError(absl::StrCat(
        "unexpected argument ", shown, " after --", flag,
        ": a boolean flag takes no separate value (\"--", flag, " ",
        absl::CEscape(arg), "\" would set it true and ignore ", shown,
        "); write --", flag, "=", absl::AsciiStrToLower(arg)));
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "unexpected argument ", shown,
      ": taalad takes flags only (--name=value), no positional arguments"));
}

}  // namespace

std::string EnvironmentVariableOf(absl::string_view flag) {
  return absl::StrCat(kPrefix, absl::AsciiStrToUpper(flag));
}

absl::StatusOr<EnvironmentArgs> ArgsWithEnvironment(int argc, char** argv,
                                                    char** environ,
                                                    const FlagFacts& facts) {
  EnvironmentArgs out;
  out.args.push_back(argc > 0 ? argv[0] : "taalad");
  FlagfileWalk walk;

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
    // Upper case only: TAALAD_listen is not TAALAD_LISTEN's spelling, nor
    // TAALAD_flagfile TAALAD_FLAGFILE's.
    if (variable == kFlagfileVariable) {
      for (const std::string& file : FlagfileList(value)) {
        if (absl::Status s = walk.VisitRoot(
                file, absl::StrCat("environment variable ", variable));
            !s.ok()) {
          return s;
        }
      }
      env_flagfiles.push_back(absl::StrCat("--flagfile=", value));
      continue;
    }
    if (variable != EnvironmentVariableOf(flag) || !facts.is_flag(flag)) {
      out.warnings.push_back(absl::StrCat(
          "environment variable ", absl::CEscape(variable),
          " names no taalad flag (ignored); taalad --help lists them"));
      continue;
    }
    if (std::string error = facts.check_value(flag, value); !error.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("environment variable ", variable, "=\"",
                       absl::CEscape(value), "\": ", error));
    }
    env_flags.push_back(absl::StrCat("--", flag, "=", value));
    out.from_environment.insert(flag);
  }

  // The command line: flag files first (below the environment), the rest
  // after it. "--flagfile PATH" (two arguments) is Abseil's form too, as is
  // "--name VALUE" for any flag but a boolean: VALUE is no flag, even if it
  // starts with '-'.
  std::vector<std::string> cmd_flagfiles;
  std::vector<std::string> rest;
  std::string bool_before;  // The previous argument's boolean flag.
  for (int i = 1; i < argc; ++i) {
    const absl::string_view arg(argv[i]);
    if (arg.empty() || arg[0] != '-' || arg == "-") {
      return PositionalError(arg, bool_before, facts);
    }
    const std::string name = FlagNameOf(arg);
    if (name.empty()) {  // "--" (or "--=..."): Abseil stops there.
      if (i + 1 < argc) {
        return absl::InvalidArgumentError(absl::StrCat(
            "unexpected argument \"", absl::CEscape(argv[i + 1]),
            "\" after \"", absl::CEscape(arg),
            "\": taalad takes no positional arguments, and the flag parser "
            "ignores everything after \"--\""));
      }
      break;
    }
    bool_before.clear();
    const bool has_value = absl::StrContains(arg, '=');
    const bool value_next = !has_value && facts.takes_value(name) &&
                            i + 1 < argc;
    if (IsFlagfile(name)) {
      cmd_flagfiles.push_back(std::string(arg));
      if (value_next) cmd_flagfiles.push_back(argv[++i]);
      const absl::string_view files =
          has_value ? arg.substr(arg.find('=') + 1) : absl::string_view(
                                                          cmd_flagfiles.back());
      if (has_value || value_next) {
        for (const std::string& file : FlagfileList(files)) {
          if (absl::Status s = walk.VisitRoot(file, ""); !s.ok()) return s;
        }
      }
      continue;
    }
    out.from_command_line.insert(name);
    // --noname sets the boolean flag "name".
    if (absl::StartsWith(name, "no") && !facts.is_flag(name)) {
      out.from_command_line.insert(name.substr(2));
    }
    rest.push_back(std::string(arg));
    if (value_next) {
      rest.push_back(argv[++i]);
    } else if (!has_value && !facts.takes_value(name)) {
      bool_before = name;
    }
  }
  for (auto* part : {&env_flagfiles, &cmd_flagfiles, &env_flags, &rest}) {
    out.args.insert(out.args.end(), part->begin(), part->end());
  }
  return out;
}

}  // namespace taala
