// Session events (issue 8, items 4 and 8): every event carries a per-session
// sequence number and stays with the server until the client acknowledges
// it, so a stream that breaks loses nothing; the backlog is bounded, and
// release requests are de-duplicated per holder and key.

#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/core/lock_table.h"
#include "tests/server/core/lock_table_fixture.h"
#include "tests/testing/status_matchers.h"

namespace taala {
namespace {

using ::taala::test::LockTableTest;
using ::taala::test::RecordingSink;
using ::taala::test::StatusIs;
using ::testing::HasSubstr;

// Acquires `key` for `session` with a max hold, so that advancing the clock
// by `hold` revokes it.
uint64_t AcquireWithMaxHold(LockTable& table, AcquireCmd cmd) {
  auto r = table.Acquire(cmd, nullptr);
  EXPECT_TRUE(r.has_value() && r->ok() && (*r)->acquired);
  return (r.has_value() && r->ok()) ? (*r)->grant.token : 0;
}

std::vector<SessionEvent> OfType(const std::vector<SessionEvent>& events,
                                 SessionEvent::Type type) {
  std::vector<SessionEvent> out;
  for (const SessionEvent& e : events) {
    if (e.type == type) out.push_back(e);
  }
  return out;
}

TEST_F(LockTableTest,
       EventsAreNeverLost_RevocationOnACutStreamIsResentOnTheNextStream) {
  const uint64_t a = NewSession(absl::Minutes(1));
  auto first = std::make_shared<RecordingSink>();
  ASSERT_OK(table_.AttachSink(a, first));
  const uint64_t token = AcquireWithMaxHold(
      table_, Cmd(a, "db", absl::ZeroDuration(), absl::Seconds(1)));
  Advance(absl::Seconds(1));
  // Handed to the stream, but the connection is cut before the client
  // processed (and acknowledged) it.
  ASSERT_EQ(first->events().size(), 1u);
  table_.DetachSink(a, first.get());
  auto next = std::make_shared<RecordingSink>();
  ASSERT_OK(table_.AttachSink(a, next));
  std::vector<SessionEvent> events = next->events();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].type, SessionEvent::Type::kGrantRevoked);
  EXPECT_EQ(events[0].token, token);
}

TEST_F(LockTableTest,
       EventsAreNeverLost_AThousandRevocationsWithoutAReaderAllArrive) {
  const uint64_t a = NewSession(absl::Hours(1));
  std::vector<uint64_t> tokens;
  for (int i = 0; i < 1000; ++i) {
    tokens.push_back(AcquireWithMaxHold(
        table_, Cmd(a, absl::StrCat("k", i), absl::ZeroDuration(),
                    absl::Seconds(1))));
  }
  Advance(absl::Seconds(1));  // All 1,000 revoked; no stream reads them.
  auto sink = std::make_shared<RecordingSink>();
  ASSERT_OK(table_.AttachSink(a, sink));
  std::vector<SessionEvent> events =
      OfType(sink->events(), SessionEvent::Type::kGrantRevoked);
  ASSERT_EQ(events.size(), 1000u);
  std::vector<uint64_t> got;
  for (const SessionEvent& e : events) got.push_back(e.token);
  // Timers due at one instant fire in no set order: compare as sets.
  EXPECT_THAT(got, ::testing::UnorderedElementsAreArray(tokens));
  EXPECT_OK(table_.KeepAlive({a, clock_.Now()}).status());
}

class SmallBacklogTest : public LockTableTest {
 protected:
  SmallBacklogTest() : small_(Small()) {}
  static LockTable::Options Small() {
    LockTable::Options options = MakeOptions();
    options.max_pending_events = 8;
    return options;
  }
  LockTable small_;
};

TEST_F(SmallBacklogTest,
       EventsAreNeverLost_RevocationsPastTheBacklogEndTheSession) {
  CreateSessionCmd cmd{small_.NewSessionId(), "holder", {}, absl::Hours(1),
                       clock_.Now(), ""};
  ASSERT_OK(small_.CreateSession(cmd).status());
  const uint64_t a = cmd.session_id;
  auto sink = std::make_shared<RecordingSink>();  // Never acknowledges.
  ASSERT_OK(small_.AttachSink(a, sink));
  for (int i = 0; i < 9; ++i) {
    AcquireWithMaxHold(small_, Cmd(a, absl::StrCat("k", i),
                                   absl::ZeroDuration(), absl::Seconds(1)));
  }
  clock_.Advance(absl::Seconds(1));
  small_.RunDueTimers(clock_.Now());
  // Nine revocations, room for eight: none is dropped, the session ends.
  EXPECT_THAT(small_.KeepAlive({a, clock_.Now()}),
              StatusIs(absl::StatusCode::kNotFound));
  EXPECT_EQ(small_.SessionCount(), 0u);
  std::vector<SessionEvent> events = sink->events();
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events.back().type, SessionEvent::Type::kSessionExpired);
  EXPECT_THAT(events.back().reason, HasSubstr("event backlog overflow"));
  small_.CheckInvariantsForTest();
}

TEST_F(LockTableTest, EventsArriveInSequenceOrderWhenPostedDuringAttach) {
  const uint64_t holder = NewSession(absl::Hours(1));
  const uint64_t asker = NewSession(absl::Hours(1));
  MustAcquire(holder, "k1");
  MustAcquire(holder, "k2");
  MustAcquire(holder, "k3");
  auto ask = [&](const std::string& key) {
    AcquireCmd cmd = Cmd(asker, key);
    cmd.request_release = true;
    auto r = table_.Acquire(cmd, nullptr);
    ASSERT_TRUE(r.has_value() && r->ok() && !(*r)->acquired);
  };
  ask("k1");  // Both wait for a stream: the backlog.
  ask("k2");
  // A sink that, while the backlog is being delivered to it, makes the
  // table post a newer event (a callback may call back into the table).
  class ReentrantSink final : public SessionEventSink {
   public:
    explicit ReentrantSink(std::function<void()> on_first)
        : on_first_(std::move(on_first)) {}
    bool Deliver(const SessionEvent& event) override {
      keys.push_back(event.key);
      if (keys.size() == 1) on_first_();
      return true;
    }
    void Close(const absl::Status&) override {}
    std::vector<std::string> keys;

   private:
    std::function<void()> on_first_;
  };
  auto sink = std::make_shared<ReentrantSink>([&] { ask("k3"); });
  ASSERT_OK(table_.AttachSink(holder, sink));
  EXPECT_THAT(sink->keys, ::testing::ElementsAre("k1", "k2", "k3"));
}

TEST_F(LockTableTest,
       ReleaseRequestsAreDeduplicated_FiveHundredTryLocksGiveTheHolderOne) {
  const uint64_t holder = NewSession(absl::Hours(1));
  const uint64_t asker = NewSession(absl::Hours(1));
  auto sink = std::make_shared<RecordingSink>();
  ASSERT_OK(table_.AttachSink(holder, sink));
  MustAcquire(holder, "doc");
  for (int i = 0; i < 500; ++i) {
    AcquireCmd cmd = Cmd(asker, "doc");
    cmd.request_release = true;
    auto r = table_.Acquire(cmd, nullptr);
    ASSERT_TRUE(r.has_value() && r->ok() && !(*r)->acquired);
  }
  std::vector<SessionEvent> asked =
      OfType(sink->events(), SessionEvent::Type::kReleaseRequested);
  ASSERT_EQ(asked.size(), 1u);
  // Once the holder has processed it, the next request asks again (once).
  table_.AckEvents(holder, asked[0].sequence);
  for (int i = 0; i < 2; ++i) {
    AcquireCmd cmd = Cmd(asker, "doc");
    cmd.request_release = true;
    ASSERT_TRUE(table_.Acquire(cmd, nullptr).has_value());
  }
  asked = OfType(sink->events(), SessionEvent::Type::kReleaseRequested);
  ASSERT_EQ(asked.size(), 2u);
  EXPECT_GT(asked[1].sequence, asked[0].sequence);
}

TEST_F(LockTableTest,
       EventsArriveInSequenceOrderWhileStreamsAttachFromAnotherThread) {
  const uint64_t holder = NewSession(absl::Hours(1));
  const uint64_t asker = NewSession(absl::Hours(1));
  constexpr int kKeys = 300;
  for (int i = 0; i < kKeys; ++i) MustAcquire(holder, absl::StrCat("k", i));
  std::vector<std::shared_ptr<RecordingSink>> sinks;
  std::thread attacher([&] {
    for (int i = 0; i < 100; ++i) {
      auto sink = std::make_shared<RecordingSink>();
      EXPECT_OK(table_.AttachSink(holder, sink));
      sinks.push_back(std::move(sink));
    }
  });
  for (int i = 0; i < kKeys; ++i) {
    AcquireCmd cmd = Cmd(asker, absl::StrCat("k", i));
    cmd.request_release = true;
    ASSERT_TRUE(table_.Acquire(cmd, nullptr).has_value());
  }
  attacher.join();
  // Every sink saw increasing sequences with no gap after its first.
  for (const auto& sink : sinks) {
    std::vector<SessionEvent> events = sink->events();
    for (size_t i = 1; i < events.size(); ++i) {
      ASSERT_EQ(events[i].sequence, events[i - 1].sequence + 1);
    }
  }
  // Nothing was acknowledged: the next stream is sent all of them.
  auto last = std::make_shared<RecordingSink>();
  ASSERT_OK(table_.AttachSink(holder, last));
  std::vector<SessionEvent> events = last->events();
  ASSERT_EQ(events.size(), static_cast<size_t>(kKeys));
  for (size_t i = 0; i < events.size(); ++i) {
    EXPECT_EQ(events[i].sequence, i + 1);
    EXPECT_EQ(events[i].key, absl::StrCat("k", i));
  }
}

}  // namespace
}  // namespace taala
