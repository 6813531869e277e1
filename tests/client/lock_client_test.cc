// The client library against a real taalad on a loopback port.

#include "client/lock_client.h"

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/client/client_fixture.h"
#include "tests/integration/taalad_process.h"
#include "tests/testing/status_matchers.h"

namespace taala {
namespace {

using ::taala::test::StatusIs;
using ::testing::HasSubstr;

class LockClientTest : public test::ClientFixture {};

TEST_F(LockClientTest, SessionKeptAliveByTheLibrarySurvivesFiveIdleTtls) {
  auto client = Connect(Options());
  auto session = NewSession(*client, absl::Milliseconds(300));
  Lock lock(*session, "idle/key");
  ASSERT_TRUE(lock.try_lock());
  absl::SleepFor(absl::Milliseconds(1500));  // 5 TTLs with nothing to do.
  EXPECT_FALSE(session->lost()) << session->lost_status();
  EXPECT_TRUE(lock.owns_lock());
  EXPECT_TRUE(HeldByAnother(*client, "idle/key"));
  lock.unlock();
  EXPECT_OK(lock.last_unlock_status());
  EXPECT_FALSE(HeldByAnother(*client, "idle/key"));
}

TEST_F(LockClientTest, StoppingTheDaemonFiresTheLostSignalWithinTheTtl) {
  auto client = Connect(Options());
  absl::Notification lost;
  absl::Status why;
  SessionOptions options;
  options.on_lost = [&](const absl::Status& s) {
    why = s;
    lost.Notify();
  };
  const absl::Duration ttl = absl::Seconds(1);
  auto session = NewSession(*client, ttl, options);
  Lock lock(*session, "k");
  ASSERT_TRUE(lock.try_lock());
  const absl::Time stopped = absl::Now();
  ASSERT_EQ(daemon_->Stop(), 0);
  ASSERT_TRUE(lost.WaitForNotificationWithTimeout(absl::Seconds(30)));
  const absl::Duration after = absl::Now() - stopped;
  EXPECT_LE(after, ttl + absl::Milliseconds(500)) << "lost after " << after;
  EXPECT_TRUE(session->lost());
  EXPECT_FALSE(why.ok());
  EXPECT_FALSE(lock.owns_lock());
}

TEST_F(LockClientTest, ExpiredSessionIsReportedLostWithNotFound) {
  auto client = Connect(Options());
  absl::Notification lost;
  SessionOptions options;
  options.on_lost = [&](const absl::Status&) { lost.Notify(); };
  auto session = NewSession(*client, absl::Seconds(1), options);
  // Pause the daemon (like a network partition) past the TTL, then resume:
  // the server expires the session and says so.
  ASSERT_EQ(kill(daemon_->pid(), SIGSTOP), 0);
  absl::SleepFor(absl::Milliseconds(1300));
  ASSERT_EQ(kill(daemon_->pid(), SIGCONT), 0);
  ASSERT_TRUE(lost.WaitForNotificationWithTimeout(absl::Seconds(30)));
  EXPECT_TRUE(session->lost());
  EXPECT_THAT(session->Acquire("k", {absl::ZeroDuration()}),
              StatusIs(absl::StatusCode::kNotFound));
}

TEST_F(LockClientTest, CloseFromALostCallbackIsRefusedNotADeadlock) {
  auto client = Connect(Options());
  absl::Notification called;
  absl::Status close_status;
  Session* session_ptr = nullptr;
  SessionOptions options;
  options.on_lost = [&](const absl::Status&) {
    close_status = session_ptr->Close();
    called.Notify();
  };
  auto session = NewSession(*client, absl::Seconds(1), options);
  session_ptr = session.get();
  ASSERT_EQ(daemon_->Stop(), 0);
  ASSERT_TRUE(called.WaitForNotificationWithTimeout(absl::Seconds(30)));
  EXPECT_THAT(close_status, StatusIs(absl::StatusCode::kFailedPrecondition));
  // From another thread it works (the daemon is down, so it says so).
  EXPECT_THAT(session->Close(), StatusIs(absl::StatusCode::kUnavailable));
}

TEST_F(LockClientTest, ScopedLockTakesTwoLocksAndReleasesBoth) {
  auto client = Connect(Options());
  auto session = NewSession(*client, absl::Seconds(10));
  Lock a(*session, "accounts/alice");
  Lock b(*session, "accounts/bob");
  {
    std::scoped_lock both(a, b);
    EXPECT_GT(a.fencing_token(), 0u);
    EXPECT_GT(b.fencing_token(), 0u);
    EXPECT_TRUE(HeldByAnother(*client, "accounts/alice"));
    EXPECT_TRUE(HeldByAnother(*client, "accounts/bob"));
  }
  EXPECT_EQ(a.fencing_token(), 0u);
  EXPECT_FALSE(HeldByAnother(*client, "accounts/alice"));
  EXPECT_FALSE(HeldByAnother(*client, "accounts/bob"));
}

TEST_F(LockClientTest, ScopedLocksInOppositeOrdersDoNotDeadlockOrOverlap) {
  auto client = Connect(Options());
  std::atomic<int> inside{0};
  std::atomic<int> overlaps{0};
  auto worker = [&](bool reversed) {
    auto session = NewSession(*client, absl::Seconds(10));
    Lock x(*session, "pair/x");
    Lock y(*session, "pair/y");
    for (int i = 0; i < 20; ++i) {
      auto hold = [&] {
        if (inside.fetch_add(1) != 0) overlaps++;
        inside.fetch_sub(1);
      };
      if (reversed) {
        std::scoped_lock both(y, x);
        hold();
      } else {
        std::scoped_lock both(x, y);
        hold();
      }
    }
  };
  std::thread t1(worker, false);
  std::thread t2(worker, true);
  t1.join();
  t2.join();
  EXPECT_EQ(overlaps.load(), 0);
}

TEST_F(LockClientTest, UniqueLockWithATimeoutOnAHeldKey) {
  auto client = Connect(Options());
  auto holder = NewSession(*client, absl::Seconds(10));
  auto other = NewSession(*client, absl::Seconds(10));
  Lock held(*holder, "busy");
  held.lock();
  Lock wanted(*other, "busy");
  std::unique_lock<Lock> guard(wanted, std::chrono::milliseconds(200));
  EXPECT_FALSE(guard.owns_lock());
  EXPECT_FALSE(wanted.try_lock_until(std::chrono::steady_clock::now() +
                                     std::chrono::milliseconds(100)));
  held.unlock();
  std::unique_lock<Lock> later(wanted, std::chrono::seconds(5));
  EXPECT_TRUE(later.owns_lock());
  EXPECT_GT(wanted.fencing_token(), 0u);
}

TEST_F(LockClientTest, SharedLocksOfTwoSessionsAreHeldAtOnce) {
  auto client = Connect(Options());
  auto reader1 = NewSession(*client, absl::Seconds(10));
  auto reader2 = NewSession(*client, absl::Seconds(10));
  auto writer = NewSession(*client, absl::Seconds(10));
  AcquireOptions shared;
  shared.shared = true;
  Lock r1(*reader1, "report", shared);
  Lock r2(*reader2, "report", shared);
  {
    std::scoped_lock both_readers(r1);
    std::unique_lock<Lock> second(r2, std::try_to_lock);
    ASSERT_TRUE(second.owns_lock());  // Both SHARED holders at once.
    EXPECT_TRUE(r1.owns_lock());
    EXPECT_NE(r1.fencing_token(), r2.fencing_token());
    // An EXCLUSIVE lock waits for both readers.
    Lock w(*writer, "report");
    EXPECT_FALSE(w.try_lock());
    second.unlock();
    EXPECT_FALSE(w.try_lock());
  }
  // Both released: the writer gets in, and then a reader does not.
  Lock w(*writer, "report");
  ASSERT_TRUE(w.try_lock());
  EXPECT_GT(w.fencing_token(), 0u);
  EXPECT_FALSE(r1.try_lock());
  w.unlock();
  EXPECT_OK(w.last_unlock_status());

  // A semaphore of two through the same options.
  AcquireOptions pool;
  pool.semaphore_size = 2;
  Lock p1(*reader1, "pool", pool);
  Lock p2(*reader2, "pool", pool);
  Lock p3(*writer, "pool", pool);
  ASSERT_TRUE(p1.try_lock());
  ASSERT_TRUE(p2.try_lock());
  EXPECT_FALSE(p3.try_lock());
  AcquireOptions other_size = pool;
  other_size.semaphore_size = 5;
  EXPECT_THAT(writer->Acquire("pool", other_size),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("size 2")));
  AcquireOptions bad_delay;
  bad_delay.lock_delay = absl::Milliseconds(-1);
  EXPECT_THAT(writer->Acquire("other", bad_delay),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("lock_delay")));
}

TEST_F(LockClientTest, LockOnALostSessionThrowsLockError) {
  auto client = Connect(Options());
  auto session = NewSession(*client, absl::Seconds(10));
  ASSERT_OK(session->Close());
  Lock lock(*session, "k");
  try {
    lock.lock();
    ADD_FAILURE() << "lock() on a closed session did not throw";
  } catch (const LockError& e) {
    EXPECT_EQ(e.status().code(), absl::StatusCode::kNotFound);
  }
}

TEST_F(LockClientTest, RevokedGrantIsReportedAndNoLongerOwned) {
  auto client = Connect(Options());
  absl::Notification revoked;
  SessionOptions options;
  options.on_revoked = [&](const std::string& key, uint64_t, const std::string&) {
    if (key == "k") revoked.Notify();
  };
  auto session = NewSession(*client, absl::Seconds(10), options);
  AcquireOptions acquire;
  acquire.max_hold = absl::Milliseconds(300);
  Lock lock(*session, "k", acquire);
  ASSERT_TRUE(lock.try_lock());
  ASSERT_TRUE(revoked.WaitForNotificationWithTimeout(absl::Seconds(30)));
  EXPECT_FALSE(lock.owns_lock());
  lock.unlock();  // Does not throw; the server says it is not held.
  EXPECT_THAT(lock.last_unlock_status(),
              StatusIs(absl::StatusCode::kFailedPrecondition));
}

TEST_F(LockClientTest, CircuitBreakerOpensWhileTheServerIsDownAndClosesAfter) {
  ClientOptions options = Options();
  options.retry.max_attempts = 1;
  options.circuit_breaker.failure_threshold = 3;
  options.circuit_breaker.open_for = absl::Milliseconds(200);
  options.call_timeout = absl::Seconds(2);
  auto client = Connect(options);
  ASSERT_NE(NewSession(*client, absl::Seconds(10)), nullptr);
  const int port = daemon_->port();
  ASSERT_EQ(daemon_->Stop(), 0);

  for (int i = 0; i < 3; ++i) {
    EXPECT_THAT(client->CreateSession({}),
                StatusIs(absl::StatusCode::kUnavailable));
  }
  EXPECT_EQ(client->circuit_state(), CircuitState::kOpen);
  // While open, calls fail fast without reaching for the network.
  EXPECT_THAT(client->CreateSession({}),
              StatusIs(absl::StatusCode::kUnavailable,
                       HasSubstr("circuit breaker open")));

  Start({"--listen=127.0.0.1:" + std::to_string(port)});
  // After open_for a probe goes through; give the channel a moment to
  // reconnect (bounded by the deadline, never by a fixed sleep).
  const absl::Time give_up = absl::Now() + absl::Seconds(30);
  absl::StatusOr<std::unique_ptr<Session>> session;
  do {
    absl::SleepFor(absl::Milliseconds(50));
    session = client->CreateSession({});
  } while (!session.ok() && absl::Now() < give_up);
  ASSERT_TRUE(session.ok()) << session.status();
  EXPECT_EQ(client->circuit_state(), CircuitState::kClosed);
}

TEST_F(LockClientTest, FailsOverToTheNextEndpoint) {
  ClientOptions options = Options();
  // A port nothing listens on (the daemon's own port, once it is stopped,
  // would do; an unused high port is simpler).
  options.endpoints = {"127.0.0.1:1", daemon_->address()};
  auto client = Connect(options);
  auto session = client->CreateSession({});
  ASSERT_TRUE(session.ok()) << session.status();
  Lock lock(**session, "failover");
  EXPECT_TRUE(lock.try_lock());
}

TEST_F(LockClientTest, HealthCheck) {
  auto client = Connect(Options());
  EXPECT_OK(client->CheckHealth());
}

TEST(ClientConnectTest, RefusesBadOptions) {
  ClientOptions options;
  options.endpoints = {""};
  EXPECT_THAT(Client::Connect(options),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("endpoints")));
}

}  // namespace
}  // namespace taala
