// Release requests and slow handlers (issue 8, item 8): the client runs its
// event handlers off the thread that reads keepalive acks, so a handler
// that takes longer than the session's TTL does not make a live session
// lost. Against a real taalad.

#include <memory>

#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "client/lock_client.h"
#include "gtest/gtest.h"
#include "tests/client/client_fixture.h"

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

}  // namespace
}  // namespace taala
