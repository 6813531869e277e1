// Sessions: leases, expiry, events to the KeepAlive stream, close, shutdown.

#include <algorithm>
#include <atomic>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/core/lock_table.h"
#include "tests/server/core/lock_table_fixture.h"
#include "tests/testing/fake_clock.h"
#include "tests/testing/status_matchers.h"

namespace taala {
namespace {

using ::taala::test::IsOkAndHolds;
using ::taala::test::LockTableTest;
using ::taala::test::RecordingSink;
using ::taala::test::RecordingWaiter;
using ::taala::test::StatusIs;
using ::testing::ElementsAre;
using ::testing::Field;
using ::testing::HasSubstr;

TEST_F(LockTableTest, SessionTtlIsClampedToTheTableBounds) {
  auto info = table_.CreateSession({table_.NewSessionId(),
                                    "c",
                                    {},
                                    absl::Milliseconds(1),
                                    clock_.Now(),
                                    ""});
  ASSERT_OK(info);
  EXPECT_EQ(info->ttl, table_.options().min_session_ttl);
  info = table_.CreateSession(
      {table_.NewSessionId(), "c", {}, absl::ZeroDuration(), clock_.Now(), ""});
  ASSERT_OK(info);
  EXPECT_EQ(info->ttl, table_.options().default_session_ttl);
  info = table_.CreateSession(
      {table_.NewSessionId(), "c", {}, absl::Hours(100), clock_.Now(), ""});
  ASSERT_OK(info);
  EXPECT_EQ(info->ttl, table_.options().max_session_ttl);
}

TEST_F(LockTableTest, ExpiredSessionLosesItsLocksAndTheNextWaiterGetsThem) {
  const uint64_t a = NewSession(absl::Seconds(2));
  const uint64_t b = NewSession(absl::Minutes(1));
  auto sink = std::make_shared<RecordingSink>();
  ASSERT_OK(table_.AttachSink(a, sink));
  MustAcquire(a, "db");
  RecordingWaiter wb;
  Wait(b, "db", &wb);
  Advance(absl::Seconds(2) - absl::Milliseconds(1));
  EXPECT_FALSE(wb.done());
  Advance(absl::Milliseconds(1));
  EXPECT_TRUE(wb.granted());
  EXPECT_THAT(sink->events(),
              ElementsAre(Field(&SessionEvent::type,
                                SessionEvent::Type::kSessionExpired)));
  EXPECT_THAT(table_.KeepAlive({a, clock_.Now()}),
              StatusIs(absl::StatusCode::kNotFound));
  EXPECT_EQ(table_.SessionCount(), 1u);
}

TEST_F(LockTableTest, KeepAliveKeepsASessionPastManyTtls) {
  const uint64_t a = NewSession(absl::Seconds(2));
  MustAcquire(a, "db");
  for (int i = 0; i < 10; ++i) {
    Advance(absl::Seconds(1));
    EXPECT_THAT(table_.KeepAlive({a, clock_.Now()}),
                IsOkAndHolds(absl::Seconds(2)));
  }
  const uint64_t b = NewSession();
  EXPECT_FALSE(AcquireNow(b, "db")->acquired);  // Still held by a.
  Advance(absl::Seconds(2));                     // Keepalives stop.
  EXPECT_TRUE(AcquireNow(b, "db")->acquired);
}

TEST_F(LockTableTest, ExpiryCancelsTheSessionsWaits) {
  const uint64_t a = NewSession(absl::Minutes(1));
  const uint64_t b = NewSession(absl::Seconds(2));
  MustAcquire(a, "db");
  RecordingWaiter wb;
  Wait(b, "db", &wb);
  Advance(absl::Seconds(2));
  EXPECT_THAT(wb.result(), StatusIs(absl::StatusCode::kNotFound,
                                    HasSubstr("expired while waiting")));
}

TEST_F(LockTableTest, GrantPastMaxHoldIsRevokedAndTheHolderIsTold) {
  const uint64_t a = NewSession(absl::Minutes(1));
  const uint64_t b = NewSession(absl::Minutes(1));
  auto sink = std::make_shared<RecordingSink>();
  ASSERT_OK(table_.AttachSink(a, sink));
  auto r = table_.Acquire(Cmd(a, "db", absl::ZeroDuration(), absl::Seconds(3)),
                          nullptr);
  ASSERT_TRUE(r.has_value() && r->ok() && (*r)->acquired);
  const uint64_t token = (*r)->grant.token;
  RecordingWaiter wb;
  Wait(b, "db", &wb);
  Advance(absl::Seconds(3));
  EXPECT_TRUE(wb.granted());
  std::vector<SessionEvent> events = sink->events();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].type, SessionEvent::Type::kGrantRevoked);
  EXPECT_EQ(events[0].key, "db");
  EXPECT_EQ(events[0].token, token);
  EXPECT_THAT(events[0].reason, HasSubstr("max hold"));
  EXPECT_THAT(Release(a, "db", token),
              StatusIs(absl::StatusCode::kFailedPrecondition));
}

TEST_F(LockTableTest, EventsWithoutAStreamWaitForOne) {
  const uint64_t a = NewSession(absl::Minutes(1));
  auto r = table_.Acquire(Cmd(a, "db", absl::ZeroDuration(), absl::Seconds(1)),
                          nullptr);
  ASSERT_TRUE(r.has_value() && r->ok());
  Advance(absl::Seconds(1));
  auto sink = std::make_shared<RecordingSink>();
  ASSERT_OK(table_.AttachSink(a, sink));
  EXPECT_THAT(sink->events(),
              ElementsAre(Field(&SessionEvent::type,
                                SessionEvent::Type::kGrantRevoked)));
}

TEST_F(LockTableTest, EventsAStreamCannotWriteWaitForTheNextStream) {
  const uint64_t a = NewSession(absl::Minutes(1));
  auto dying = std::make_shared<RecordingSink>();
  ASSERT_OK(table_.AttachSink(a, dying));
  dying->set_broken();  // Its stream is ending but not yet detached.
  auto r = table_.Acquire(Cmd(a, "db", absl::ZeroDuration(), absl::Seconds(1)),
                          nullptr);
  ASSERT_TRUE(r.has_value() && r->ok());
  Advance(absl::Seconds(1));
  EXPECT_TRUE(dying->events().empty());
  auto next = std::make_shared<RecordingSink>();
  ASSERT_OK(table_.AttachSink(a, next));
  EXPECT_THAT(next->events(),
              ElementsAre(Field(&SessionEvent::type,
                                SessionEvent::Type::kGrantRevoked)));
}

TEST_F(LockTableTest, ALeaseThatRanOutIsNotRevivedByALateKeepAlive) {
  const uint64_t a = NewSession(absl::Seconds(2));
  clock_.Advance(absl::Seconds(2));  // Run out; the reaper has not run yet.
  EXPECT_THAT(table_.KeepAlive({a, clock_.Now()}),
              StatusIs(absl::StatusCode::kNotFound));
  table_.RunDueTimers(clock_.Now());
  EXPECT_EQ(table_.SessionCount(), 0u);
}

TEST_F(LockTableTest, NoStreamBindsAfterShutdown) {
  const uint64_t a = NewSession();
  table_.Shutdown();
  EXPECT_THAT(table_.AttachSink(a, std::make_shared<RecordingSink>()),
              StatusIs(absl::StatusCode::kUnavailable));
}

TEST_F(LockTableTest, CloseSessionReleasesEverythingAndHandsOver) {
  const uint64_t a = NewSession();
  const uint64_t b = NewSession();
  MustAcquire(a, "x");
  MustAcquire(a, "y/z");
  RecordingWaiter wb;
  Wait(b, "y/z", &wb);
  EXPECT_THAT(table_.CloseSession({a, clock_.Now()}), IsOkAndHolds(2u));
  EXPECT_TRUE(wb.granted());
  EXPECT_THAT(table_.CloseSession({a, clock_.Now()}),
              StatusIs(absl::StatusCode::kNotFound));
}

TEST_F(LockTableTest, ShutdownEndsWaitsAndStreamsAndRefusesNewWork) {
  const uint64_t a = NewSession();
  const uint64_t b = NewSession();
  auto sink = std::make_shared<RecordingSink>();
  ASSERT_OK(table_.AttachSink(a, sink));
  MustAcquire(a, "db");
  RecordingWaiter wb;
  Wait(b, "db", &wb);
  table_.Shutdown();
  EXPECT_THAT(wb.result(), StatusIs(absl::StatusCode::kUnavailable));
  ASSERT_TRUE(sink->closed().has_value());
  EXPECT_EQ(sink->closed()->code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(AcquireNow(b, "other"),
              StatusIs(absl::StatusCode::kUnavailable));
}

}  // namespace
}  // namespace taala
