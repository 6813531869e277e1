// Release requests and slow handlers (issue 8, item 8): the client runs its
// event handlers off the thread that reads keepalive acks, so a handler
// that takes longer than the session's TTL does not make a live session
// lost. Against a real taalad.

#include <memory>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "client/lock_client.h"
#include "gtest/gtest.h"
#include "tests/client/client_fixture.h"
#include "tests/client/tcp_proxy.h"

namespace taala {
namespace {

class EventHandlerTest : public test::ClientFixture {};

TEST_F(EventHandlerTest,
       ReleaseRequestHandlerThatSleepsDoesNotMakeTheSessionLost) {
  auto client = Connect(Options());
  ASSERT_NE(client, nullptr);
  constexpr absl::Duration kShortTtl = absl::Seconds(2);
  absl::Notification entered;
  absl::Notification let_go;
  SessionOptions options;
  options.on_release_requested = [&](const std::string&, uint64_t, uint64_t,
                                     const std::string&) {
    if (!entered.HasBeenNotified()) entered.Notify();
    // Far longer than the TTL; the test lets it go once it has checked.
    let_go.WaitForNotificationWithTimeout(absl::Seconds(60));
  };
  auto holder = NewSession(*client, kShortTtl, options);
  ASSERT_NE(holder, nullptr);
  auto grant = holder->Acquire("doc", {absl::ZeroDuration()});
  ASSERT_TRUE(grant.ok() && grant->has_value()) << grant.status();

  auto asker = NewSession(*client, absl::Seconds(60));
  AcquireOptions ask{absl::ZeroDuration()};
  ask.request_release = true;
  auto refused = asker->Acquire("doc", ask);
  ASSERT_TRUE(refused.ok() && !refused->has_value()) << refused.status();
  ASSERT_TRUE(entered.WaitForNotificationWithTimeout(absl::Seconds(30)));

  // The handler sleeps through more than two TTLs; keepalives go on.
  absl::SleepFor(kShortTtl * 2.5);
  EXPECT_FALSE(holder->lost());
  EXPECT_TRUE(HeldByAnother(*client, "doc"));
  let_go.Notify();
}

TEST_F(EventHandlerTest,
       EventsAreNeverLost_RevocationHandledOnceAcrossACutConnection) {
  test::TcpProxy proxy(daemon_->port());
  ClientOptions client_options = Options();
  client_options.endpoints = {proxy.address()};
  auto client = Connect(client_options);
  ASSERT_NE(client, nullptr);
  absl::Mutex mu;
  std::vector<std::string> revoked;  // Keys, in the order handled.
  absl::Notification entered;
  absl::Notification let_go;
  SessionOptions options;
  options.on_revoked = [&](const std::string& key, uint64_t,
                           const std::string&) {
    {
      absl::MutexLock lock(&mu);
      revoked.push_back(key);
    }
    if (!entered.HasBeenNotified()) {
      entered.Notify();
      // Not yet handled (so not acknowledged) when the connection is cut.
      let_go.WaitForNotificationWithTimeout(absl::Seconds(60));
    }
  };
  // A long TTL: no renewal acknowledges the event before the cut.
  auto session = NewSession(*client, absl::Seconds(60), options);
  ASSERT_NE(session, nullptr);
  AcquireOptions held{absl::ZeroDuration()};
  held.max_hold = absl::Milliseconds(100);
  auto first = session->Acquire("db", held);
  ASSERT_TRUE(first.ok() && first->has_value()) << first.status();
  ASSERT_TRUE(entered.WaitForNotificationWithTimeout(absl::Seconds(30)));

  proxy.Cut();  // The next stream is sent the unacknowledged event again.
  auto second = session->Acquire("db2", held);
  ASSERT_TRUE(second.ok() && second->has_value()) << second.status();
  let_go.Notify();
  // The second revocation comes after the resent first one.
  absl::MutexLock lock(&mu);
  auto two = [&revoked]() { return revoked.size() >= 2; };
  ASSERT_TRUE(mu.AwaitWithTimeout(absl::Condition(&two), absl::Seconds(60)));
  EXPECT_EQ(revoked, (std::vector<std::string>{"db", "db2"}));
  EXPECT_FALSE(session->lost());
}

}  // namespace
}  // namespace taala
