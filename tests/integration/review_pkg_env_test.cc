// Review of issue 13 (rev-pkg): taalad's configuration from the command
// line, the environment (TAALAD_<FLAG>) and flag files, --print_config, and
// the readiness notification with a bogus $NOTIFY_SOCKET. Tests marked
// FINDING fail on the code they were written against; the others are edges
// that held, kept as regression tests.

#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <map>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/integration/rpc_helpers.h"
#include "tests/integration/scoped_env.h"
#include "tests/integration/taalad_process.h"

namespace taala {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

using test::ScopedEnv;

// A scratch directory, removed at the end.
class Scratch {
 public:
  Scratch() {
    char tmpl[] = "/tmp/review_pkg_env.XXXXXX";
    dir_ = mkdtemp(tmpl);
  }
  ~Scratch() { std::system(("rm -rf '" + dir_ + "'").c_str()); }
  std::string Write(const std::string& name, const std::string& text) {
    const std::string path = dir_ + "/" + name;
    std::ofstream(path) << text;
    return path;
  }
  const std::string& dir() const { return dir_; }

 private:
  std::string dir_;
};

struct Setting {
  std::string value;
  std::string source;
};

struct Config {
  int exit_code = -1;
  std::string output;
  std::map<std::string, Setting> settings;
};

// `taalad --print_config ARGS`.
Config PrintConfig(std::vector<std::string> args) {
  args.insert(args.begin(), "--print_config");
  Config c;
  auto run = test::RunTaaladToExit(args, 30000);
  EXPECT_TRUE(run.ok()) << run.status();
  if (!run.ok()) return c;
  c.exit_code = run->exit_code;
  c.output = run->output;
  static const std::regex line_re("^--([a-z0-9_]+)=(.*)  # (.*)$");
  std::istringstream lines(run->output);
  for (std::string line; std::getline(lines, line);) {
    std::smatch m;
    if (std::regex_match(line, m, line_re)) c.settings[m[1]] = {m[2], m[3]};
  }
  return c;
}

// ---------------------------------------------------------------- findings

// FINDING: a boolean flag followed by "false" turns the flag ON: Abseil takes
// no value for a bool from the next argument, so "false" is a positional
// argument, and taalad ignores positional arguments without a word
// (ParseDaemonCommandLine drops absl::ParseCommandLine's return value).
// `taalad --insecure_allow_remote false` serves remote plaintext.
TEST(ReviewPkgEnvTest, BoolFlagFollowedByFalseIsNotSilentlyTrue) {
  Config c = PrintConfig({"--insecure_allow_remote", "false"});
  const bool refused = c.exit_code != 0;
  const bool is_false = c.settings["insecure_allow_remote"].value == "false";
  EXPECT_TRUE(refused || is_false)
      << "exit " << c.exit_code << ", --insecure_allow_remote="
      << c.settings["insecure_allow_remote"].value << " ("
      << c.settings["insecure_allow_remote"].source << ")\n"
      << c.output;
}

// FINDING: arguments after "--" (or any positional argument) are ignored
// without a word: `taalad -- --shards=5` serves with the default shards.
TEST(ReviewPkgEnvTest, PositionalArgumentsAreRefused) {
  Config c = PrintConfig({"--", "--shards=5"});
  EXPECT_NE(c.exit_code, 0) << c.output;
  EXPECT_THAT(c.output, HasSubstr("--shards=5")) << "the ignored argument is named";
}

// FINDING: a value the flag's type accepts but taalad refuses later
// (durability, log level, memory budget, listen port, a missing
// TAALAD_FLAGFILE) stops taalad naming the flag (--durability: ...), never
// the environment variable that set it: the operator of a container whose
// ConfigMap sets TAALAD_DURABILITY looks for "--durability" in vain. The
// issue and docs/deploy.md: "a bad value stops it naming the variable".
TEST(ReviewPkgEnvTest, EveryRefusalOfAnEnvironmentValueNamesTheVariable) {
  Scratch scratch;
  const std::vector<std::pair<std::string, std::string>> bad = {
      {"TAALAD_DURABILITY", "bogus"},
      {"TAALAD_LOG_LEVEL", "loud"},
      {"TAALAD_MEMORY_BUDGET", "200%"},
      {"TAALAD_LISTEN", "127.0.0.1:99999"},
      {"TAALAD_FLAGFILE", "/nonexistent/taalad.flags"},
  };
  for (const auto& [name, value] : bad) {
    ScopedEnv env;
    env.Set(name, value);
    auto run = test::RunTaaladToExit(
        {"--data_dir=" + scratch.dir() + "/data", "--admin_listen="}, 30000);
    ASSERT_TRUE(run.ok()) << run.status();
    EXPECT_EQ(run->exit_code, 1) << name << "=" << value << ": " << run->output;
    EXPECT_THAT(run->output, HasSubstr(name))
        << name << "=" << value << " refused without naming the variable";
  }
}

// FINDING: docs/deploy.md says "Only the upper-case spelling counts", and
// TAALAD_listen is warned about and ignored, but TAALAD_flagfile (any
// case) is read: daemon_env.cc checks the flag file before the spelling.
TEST(ReviewPkgEnvTest, LowerCaseFlagfileVariableIsNotRead) {
  Scratch scratch;
  const std::string file = scratch.Write("f.flags", "--shards=3\n");
  ScopedEnv env;
  env.Set("TAALAD_flagfile", file);
  Config c = PrintConfig({});
  EXPECT_EQ(c.settings["shards"].value, "64") << c.output;
  EXPECT_THAT(c.output, HasSubstr("TAALAD_flagfile")) << "warned as ignored";
}

// FINDING: --print_config prints values raw: a value with a newline (from
// the environment, where nothing refuses one) makes a second line that reads
// as another flag with a source of its choosing. Every line must be a
// comment or "--name=value  # source", and each flag appear once.
TEST(ReviewPkgEnvTest, PrintConfigLinesCannotBeForgedByAValue) {
  ScopedEnv env;
  env.Set("TAALAD_DATA_DIR", "x\n--listen=0.0.0.0:7070  # command line");
  Config c = PrintConfig({});
  ASSERT_EQ(c.exit_code, 0) << c.output;
  static const std::regex ok_line(
      "^(#.*|--[a-z0-9_]+=.*  # (default|command line|flag file|environment "
      "TAALAD_[A-Z0-9_]+))$");
  int listen_lines = 0;
  std::istringstream lines(c.output);
  for (std::string line; std::getline(lines, line);) {
    EXPECT_TRUE(std::regex_match(line, ok_line)) << "line: " << line;
    if (line.rfind("--listen=", 0) == 0) ++listen_lines;
  }
  EXPECT_EQ(listen_lines, 1) << c.output;
}

// FINDING: --print_config names the wrong source when a flag appears on the
// command line only as the VALUE of a string flag's two-argument form
// (Abseil takes `--data_dir --shards=5` as data_dir="--shards=5"):
// daemon_env.cc counts every argument that starts with '-' as a flag named
// on the command line, so shards, set by TAALAD_SHARDS=9, is reported as
// "command line".
TEST(ReviewPkgEnvTest, PrintConfigSourceOfAFlagNamedOnlyAsAValue) {
  ScopedEnv env;
  env.Set("TAALAD_SHARDS", "9");
  Config c = PrintConfig({"--data_dir", "--shards=5"});
  ASSERT_EQ(c.exit_code, 0) << c.output;
  ASSERT_EQ(c.settings["data_dir"].value, "--shards=5");
  EXPECT_EQ(c.settings["shards"].value, "9");
  EXPECT_EQ(c.settings["shards"].source, "environment TAALAD_SHARDS") << c.output;
}

// FINDING: a flag file that includes itself (directly, or through
// TAALAD_FLAGFILE and the command line's flag file including each other)
// never finishes parsing: Abseil reads it again and again, RSS growing about
// 20 MB/s, until the OOM killer or systemd's TimeoutStartSec=300 stops it,
// and Restart=on-failure starts it over. taalad now arranges the flag files
// itself (daemon_env.cc) and could refuse a cycle naming the file.
TEST(ReviewPkgEnvTest, AFlagFileIncludingItselfIsRefused) {
  Scratch scratch;
  const std::string self = scratch.dir() + "/self.flags";
  scratch.Write("self.flags", absl::StrCat("--shards=8\n--flagfile=", self, "\n"));
  auto run = test::RunTaaladToExit({"--print_config", "--flagfile=" + self}, 15000);
  ASSERT_TRUE(run.ok()) << run.status();
  EXPECT_TRUE(run->exited) << "still parsing flag files after 15 s (killed)";
  EXPECT_NE(run->exit_code, 0);
  EXPECT_THAT(run->output, HasSubstr("self.flags"));
}

// ------------------------------------------------------------ edges held

// The two-argument form on the command line beats the environment, and
// --noFLAG beats a TAALAD_FLAG=true.
TEST(ReviewPkgEnvTest, TwoArgumentFormAndNoFlagBeatTheEnvironment) {
  ScopedEnv env;
  env.Set("TAALAD_SHARDS", "9");
  env.Set("TAALAD_INSECURE_ALLOW_REMOTE", "true");
  env.Set("TAALAD_DURABILITY", "none");
  Config c = PrintConfig(
      {"--shards", "5", "--noinsecure_allow_remote", "-durability", "async"});
  ASSERT_EQ(c.exit_code, 0) << c.output;
  EXPECT_EQ(c.settings["shards"].value, "5");
  EXPECT_EQ(c.settings["shards"].source, "command line");
  EXPECT_EQ(c.settings["insecure_allow_remote"].value, "false");
  EXPECT_EQ(c.settings["insecure_allow_remote"].source, "command line");
  EXPECT_EQ(c.settings["durability"].value, "async");
  EXPECT_EQ(c.settings["durability"].source, "command line");
}

// A flag file nested in a flag file (two-argument and single-dash forms,
// listed twice) stays below the environment; a flag file setting a flag to
// its default value is still its source; repeated command-line flags: the
// last wins.
TEST(ReviewPkgEnvTest, NestedAndRepeatedFlagFilesStayBelowTheEnvironment) {
  Scratch scratch;
  const std::string inner =
      scratch.Write("inner.flags", "--shards=64\n--max_keys=77\n--listen=127.0.0.1:1\n");
  const std::string outer = scratch.Write(
      "outer.flags", absl::StrCat("# comment\n--flagfile=", inner, "\n"));
  ScopedEnv env;
  env.Set("TAALAD_LISTEN", "127.0.0.1:2");
  env.Set("TAALAD_FLAGFILE", outer);
  Config c = PrintConfig({"-flagfile", outer, "--flagfile=" + outer,
                                "--max_keys=5", "--max_keys=6"});
  ASSERT_EQ(c.exit_code, 0) << c.output;
  EXPECT_EQ(c.settings["listen"].value, "127.0.0.1:2");
  EXPECT_EQ(c.settings["listen"].source, "environment TAALAD_LISTEN");
  EXPECT_EQ(c.settings["shards"].value, "64");
  EXPECT_EQ(c.settings["shards"].source, "flag file");
  EXPECT_EQ(c.settings["max_keys"].value, "6");
  EXPECT_EQ(c.settings["max_keys"].source, "command line");
}

// '=' in an environment value is part of the value; an empty value sets the
// flag empty (TAALAD_ADMIN_LISTEN= turns the listener off); Abseil's own
// flags (help, fromenv, tryfromenv, version) are not taken from TAALAD_
// variables: warned and ignored.
TEST(ReviewPkgEnvTest, EqualsEmptyAndAbseilsOwnFlags) {
  ScopedEnv env;
  env.Set("TAALAD_DATA_DIR", "/tmp/a=b");
  env.Set("TAALAD_ADMIN_LISTEN", "");
  env.Set("TAALAD_HELP", "true");
  env.Set("TAALAD_FROMENV", "shards");
  env.Set("TAALAD_TRYFROMENV", "shards");
  env.Set("TAALAD_VERSION", "true");
  Config c = PrintConfig({});
  ASSERT_EQ(c.exit_code, 0) << c.output;
  EXPECT_EQ(c.settings["data_dir"].value, "/tmp/a=b");
  EXPECT_EQ(c.settings["admin_listen"].value, "");
  EXPECT_EQ(c.settings["admin_listen"].source, "environment TAALAD_ADMIN_LISTEN");
  for (const char* name : {"TAALAD_HELP", "TAALAD_FROMENV", "TAALAD_TRYFROMENV",
                           "TAALAD_VERSION"}) {
    EXPECT_THAT(c.output, HasSubstr(absl::StrCat("# warning: environment variable ",
                                                 name, " names no taalad flag")));
  }
  EXPECT_EQ(c.settings["shards"].value, "64");
}

// A bogus $NOTIFY_SOCKET (relative, too long, nonexistent, a stream socket, a
// datagram socket nobody reads whose buffer is full) neither stops nor
// blocks taalad: it serves and stops cleanly.
TEST(ReviewPkgEnvTest, BogusNotifySocketNeitherCrashesNorBlocks) {
  Scratch scratch;
  // A stream socket listening at a path.
  const std::string stream_path = scratch.dir() + "/stream.sock";
  const int stream_fd = socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::snprintf(a.sun_path, sizeof(a.sun_path), "%s", stream_path.c_str());
  ASSERT_EQ(bind(stream_fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
  ASSERT_EQ(listen(stream_fd, 1), 0);
  // A datagram socket whose receive queue is full.
  const std::string full_path = scratch.dir() + "/full.sock";
  const int full_fd = socket(AF_UNIX, SOCK_DGRAM, 0);
  sockaddr_un b{};
  b.sun_family = AF_UNIX;
  std::snprintf(b.sun_path, sizeof(b.sun_path), "%s", full_path.c_str());
  ASSERT_EQ(bind(full_fd, reinterpret_cast<sockaddr*>(&b), sizeof(b)), 0);
  const int sender = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK, 0);
  const std::string filler(1024, 'x');
  int queued = 0;
  while (sendto(sender, filler.data(), filler.size(), 0,
                reinterpret_cast<sockaddr*>(&b), sizeof(b)) > 0 &&
         queued < 100000) {
    ++queued;
  }
  close(sender);
  ASSERT_GT(queued, 0);

  for (const std::string& value :
       {std::string("relative/notify.sock"), "/" + std::string(200, 'a'),
        std::string("/nonexistent/dir/notify.sock"), std::string("@"),
        std::string("@no-such-abstract-socket-review-pkg"), stream_path,
        full_path}) {
    ScopedEnv env;
    env.Set("NOTIFY_SOCKET", value);
    auto daemon = test::TaaladProcess::Start();
    ASSERT_TRUE(daemon.ok()) << "NOTIFY_SOCKET=" << value << ": " << daemon.status();
    auto stub = test::RestartableStub((*daemon)->address());
    v1::ServerStatus status;
    EXPECT_TRUE(test::ServerStatus(stub.get(), &status).ok()) << value;
    EXPECT_EQ((*daemon)->Stop(), 0) << "NOTIFY_SOCKET=" << value << "\n"
                                    << (*daemon)->Log();
  }
  close(stream_fd);
  close(full_fd);
}

}  // namespace
}  // namespace taala
