// taalad configured from the environment (TAALAD_<FLAG_IN_CAPS>, for
// containers) and its readiness notification (systemd's Type=notify):
// every flag of the daemon can be set from the environment, the command
// line beats the environment, which beats flag files, which beat the
// defaults; a bad value stops taalad naming the variable; an unknown
// variable is a warning; READY=1 reaches $NOTIFY_SOCKET once the daemon
// serves, STOPPING=1 when SIGTERM stops it.

#include <poll.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <map>
#include <random>
#include <regex>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/integration/rpc_helpers.h"
#include "tests/integration/scoped_env.h"
#include "tests/integration/taalad_process.h"

namespace taala {
namespace {

using ::testing::HasSubstr;

// One --print_config line: value and source.
struct Setting {
  std::string value;
  std::string source;
};

using test::ScopedEnv;

std::string Var(const std::string& flag) {
  return "TAALAD_" + absl::AsciiStrToUpper(flag);
}

// `taalad --print_config ARGS`, parsed: flag name to its value and source.
std::map<std::string, Setting> PrintConfig(std::vector<std::string> args,
                                           std::string* output = nullptr) {
  args.insert(args.begin(), "--print_config");
  auto run = test::RunTaaladToExit(args, 30000);
  EXPECT_TRUE(run.ok()) << run.status();
  if (!run.ok()) return {};
  EXPECT_EQ(run->exit_code, 0) << run->output;
  if (output != nullptr) *output = run->output;
  std::map<std::string, Setting> settings;
  static const std::regex line_re("^--([a-z0-9_]+)=(.*)  # (.*)$");
  std::istringstream lines(run->output);
  for (std::string line; std::getline(lines, line);) {
    std::smatch m;
    if (std::regex_match(line, m, line_re)) {
      settings[m[1]] = Setting{m[2], m[3]};
    }
  }
  return settings;
}

// Values to try for a flag whose default is `value`, most specific first
// (the flag's type decides which parse).
std::vector<std::string> CandidatesFor(const std::string& flag,
                                       const std::string& value) {
  if (value == "true") return {"false"};
  if (value == "false") return {"true"};
  std::vector<std::string> out;
  int64_t n = 0;
  double d = 0;
  if (absl::SimpleAtoi(value, &n)) out.push_back(absl::StrCat(n + 7));
  if (absl::SimpleAtod(value, &d)) out.push_back(absl::StrCat(d + 0.5));
  out.push_back("17s");  // A duration (or any string).
  out.push_back("env-" + flag);
  return out;
}

TEST(EnvConfigTest, EveryFlagCanBeSetFromTheEnvironment) {
  const std::map<std::string, Setting> defaults = PrintConfig({});
  ASSERT_GT(defaults.size(), 50u) << "--print_config listed too few flags";
  // A non-default value each flag's own type accepts, one flag at a time.
  std::map<std::string, std::string> chosen;
  for (const auto& [flag, setting] : defaults) {
    // On every one of these command lines; from the environment below.
    if (flag == "print_config") continue;
    EXPECT_EQ(setting.source, "default") << flag;
    for (const std::string& candidate : CandidatesFor(flag, setting.value)) {
      if (candidate == setting.value) continue;
      ScopedEnv env;
      env.Set(Var(flag), candidate);
      auto run = test::RunTaaladToExit({"--print_config"}, 30000);
      ASSERT_TRUE(run.ok()) << run.status();
      if (run->exit_code == 0) {
        chosen[flag] = candidate;
        break;
      }
      // Refused: the message names the variable and the flag's own error.
      EXPECT_THAT(run->output, HasSubstr(Var(flag))) << run->output;
    }
    EXPECT_TRUE(chosen.count(flag)) << "no value of " << Var(flag)
                                    << " was accepted";
  }
  // All of them at once.
  ScopedEnv env;
  for (const auto& [flag, value] : chosen) env.Set(Var(flag), value);
  const std::map<std::string, Setting> settings = PrintConfig({});
  for (const auto& [flag, value] : chosen) {
    ASSERT_TRUE(settings.count(flag)) << flag;
    // A duration prints in Abseil's form ("17s"), a double as it parsed.
    double d = 0;
    int64_t n = 0;
    if (!absl::SimpleAtod(value, &d) || absl::SimpleAtoi(value, &n)) {
      EXPECT_EQ(settings.at(flag).value, value) << flag;
    }
    EXPECT_EQ(settings.at(flag).source, "environment " + Var(flag)) << flag;
  }
}

class EnvConfigFileTest : public ::testing::Test {
 protected:
  std::string Write(const std::string& name, const std::string& text) {
    const std::string path = ::testing::TempDir() + "env_config_" +
                             std::to_string(getpid()) + "_" + name;
    std::ofstream(path) << text;
    paths_.push_back(path);
    return path;
  }
  void TearDown() override {
    for (const std::string& p : paths_) unlink(p.c_str());
  }
  std::vector<std::string> paths_;
};

TEST_F(EnvConfigFileTest, CommandLineBeatsEnvironmentBeatsFlagFileBeatsDefault) {
  const std::string flags = Write(
      "flags", "--shards=9\n--data_dir=/from/file\n--listen=10.0.0.1:1\n"
               "--log_level=debug\n");
  ScopedEnv env;
  env.Set("TAALAD_LISTEN", "10.0.0.2:2");
  env.Set("TAALAD_DATA_DIR", "/from/env");
  // The command line's flag file comes after --data_dir here: still below it.
  const auto settings =
      PrintConfig({"--data_dir=/from/cmdline", "--flagfile=" + flags});
  EXPECT_EQ(settings.at("data_dir").value, "/from/cmdline");
  EXPECT_EQ(settings.at("data_dir").source, "command line");
  EXPECT_EQ(settings.at("listen").value, "10.0.0.2:2");
  EXPECT_EQ(settings.at("listen").source, "environment TAALAD_LISTEN");
  EXPECT_EQ(settings.at("shards").value, "9");
  EXPECT_EQ(settings.at("shards").source, "flag file");
  EXPECT_EQ(settings.at("durability").value, "fsync");
  EXPECT_EQ(settings.at("durability").source, "default");
}

TEST_F(EnvConfigFileTest, FlagFileFromTheEnvironmentAndBooleanForms) {
  const std::string env_flags = Write("env_flags", "--shards=5\n--stats=false\n");
  const std::string cmd_flags = Write("cmd_flags", "--shards=6\n");
  ScopedEnv env;
  env.Set("TAALAD_FLAGFILE", env_flags);
  env.Set("TAALAD_INSECURE_ALLOW_REMOTE", "true");
  auto settings = PrintConfig({});
  EXPECT_EQ(settings.at("shards").value, "5");
  EXPECT_EQ(settings.at("shards").source, "flag file");
  EXPECT_EQ(settings.at("stats").value, "false");
  EXPECT_EQ(settings.at("insecure_allow_remote").value, "true");
  // The command line's flag file is read after the environment's.
  settings = PrintConfig({"--flagfile", cmd_flags, "--noinsecure_allow_remote"});
  EXPECT_EQ(settings.at("shards").value, "6");
  EXPECT_EQ(settings.at("insecure_allow_remote").value, "false");
  EXPECT_EQ(settings.at("insecure_allow_remote").source, "command line");
}

// fix-env: flag files are followed before parsing. A cycle through
// TAALAD_FLAGFILE's file and one it names through a symlink is refused
// naming the chain and the variable (Abseil would read it forever); a
// file that cannot be opened names the file that named it; one file
// included twice (a diamond) is no cycle.
TEST_F(EnvConfigFileTest, FlagFileCyclesAndMissingFilesAreRefusedNamingThem) {
  const std::string c = Write("c", "--shards=3\n");
  const std::string b_path = Write("b", "");
  const std::string link = b_path + ".link";
  ASSERT_EQ(symlink(b_path.c_str(), link.c_str()), 0);
  paths_.push_back(link);
  const std::string a = Write("a", "# a\n--flagfile=" + link + "\n");
  Write("b", "--max_keys=9\n  -flagfile=" + c + "," + a + "\n");
  {
    ScopedEnv env;
    env.Set("TAALAD_FLAGFILE", a);
    auto run = test::RunTaaladToExit({"--print_config"}, 30000);
    ASSERT_TRUE(run.ok()) << run.status();
    EXPECT_EQ(run->exit_code, 1) << run->output;
    EXPECT_THAT(run->output, HasSubstr("includes itself"));
    EXPECT_THAT(run->output, HasSubstr(a + " -> " + link + " -> " + a));
    EXPECT_THAT(run->output, HasSubstr("TAALAD_FLAGFILE"));
  }
  const std::string diamond = Write("d", "--flagfile=" + c + "," + c + "\n");
  const auto settings = PrintConfig({"--flagfile=" + diamond + "," + c});
  EXPECT_EQ(settings.at("shards").value, "3");
  EXPECT_EQ(settings.at("shards").source, "flag file");

  const std::string e = Write("e", "--flagfile=/nonexistent/x.flags\n");
  auto run = test::RunTaaladToExit({"--print_config", "--flagfile", e}, 30000);
  ASSERT_TRUE(run.ok()) << run.status();
  EXPECT_EQ(run->exit_code, 1) << run->output;
  EXPECT_THAT(run->output,
              HasSubstr("cannot open flag file /nonexistent/x.flags (named by "
                        "--flagfile in " + e + ")"));
}

// fix-env: taalad takes no positional arguments (Abseil would ignore
// them), with advice for a boolean's separate value; an error about a value
// the command line set over the environment's does not blame the variable.
TEST(EnvConfigTest, PositionalArgumentsAndWhichSourceAnErrorNames) {
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"--shards", "5", "extra"}, "unexpected argument \"extra\""},
      {{"-"}, "unexpected argument \"-\""},
      {{"--stats", "no"}, "write --stats=no"},
      {{"--noinsecure_allow_remote", "true"},
       "write --insecure_allow_remote=true or --insecure_allow_remote=false"},
  };
  for (const auto& [args, want] : cases) {
    std::vector<std::string> line = args;
    line.insert(line.begin(), "--print_config");
    auto run = test::RunTaaladToExit(line, 30000);
    ASSERT_TRUE(run.ok()) << run.status();
    EXPECT_EQ(run->exit_code, 1) << run->output;
    EXPECT_THAT(run->output, HasSubstr(want));
  }
  ScopedEnv env;
  env.Set("TAALAD_DURABILITY", "bogus");
  auto run = test::RunTaaladToExit(
      {"--durability=also-bogus", "--admin_listen=",
       "--data_dir=" + ::testing::TempDir() + "env_config_durability"},
      30000);
  ASSERT_TRUE(run.ok()) << run.status();
  EXPECT_EQ(run->exit_code, 1) << run->output;
  EXPECT_THAT(run->output, HasSubstr("also-bogus"));
  EXPECT_THAT(run->output, ::testing::Not(HasSubstr("TAALAD_DURABILITY")));
}

// The precedence as a model: random flags set in random places (command
// line, either spot; environment; a flag file on the command line or in
// TAALAD_FLAGFILE), the highest-ranked value expected.
TEST_F(EnvConfigFileTest, RandomPlacementsFollowThePrecedence) {
  const std::vector<std::string> flags = {"shards", "max_key_bytes",
                                          "max_key_segments", "watch_buffer",
                                          "max_pending_events"};
  std::mt19937 rng(20261202);
  for (int trial = 0; trial < 40; ++trial) {
    SCOPED_TRACE(absl::StrCat("trial ", trial));
    std::vector<std::string> before_file, after_file;
    std::string cmd_file_text, env_file_text;
    ScopedEnv env;
    std::map<std::string, std::pair<int, std::string>> want;  // rank, value
    for (const std::string& flag : flags) {
      // Ranks: 0 default, 1 TAALAD_FLAGFILE, 2 --flagfile, 3 env, 4 cmdline.
      for (int place = 1; place <= 4; ++place) {
        if (rng() % 2 == 0) continue;
        const std::string value = absl::StrCat(100 + trial * 10 + place);
        switch (place) {
          case 1: absl::StrAppend(&env_file_text, "--", flag, "=", value, "\n"); break;
          case 2: absl::StrAppend(&cmd_file_text, "--", flag, "=", value, "\n"); break;
          case 3: env.Set(Var(flag), value); break;
          case 4:
            (rng() % 2 ? before_file : after_file)
                .push_back(absl::StrCat("--", flag, "=", value));
            break;
        }
        want[flag] = {place, value};
      }
    }
    std::vector<std::string> args = before_file;
    args.push_back("--flagfile=" + Write(absl::StrCat("cmd", trial), cmd_file_text));
    args.insert(args.end(), after_file.begin(), after_file.end());
    env.Set("TAALAD_FLAGFILE", Write(absl::StrCat("env", trial), env_file_text));
    const auto settings = PrintConfig(args);
    for (const std::string& flag : flags) {
      ASSERT_TRUE(settings.count(flag)) << flag;
      if (!want.count(flag)) {
        EXPECT_EQ(settings.at(flag).source, "default") << flag;
        continue;
      }
      const auto& [rank, value] = want.at(flag);
      EXPECT_EQ(settings.at(flag).value, value) << flag;
      const char* sources[] = {"default", "flag file", "flag file",
                               "environment", "command line"};
      EXPECT_THAT(settings.at(flag).source, ::testing::StartsWith(sources[rank]))
          << flag;
    }
  }
}

// An empty entry in a flag-file list is refused by the walk, which names
// where the list came from; an empty TAALAD_FLAGFILE names no file.
TEST(EnvConfigTest, EmptyFlagFileEntries) {
  {
    ScopedEnv env;
    env.Set("TAALAD_FLAGFILE", "");
    auto run = test::RunTaaladToExit({"--print_config"}, 30000);
    ASSERT_TRUE(run.ok()) << run.status();
    EXPECT_EQ(run->exit_code, 0) << run->output;
  }
  ScopedEnv env;
  env.Set("TAALAD_FLAGFILE", "/dev/null,,/dev/null");
  auto run = test::RunTaaladToExit({"--print_config"}, 30000);
  ASSERT_TRUE(run.ok()) << run.status();
  EXPECT_EQ(run->exit_code, 1) << run->output;
  EXPECT_THAT(run->output, HasSubstr("cannot open flag file"));
  EXPECT_THAT(run->output, HasSubstr("TAALAD_FLAGFILE"));
}

TEST(EnvConfigTest, PrintConfigItselfFromTheEnvironment) {
  ScopedEnv env;
  env.Set("TAALAD_PRINT_CONFIG", "true");
  auto run = test::RunTaaladToExit({}, 30000);
  ASSERT_TRUE(run.ok()) << run.status();
  EXPECT_EQ(run->exit_code, 0);
  EXPECT_THAT(run->output,
              HasSubstr("--print_config=true  # environment "
                        "TAALAD_PRINT_CONFIG"));
  EXPECT_THAT(run->output, HasSubstr("--listen=127.0.0.1:7070  # default"));
}

TEST(EnvConfigTest, ABadValueStopsTaaladNamingTheVariable) {
  ScopedEnv env;
  env.Set("TAALAD_SHARDS", "many");
  auto run = test::RunTaaladToExit({"--data_dir=/nonexistent/x"}, 30000);
  ASSERT_TRUE(run.ok()) << run.status();
  EXPECT_EQ(run->exit_code, 1);
  EXPECT_THAT(run->output, HasSubstr("TAALAD_SHARDS=\"many\""));
  EXPECT_THAT(run->output, HasSubstr("shards"));
}

TEST(EnvConfigTest, UnknownVariablesAreWarningsAndTheDaemonServes) {
  ScopedEnv env;
  env.Set("TAALAD_NO_SUCH_FLAG", "1");
  env.Set("TAALAD_listen", "10.9.9.9:1");  // Not the upper-case spelling.
  // Kubernetes' service links for a Service named "taalad" (the manifests
  // turn them off; a warning if someone does not).
  env.Set("TAALAD_SERVICE_HOST", "10.0.0.10");
  // Applied while the test's own command-line flags win: the durability
  // from the environment, the port from the command line.
  env.Set("TAALAD_DURABILITY", "none");
  env.Set("TAALAD_LISTEN", "127.0.0.1:1");
  auto daemon = test::TaaladProcess::Start();
  ASSERT_TRUE(daemon.ok()) << daemon.status();
  auto stub = test::RestartableStub((*daemon)->address());
  v1::ServerStatus status;
  ASSERT_TRUE(test::ServerStatus(stub.get(), &status).ok());
  EXPECT_EQ(status.durability(), "none");
  const std::string log = (*daemon)->Log();
  for (const char* name :
       {"TAALAD_NO_SUCH_FLAG", "TAALAD_listen", "TAALAD_SERVICE_HOST"}) {
    EXPECT_THAT(log, HasSubstr(absl::StrCat("environment variable ", name,
                                            " names no taalad flag")));
  }
  EXPECT_EQ((*daemon)->Stop(), 0);
}

// A unix socket counts as local (as loopback): served without TLS or
// --insecure_allow_remote, logged and announced by its path.
TEST(EnvConfigTest, UnixListenAddressServesWithoutTls) {
  const std::string path = absl::StrCat(::testing::TempDir(), "taala_unix_",
                                        getpid(), ".sock");
  unlink(path.c_str());
  // After the test's own --listen=127.0.0.1:0: the last --listen wins.
  auto daemon = test::TaaladProcess::Start({"--listen=unix:" + path});
  ASSERT_TRUE(daemon.ok()) << daemon.status();
  auto stub = test::RestartableStub("unix:" + path);
  v1::ServerStatus status;
  EXPECT_TRUE(test::ServerStatus(stub.get(), &status).ok());
  EXPECT_THAT((*daemon)->Log(), HasSubstr("taalad listening on unix:" + path));
  // A second one on another socket: a unix address claims no TCP port (it
  // once bound the guard of "the other loopback address" on [::1]:1).
  const std::string path2 = path + "2";
  unlink(path2.c_str());
  auto second = test::TaaladProcess::Start({"--listen=unix:" + path2});
  ASSERT_TRUE(second.ok()) << second.status();
  auto stub2 = test::RestartableStub("unix:" + path2);
  EXPECT_TRUE(test::ServerStatus(stub2.get(), &status).ok());
  EXPECT_EQ((*second)->Stop(), 0);
  EXPECT_EQ((*daemon)->Stop(), 0);
  unlink(path.c_str());
  unlink(path2.c_str());
}

// A datagram socket standing in for the service manager's.
class NotifySocket {
 public:
  explicit NotifySocket(bool abstract) {
    fd_ = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    const std::string name =
        absl::StrCat(abstract ? "@" : ::testing::TempDir(), "taala_notify_",
                     getpid(), abstract ? "_a" : "_p");
    if (!abstract) unlink(name.c_str());
    std::memcpy(address.sun_path, name.data(), name.size());
    if (abstract) address.sun_path[0] = '\0';
    bound_ = bind(fd_, reinterpret_cast<sockaddr*>(&address),
                  offsetof(sockaddr_un, sun_path) + name.size()) == 0;
    name_ = name;
  }
  ~NotifySocket() {
    close(fd_);
    if (name_[0] != '@') unlink(name_.c_str());
  }
  bool bound() const { return bound_; }
  const std::string& name() const { return name_; }
  // The next datagram, or "" after `timeout_ms`.
  std::string Receive(int timeout_ms) {
    pollfd p{fd_, POLLIN, 0};
    if (poll(&p, 1, timeout_ms) != 1) return "";
    char buffer[4096];
    const ssize_t n = recv(fd_, buffer, sizeof(buffer), 0);
    return n > 0 ? std::string(buffer, n) : "";
  }

 private:
  int fd_ = -1;
  bool bound_ = false;
  std::string name_;
};

void ExpectReadyThenStopping(bool abstract) {
  NotifySocket socket(abstract);
  ASSERT_TRUE(socket.bound()) << socket.name();
  ScopedEnv env;
  env.Set("NOTIFY_SOCKET", socket.name());
  auto daemon = test::TaaladProcess::Start();
  ASSERT_TRUE(daemon.ok()) << daemon.status();
  // Start() returned once the port file was written, just before READY=1.
  const std::string ready = socket.Receive(60000);
  EXPECT_THAT(ready, HasSubstr("READY=1"));
  EXPECT_THAT(ready, HasSubstr(absl::StrCat("STATUS=serving on 127.0.0.1:",
                                            (*daemon)->port())));
  // Ready means serving: a call is answered.
  auto stub = test::RestartableStub((*daemon)->address());
  v1::ServerStatus status;
  EXPECT_TRUE(test::ServerStatus(stub.get(), &status).ok());
  EXPECT_EQ((*daemon)->Stop(), 0);
  EXPECT_THAT(socket.Receive(60000), HasSubstr("STOPPING=1"));
}

TEST(NotifyTest, ReadyAfterRecoveryAndStoppingOnSigterm) {
  ExpectReadyThenStopping(/*abstract=*/false);
}

TEST(NotifyTest, AbstractSocket) { ExpectReadyThenStopping(/*abstract=*/true); }

}  // namespace
}  // namespace taala
