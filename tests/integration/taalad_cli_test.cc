// taalad's command line as a new user meets it: --help lists the daemon's
// flags, --version prints the version and the git commit, and
// --log_format=json writes one JSON object a line.

#include <grpcpp/grpcpp.h>

#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/version.h"
#include "gmock/gmock.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "tests/integration/admin_helpers.h"
#include "tests/integration/rpc_helpers.h"
#include "tests/integration/taalad_process.h"

namespace taala {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

// Every line of `log` as a JSON object with exactly time, level and
// message (a failed expectation for any line that is not).
std::vector<google::protobuf::Struct> JsonLines(const std::string& log) {
  std::vector<google::protobuf::Struct> objects;
  std::istringstream lines(log);
  for (std::string line; std::getline(lines, line);) {
    google::protobuf::Struct object;
    const auto s = google::protobuf::util::JsonStringToMessage(line, &object);
    EXPECT_TRUE(s.ok()) << s.ToString() << ": " << line;
    if (!s.ok()) continue;
    const auto& f = object.fields();
    EXPECT_EQ(f.size(), 3u) << line;
    if (f.size() != 3 || !f.count("time") || !f.count("level") ||
        !f.count("message")) {
      ADD_FAILURE() << "want time, level and message: " << line;
      continue;
    }
    EXPECT_THAT(f.at("time").string_value(),
                ::testing::MatchesRegex("[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:"
                                        "[0-9]{2}:[0-9]{2}\\.[0-9]{3}Z"));
    EXPECT_THAT(f.at("level").string_value(),
                ::testing::AnyOf("trace", "debug", "info", "warning", "error",
                                 "critical"));
    EXPECT_FALSE(f.at("message").string_value().empty());
    objects.push_back(std::move(object));
  }
  return objects;
}

TEST(TaaladCliTest, HelpListsTheDaemonsFlags) {
  auto run = test::RunTaaladToExit({"--help"}, 10000);
  ASSERT_TRUE(run.ok()) << run.status();
  EXPECT_TRUE(run->exited);
  EXPECT_THAT(run->output, Not(HasSubstr("No flags matched")));
  EXPECT_THAT(run->output, HasSubstr("Usage: taalad"));
  for (const char* flag :
       {"--listen", "--insecure_allow_remote", "--port_file", "--data_dir",
        "--durability", "--admin_listen", "--admin_port_file", "--log_level",
        "--log_format", "--max_lock_delay", "--drain_timeout", "--shards"}) {
    EXPECT_THAT(run->output, HasSubstr(absl::StrCat(flag, " ("))) << flag;
  }
}

TEST(TaaladCliTest, VersionPrintsTheVersionAndTheCommit) {
  auto run = test::RunTaaladToExit({"--version"}, 10000);
  ASSERT_TRUE(run.ok()) << run.status();
  EXPECT_TRUE(run->exited);
  EXPECT_EQ(run->exit_code, 0);
  // The commit this tree was built from (a test binary linked at another
  // commit than taalad would print another one: the form is what counts).
  EXPECT_THAT(run->output,
              ::testing::MatchesRegex(absl::StrCat(
                  "taalad ", TaalaVersion(),
                  " \\(commit ([0-9a-f]{12}(-dirty)?|unknown)\\)\n")));
  EXPECT_THAT(run->output, Not(HasSubstr("Debug build")));
}

TEST(TaaladCliTest, AnUnknownLogFormatIsRefused) {
  auto run = test::RunTaaladToExit(
      {"--log_format=xml", "--listen=127.0.0.1:0", "--admin_listen="}, 10000);
  ASSERT_TRUE(run.ok()) << run.status();
  EXPECT_EQ(run->exit_code, 1) << run->output;
  EXPECT_THAT(run->output, HasSubstr("--log_format must be text or json"));
}

// Every line is a JSON object with time, level and message; a client name
// with a quote, a backslash and a newline in it stays inside its string
// (escaped once by the log line itself, as in text format: no raw control
// character reaches a log line, logging_observer.cc; then by JSON).
TEST(TaaladCliTest, JsonLogLinesParseAsJson) {
  auto daemon = test::TaaladProcess::Start(
      {"--log_format=json", "--min_session_ttl=100ms"});
  ASSERT_TRUE(daemon.ok()) << daemon.status();
  auto stub = test::RestartableStub((*daemon)->address());
  const std::string name = "odd \"name\" \\ with\nnewline";
  const std::string logged = "odd \\\"name\\\" \\\\ with\\nnewline";
  ASSERT_NE(test::LabelledSession(stub.get(), name, {}, /*ttl_ms=*/100), 0u);
  // Its expiry is logged with the client name.
  for (int i = 0; i < 3000 && !absl::StrContains((*daemon)->Log(), "expired");
       ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_EQ((*daemon)->Stop(), 0);
  const std::string log = (*daemon)->Log();
  int parsed = 0;
  bool saw_name = false;
  for (const google::protobuf::Struct& object : JsonLines(log)) {
    saw_name = saw_name ||
               absl::StrContains(object.fields().at("message").string_value(),
                                 logged);
    ++parsed;
  }
  EXPECT_GE(parsed, 3) << log;  // Recovery, listening, expiry, stop at least.
  EXPECT_TRUE(saw_name) << log;
}

// Also the line of a daemon that must stop: a failed log fsync.
TEST(TaaladCliTest, AFatalLogErrorIsAJsonLineToo) {
  auto daemon = test::TaaladProcess::Start(
      {"--log_format=json", "--fault_wal_fail_fsync"});
  ASSERT_TRUE(daemon.ok()) << daemon.status();
  auto stub = test::RestartableStub((*daemon)->address());
  test::LabelledSession(stub.get(), "doomed", {});  // Its fsync fails.
  EXPECT_EQ((*daemon)->WaitForExit(), 1);
  bool fatal = false;
  for (const google::protobuf::Struct& object : JsonLines((*daemon)->Log())) {
    fatal = fatal ||
            (object.fields().at("level").string_value() == "critical" &&
             absl::StrContains(object.fields().at("message").string_value(),
                               "write-ahead log failed"));
  }
  EXPECT_TRUE(fatal) << (*daemon)->Log();
}

}  // namespace
}  // namespace taala
