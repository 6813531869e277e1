#include "server/core/event_mailbox.h"

#include <memory>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace taala::table_internal {
namespace {

SessionEvent ReleaseRequest(const std::string& key, uint64_t token) {
  SessionEvent e;
  e.type = SessionEvent::Type::kReleaseRequested;
  e.session_id = 1;
  e.key = key;
  e.token = token;
  return e;
}

// Found by the model test (seed 981): an upgrade that is undone gives the
// session back its SHARED grant's older token. A request for that token
// still pending must not be sent again because a request for the upgraded
// token came in between.
TEST(EventMailboxTest, ReleaseRequestsAreDeduplicatedPerTokenNotJustTheLast) {
  MemoryLog log;
  auto mailbox = std::make_shared<EventMailbox>(16, &log);
  std::vector<std::shared_ptr<EventMailbox>> flush;
  EXPECT_EQ(mailbox->Post(ReleaseRequest("k", 7), flush),
            EventMailbox::Posted::kKept);
  EXPECT_EQ(mailbox->Post(ReleaseRequest("k", 9), flush),
            EventMailbox::Posted::kKept);
  EXPECT_EQ(mailbox->Post(ReleaseRequest("k", 7), flush),
            EventMailbox::Posted::kDropped);
  EXPECT_EQ(mailbox->Post(ReleaseRequest("k", 9), flush),
            EventMailbox::Posted::kDropped);
  // Sent and acknowledged: a later request for the grant asks again. (An
  // ack counts only for events some stream was sent.)
  struct Taker : SessionEventSink {
    bool Deliver(const SessionEvent&) override { return true; }
    void Close(const absl::Status&) override {}
  };
  mailbox->Attach(std::make_shared<Taker>());
  mailbox->Flush();
  mailbox->Ack(2);
  EXPECT_EQ(mailbox->Post(ReleaseRequest("k", 7), flush),
            EventMailbox::Posted::kKept);
}

}  // namespace
}  // namespace taala::table_internal
