// Review (rev-dur): daemon-level failing tests (kill -9 and restarts of a
// real taalad).

#include <grpcpp/grpcpp.h>
#include <stdlib.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <string>

#include "gtest/gtest.h"
#include "taala/v1/lock_service.grpc.pb.h"
#include "tests/integration/taalad_process.h"

namespace taala::test {
namespace {

using v1::AcquireRequest;
using v1::AcquireResponse;
using v1::LockService;

std::chrono::system_clock::time_point Deadline() {
  return std::chrono::system_clock::now() + std::chrono::seconds(10);
}

class Client {
 public:
  explicit Client(const TaaladProcess& d) {
    auto channel =
        grpc::CreateChannel(d.address(), grpc::InsecureChannelCredentials());
    EXPECT_TRUE(channel->WaitForConnected(Deadline()));
    stub_ = LockService::NewStub(channel);
  }
  uint64_t CreateSession(int64_t ttl_ms) {
    grpc::ClientContext ctx;
    ctx.set_deadline(Deadline());
    v1::CreateSessionRequest req;
    req.set_ttl_ms(ttl_ms);
    req.set_client_name("review");
    v1::CreateSessionResponse resp;
    grpc::Status s = stub_->CreateSession(&ctx, req, &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return resp.session_id();
  }
  grpc::Status TryAcquire(uint64_t session, const std::string& key,
                          AcquireResponse* resp) {
    grpc::ClientContext ctx;
    ctx.set_deadline(Deadline());
    AcquireRequest req;
    req.set_session_id(session);
    req.set_key(key);
    req.set_wait_timeout_ms(0);
    return stub_->Acquire(&ctx, req, resp);
  }

 private:
  std::unique_ptr<LockService::Stub> stub_;
};

// Claim 6 end to end. An async taalad grants "k" under a 30 s lease and is
// killed (kill -9). Its successor refuses grants for 30 s, as documented.
// An operator restarts it cleanly (SIGTERM) a moment later: the run is
// marked clean, the refusal window is forgotten, and the third run grants
// "k" to another client at once, while the first holder's lease has ~29 s
// to run: two clients believe they hold "k".
TEST(ReviewRestartTest, CleanRestartInsideTheRefusalWindowKeepsRefusing) {
  std::string dir = "/tmp/taala_review_restart_XXXXXX";
  ASSERT_NE(mkdtemp(dir.data()), nullptr);
  const std::string data_dir = dir + "/data";
  const std::vector<std::string> async = {"--durability=async"};
  {
    auto first = TaaladProcess::Start(async, data_dir);
    ASSERT_TRUE(first.ok()) << first.status();
    Client c(**first);
    const uint64_t holder = c.CreateSession(30000);
    AcquireResponse resp;
    ASSERT_TRUE(c.TryAcquire(holder, "k", &resp).ok());
    ASSERT_EQ(resp.result(), AcquireResponse::ACQUIRED);
  }  // SIGKILL: an unclean async stop.
  {
    auto second = TaaladProcess::Start(async, data_dir);
    ASSERT_TRUE(second.ok()) << second.status();
    Client c(**second);
    const uint64_t other = c.CreateSession(30000);
    AcquireResponse resp;
    grpc::Status s = c.TryAcquire(other, "k", &resp);
    ASSERT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE)
        << "the documented refusal window";
    EXPECT_EQ((*second)->Stop(), 0);  // A clean SIGTERM, well inside it.
  }
  auto third = TaaladProcess::Start(async, data_dir);
  ASSERT_TRUE(third.ok()) << third.status();
  Client c(**third);
  const uint64_t intruder = c.CreateSession(30000);
  AcquireResponse resp;
  grpc::Status s = c.TryAcquire(intruder, "k", &resp);
  EXPECT_FALSE(s.ok() && resp.result() == AcquireResponse::ACQUIRED)
      << "\"k\" was granted (token " << resp.grant().fencing_token()
      << ") while the first run's holder may still believe in its 30 s "
         "lease:\n"
      << (*third)->Log();
  std::error_code ignored;
  std::filesystem::remove_all(dir, ignored);
}

}  // namespace
}  // namespace taala::test
