// Hostile review of taalactl (issue 10): terminal injection through data a
// client chose, and --endpoint forms. Every test here failed on main when
// written; each says what is wrong and what the correct behaviour is.

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/tools/taalactl_fixture.h"

namespace taala {
namespace {

using ::taala::test::Result;
using ::taala::test::Taalactl;
using ::taala::test::TaalactlTest;
using ::testing::HasSubstr;
using ::testing::Not;

// WRONG: `taalactl lock` prints who holds the key on stderr (HolderText in
// tools/lock_command.cc); the client name goes through TerminalSafe but the
// session's labels (LabelsText) do not, and taalad accepts any bytes in a
// label. Any client can create a session with a label holding ESC [ 2J (clear
// screen), colours, or a newline followed by a fake "taalactl:" line, and
// every operator whose `taalactl lock` is refused gets those bytes written to
// their terminal (terminal injection).
// CORRECT: labels are escaped like the client name (\x1b, \x0a), so the
// message is one line with no control characters.
TEST_F(TaalactlTest, ReviewNotAcquiredMessageEscapesHolderLabels) {
  const uint64_t holder = CreateSession(
      "worker", {{"host", "h1\x1b[2J\x1b[31m\ntaalactl: all clear"},
                 {"pid\x1b]0;pwned\x07", "1"}});
  MustAcquire(holder, "busy/k");
  Result r = Run({"lock", "--wait", "0", "busy/k", "--", "true"});
  EXPECT_EQ(r.code, 75) << r;
  EXPECT_THAT(r.err, HasSubstr("is held by session"));
  EXPECT_THAT(r.err, Not(HasSubstr("\x1b"))) << r;
  EXPECT_THAT(r.err, Not(HasSubstr("\x07"))) << r;
  EXPECT_THAT(r.err, Not(HasSubstr("\ntaalactl: all clear"))) << r;
}

// Same through a tree blocker: the ancestor's holder is printed with
// HolderText too.
TEST_F(TaalactlTest, ReviewNotAcquiredBlockerMessageEscapesHolderLabels) {
  const uint64_t holder =
      CreateSession("worker", {{"host", "h1\x1b[2J\ntaalactl: forged"}});
  MustAcquire(holder, "tree");
  Result r = Run({"lock", "--wait", "0", "tree/leaf", "--", "true"});
  EXPECT_EQ(r.code, 75) << r;
  EXPECT_THAT(r.err, HasSubstr("is blocked by session"));
  EXPECT_THAT(r.err, Not(HasSubstr("\x1b"))) << r;
  EXPECT_THAT(r.err, Not(HasSubstr("\ntaalactl: forged"))) << r;
}

// WRONG: a port out of range is passed to gRPC as given, and gRPC reduces it
// modulo 65536: `--endpoint 127.0.0.1:(P+65536)` silently talks to whatever
// listens on port P (here a taalad, so `health` succeeds), and `:-1` dials
// 65535. A typo in a port reaches a different service instead of failing.
// CORRECT: a port outside 1..65535 is a usage error (exit 64, nothing sent),
// as docs/taalactl.md says of malformed options.
TEST_F(TaalactlTest, ReviewEndpointPortOutOfRangeIsAUsageError) {
  const std::string wrapped =
      absl::StrCat("127.0.0.1:", daemon_->port() + 65536);
  Taalactl t(dir_, {"--endpoint=" + wrapped, "--timeout=5s", "health"},
             {});
  const int code = t.Wait();
  EXPECT_EQ(code, 64) << "--endpoint " << wrapped << " reached the daemon on "
                      << daemon_->port() << "\nstdout:\n" << t.out()
                      << "\nstderr:\n" << t.err();
  Taalactl neg(dir_, {"--endpoint=127.0.0.1:-1", "--timeout=2s", "health"},
               {});
  EXPECT_EQ(neg.Wait(), 64) << neg.err();
}

// WRONG: `--endpoint host:` (empty port) dials port 0 ("ipv4:127.0.0.1:0:
// Connection refused"), though docs/taalactl.md says an endpoint without a
// port gets taalad's 7070.
// CORRECT: either port 7070 or a usage error (exit 64), never port 0.
TEST_F(TaalactlTest, ReviewEndpointWithEmptyPortIsNotPortZero) {
  Taalactl t(dir_, {"--endpoint=127.0.0.1:", "--timeout=2s", "health"},
             {});
  const int code = t.Wait();
  if (code != 64) {
    EXPECT_THAT(t.err(), Not(HasSubstr("127.0.0.1:0"))) << t.err();
  }
}

// WRONG: taalactl escapes what it prints from the daemon's data
// (TerminalSafe), but prints the daemon's error messages raw
// (tools/command_util.cc), and taalad echoes the whole key in some of them
// ("key \"...\": empty path segment at byte N"; its control-character check
// comes later in the same loop). A key from an untrusted source
// (`taalactl describe "$KEY"` in a script or a runbook) writes ESC sequences
// to the operator's terminal.
// CORRECT: error messages go through TerminalSafe like everything else.
TEST_F(TaalactlTest, ReviewServerErrorMessagesAreTerminalSafe) {
  Result r = Run({"describe", "x//\x1b[2J\x1b[31mred"});
  EXPECT_EQ(r.code, 1) << r;
  EXPECT_THAT(r.err, HasSubstr("INVALID_ARGUMENT"));
  EXPECT_THAT(r.err, Not(HasSubstr("\x1b"))) << r;
}

}  // namespace
}  // namespace taala
