// The client believes the server (issue 8, item 16): NOT_FOUND for a
// session is final. A daemon restarted without the session's state answers
// NOT_FOUND, and every Lock of the session stops owning its key at once,
// long before the session's TTL would have run out. Against a real taalad.

#include <memory>
#include <string>
#include <thread>

#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "client/lock_client.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/client/client_fixture.h"
#include "tests/testing/status_matchers.h"

namespace taala {
namespace {

using ::taala::test::StatusIs;

// Long enough that no test here can see the lease run out.
constexpr absl::Duration kTtl = absl::Seconds(60);

class SessionLossTest : public test::ClientFixture {
 protected:
  // Stops the daemon and starts another on the same port with a fresh data
  // directory: a daemon that lost the session's state (a restart on the
  // same data directory keeps sessions since the write-ahead log).
  // `while_down` runs in between.
  template <typename F>
  void Restart(F while_down) {
    const int port = daemon_->port();
    old_ = std::move(daemon_);
    ASSERT_EQ(old_->Stop(), 0);
    while_down();
    Start({"--listen=127.0.0.1:" + std::to_string(port)});
  }

  // Opens the circuit breaker: calls fail while the daemon is down.
  static void FailCallsWhileDown(Lock& lock) {
    for (int i = 0; i < 6; ++i) {
      EXPECT_THROW(lock.try_lock(), LockError);
    }
  }

  std::unique_ptr<test::TaaladProcess> old_;
};

TEST_F(SessionLossTest,
       NotFoundFromARestartedDaemonEndsOwnershipWithinOneRoundTrip) {
  auto client = Connect(Options());
  absl::Notification lost;
  absl::Mutex mu;
  absl::Status why;
  SessionOptions options;
  options.on_lost = [&](const absl::Status& s) {
    absl::MutexLock lock(&mu);
    why = s;
    lost.Notify();
  };
  auto session = NewSession(*client, kTtl, options);
  Lock a(*session, "a");
  Lock b(*session, "b");
  ASSERT_TRUE(a.try_lock());
  ASSERT_TRUE(b.try_lock());
  Lock c(*session, "c");
  Restart([&] {
    FailCallsWhileDown(c);
    // The lease is still good: nothing was said by a server.
    EXPECT_FALSE(session->lost());
    EXPECT_TRUE(a.owns_lock());
  });
  // One round trip to the new daemon is enough; 5 s is generous, and far
  // below the TTL.
  ASSERT_TRUE(lost.WaitForNotificationWithTimeout(absl::Seconds(5)))
      << "the session was not reported lost within 5 s of the restart";
  EXPECT_TRUE(session->lost());
  EXPECT_FALSE(a.owns_lock());
  EXPECT_FALSE(b.owns_lock());
  absl::MutexLock lock(&mu);
  EXPECT_THAT(why, StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(session->lost_status(), StatusIs(absl::StatusCode::kNotFound));
}

TEST_F(SessionLossTest, NotFoundAnsweredToACallEndsOwnershipAtOnce) {
  auto client = Connect(Options());
  auto session = NewSession(*client, kTtl);
  Lock a(*session, "a");
  ASSERT_TRUE(a.try_lock());
  Lock c(*session, "c");
  Restart([&] { FailCallsWhileDown(c); });
  // Call until the new daemon answers (the circuit breaker lets a probe
  // through after open_for); its answer is NOT_FOUND.
  absl::Status status;
  const absl::Time give_up = absl::Now() + absl::Seconds(30);
  do {
    status = c.Acquire(absl::ZeroDuration());
  } while (absl::IsUnavailable(status) && absl::Now() < give_up);
  ASSERT_THAT(status, StatusIs(absl::StatusCode::kNotFound));
  // At once: no waiting for the keepalive to find out too.
  EXPECT_TRUE(session->lost());
  EXPECT_FALSE(a.owns_lock());
  EXPECT_THAT(session->lost_status(), StatusIs(absl::StatusCode::kNotFound));
}

TEST_F(SessionLossTest, ALockWaitingInTheProcessFailsWhenTheSessionIsLost) {
  auto client = Connect(Options());
  auto session = NewSession(*client, kTtl);
  Lock a(*session, "k");
  Lock b(*session, "k");
  ASSERT_TRUE(a.try_lock());
  absl::Notification failed;
  absl::StatusCode code = absl::StatusCode::kOk;
  std::thread waiter([&] {
    try {
      b.lock();
    } catch (const LockError& e) {
      code = e.status().code();
    }
    failed.Notify();
  });
  Restart([] {});
  EXPECT_TRUE(failed.WaitForNotificationWithTimeout(absl::Seconds(5)))
      << "the waiting Lock did not fail within 5 s of the restart";
  waiter.join();
  EXPECT_EQ(code, absl::StatusCode::kNotFound);
  EXPECT_FALSE(a.owns_lock());
  EXPECT_FALSE(b.owns_lock());
}

}  // namespace
}  // namespace taala
