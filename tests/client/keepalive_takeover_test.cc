// The C++ client when another KeepAlive stream takes its session over
// (issue 12): its stream ends ABORTED, and it reconnects after a backoff
// (which keeps growing while it is taken over, so two copies of a session
// never spin), taking the session back; the session is not lost. Against a
// real taalad.

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "client/lock_client.h"
#include "gtest/gtest.h"
#include "taala/v1/lock_service.grpc.pb.h"
#include "tests/client/client_fixture.h"

namespace taala {
namespace {

class KeepAliveTakeoverTest : public test::ClientFixture {};

TEST_F(KeepAliveTakeoverTest,
       ClientWhoseStreamIsTakenOverReconnectsAndKeepsItsSession) {
  auto client = Connect(Options());
  ASSERT_NE(client, nullptr);
  absl::Notification revoked;
  SessionOptions options;
  options.on_revoked = [&](const std::string&, uint64_t, const std::string&) {
    if (!revoked.HasBeenNotified()) revoked.Notify();
  };
  auto session = NewSession(*client, absl::Seconds(60), options);
  ASSERT_NE(session, nullptr);
  // An event delivered: the client's stream is bound to the session.
  AcquireOptions held{absl::ZeroDuration()};
  held.max_hold = absl::Milliseconds(50);
  auto grant = session->Acquire("short", held);
  ASSERT_TRUE(grant.ok() && grant->has_value()) << grant.status();
  ASSERT_TRUE(revoked.WaitForNotificationWithTimeout(absl::Seconds(30)));

  // Another stream on the session (a second copy of the client).
  auto stub = v1::LockService::NewStub(grpc::CreateChannel(
      daemon_->address(), grpc::InsecureChannelCredentials()));
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() +
                   std::chrono::seconds(50));
  auto stream = stub->KeepAlive(&ctx);
  v1::KeepAliveRequest ka;
  ka.set_session_id(session->id());
  ka.set_acked_event_sequence(0);
  ka.set_request_sequence(1);
  ASSERT_TRUE(stream->Write(ka));
  // The client, told ABORTED, reconnects and takes the session back: this
  // stream is ended ABORTED in turn.
  v1::KeepAliveResponse msg;
  while (stream->Read(&msg)) {
  }
  const grpc::Status ended = stream->Finish();
  EXPECT_EQ(ended.error_code(), grpc::StatusCode::ABORTED)
      << ended.error_code() << " " << ended.error_message();
  EXPECT_EQ(ended.error_message(),
            absl::StrCat("another KeepAlive stream took over session ",
                         session->id()));
  EXPECT_FALSE(session->lost());
  auto again = session->Acquire("after", {absl::ZeroDuration()});
  ASSERT_TRUE(again.ok() && again->has_value()) << again.status();
}

}  // namespace
}  // namespace taala
