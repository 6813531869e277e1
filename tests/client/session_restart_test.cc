// The client library across restarts of a taalad that keeps its state (the
// write-ahead log, fsync mode): a kill -9 or a SIGTERM on the same data
// directory and port is not the loss of a session. The library reconnects,
// its session is renewed by the new daemon and its Locks still own their
// keys with the same fencing tokens.

#include <memory>
#include <string>
#include <thread>

#include "absl/status/status.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "client/lock_client.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/client/client_fixture.h"

namespace taala {
namespace {

constexpr absl::Duration kTtl = absl::Seconds(4);

class ClientRestartTest : public test::ClientFixture {
 protected:
  // Stops the daemon (`kill9`: SIGKILL, else SIGTERM) and starts another on
  // its data directory and port.
  void Restart(bool kill9) {
    const int port = daemon_->port();
    const std::string dir = daemon_->data_dir();
    old_ = std::move(daemon_);
    if (kill9) {
      old_->Kill();
    } else {
      ASSERT_EQ(old_->Stop(), 0);
    }
    auto started = test::TaaladProcess::StartOnPort(
        port, {"--min_session_ttl=100ms"}, dir);
    ASSERT_TRUE(started.ok()) << started.status();
    daemon_ = std::move(*started);
  }

  std::unique_ptr<test::TaaladProcess> old_;
};

TEST_F(ClientRestartTest, SessionAndLocksSurviveKillNineAndSigterm) {
  auto client = Connect(Options());
  absl::Notification lost;
  SessionOptions options;
  options.on_lost = [&](const absl::Status&) { lost.Notify(); };
  auto session = NewSession(*client, kTtl, options);
  ASSERT_NE(session, nullptr);
  Lock a(*session, "restart/a");
  ASSERT_TRUE(a.try_lock());
  const uint64_t token = a.fencing_token();

  for (bool kill9 : {true, false}) {
    Restart(kill9);
    // Two TTLs: the lease has been renewed by the new daemon, or the
    // session would be reported lost by now.
    EXPECT_FALSE(lost.WaitForNotificationWithTimeout(2 * kTtl))
        << (kill9 ? "kill -9" : "SIGTERM") << ": session lost: "
        << session->lost_status();
    EXPECT_FALSE(session->lost());
    EXPECT_TRUE(a.owns_lock());
    EXPECT_EQ(a.fencing_token(), token);
    EXPECT_TRUE(HeldByAnother(*client, "restart/a"));
  }
  // The grant is the daemon's too: it releases, and another can take it.
  a.unlock();
  EXPECT_FALSE(HeldByAnother(*client, "restart/a"));
}

}  // namespace
}  // namespace taala
