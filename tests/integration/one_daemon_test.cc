// One daemon per port and per data directory (issue 8, item 15): a second
// taalad that could serve beside the first would split clients between two
// independent lock tables, and two clients would then both hold one key.

#include <stdlib.h>

#include <filesystem>
#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/integration/taalad_process.h"

namespace taala::test {
namespace {

using ::testing::HasSubstr;

TEST(OneDaemonTest, SecondDaemonOnTheSamePortExitsWithAddressInUse) {
  auto first = TaaladProcess::Start();
  ASSERT_TRUE(first.ok()) << first.status();
  const std::string other_dir = (*first)->data_dir() + "-second";
  auto second = RunTaaladToExit(
      {absl::StrCat("--listen=", (*first)->address()),
       "--data_dir=" + other_dir},
      5000);
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_TRUE(second->exited) << "still serving after 5 s:\n"
                              << second->output;
  EXPECT_EQ(second->exit_code, 1) << second->output;
  EXPECT_THAT(second->output, HasSubstr("address in use"));
  EXPECT_THAT(second->output, HasSubstr((*first)->address()));
}

// Found by review2: the loopback check is a prefix test, so a host NAME
// that merely starts with "127." (any DNS name, resolving anywhere) passes
// as loopback and taalad would serve it without TLS and without
// --insecure_allow_remote. Only loopback IP literals and "localhost" are.
TEST(OneDaemonTest, AHostNameStartingWith127IsNotTakenForLoopback) {
  for (const char* listen :
       {"127.attacker.invalid:0", "127.0.0.1.attacker.invalid:0",
        "localhost.attacker.invalid:0", "[::1].attacker.invalid:0"}) {
    auto run = RunTaaladToExit(
        {absl::StrCat("--listen=", listen),
         "--data_dir=/tmp/taala_review2_not_loopback"},
        5000);
    ASSERT_TRUE(run.ok()) << run.status();
    EXPECT_TRUE(run->exited) << listen << ":\n" << run->output;
    EXPECT_EQ(run->exit_code, 1) << listen << ":\n" << run->output;
    EXPECT_THAT(run->output, HasSubstr("is not a loopback address"))
        << listen;
  }
}

// Found by review2: SO_REUSEPORT is off, but a second daemon given the
// other loopback address ([::1] beside 127.0.0.1) on the same port serves
// its own lock table there. A client that dials "localhost:PORT" (which
// resolves to both on most systems) may reach either daemon, and two
// clients can then both hold one key. taalad claims the port on the other
// loopback family too (bound, not listening).
TEST(OneDaemonTest, SecondDaemonOnTheOtherLoopbackFamilySamePortExits) {
  auto first = TaaladProcess::Start();
  ASSERT_TRUE(first.ok()) << first.status();
  auto second = RunTaaladToExit(
      {absl::StrCat("--listen=[::1]:", (*first)->port()),
       "--data_dir=" + (*first)->data_dir() + "-v6"},
      5000);
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_TRUE(second->exited) << "still serving after 5 s:\n"
                              << second->output;
  EXPECT_EQ(second->exit_code, 1) << second->output;
}

TEST(OneDaemonTest, SecondDaemonOnTheSameDataDirExitsNamingTheLockAndPid) {
  auto first = TaaladProcess::Start();
  ASSERT_TRUE(first.ok()) << first.status();
  auto second = RunTaaladToExit(
      {"--listen=127.0.0.1:0", "--data_dir=" + (*first)->data_dir()}, 5000);
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_TRUE(second->exited) << "still serving after 5 s:\n"
                              << second->output;
  EXPECT_EQ(second->exit_code, 1) << second->output;
  EXPECT_THAT(second->output, HasSubstr((*first)->data_dir() + "/LOCK"));
  EXPECT_THAT(second->output,
              HasSubstr(absl::StrCat("pid ", (*first)->pid())));
}

TEST(OneDaemonTest, DataDirIsFreeAgainOnceTheFirstDaemonStops) {
  std::string dir = "/tmp/taala_one_daemon_XXXXXX";
  ASSERT_NE(mkdtemp(dir.data()), nullptr);
  const std::string data_dir = dir + "/data";
  {
    auto holder = TaaladProcess::Start({}, data_dir);
    ASSERT_TRUE(holder.ok()) << holder.status();
    EXPECT_EQ((*holder)->Stop(), 0);
  }
  {
    // A killed daemon leaves its LOCK file behind too: the lock is the
    // flock, which dies with the process, not the file.
    auto killed = TaaladProcess::Start({}, data_dir);
    ASSERT_TRUE(killed.ok()) << killed.status();
  }
  auto next = TaaladProcess::Start({}, data_dir);
  ASSERT_TRUE(next.ok()) << next.status();
  EXPECT_EQ((*next)->Stop(), 0);
  std::error_code ignored;
  std::filesystem::remove_all(dir, ignored);
}

}  // namespace
}  // namespace taala::test
