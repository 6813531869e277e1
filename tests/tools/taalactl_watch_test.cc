// taalactl watch (issue 11) against the real taalad: the snapshot then the
// events, as JSON lines and as text; --count; SIGINT ends it with 0; after
// a daemon restart it reconnects by itself (and, its LSN no longer
// retained, starts over with a snapshot, saying so on stderr).

#include <signal.h>

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

std::vector<std::string> Lines(const std::string& out) {
  std::vector<std::string> lines = absl::StrSplit(out, '\n');
  if (!lines.empty() && lines.back().empty()) lines.pop_back();
  return lines;
}

TEST_F(TaalactlTest, WatchPrintsTheSnapshotThenEventsAsJsonLines) {
  const uint64_t a = CreateSession("holder");
  const uint64_t held = MustAcquire(a, "wj/held");
  std::unique_ptr<Taalactl> watch =
      Start({"watch", "wj/", "--json", "--count", "3"});
  ASSERT_TRUE(Eventually([&] { return !watch->out().empty(); }))
      << watch->err();
  const uint64_t b = CreateSession("other");
  const uint64_t t = MustAcquire(b, "wj/x");
  MustRelease(b, "wj/x", t);
  MustAcquire(b, "wj/y");
  MustAcquire(b, "elsewhere");  // Not under wj/.
  ASSERT_EQ(watch->Wait(), 0) << watch->err();
  const std::vector<std::string> lines = Lines(watch->out());
  ASSERT_EQ(lines.size(), 4u) << watch->out();
  const auto snap = FromJson<v1::WatchResponse>(lines[0]);
  ASSERT_TRUE(snap.has_snapshot());
  EXPECT_TRUE(snap.snapshot().complete());
  ASSERT_EQ(snap.snapshot().keys_size(), 1);
  EXPECT_EQ(snap.snapshot().keys(0).key(), "wj/held");
  EXPECT_EQ(snap.snapshot().keys(0).holders(0).fencing_token(), held);
  EXPECT_EQ(snap.snapshot().keys(0).holders(0).client_name(), "holder");
  const std::vector<v1::WatchEvent::Type> want = {
      v1::WatchEvent::GRANTED, v1::WatchEvent::RELEASED,
      v1::WatchEvent::GRANTED};
  uint64_t last = snap.snapshot().lsn();
  for (int i = 0; i < 3; ++i) {
    const auto e = FromJson<v1::WatchResponse>(lines[i + 1]).event();
    EXPECT_EQ(e.type(), want[i]) << lines[i + 1];
    EXPECT_GT(e.lsn(), last);
    last = e.lsn();
    EXPECT_EQ(e.client_name(), "other");
  }
}

TEST_F(TaalactlTest, WatchPrintsATableThenOneLinePerEvent) {
  const uint64_t a = CreateSession("holder");
  MustAcquire(a, "wt/held");
  std::unique_ptr<Taalactl> watch = Start({"watch", "--key", "wt/x",
                                           "--count", "1"});
  ASSERT_TRUE(Eventually([&] {
    return absl::StrContains(watch->out(), "snapshot at LSN");
  })) << watch->err();
  const uint64_t t = MustAcquire(a, "wt/x");
  ASSERT_EQ(watch->Wait(), 0) << watch->err();
  EXPECT_THAT(watch->out(), HasSubstr("0 keys in use"));  // Only wt/x.
  EXPECT_THAT(watch->out(),
              HasSubstr(absl::StrCat(t, "  ")));  // The LSN opens the line.
  EXPECT_THAT(watch->out(),
              HasSubstr(absl::StrCat("GRANTED  wt/x  ", a, "(holder)  token=",
                                     t, "  EXCLUSIVE")));
}

TEST_F(TaalactlTest, WatchEndsCleanlyOnSigintAndRejectsBadUsage) {
  std::unique_ptr<Taalactl> watch = Start({"watch"});
  ASSERT_TRUE(Eventually([&] {
    return absl::StrContains(watch->out(), "snapshot at LSN");
  })) << watch->err();
  watch->Signal(SIGINT);
  EXPECT_EQ(watch->Wait(), 0) << watch->err();
  for (const std::vector<std::string>& args :
       std::vector<std::vector<std::string>>{{"watch", "a", "b"},
                                             {"watch", "p", "--key", "k"},
                                             {"watch", "--after", "x"},
                                             {"watch", "--count", "-1"}}) {
    Taalactl t(dir_, args);
    EXPECT_EQ(t.Wait(), 64) << t.description();
  }
}

TEST_F(TaalactlTest, WatchReconnectsAcrossADaemonRestart) {
  const uint64_t a = CreateSession("before");
  std::unique_ptr<Taalactl> watch = Start({"watch", "wr/", "--json"});
  ASSERT_TRUE(Eventually([&] { return !watch->out().empty(); }));
  MustAcquire(a, "wr/x");
  ASSERT_TRUE(Eventually(
      [&] { return absl::StrContains(watch->out(), "GRANTED"); }));
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
  ASSERT_TRUE(Eventually([&] {
    return absl::StrContains(watch->err(), "reconnecting after LSN");
  })) << watch->err();
  const uint64_t b = CreateSession("after");
  const uint64_t t = MustAcquire(b, "wr/y");
  ASSERT_TRUE(Eventually([&] {
    return absl::StrContains(watch->out(),
                             absl::StrCat("\"lsn\":\"", t, "\""));
  })) << watch->out();
  const std::vector<std::string> lines = Lines(watch->out());
  int snapshots = 0;
  for (const std::string& line : lines) {
    const auto m = FromJson<v1::WatchResponse>(line);
    if (m.has_snapshot()) {
      ++snapshots;
      if (snapshots == 2) {
        ASSERT_EQ(m.snapshot().keys_size(), 1);
        EXPECT_EQ(m.snapshot().keys(0).key(), "wr/x");
      }
    }
  }
  // If its LSN predates the new daemon's history, it started over with a
  // snapshot (which shows the grant the restart restored).
  const bool over =
      absl::StrContains(watch->err(), "starting over with a snapshot");
  EXPECT_EQ(snapshots, over ? 2 : 1) << watch->err();
  watch->Signal(SIGTERM);
  EXPECT_EQ(watch->Wait(), 0) << watch->err();
}

}  // namespace
}  // namespace taala
