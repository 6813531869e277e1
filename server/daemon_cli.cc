#include "server/daemon_cli.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

extern char** environ;

#include <google/protobuf/stubs/logging.h>

#include "absl/flags/flag.h"
#include "absl/flags/internal/parse.h"
#include "absl/flags/parse.h"
#include "absl/flags/reflection.h"
#include "absl/flags/usage.h"
#include "absl/flags/usage_config.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/version.h"
#include "server/daemon_env.h"
#include "server/json_log_formatter.h"
#include "spdlog/spdlog.h"

ABSL_FLAG(std::string, log_level, "info",
          "trace, debug, info, warn, error, critical or off. info: start, "
          "stop, recovery, expiries; warn: revocations, refusal windows, "
          "recovery warnings; debug: more detail per event.");
ABSL_FLAG(std::string, log_format, "text",
          "text: spdlog's default lines. json: one JSON object a line "
          "({\"time\",\"level\",\"message\"}, time in UTC), for log "
          "collectors.");

ABSL_FLAG(bool, print_config, false,
          "Print every flag's value and where it came from (command line, "
          "environment TAALAD_<FLAG>, flag file, default), one a line, and "
          "exit.");

namespace taala {
namespace {

// What ParseDaemonCommandLine read the flags from, for --print_config and
// the warnings SetUpLogging logs.
EnvironmentArgs* parsed_from = nullptr;

// The daemon's own flags are defined under server/ (main.cc and the files
// beside it); Abseil's own flags stay in --helpfull.
bool IsDaemonSource(absl::string_view path) {
  return absl::StrContains(path, "server/") && absl::EndsWith(path, ".cc");
}

// "server/main.cc" rather than the build machine's absolute path.
std::string ShortPath(absl::string_view path) {
  const size_t at = path.rfind("server/");
  return std::string(at == absl::string_view::npos ? path : path.substr(at));
}

// --help, -help, -h or --helpshort anywhere on the command line.
bool AsksForHelp(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    for (const char* help : {"--help", "-help", "-h", "--helpshort",
                             "-helpshort"}) {
      if (std::strcmp(argv[i], help) == 0) return true;
    }
  }
  return false;
}

// What --help prints: the usage message and every flag of the daemon's own
// files, sorted by name, with its help and default. Printed here rather than
// by Abseil's --help, which exits 1: asking for help is not a failure (git,
// etcd and most tools exit 0).
void PrintDaemonHelp(std::ostream& out) {
  out << "taalad: " << absl::ProgramUsageMessage() << "\n\nFlags:\n";
  std::vector<absl::CommandLineFlag*> flags;
  for (const auto& [name, flag] : absl::GetAllFlags()) {
    if (!flag->IsRetired() && IsDaemonSource(flag->Filename())) {
      flags.push_back(flag);
    }
  }
  std::sort(flags.begin(), flags.end(), [](const auto* a, const auto* b) {
    return a->Name() < b->Name();
  });
  for (const absl::CommandLineFlag* flag : flags) {
    out << "  --" << flag->Name() << " (" << flag->Help()
        << "); default: " << flag->DefaultValue() << ";\n";
  }
}

bool IsDaemonFlag(absl::string_view name) {
  const absl::CommandLineFlag* flag = absl::FindCommandLineFlag(name);
  return flag != nullptr && !flag->IsRetired() &&
         IsDaemonSource(flag->Filename());
}

// Empty if `value` parses as `name`'s type, else why not. Parsed for real
// and then set back, so the error is the flag's own.
std::string CheckFlagValue(absl::string_view name, absl::string_view value) {
  absl::CommandLineFlag* flag = absl::FindCommandLineFlag(name);
  const std::string before = flag->CurrentValue();
  std::string error;
  if (!flag->ParseFrom(value, &error)) return error;
  flag->ParseFrom(before, &error);
  return "";
}

// --print_config: "--name=value  # source" for every flag of the daemon,
// sorted by name.
void PrintConfig(std::ostream& out) {
  for (const std::string& warning : parsed_from->warnings) {
    out << "# warning: " << warning << "\n";
  }
  std::vector<absl::CommandLineFlag*> flags;
  for (const auto& [name, flag] : absl::GetAllFlags()) {
    if (IsDaemonFlag(flag->Name())) flags.push_back(flag);
  }
  std::sort(flags.begin(), flags.end(), [](const auto* a, const auto* b) {
    return a->Name() < b->Name();
  });
  for (const absl::CommandLineFlag* flag : flags) {
    const std::string name(flag->Name());
    std::string source = "default";
    if (parsed_from->from_command_line.contains(name)) {
      source = "command line";
    } else if (parsed_from->from_environment.contains(name)) {
      source = "environment " + EnvironmentVariableOf(name);
    } else if (absl::flags_internal::WasPresentOnCommandLine(name)) {
      // Abseil's record of every flag it parsed (argv and flag files);
      // not the command line's nor the environment's, so a flag file's.
      source = "flag file";
    }
    out << "--" << name << "=" << flag->CurrentValue() << "  # " << source
        << "\n";
  }
}

}  // namespace

void ParseDaemonCommandLine(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "the taala distributed lock service.\n"
      "Usage: taalad [--listen=127.0.0.1:7070] [--data_dir=taala-data] "
      "[--admin_listen=127.0.0.1:7071] [flags...]\n"
      "Flags may also come from a file: --flagfile=taalad.flags. "
      "docs/operations.md describes every flag; --helpfull adds Abseil's "
      "own.");
  absl::FlagsUsageConfig config;
  config.contains_help_flags = IsDaemonSource;
  config.contains_helpshort_flags = IsDaemonSource;
  config.normalize_filename = ShortPath;
  config.version_string = [] { return VersionLine("taalad") + "\n"; };
  absl::SetFlagsUsageConfig(config);
  if (AsksForHelp(argc, argv)) {
    PrintDaemonHelp(std::cout);
    std::exit(0);
  }
  // TAALAD_<FLAG> variables join the command line (daemon_env.h).
  absl::StatusOr<EnvironmentArgs> args =
      ArgsWithEnvironment(argc, argv, environ, IsDaemonFlag, CheckFlagValue);
  if (!args.ok()) {
    std::cerr << "taalad: " << args.status().message() << "\n";
    std::exit(1);
  }
  parsed_from = new EnvironmentArgs(*std::move(args));
  std::vector<char*> pointers;
  for (std::string& arg : parsed_from->args) pointers.push_back(arg.data());
  absl::ParseCommandLine(static_cast<int>(pointers.size()), pointers.data());
  if (absl::GetFlag(FLAGS_print_config)) {
    PrintConfig(std::cout);
    std::exit(0);
  }
}

namespace {

// libprotobuf's log lines go through spdlog (one format, one level). A
// request whose string field is not UTF-8 makes the parser write an ERROR
// line, once per request: the client is answered INVALID_ARGUMENT naming
// the field (and the audit log's budget covers refusals), so these lines
// are debug, not an error a client can write into the log at will.
void ProtobufLogHandler(google::protobuf::LogLevel level, const char* file,
                        int line, const std::string& message) {
  spdlog::level::level_enum to = spdlog::level::err;
  if (absl::StrContains(message, "invalid UTF-8") ||
      level == google::protobuf::LOGLEVEL_INFO) {
    to = spdlog::level::debug;
  } else if (level == google::protobuf::LOGLEVEL_WARNING) {
    to = spdlog::level::warn;
  } else if (level == google::protobuf::LOGLEVEL_FATAL) {
    to = spdlog::level::critical;
  }
  spdlog::log(to, "protobuf {}:{}: {}", ShortPath(file == nullptr ? "" : file),
              line, message);
}

}  // namespace

absl::Status SetUpLogging() {
  google::protobuf::SetLogHandler(ProtobufLogHandler);
  const std::string level_name = absl::GetFlag(FLAGS_log_level);
  const spdlog::level::level_enum level = spdlog::level::from_str(level_name);
  if (level == spdlog::level::off && level_name != "off") {
    return absl::InvalidArgumentError(
        absl::StrCat("--log_level: unknown level \"", level_name, "\""));
  }
  const std::string format = absl::GetFlag(FLAGS_log_format);
  if (format == "json") {
    spdlog::set_formatter(std::make_unique<JsonLogFormatter>());
  } else if (format != "text") {
    return absl::InvalidArgumentError(absl::StrCat(
        "--log_format must be text or json, not \"", format, "\""));
  }
  spdlog::set_level(level);
  if (parsed_from != nullptr) {
    for (const std::string& warning : parsed_from->warnings) {
      spdlog::warn("{}", warning);
    }
  }
  return absl::OkStatus();
}

void LogFatalLogErrorAndExit(const std::string& message) {
  spdlog::critical("write-ahead log failed: {}", message);
  spdlog::default_logger()->flush();
  std::_Exit(1);
}

}  // namespace taala
