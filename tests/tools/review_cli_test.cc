// Review (issue 11, rev-cli): taalactl watch / force-release / revoke /
// release driven as a hostile client and a tired on-call engineer would,
// the real binary against the real taalad.

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "taala/v1/lock_service.grpc.pb.h"
#include "tests/tools/taalactl_fixture.h"

namespace taala {
namespace {

using ::taala::test::Eventually;
using ::taala::test::FromJson;
using ::taala::test::Taalactl;
using ::taala::test::TaalactlTest;
using ::testing::HasSubstr;
using ::testing::Not;

std::vector<std::string> Lines(const std::string& out) {
  std::vector<std::string> lines = absl::StrSplit(out, '\n');
  if (!lines.empty() && lines.back().empty()) lines.pop_back();
  return lines;
}

// U+202E RIGHT-TO-LEFT OVERRIDE, U+2066 LEFT-TO-RIGHT ISOLATE (bidi
// controls: "Trojan Source" reordering of what the operator reads) and
// U+2028 LINE SEPARATOR (a line break in many terminals and viewers).
constexpr char kRlo[] = "\xe2\x80\xae";
constexpr char kLri[] = "\xe2\x81\xa6";
constexpr char kLineSep[] = "\xe2\x80\xa8";

void ExpectNoRawFormatControls(const std::string& text) {
  EXPECT_THAT(text, Not(HasSubstr(kRlo))) << "raw U+202E reached stdout";
  EXPECT_THAT(text, Not(HasSubstr(kLri))) << "raw U+2066 reached stdout";
  EXPECT_THAT(text, Not(HasSubstr(kLineSep))) << "raw U+2028 reached stdout";
}

// Guards: watch's human output escapes bidi controls and U+2028 in keys and client names.
TEST_F(TaalactlTest, ReviewCliWatchEscapesBidiAndLineSeparatorsInHumanMode) {
  const std::string evil_key =
      absl::StrCat("rc/bidi/", kRlo, "lanretni", kLineSep, "x", kLri, "y");
  const std::string evil_name = absl::StrCat("svc", kRlo, "gnp.exe", kLineSep);
  const uint64_t holder = CreateSession(evil_name);
  MustAcquire(holder, evil_key);  // In the snapshot.
  std::unique_ptr<Taalactl> watch = Start({"watch", "rc/", "--count", "1"});
  ASSERT_TRUE(Eventually([&] {
    return absl::StrContains(watch->out(), "snapshot at LSN");
  })) << watch->err();
  const uint64_t other = CreateSession(evil_name);
  MustAcquire(other, absl::StrCat("rc/b2/", kRlo, "z", kLineSep));  // An event.
  ASSERT_EQ(watch->Wait(), 0) << watch->err();
  ASSERT_THAT(watch->out(), HasSubstr("GRANTED"));
  ExpectNoRawFormatControls(watch->out());
}

// Guards: describe/list/sessions tables escape bidi controls and U+2028 (TerminalSafe).
TEST_F(TaalactlTest, ReviewCliTablesEscapeBidiAndLineSeparators) {
  const std::string evil_key = absl::StrCat("rc/t/", kRlo, "abc", kLineSep);
  const uint64_t s = CreateSession(absl::StrCat("n", kRlo, kLri));
  MustAcquire(s, evil_key);
  for (const std::vector<std::string>& args :
       std::vector<std::vector<std::string>>{
           {"describe", evil_key}, {"list", "rc/t/"}, {"sessions"}}) {
    const test::Result r = Run(args);
    EXPECT_EQ(r.code, 0) << r;
    ExpectNoRawFormatControls(r.out);
  }
}

// --json keeps one WatchResponse a line whatever a key or name holds, and
// the hostile bytes round-trip exactly.
TEST_F(TaalactlTest, ReviewCliWatchJsonIsOneObjectPerLineForHostileNames) {
  const std::string evil_key =
      absl::StrCat("rc/j/\"}\\n", kRlo, kLineSep, "\xe2\x80\xa9{");
  const std::string evil_name = absl::StrCat("a\"b\\c", kLineSep, kRlo);
  std::unique_ptr<Taalactl> watch =
      Start({"watch", "rc/j/", "--json", "--count", "2"});
  ASSERT_TRUE(Eventually([&] { return !watch->out().empty(); }))
      << watch->err();
  const uint64_t s = CreateSession(evil_name);
  const uint64_t t = MustAcquire(s, evil_key);
  MustRelease(s, evil_key, t);
  ASSERT_EQ(watch->Wait(), 0) << watch->err();
  const std::vector<std::string> lines = Lines(watch->out());
  ASSERT_EQ(lines.size(), 3u) << watch->out();
  EXPECT_TRUE(FromJson<v1::WatchResponse>(lines[0]).has_snapshot());
  for (int i = 1; i < 3; ++i) {
    const auto e = FromJson<v1::WatchResponse>(lines[i]).event();
    EXPECT_EQ(e.key(), evil_key);
    EXPECT_EQ(e.client_name(), evil_name);
  }
}

// Guards: watch --after an LSN ahead of the daemon's log exits 1, no silent fresh snapshot.
// docs/taalactl.md: "--after LSN: resume after LSN (no snapshot)"; the
// daemon answers OUT_OF_RANGE "ahead of the log", which is not "no longer
// retained": nothing was compacted, the LSN was never this daemon's.
TEST_F(TaalactlTest, ReviewCliWatchAfterAheadOfTheLogIsAnError) {
  std::unique_ptr<Taalactl> watch =
      Start({"watch", "rc/a/", "--after", "1000000000", "--count", "1"});
  ASSERT_TRUE(Eventually([&] { return !watch->err().empty(); }));
  const uint64_t s = CreateSession("x");
  MustAcquire(s, "rc/a/k");  // Ends a watch that (wrongly) started over.
  EXPECT_EQ(watch->Wait(), 1) << watch->out() << watch->err();
  EXPECT_THAT(watch->out(), Not(HasSubstr("snapshot at LSN")));
  EXPECT_THAT(watch->err(), HasSubstr("ahead of the log"));
}

// --after garbage, negative or beyond uint64 is a usage error naming it.
TEST_F(TaalactlTest, ReviewCliWatchAfterGarbageIsUsage) {
  for (const std::string& bad :
       {"-1", "18446744073709551616", "1e3", "", "0x10", "5x"}) {
    Taalactl t(dir_, {"watch", "--after", bad});
    EXPECT_EQ(t.Wait(), 64) << "--after '" << bad << "'\n" << t.err();
    EXPECT_THAT(t.err(), HasSubstr("--after")) << bad;
  }
}

// A watch whose stdout pipe is gone (`taalactl watch | head -1`) ends by
// SIGPIPE on its next write instead of running on.
TEST_F(TaalactlTest, ReviewCliWatchIntoAClosedPipeEnds) {
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  close(fds[0]);  // The reader (head) is gone.
  std::vector<std::string> argv = {TAALACTL_PATH,
                                   "--endpoint=" + daemon_->address(),
                                   "watch", "rc/p/"};
  std::vector<char*> cargv;
  for (std::string& a : argv) cargv.push_back(a.data());
  cargv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, fds[1], 1);
  posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
  pid_t pid = -1;
  ASSERT_EQ(posix_spawn(&pid, cargv[0], &actions, nullptr, cargv.data(),
                        environ),
            0);
  posix_spawn_file_actions_destroy(&actions);
  close(fds[1]);
  int status = 0;
  const bool ended = Eventually([&] {
    return waitpid(pid, &status, WNOHANG) == pid;
  });
  if (!ended) {
    kill(pid, SIGKILL);
    waitpid(pid, nullptr, 0);
  }
  ASSERT_TRUE(ended) << "watch into a closed pipe did not end";
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGPIPE)
      << "status " << status;
}

// Every failure exits as documented, naming what was wrong.
TEST_F(TaalactlTest, ReviewCliAdminFailuresExitAsDocumented) {
  const uint64_t a = CreateSession("a");
  const uint64_t b = CreateSession("b");
  const uint64_t t = MustAcquire(a, "rc/e/k");
  // release with another session's token: refused, the key stays.
  test::Result r =
      Run({"release", "rc/e/k", "--session", absl::StrCat(b), "--token",
           absl::StrCat(t)});
  EXPECT_EQ(r.code, 1) << r;
  EXPECT_THAT(r.err, HasSubstr("FAILED_PRECONDITION")) << r;
  EXPECT_THAT(r.err, HasSubstr("rc/e/k")) << r;
  EXPECT_EQ(Describe("rc/e/k").holders_size(), 1);
  r = Run({"force-release", "rc/e/none", "--reason", "x"});
  EXPECT_EQ(r.code, 1) << r;
  EXPECT_THAT(r.err, HasSubstr("NOT_FOUND")) << r;
  EXPECT_THAT(r.err, HasSubstr("rc/e/none")) << r;
  r = Run({"revoke", "987654321", "--reason", "x"});
  EXPECT_EQ(r.code, 1) << r;
  EXPECT_THAT(r.err, HasSubstr("987654321")) << r;
  r = Run({"force-release", "rc/e/k", "--reason", "x", "--session",
           absl::StrCat(b)});
  EXPECT_EQ(r.code, 1) << r;
  EXPECT_EQ(Describe("rc/e/k").holders_size(), 1) << r;
  for (const std::vector<std::string>& args :
       std::vector<std::vector<std::string>>{
           {"force-release", "rc/e/k"},
           {"force-release", "rc/e/k", "--reason", ""},
           {"revoke", "0", "--reason", "x"},
           {"revoke", "abc", "--reason", "x"},
           {"release", "rc/e/k", "--session", "1"},
           {"release", "rc/e/k", "--token", "1"},
           {"release", "rc/e/k", "--session", "-1", "--token", "1"}}) {
    r = Run(args);
    EXPECT_EQ(r.code, 64) << absl::StrJoin(args, " ") << "\n" << r;
  }
  for (const std::vector<std::string>& args :
       std::vector<std::vector<std::string>>{
           {"--endpoint=127.0.0.1:1", "watch"},
           {"--endpoint=127.0.0.1:1", "force-release", "k", "--reason", "x"},
           {"--endpoint=127.0.0.1:1", "revoke", "5", "--reason", "x"},
           {"--endpoint=127.0.0.1:1", "policies"}}) {
    Taalactl t(dir_, args);
    EXPECT_EQ(t.Wait(), 69) << absl::StrJoin(args, " ") << "\n" << t.err();
  }
}

}  // namespace
}  // namespace taala

namespace taala {
namespace {

// Guards: watch's snapshot table escapes keys and client names once, as event lines do.
TEST_F(TaalactlTest, ReviewCliWatchSnapshotShowsKeysAsEventLinesDo) {
  const std::string key = "rc/s/dom\\svc";
  const uint64_t s = CreateSession("dom\\user");
  const uint64_t t = MustAcquire(s, key);
  std::unique_ptr<Taalactl> watch = Start({"watch", "rc/s/", "--count", "1"});
  ASSERT_TRUE(Eventually([&] {
    return absl::StrContains(watch->out(), "snapshot at LSN");
  })) << watch->err();
  MustRelease(s, key, t);
  ASSERT_EQ(watch->Wait(), 0) << watch->err();
  const std::vector<std::string> lines = Lines(watch->out());
  ASSERT_EQ(lines.size(), 4u) << watch->out();  // Title, header, row, event.
  // The event line shows the key and client once escaped.
  const std::string shown_key = "rc/s/dom\\\\svc";
  const std::string shown_who = absl::StrCat(s, "(dom\\\\user)");
  ASSERT_THAT(lines[3], HasSubstr(absl::StrCat("RELEASED  ", shown_key, "  ",
                                               shown_who)));
  // The snapshot row shows them the same way.
  EXPECT_TRUE(absl::StartsWith(lines[2], shown_key + " ")) << lines[2];
  EXPECT_THAT(lines[2], HasSubstr(absl::StrCat(shown_who, "#", t)))
      << lines[2];
}

// Guards: taalactl policies escapes a bidi override in a policy prefix.
TEST_F(TaalactlTest, ReviewCliPoliciesEscapeBidiInPrefixes) {
  const std::string file = Path("policies");
  {
    std::ofstream out(file);
    out << "pay" << kRlo << "stnemyap/ max_hold=30s\n";
  }
  auto started = test::TaaladProcess::Start({"--policy_file=" + file});
  ASSERT_TRUE(started.ok()) << started.status();
  Taalactl t(dir_, {"--endpoint=" + (*started)->address(), "policies"});
  ASSERT_EQ(t.Wait(), 0) << t.err();
  ASSERT_THAT(t.out(), HasSubstr("30s"));
  ExpectNoRawFormatControls(t.out());
}

}  // namespace
}  // namespace taala

namespace taala {
namespace {

// Guards: watch --after N on a quiet prefix reconnects across a daemon restart (no exit 69).
// docs/taalactl.md: "It resumes by itself: when the daemon restarts ... A
// daemon unreachable at the start is exit 69." Here the daemon was reached
// and the watch was open (taala_watchers 1) when it restarted.
TEST_F(TaalactlTest, ReviewCliWatchAfterOnAQuietPrefixSurvivesARestart) {
  const uint64_t s = CreateSession("s");
  const uint64_t t = MustAcquire(s, "rc/elsewhere");  // An LSN to resume after.
  std::unique_ptr<Taalactl> watch = Start(
      {"watch", "rc/q/", "--json", "--after", absl::StrCat(t), "--count", "1"});
  auto watchers = [&] {
    grpc::ClientContext ctx;
    SetDeadline(&ctx);
    v1::GetMetricsResponse resp;
    grpc::Status st = stub_->GetMetrics(&ctx, v1::GetMetricsRequest(), &resp);
    return st.ok() ? resp.metrics().watchers() : 0;
  };
  ASSERT_TRUE(Eventually([&] { return watchers() == 1; })) << watch->err();
  const int port = daemon_->port();
  const std::string data_dir = daemon_->data_dir();
  ASSERT_EQ(daemon_->Stop(), 0);
  // The stopped daemon's object is replaced only once the new one runs on
  // its data directory: destroying it first removed the directory it had
  // created, and the restart came up empty.
  auto restarted = test::TaaladProcess::StartOnPort(
      port, {"--min_session_ttl=100ms"}, data_dir);
  ASSERT_TRUE(restarted.ok()) << restarted.status();
  daemon_ = std::move(*restarted);
  stub_ = v1::LockService::NewStub(grpc::CreateChannel(
      daemon_->address(), grpc::InsecureChannelCredentials()));
  // Still watching: it reconnects, and the next grant under rc/q/ ends it
  // (--count 1) with 0.
  ASSERT_TRUE(Eventually([&] { return watchers() == 1; }))
      << "the watch did not reconnect; stderr:\n" << watch->err();
  const uint64_t s2 = CreateSession("s2");
  MustAcquire(s2, "rc/q/k");
  EXPECT_EQ(watch->Wait(), 0) << watch->err();
  EXPECT_THAT(watch->out(), HasSubstr("rc/q/k"));
}

}  // namespace
}  // namespace taala
