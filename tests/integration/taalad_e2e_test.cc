// End-to-end tests: the real taalad binary on a loopback port, spoken to over
// gRPC exactly as an application would.

#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <random>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "taala/v1/lock_service.grpc.pb.h"
#include "tests/integration/taalad_process.h"

namespace taala {
namespace {

using ::testing::HasSubstr;
using v1::AcquireRequest;
using v1::AcquireResponse;
using v1::LockService;

// How long a test waits for something that should happen promptly before it
// gives up; never a measure of speed.
constexpr auto kPatience = std::chrono::seconds(30);

std::chrono::system_clock::time_point Deadline(
    std::chrono::milliseconds d = std::chrono::duration_cast<
        std::chrono::milliseconds>(kPatience)) {
  return std::chrono::system_clock::now() + d;
}

class TaaladTest : public ::testing::Test {
 protected:
  void SetUp() override { StartDaemon(); }

  void TearDown() override {
    if (HasFailure() && daemon_ != nullptr) {
      std::cerr << "---- taalad log ----\n" << daemon_->Log();
    }
  }

  void StartDaemon(std::vector<std::string> args = {"--min_session_ttl=100ms"},
                   std::string data_dir = "") {
    auto started = test::TaaladProcess::Start(std::move(args), data_dir);
    ASSERT_TRUE(started.ok()) << started.status();
    daemon_ = std::move(*started);
    stub_ = NewStub();
  }

  std::unique_ptr<LockService::Stub> NewStub(int channel_id = 0) {
    grpc::ChannelArguments args;
    // Distinct arguments give distinct connections.
    args.SetInt("taala.test.channel", channel_id);
    std::shared_ptr<grpc::Channel> channel = grpc::CreateCustomChannel(
        daemon_->address(), grpc::InsecureChannelCredentials(), args);
    // Connected before the first call: under load a first connect attempt
    // can fail, and a call that does not wait for ready fails with it.
    EXPECT_TRUE(channel->WaitForConnected(Deadline()))
        << "channel " << channel_id << " did not connect";
    return LockService::NewStub(channel);
  }

  uint64_t CreateSession(int64_t ttl_ms = 10000, const std::string& name = "t",
                         LockService::Stub* stub = nullptr) {
    grpc::ClientContext ctx;
    ctx.set_deadline(Deadline());
    v1::CreateSessionRequest req;
    req.set_ttl_ms(ttl_ms);
    req.set_client_name(name);
    v1::CreateSessionResponse resp;
    grpc::Status s = (stub ? stub : stub_.get())->CreateSession(&ctx, req, &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return resp.session_id();
  }

  // Renews `session` if `*last` is 2 s ago or more: a client that runs
  // for a while keeps its session alive, however slow the machine.
  bool RenewIfDue(LockService::Stub* stub, uint64_t session,
                  std::chrono::steady_clock::time_point* last) {
    const auto now = std::chrono::steady_clock::now();
    if (now - *last < std::chrono::seconds(2)) return true;
    grpc::ClientContext ctx;
    ctx.set_deadline(Deadline());
    v1::KeepAliveRequest req;
    req.set_session_id(session);
    v1::KeepAliveResponse resp;
    grpc::Status s = stub->KeepAliveOnce(&ctx, req, &resp);
    EXPECT_TRUE(s.ok()) << "session " << session << ": " << s.error_message();
    *last = now;
    return s.ok();
  }

  grpc::Status Acquire(uint64_t session, const std::string& key,
                       int64_t wait_ms, AcquireResponse* resp,
                       int64_t max_hold_ms = 0,
                       LockService::Stub* stub = nullptr) {
    grpc::ClientContext ctx;
    ctx.set_deadline(Deadline());
    AcquireRequest req;
    req.set_session_id(session);
    req.set_key(key);
    req.set_wait_timeout_ms(wait_ms);
    req.set_max_hold_ms(max_hold_ms);
    return (stub ? stub : stub_.get())->Acquire(&ctx, req, resp);
  }

  uint64_t MustAcquire(uint64_t session, const std::string& key,
                       int64_t max_hold_ms = 0) {
    AcquireResponse resp;
    grpc::Status s = Acquire(session, key, 0, &resp, max_hold_ms);
    EXPECT_TRUE(s.ok()) << s.error_message();
    EXPECT_EQ(resp.result(), AcquireResponse::ACQUIRED);
    return resp.grant().fencing_token();
  }

  grpc::Status Release(uint64_t session, const std::string& key,
                       uint64_t token, LockService::Stub* stub = nullptr) {
    grpc::ClientContext ctx;
    ctx.set_deadline(Deadline());
    v1::ReleaseRequest req;
    req.set_session_id(session);
    req.set_key(key);
    req.set_fencing_token(token);
    v1::ReleaseResponse resp;
    return (stub ? stub : stub_.get())->Release(&ctx, req, &resp);
  }

  v1::DescribeLockResponse Describe(const std::string& key,
                                    uint32_t max_waiters = 0) {
    grpc::ClientContext ctx;
    ctx.set_deadline(Deadline());
    v1::DescribeLockRequest req;
    req.set_key(key);
    req.set_max_waiters(max_waiters);
    v1::DescribeLockResponse resp;
    grpc::Status s = stub_->DescribeLock(&ctx, req, &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return resp;
  }

  // Polls DescribeLock until the key has `n` waiters (a wait for an event,
  // bounded by kPatience).
  bool AwaitWaiters(const std::string& key, uint32_t n) {
    const auto give_up = std::chrono::steady_clock::now() + kPatience;
    while (std::chrono::steady_clock::now() < give_up) {
      if (Describe(key, 1).waiter_count() == n) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    return false;
  }

  std::unique_ptr<test::TaaladProcess> daemon_;
  std::unique_ptr<LockService::Stub> stub_;
};

// An Acquire in flight on the callback client API.
struct AsyncAcquire {
  grpc::ClientContext ctx;
  AcquireRequest req;
  AcquireResponse resp;
  absl::Notification done;
  grpc::Status status;

  void Start(LockService::Stub* stub, uint64_t session, const std::string& key,
             int64_t wait_ms = -1,
             std::function<void(AsyncAcquire*)> on_done = nullptr) {
    req.set_session_id(session);
    req.set_key(key);
    req.set_wait_timeout_ms(wait_ms);
    ctx.set_deadline(Deadline(std::chrono::milliseconds(120000)));
    stub->async()->Acquire(&ctx, &req, &resp,
                           [this, on_done](grpc::Status s) {
                             status = std::move(s);
                             if (on_done) on_done(this);
                             done.Notify();
                           });
  }
  bool Wait() {
    return done.WaitForNotificationWithTimeout(absl::FromChrono(kPatience));
  }
  bool granted() const {
    return status.ok() && resp.result() == AcquireResponse::ACQUIRED;
  }
};

TEST_F(TaaladTest, ThirtyTwoClientsNeverOverlapAndTokensIncrease) {
  constexpr int kClients = 32;
  constexpr int kCycles = 200;
  std::atomic<int> inside{0};
  std::atomic<int> overlaps{0};
  std::atomic<int> failures{0};
  std::mutex tokens_mu;
  std::vector<uint64_t> tokens;  // In grant order: appended while held.
  tokens.reserve(kClients * kCycles);

  std::vector<std::thread> clients;
  for (int c = 0; c < kClients; ++c) {
    clients.emplace_back([&, c] {
      auto stub = NewStub(c % 8);
      const uint64_t session = CreateSession(10000, "client", stub.get());
      auto renewed = std::chrono::steady_clock::now();
      for (int i = 0; i < kCycles; ++i) {
        if (!RenewIfDue(stub.get(), session, &renewed)) {
          failures++;
          return;
        }
        AcquireResponse resp;
        grpc::Status s = Acquire(session, "hot", -1, &resp, 0, stub.get());
        if (!s.ok() || resp.result() != AcquireResponse::ACQUIRED) {
          failures++;
          return;
        }
        if (inside.fetch_add(1) != 0) overlaps++;
        {
          std::lock_guard<std::mutex> lock(tokens_mu);
          tokens.push_back(resp.grant().fencing_token());
        }
        inside.fetch_sub(1);
        if (!Release(session, "hot", resp.grant().fencing_token(), stub.get())
                 .ok()) {
          failures++;
          return;
        }
      }
    });
  }
  for (auto& t : clients) t.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(overlaps.load(), 0);
  ASSERT_EQ(tokens.size(), static_cast<size_t>(kClients * kCycles));
  for (size_t i = 1; i < tokens.size(); ++i) {
    ASSERT_LT(tokens[i - 1], tokens[i]) << "at grant " << i;
  }
}

TEST_F(TaaladTest, WaitersAreGrantedInFifoOrder) {
  const uint64_t holder = CreateSession();
  const uint64_t token = MustAcquire(holder, "fifo");
  constexpr int kWaiters = 10;
  std::vector<uint64_t> sessions;
  for (int i = 0; i < kWaiters; ++i) sessions.push_back(CreateSession());

  absl::Mutex mu;
  std::vector<int> order;
  std::vector<std::unique_ptr<AsyncAcquire>> calls;
  for (int i = 0; i < kWaiters; ++i) {
    calls.push_back(std::make_unique<AsyncAcquire>());
    calls[i]->Start(stub_.get(), sessions[i], "fifo", -1,
                    [&, i](AsyncAcquire* call) {
                      {
                        absl::MutexLock lock(&mu);
                        order.push_back(i);
                      }
                      // Pass the key along.
                      EXPECT_TRUE(Release(sessions[i], "fifo",
                                          call->resp.grant().fencing_token())
                                      .ok());
                    });
    // The queue order is the order the daemon received the calls in: make
    // it the order we sent them in.
    ASSERT_TRUE(AwaitWaiters("fifo", i + 1));
  }
  v1::DescribeLockResponse d = Describe("fifo");
  ASSERT_EQ(d.waiters_size(), kWaiters);
  for (int i = 0; i < kWaiters; ++i) {
    EXPECT_EQ(d.waiters(i).session_id(), sessions[i]);
  }
  ASSERT_TRUE(Release(holder, "fifo", token).ok());
  for (auto& c : calls) {
    ASSERT_TRUE(c->Wait());
    EXPECT_TRUE(c->granted()) << c->status.error_message();
  }
  absl::MutexLock lock(&mu);
  EXPECT_THAT(order, ::testing::ElementsAre(0, 1, 2, 3, 4, 5, 6, 7, 8, 9));
}

TEST_F(TaaladTest, TryLockAndWaitTimeoutAnswerNotAcquired) {
  const uint64_t a = CreateSession();
  const uint64_t b = CreateSession();
  MustAcquire(a, "k");
  AcquireResponse resp;
  grpc::Status s = Acquire(b, "k", 0, &resp);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(resp.result(), AcquireResponse::TIMED_OUT);

  const absl::Time start = absl::Now();
  s = Acquire(b, "k", 300, &resp);
  const absl::Duration waited = absl::Now() - start;
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(resp.result(), AcquireResponse::TIMED_OUT);
  EXPECT_GE(waited, absl::Milliseconds(300));  // Not before the timeout.
  EXPECT_EQ(Describe("k").waiter_count(), 0u);
}

TEST_F(TaaladTest, CancelledWaiterIsNeverGrantedAndDoesNotBlockTheNext) {
  const uint64_t a = CreateSession();
  const uint64_t b = CreateSession();
  const uint64_t c = CreateSession();
  const uint64_t token = MustAcquire(a, "k");

  AsyncAcquire wb;
  wb.Start(stub_.get(), b, "k");
  ASSERT_TRUE(AwaitWaiters("k", 1));
  wb.ctx.TryCancel();
  ASSERT_TRUE(wb.Wait());
  EXPECT_EQ(wb.status.error_code(), grpc::StatusCode::CANCELLED);
  ASSERT_TRUE(AwaitWaiters("k", 0));  // Gone from the queue at once.

  // A caller whose own deadline passes is removed the same way.
  {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() +
                     std::chrono::milliseconds(200));
    AcquireRequest req;
    req.set_session_id(b);
    req.set_key("k");
    req.set_wait_timeout_ms(-1);
    AcquireResponse resp;
    EXPECT_EQ(stub_->Acquire(&ctx, req, &resp).error_code(),
              grpc::StatusCode::DEADLINE_EXCEEDED);
    ASSERT_TRUE(AwaitWaiters("k", 0));
  }

  AsyncAcquire wc;
  wc.Start(stub_.get(), c, "k");
  ASSERT_TRUE(AwaitWaiters("k", 1));
  ASSERT_TRUE(Release(a, "k", token).ok());
  ASSERT_TRUE(wc.Wait());
  EXPECT_TRUE(wc.granted()) << wc.status.error_message();
  v1::DescribeLockResponse d = Describe("k");
  ASSERT_EQ(d.holders_size(), 1);
  EXPECT_EQ(d.holders(0).grant().session_id(), c);
}

TEST_F(TaaladTest, ReacquireIsIdempotentAndReleaseOnlyByTheHolder) {
  const uint64_t a = CreateSession();
  const uint64_t b = CreateSession();
  const uint64_t token = MustAcquire(a, "k");
  AcquireResponse again;
  ASSERT_TRUE(Acquire(a, "k", 0, &again).ok());
  EXPECT_EQ(again.result(), AcquireResponse::ACQUIRED);
  EXPECT_TRUE(again.already_held());
  EXPECT_EQ(again.grant().fencing_token(), token);

  grpc::Status s = Release(b, "k", token);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(s.error_message(), HasSubstr("\"k\""));
  EXPECT_THAT(s.error_message(), HasSubstr(absl::StrCat("session ", b)));
  s = Release(a, "k", token + 1);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_TRUE(Release(a, "k", token).ok());
  // Once released, the token is stale for fencing too.
  grpc::ClientContext ctx;
  v1::CheckFenceRequest req;
  req.set_key("k");
  req.set_fencing_token(token);
  v1::CheckFenceResponse resp;
  EXPECT_EQ(stub_->CheckFence(&ctx, req, &resp).error_code(),
            grpc::StatusCode::FAILED_PRECONDITION);
}

TEST_F(TaaladTest, CheckFenceConfirmsTheCurrentGrant) {
  const uint64_t a = CreateSession();
  const uint64_t token = MustAcquire(a, "res");
  grpc::ClientContext ctx;
  v1::CheckFenceRequest req;
  req.set_key("res");
  req.set_fencing_token(token);
  v1::CheckFenceResponse resp;
  ASSERT_TRUE(stub_->CheckFence(&ctx, req, &resp).ok());
  EXPECT_EQ(resp.grant().session_id(), a);
  EXPECT_EQ(resp.grant().fencing_token(), token);
}

TEST_F(TaaladTest, SessionWithoutKeepAliveLosesItsLocksAndIsTold) {
  const uint64_t a = CreateSession(/*ttl_ms=*/500);
  const uint64_t b = CreateSession();
  MustAcquire(a, "k");

  // a's KeepAlive stream: one keepalive, then silence.
  grpc::ClientContext stream_ctx;
  stream_ctx.set_deadline(Deadline());
  auto stream = stub_->KeepAlive(&stream_ctx);
  v1::KeepAliveRequest ka;
  ka.set_session_id(a);
  ASSERT_TRUE(stream->Write(ka));
  const absl::Time last_keepalive = absl::Now();
  v1::KeepAliveResponse msg;
  ASSERT_TRUE(stream->Read(&msg));
  EXPECT_EQ(msg.ttl_ms(), 500);

  AcquireResponse resp;
  grpc::Status s = Acquire(b, "k", 10000, &resp);
  const absl::Duration after = absl::Now() - last_keepalive;
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(resp.result(), AcquireResponse::ACQUIRED);
  EXPECT_GE(after, absl::Milliseconds(500));  // Never before the TTL.

  ASSERT_TRUE(stream->Read(&msg));
  EXPECT_EQ(msg.event().type(), v1::SessionEvent::SESSION_EXPIRED);
  EXPECT_EQ(msg.event().session_id(), a);
  EXPECT_FALSE(stream->Read(&msg));
  EXPECT_EQ(stream->Finish().error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_THAT(daemon_->Log(), HasSubstr(absl::StrCat("session ", a)));
}

TEST_F(TaaladTest, KeepAliveStreamKeepsASessionAlivePastManyTtls) {
  const uint64_t a = CreateSession(/*ttl_ms=*/300);
  const uint64_t b = CreateSession();
  MustAcquire(a, "k");
  grpc::ClientContext stream_ctx;
  stream_ctx.set_deadline(Deadline());
  auto stream = stub_->KeepAlive(&stream_ctx);
  v1::KeepAliveRequest ka;
  ka.set_session_id(a);
  const absl::Time until = absl::Now() + absl::Milliseconds(1500);  // 5 TTLs.
  while (absl::Now() < until) {
    ASSERT_TRUE(stream->Write(ka));
    v1::KeepAliveResponse msg;
    ASSERT_TRUE(stream->Read(&msg));
    ASSERT_EQ(msg.ttl_ms(), 300);
    absl::SleepFor(absl::Milliseconds(100));
  }
  AcquireResponse resp;
  ASSERT_TRUE(Acquire(b, "k", 0, &resp).ok());
  EXPECT_EQ(resp.result(), AcquireResponse::TIMED_OUT);  // a still holds it.
  stream->WritesDone();
  EXPECT_TRUE(stream->Finish().ok());

  // The unary form renews too.
  grpc::ClientContext ctx;
  v1::KeepAliveResponse once;
  ASSERT_TRUE(stub_->KeepAliveOnce(&ctx, ka, &once).ok());
  EXPECT_EQ(once.ttl_ms(), 300);
}

TEST_F(TaaladTest, GrantPastMaxHoldIsRevokedAndTheStreamIsTold) {
  const uint64_t a = CreateSession();
  const uint64_t b = CreateSession();
  grpc::ClientContext stream_ctx;
  stream_ctx.set_deadline(Deadline());
  auto stream = stub_->KeepAlive(&stream_ctx);
  v1::KeepAliveRequest ka;
  ka.set_session_id(a);
  ASSERT_TRUE(stream->Write(ka));
  v1::KeepAliveResponse msg;
  ASSERT_TRUE(stream->Read(&msg));  // The ack: the stream is bound.

  const uint64_t token = MustAcquire(a, "k", /*max_hold_ms=*/300);
  AcquireResponse resp;
  ASSERT_TRUE(Acquire(b, "k", 10000, &resp).ok());
  EXPECT_EQ(resp.result(), AcquireResponse::ACQUIRED);

  ASSERT_TRUE(stream->Read(&msg));
  ASSERT_TRUE(msg.has_event());
  EXPECT_EQ(msg.event().type(), v1::SessionEvent::GRANT_REVOKED);
  EXPECT_EQ(msg.event().key(), "k");
  EXPECT_EQ(msg.event().fencing_token(), token);
  EXPECT_THAT(msg.event().reason(), HasSubstr("max hold"));
  EXPECT_EQ(Release(a, "k", token).error_code(),
            grpc::StatusCode::FAILED_PRECONDITION);
  stream->WritesDone();
  EXPECT_TRUE(stream->Finish().ok());
  EXPECT_THAT(daemon_->Log(), HasSubstr("revoked"));
}

TEST_F(TaaladTest, FiveThousandWaitersCostNoThreadsAndAreServedInOrder) {
  constexpr int kWaiters = 5000;
  constexpr int kChannels = 8;
  std::vector<std::unique_ptr<LockService::Stub>> stubs;
  for (int i = 0; i < kChannels; ++i) stubs.push_back(NewStub(100 + i));

  const uint64_t holder = CreateSession(60000);
  const uint64_t token = MustAcquire(holder, "crowd");
  const int threads_before = daemon_->ThreadCount();

  std::vector<uint64_t> sessions(kWaiters);
  {
    std::vector<std::thread> creators;
    for (int t = 0; t < kChannels; ++t) {
      creators.emplace_back([&, t] {
        for (int i = t; i < kWaiters; i += kChannels) {
          sessions[i] = CreateSession(60000, "w", stubs[t].get());
        }
      });
    }
    for (auto& t : creators) t.join();
  }
  absl::Mutex mu;
  std::vector<uint64_t> granted_sessions;
  std::vector<uint64_t> granted_tokens;
  std::atomic<int> release_failures{0};
  std::vector<std::unique_ptr<AsyncAcquire>> calls(kWaiters);
  for (int i = 0; i < kWaiters; ++i) {
    calls[i] = std::make_unique<AsyncAcquire>();
    calls[i]->Start(
        stubs[i % kChannels].get(), sessions[i], "crowd", -1,
        [&, i](AsyncAcquire* call) {
          if (!call->granted()) return;
          {
            absl::MutexLock lock(&mu);
            granted_sessions.push_back(sessions[i]);
            granted_tokens.push_back(call->resp.grant().fencing_token());
          }
          // Pass the key along (async: never block a callback thread).
          auto* ctx = new grpc::ClientContext();
          auto* req = new v1::ReleaseRequest();
          auto* resp = new v1::ReleaseResponse();
          req->set_session_id(sessions[i]);
          req->set_key("crowd");
          req->set_fencing_token(call->resp.grant().fencing_token());
          stubs[i % kChannels]->async()->Release(
              ctx, req, resp, [&, ctx, req, resp](grpc::Status s) {
                if (!s.ok()) release_failures++;
                delete ctx;
                delete req;
                delete resp;
              });
        });
  }
  ASSERT_TRUE(AwaitWaiters("crowd", kWaiters));
  const int threads_waiting = daemon_->ThreadCount();
  std::cerr << "taalad threads: " << threads_before << " before, "
            << threads_waiting << " with " << kWaiters << " waiters\n";
  // A waiter is a parked reactor, not a thread.
  EXPECT_LT(threads_waiting, 64);
  EXPECT_LE(threads_waiting, threads_before + 16);

  v1::DescribeLockResponse queue = Describe("crowd", kWaiters);
  ASSERT_EQ(queue.waiters_size(), kWaiters);

  ASSERT_TRUE(Release(holder, "crowd", token).ok());
  for (auto& c : calls) {
    ASSERT_TRUE(c->done.WaitForNotificationWithTimeout(absl::Seconds(120)));
    ASSERT_TRUE(c->granted()) << c->status.error_message();
  }
  absl::MutexLock lock(&mu);
  ASSERT_EQ(granted_sessions.size(), static_cast<size_t>(kWaiters));
  for (int i = 0; i < kWaiters; ++i) {
    ASSERT_EQ(granted_sessions[i], queue.waiters(i).session_id())
        << "grant " << i << " out of queue order";
    if (i > 0) ASSERT_LT(granted_tokens[i - 1], granted_tokens[i]);
  }
  EXPECT_EQ(release_failures.load(), 0);
}

TEST_F(TaaladTest, MalformedRequestsGetInvalidArgumentNamingTheField) {
  const uint64_t s = CreateSession();
  struct Case {
    std::string key;
    std::string expect;
  };
  const std::vector<Case> cases = {
      {"", "key: must not be empty"},
      {"a//b", "empty path segment"},
      {"/a", "empty path segment"},
      {"a/", "empty path segment"},
      {std::string(1025, 'k'), "exceeds the limit of 1024"},
  };
  for (const Case& c : cases) {
    AcquireResponse resp;
    grpc::Status st = Acquire(s, c.key, 0, &resp);
    EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << c.key;
    EXPECT_THAT(st.error_message(), HasSubstr(c.expect));
  }
  std::string deep = "s";
  for (int i = 0; i < 32; ++i) deep += "/s";
  AcquireResponse resp;
  grpc::Status st = Acquire(s, deep, 0, &resp);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(st.error_message(), HasSubstr("33 segments"));

  {
    grpc::ClientContext ctx;
    v1::CreateSessionRequest req;
    req.set_ttl_ms(-5);
    v1::CreateSessionResponse r;
    st = stub_->CreateSession(&ctx, req, &r);
    EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_THAT(st.error_message(), HasSubstr("ttl_ms"));
  }
  {
    grpc::ClientContext ctx;
    AcquireRequest req;
    req.set_session_id(s);
    req.set_key("k");
    req.set_mode(static_cast<v1::LockMode>(42));
    st = stub_->Acquire(&ctx, req, &resp);
    EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_THAT(st.error_message(), HasSubstr("mode"));
  }
  st = Acquire(s, "k", 0, &resp, /*max_hold_ms=*/-1);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(st.error_message(), HasSubstr("max_hold_ms"));

  st = Acquire(424242, "k", 0, &resp);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_THAT(st.error_message(), HasSubstr("session 424242"));
  EXPECT_THAT(st.error_message(), HasSubstr("\"k\""));
}

TEST_F(TaaladTest, InvalidUtf8KeyIsRefused) {
  const uint64_t s = CreateSession();
  AcquireResponse resp;
  grpc::Status st = Acquire(s, "bad\xff/key", 0, &resp);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT)
      << st.error_message();
  EXPECT_THAT(st.error_message(), HasSubstr("key"));
  EXPECT_THAT(st.error_message(), HasSubstr("UTF-8"));
}

TEST_F(TaaladTest, ShutdownEndsWaitsWithUnavailableAndExitsCleanly) {
  const uint64_t a = CreateSession();
  const uint64_t b = CreateSession();
  MustAcquire(a, "k");
  AsyncAcquire wb;
  wb.Start(stub_.get(), b, "k");
  ASSERT_TRUE(AwaitWaiters("k", 1));
  EXPECT_EQ(daemon_->Stop(), 0);
  ASSERT_TRUE(wb.Wait());
  EXPECT_EQ(wb.status.error_code(), grpc::StatusCode::UNAVAILABLE);
}

TEST_F(TaaladTest, ACleanRestartKeepsSessionsAndGrantsAndTokensNeverRepeat) {
  const uint64_t a = CreateSession();
  const uint64_t before = MustAcquire(a, "k");
  const std::string data_dir = daemon_->data_dir();
  ASSERT_EQ(daemon_->Stop(), 0);
  StartDaemon({}, data_dir);
  // The holder still holds its key, with its token.
  EXPECT_EQ(MustAcquire(a, "k"), before);
  const uint64_t b = CreateSession();
  EXPECT_NE(a, b);
  grpc::ClientContext ctx;
  AcquireRequest req;
  req.set_session_id(b);
  req.set_key("k");
  AcquireResponse resp;
  ASSERT_TRUE(stub_->Acquire(&ctx, req, &resp).ok());
  EXPECT_EQ(resp.result(), AcquireResponse::TIMED_OUT);
  ASSERT_TRUE(Release(a, "k", before).ok());
  EXPECT_GT(MustAcquire(b, "k"), before);
}

TEST_F(TaaladTest, ListLocksPagesThroughAPrefixInKeyOrder) {
  const uint64_t a = CreateSession(10000, "lister");
  const uint64_t b = CreateSession(10000, "queued");
  std::vector<std::string> keys;
  for (int i = 0; i < 12; ++i) keys.push_back(absl::StrCat("list/k", 10 + i));
  uint64_t first_token = 0;
  for (auto it = keys.rbegin(); it != keys.rend(); ++it) {
    first_token = MustAcquire(a, *it);  // Ends with keys[0]'s token.
  }
  MustAcquire(a, "listless");
  MustAcquire(a, "other/x");
  AsyncAcquire wait;
  wait.Start(stub_.get(), b, keys[0]);
  ASSERT_TRUE(AwaitWaiters(keys[0], 1));

  auto list = [&](const std::string& prefix, uint32_t page_size,
                  const std::string& token, v1::ListLocksResponse* resp) {
    grpc::ClientContext ctx;
    ctx.set_deadline(Deadline());
    v1::ListLocksRequest req;
    req.set_prefix(prefix);
    req.set_page_size(page_size);
    req.set_page_token(token);
    return stub_->ListLocks(&ctx, req, resp);
  };
  std::vector<std::string> listed;
  std::string token;
  int pages = 0;
  do {
    v1::ListLocksResponse resp;
    grpc::Status s = list("list/", 5, token, &resp);
    ASSERT_TRUE(s.ok()) << s.error_message();
    ASSERT_LE(resp.locks_size(), 5);
    for (const v1::LockSummary& l : resp.locks()) listed.push_back(l.key());
    if (pages == 0) {
      const v1::LockSummary& l = resp.locks(0);
      EXPECT_EQ(l.key(), keys[0]);
      ASSERT_EQ(l.holders_size(), 1);
      EXPECT_EQ(l.holders(0).client_name(), "lister");
      EXPECT_EQ(l.holders(0).grant().session_id(), a);
      EXPECT_EQ(l.holders(0).grant().key(), keys[0]);
      EXPECT_EQ(l.holders(0).grant().fencing_token(), first_token);
      EXPECT_EQ(l.holders(0).grant().mode(), v1::LOCK_MODE_EXCLUSIVE);
      EXPECT_GE(l.holders(0).grant().held_for_ms(), 0);
      EXPECT_EQ(l.waiter_count(), 1u);
      EXPECT_EQ(resp.locks(1).waiter_count(), 0u);
    }
    token = resp.next_page_token();
    ASSERT_LT(++pages, 10);
  } while (!token.empty());
  EXPECT_EQ(listed, keys);
  EXPECT_EQ(pages, 3);

  // page_size 0 is 100: one page, no token. An empty prefix lists all.
  v1::ListLocksResponse all;
  ASSERT_TRUE(list("", 0, "", &all).ok());
  EXPECT_EQ(all.locks_size(), 14);
  EXPECT_EQ(all.next_page_token(), "");
  EXPECT_EQ(all.locks(12).key(), "listless");

  v1::ListLocksResponse bad;
  grpc::Status s = list("bad\xff", 0, "", &bad);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("prefix: not valid UTF-8"));
  s = list(std::string(2000, 'p'), 0, "", &bad);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("prefix"));

  ASSERT_TRUE(Release(a, keys[0], first_token).ok());
  ASSERT_TRUE(wait.Wait());
  EXPECT_TRUE(wait.granted());
}

TEST_F(TaaladTest, ListSessionsShowsLeaseLabelsAndCounts) {
  uint64_t labelled = 0;
  {
    grpc::ClientContext ctx;
    ctx.set_deadline(Deadline());
    v1::CreateSessionRequest req;
    req.set_ttl_ms(20000);
    req.set_client_name("worker-7");
    (*req.mutable_labels())["team"] = "payments";
    (*req.mutable_labels())["host"] = "h1";
    v1::CreateSessionResponse resp;
    ASSERT_TRUE(stub_->CreateSession(&ctx, req, &resp).ok());
    labelled = resp.session_id();
  }
  std::vector<uint64_t> ids = {labelled};
  for (int i = 0; i < 4; ++i) ids.push_back(CreateSession(10000, "plain"));
  const uint64_t token = MustAcquire(labelled, "s/a");
  MustAcquire(labelled, "s/b");
  AsyncAcquire wait;
  wait.Start(stub_.get(), ids[1], "s/a");
  ASSERT_TRUE(AwaitWaiters("s/a", 1));

  auto list = [&](uint32_t page_size, const std::string& page_token,
                  v1::ListSessionsResponse* resp) {
    grpc::ClientContext ctx;
    ctx.set_deadline(Deadline());
    v1::ListSessionsRequest req;
    req.set_page_size(page_size);
    req.set_page_token(page_token);
    return stub_->ListSessions(&ctx, req, resp);
  };
  v1::ListSessionsResponse resp;
  ASSERT_TRUE(list(0, "", &resp).ok());
  ASSERT_EQ(resp.sessions_size(), 5);
  EXPECT_EQ(resp.next_page_token(), "");
  // Ids are random: the list is in id order, not in creation order.
  auto summary_of = [&](uint64_t id) -> const v1::SessionSummary& {
    for (const auto& s : resp.sessions()) {
      if (s.session_id() == id) return s;
    }
    ADD_FAILURE() << "session " << id << " not listed";
    return resp.sessions(0);
  };
  for (int i = 1; i < resp.sessions_size(); ++i) {
    EXPECT_LT(resp.sessions(i - 1).session_id(), resp.sessions(i).session_id());
  }
  const v1::SessionSummary& s0 = summary_of(labelled);
  EXPECT_EQ(s0.session_id(), labelled);
  EXPECT_EQ(s0.client_name(), "worker-7");
  EXPECT_EQ(s0.labels().at("team"), "payments");
  EXPECT_EQ(s0.labels().at("host"), "h1");
  EXPECT_EQ(s0.ttl_ms(), 20000);
  EXPECT_GT(s0.expires_in_ms(), 0);
  EXPECT_LE(s0.expires_in_ms(), 20000);
  EXPECT_EQ(s0.held_keys(), 2u);
  EXPECT_EQ(s0.waiting_keys(), 0u);
  EXPECT_EQ(summary_of(ids[1]).waiting_keys(), 1u);

  std::vector<uint64_t> listed;
  std::string page_token;
  int pages = 0;
  do {
    v1::ListSessionsResponse page;
    grpc::Status s = list(2, page_token, &page);
    ASSERT_TRUE(s.ok()) << s.error_message();
    for (const auto& summary : page.sessions()) {
      listed.push_back(summary.session_id());
    }
    page_token = page.next_page_token();
    ASSERT_LT(++pages, 10);
  } while (!page_token.empty());
  std::vector<uint64_t> sorted_ids = ids;
  std::sort(sorted_ids.begin(), sorted_ids.end());
  EXPECT_EQ(listed, sorted_ids);
  EXPECT_EQ(pages, 3);

  grpc::Status s = list(0, "not-a-token", &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("page_token"));

  ASSERT_TRUE(Release(labelled, "s/a", token).ok());
  ASSERT_TRUE(wait.Wait());
  EXPECT_TRUE(wait.granted());
}

TEST_F(TaaladTest, ServesTheStandardHealthService) {
  auto channel = grpc::CreateChannel(daemon_->address(),
                                     grpc::InsecureChannelCredentials());
  grpc::GenericStub generic(channel);
  // The health service answers over the generic stub with an empty
  // HealthCheckRequest (service "" = the whole server).
  grpc::ClientContext ctx;
  ctx.set_deadline(Deadline());
  grpc::Slice empty_message("");
  grpc::ByteBuffer request(&empty_message, 1);
  grpc::ByteBuffer response;
  grpc::Status status;
  absl::Notification done;
  generic.UnaryCall(&ctx, "/grpc.health.v1.Health/Check", grpc::StubOptions(),
                    &request, &response, [&](grpc::Status s) {
                      status = std::move(s);
                      done.Notify();
                    });
  ASSERT_TRUE(done.WaitForNotificationWithTimeout(absl::FromChrono(kPatience)));
  EXPECT_TRUE(status.ok()) << status.error_message();
  std::vector<grpc::Slice> slices;
  ASSERT_TRUE(response.Dump(&slices).ok());
  std::string bytes;
  for (auto& sl : slices) bytes.append(sl.begin(), sl.end());
  EXPECT_EQ(bytes, std::string("\x08\x01", 2));  // status: SERVING
}

// ---------------------------------------------------------------------------
// Modes, semaphores, upgrades, lock-delay and release requests.

// Monotonic time, as taalad's own clock.
absl::Time SteadyNow() {
  return absl::UnixEpoch() +
         absl::FromChrono(std::chrono::steady_clock::now().time_since_epoch());
}

class TaaladModesTest : public TaaladTest {
 protected:
  // An Acquire with every field the caller sets on `req` (session, key, mode,
  // wait, semaphore size, lock-delay, release request...).
  grpc::Status AcquireWith(const AcquireRequest& req, AcquireResponse* resp,
                           LockService::Stub* stub = nullptr) {
    grpc::ClientContext ctx;
    ctx.set_deadline(Deadline());
    return (stub ? stub : stub_.get())->Acquire(&ctx, req, resp);
  }

  static AcquireRequest Request(uint64_t session, const std::string& key,
                                int64_t wait_ms,
                                v1::LockMode mode = v1::LOCK_MODE_EXCLUSIVE,
                                uint32_t semaphore_size = 0) {
    AcquireRequest req;
    req.set_session_id(session);
    req.set_key(key);
    req.set_wait_timeout_ms(wait_ms);
    req.set_mode(mode);
    req.set_semaphore_size(semaphore_size);
    return req;
  }

  // Try-lock in `mode`: the grant's token, or 0 if it answered TIMED_OUT.
  uint64_t TryLock(uint64_t session, const std::string& key,
                   v1::LockMode mode) {
    AcquireResponse resp;
    grpc::Status s = AcquireWith(Request(session, key, 0, mode), &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();
    EXPECT_TRUE(resp.result() == AcquireResponse::ACQUIRED ||
                resp.result() == AcquireResponse::TIMED_OUT)
        << resp.ShortDebugString();
    return resp.result() == AcquireResponse::ACQUIRED
               ? resp.grant().fencing_token()
               : 0;
  }

  uint64_t MustTryLock(uint64_t session, const std::string& key,
                       v1::LockMode mode) {
    const uint64_t token = TryLock(session, key, mode);
    EXPECT_NE(token, 0u) << "session " << session << " did not get " << key;
    return token;
  }
};

// An Acquire in `mode` that waits until granted (wait_timeout_ms -1).
std::unique_ptr<AsyncAcquire> StartWaiting(LockService::Stub* stub,
                                           uint64_t session,
                                           const std::string& key,
                                           v1::LockMode mode,
                                           std::function<void(AsyncAcquire*)>
                                               on_done = nullptr) {
  auto call = std::make_unique<AsyncAcquire>();
  call->req.set_mode(mode);
  call->Start(stub, session, key, -1, std::move(on_done));
  return call;
}

TEST_F(TaaladModesTest, ManyReadersHoldTogetherAndAWriterExcludesThemAll) {
  constexpr int kReaders = 8;
  std::vector<uint64_t> readers;
  std::vector<uint64_t> tokens;
  for (int i = 0; i < kReaders; ++i) {
    readers.push_back(CreateSession(10000, absl::StrCat("reader-", i)));
  }
  const uint64_t writer = CreateSession(10000, "writer");
  // Readers from several threads at once: all of them hold together.
  {
    std::vector<std::thread> threads;
    tokens.assign(kReaders, 0);
    for (int i = 0; i < kReaders; ++i) {
      threads.emplace_back([&, i] {
        auto stub = NewStub(i);
        AcquireResponse resp;
        grpc::Status s = AcquireWith(
            Request(readers[i], "rw", 0, v1::LOCK_MODE_SHARED), &resp,
            stub.get());
        EXPECT_TRUE(s.ok()) << s.error_message();
        EXPECT_EQ(resp.result(), AcquireResponse::ACQUIRED) << "reader " << i;
        EXPECT_EQ(resp.grant().mode(), v1::LOCK_MODE_SHARED);
        tokens[i] = resp.grant().fencing_token();
      });
    }
    for (auto& t : threads) t.join();
  }
  v1::DescribeLockResponse d = Describe("rw");
  ASSERT_EQ(d.holders_size(), kReaders);
  std::vector<uint64_t> holder_sessions;
  for (const v1::Holder& h : d.holders()) {
    EXPECT_EQ(h.grant().mode(), v1::LOCK_MODE_SHARED);
    holder_sessions.push_back(h.grant().session_id());
  }
  EXPECT_THAT(holder_sessions, ::testing::UnorderedElementsAreArray(readers));
  EXPECT_EQ(d.semaphore_size(), 0u);

  // The writer cannot get in while any reader holds: not even the last one.
  EXPECT_EQ(TryLock(writer, "rw", v1::LOCK_MODE_EXCLUSIVE), 0u);
  for (int i = 0; i < kReaders - 1; ++i) {
    ASSERT_TRUE(Release(readers[i], "rw", tokens[i]).ok());
  }
  EXPECT_EQ(TryLock(writer, "rw", v1::LOCK_MODE_EXCLUSIVE), 0u);
  ASSERT_TRUE(Release(readers.back(), "rw", tokens.back()).ok());
  const uint64_t writer_token =
      MustTryLock(writer, "rw", v1::LOCK_MODE_EXCLUSIVE);
  EXPECT_GT(writer_token, *std::max_element(tokens.begin(), tokens.end()));

  // While the writer holds, no reader gets in.
  for (int i = 0; i < kReaders; ++i) {
    EXPECT_EQ(TryLock(readers[i], "rw", v1::LOCK_MODE_SHARED), 0u)
        << "reader " << i;
  }
  d = Describe("rw");
  ASSERT_EQ(d.holders_size(), 1);
  EXPECT_EQ(d.holders(0).grant().session_id(), writer);
  EXPECT_EQ(d.holders(0).grant().mode(), v1::LOCK_MODE_EXCLUSIVE);
  ASSERT_TRUE(Release(writer, "rw", writer_token).ok());
  // Free again: readers share it once more.
  for (int i = 0; i < kReaders; ++i) {
    MustTryLock(readers[i], "rw", v1::LOCK_MODE_SHARED);
  }
  EXPECT_EQ(Describe("rw").holders_size(), kReaders);
}

TEST_F(TaaladModesTest, AQueuedWriterIsNotOvertakenByLaterReaders) {
  constexpr int kLateReaders = 20;
  const uint64_t first_reader = CreateSession(10000, "first-reader");
  const uint64_t writer = CreateSession(10000, "writer");
  std::vector<uint64_t> late;
  for (int i = 0; i < kLateReaders; ++i) {
    late.push_back(CreateSession(10000, absl::StrCat("late-reader-", i)));
  }
  const uint64_t first_token =
      MustTryLock(first_reader, "wq", v1::LOCK_MODE_SHARED);

  absl::Mutex mu;
  std::vector<uint64_t> grant_order;  // Sessions, in completion order.
  auto record = [&](uint64_t session) {
    return [&, session](AsyncAcquire* call) {
      if (!call->granted()) return;
      absl::MutexLock lock(&mu);
      grant_order.push_back(session);
    };
  };
  auto writer_call = StartWaiting(stub_.get(), writer, "wq",
                                  v1::LOCK_MODE_EXCLUSIVE, record(writer));
  ASSERT_TRUE(AwaitWaiters("wq", 1));
  // A stream of readers arrives while the writer waits: the key is held
  // SHARED, yet none of them may pass the writer.
  std::vector<std::unique_ptr<AsyncAcquire>> reader_calls;
  for (int i = 0; i < kLateReaders; ++i) {
    reader_calls.push_back(StartWaiting(stub_.get(), late[i], "wq",
                                        v1::LOCK_MODE_SHARED, record(late[i])));
  }
  ASSERT_TRUE(AwaitWaiters("wq", 1 + kLateReaders));
  // A reader's try-lock does not pass the writer either.
  const uint64_t prober = CreateSession(10000, "prober");
  EXPECT_EQ(TryLock(prober, "wq", v1::LOCK_MODE_SHARED), 0u);

  v1::DescribeLockResponse d = Describe("wq");
  ASSERT_EQ(d.holders_size(), 1);
  EXPECT_EQ(d.holders(0).grant().session_id(), first_reader);
  ASSERT_EQ(d.waiters_size(), 1 + kLateReaders);
  EXPECT_EQ(d.waiters(0).session_id(), writer);
  EXPECT_EQ(d.waiters(0).mode(), v1::LOCK_MODE_EXCLUSIVE);
  for (int i = 1; i <= kLateReaders; ++i) {
    EXPECT_EQ(d.waiters(i).mode(), v1::LOCK_MODE_SHARED);
  }
  EXPECT_FALSE(writer_call->done.HasBeenNotified());
  for (auto& c : reader_calls) EXPECT_FALSE(c->done.HasBeenNotified());

  // The first reader leaves: the writer, and only the writer, gets the key.
  ASSERT_TRUE(Release(first_reader, "wq", first_token).ok());
  ASSERT_TRUE(writer_call->Wait());
  ASSERT_TRUE(writer_call->granted()) << writer_call->status.error_message();
  const uint64_t writer_token = writer_call->resp.grant().fencing_token();
  EXPECT_GT(writer_token, first_token);
  d = Describe("wq");
  ASSERT_EQ(d.holders_size(), 1);
  EXPECT_EQ(d.holders(0).grant().session_id(), writer);
  EXPECT_EQ(d.waiter_count(), static_cast<uint32_t>(kLateReaders));
  for (auto& c : reader_calls) EXPECT_FALSE(c->done.HasBeenNotified());

  // The writer leaves: every queued reader is granted, together.
  const v1::DescribeLockResponse queue = Describe("wq");  // Before: queued.
  ASSERT_EQ(queue.waiters_size(), kLateReaders);
  ASSERT_TRUE(Release(writer, "wq", writer_token).ok());
  std::map<uint64_t, uint64_t> token_of;  // Session -> its grant's token.
  for (auto& c : reader_calls) {
    ASSERT_TRUE(c->Wait());
    ASSERT_TRUE(c->granted()) << c->status.error_message();
    EXPECT_GT(c->resp.grant().fencing_token(), writer_token);
    token_of[c->req.session_id()] = c->resp.grant().fencing_token();
  }
  d = Describe("wq");
  EXPECT_EQ(d.holders_size(), kLateReaders);
  EXPECT_EQ(d.waiter_count(), 0u);
  // Granted in queue order: the tokens increase along the queue.
  for (int i = 1; i < kLateReaders; ++i) {
    EXPECT_LT(token_of[queue.waiters(i - 1).session_id()],
              token_of[queue.waiters(i).session_id()])
        << "queue position " << i;
  }
  absl::MutexLock lock(&mu);
  ASSERT_EQ(grant_order.size(), static_cast<size_t>(1 + kLateReaders));
  EXPECT_EQ(grant_order[0], writer);
}

TEST_F(TaaladModesTest, SemaphoreOfThreeAdmitsAtMostThreeOfTwentyClients) {
  constexpr uint32_t kSize = 3;
  // Exactly three at once, the fourth refused; the size shows in
  // DescribeLock.
  {
    std::vector<uint64_t> s;
    std::vector<uint64_t> tokens;
    for (int i = 0; i < 4; ++i) s.push_back(CreateSession(10000, "probe"));
    for (int i = 0; i < 3; ++i) {
      AcquireResponse resp;
      ASSERT_TRUE(
          AcquireWith(Request(s[i], "pool", 0, v1::LOCK_MODE_UNSPECIFIED,
                              kSize),
                      &resp)
              .ok());
      ASSERT_EQ(resp.result(), AcquireResponse::ACQUIRED) << i;
      tokens.push_back(resp.grant().fencing_token());
    }
    AcquireResponse resp;
    ASSERT_TRUE(AcquireWith(Request(s[3], "pool", 0,
                                    v1::LOCK_MODE_UNSPECIFIED, kSize),
                            &resp)
                    .ok());
    EXPECT_EQ(resp.result(), AcquireResponse::TIMED_OUT);
    v1::DescribeLockResponse d = Describe("pool");
    EXPECT_EQ(d.semaphore_size(), kSize);
    EXPECT_EQ(d.holders_size(), 3);

    // Another size, or a plain lock acquire, is refused while in use.
    grpc::Status st = AcquireWith(
        Request(s[3], "pool", 0, v1::LOCK_MODE_UNSPECIFIED, 4), &resp);
    EXPECT_EQ(st.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
    EXPECT_THAT(st.error_message(), HasSubstr("size 3"));
    EXPECT_THAT(st.error_message(), HasSubstr("size 4"));
    EXPECT_THAT(st.error_message(), HasSubstr("\"pool\""));
    st = AcquireWith(Request(s[3], "pool", -1), &resp);
    EXPECT_EQ(st.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
    EXPECT_THAT(st.error_message(), HasSubstr("semaphore of size 3"));
    for (int i = 0; i < 3; ++i) {
      ASSERT_TRUE(Release(s[i], "pool", tokens[i]).ok());
    }
    // Free again (no holders, no waiters): the key forgets its size.
    EXPECT_EQ(Describe("pool").semaphore_size(), 0u);
  }

  constexpr int kClients = 20;
  constexpr int kRounds = 5;
  std::atomic<int> inside{0};
  std::atomic<int> most_inside{0};
  std::atomic<int> over_limit{0};
  std::atomic<int> failures{0};
  std::vector<int> served(kClients, 0);  // Each written by its own client.
  std::vector<std::thread> clients;
  for (int c = 0; c < kClients; ++c) {
    clients.emplace_back([&, c] {
      auto stub = NewStub(c % 8);
      const uint64_t session =
          CreateSession(10000, absl::StrCat("sem-client-", c), stub.get());
      for (int round = 0; round < kRounds; ++round) {
        AcquireResponse resp;
        grpc::Status s = AcquireWith(
            Request(session, "pool", -1, v1::LOCK_MODE_UNSPECIFIED, kSize),
            &resp, stub.get());
        if (!s.ok() || resp.result() != AcquireResponse::ACQUIRED) {
          ADD_FAILURE() << "client " << c << ": " << s.error_message();
          failures++;
          return;
        }
        const int now_inside = inside.fetch_add(1) + 1;
        if (now_inside > static_cast<int>(kSize)) over_limit++;
        int seen = most_inside.load();
        while (now_inside > seen &&
               !most_inside.compare_exchange_weak(seen, now_inside)) {
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(3));
        inside.fetch_sub(1);
        ++served[c];
        if (!Release(session, "pool", resp.grant().fencing_token(),
                     stub.get())
                 .ok()) {
          failures++;
          return;
        }
      }
    });
  }
  for (auto& t : clients) t.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(over_limit.load(), 0) << "most holders at once: " << most_inside;
  EXPECT_LE(most_inside.load(), static_cast<int>(kSize));
  std::cerr << "most holders at once: " << most_inside.load() << "\n";
  for (int c = 0; c < kClients; ++c) {
    EXPECT_EQ(served[c], kRounds) << "client " << c;
  }
  EXPECT_EQ(Describe("pool").holders_size(), 0);
}

TEST_F(TaaladModesTest, LockDelayAfterExpiryButNotAfterARelease) {
  // The holder's lease runs out (no keepalive): the key stays granted to
  // nobody for the holder's lock-delay, then goes to the waiter.
  constexpr int64_t kTtlMs = 300;
  constexpr int64_t kDelayMs = 700;
  const absl::Time before_create = SteadyNow();
  const uint64_t holder = CreateSession(kTtlMs, "doomed");
  const absl::Time after_create = SteadyNow();
  const uint64_t waiter = CreateSession(10000, "next");
  AcquireRequest req = Request(holder, "delayed", 0);
  req.set_lock_delay_ms(kDelayMs);
  AcquireResponse resp;
  ASSERT_TRUE(AcquireWith(req, &resp).ok());
  ASSERT_EQ(resp.result(), AcquireResponse::ACQUIRED);
  const uint64_t holder_token = resp.grant().fencing_token();

  absl::Time granted_at;
  auto wait = StartWaiting(stub_.get(), waiter, "delayed",
                           v1::LOCK_MODE_EXCLUSIVE,
                           [&](AsyncAcquire*) { granted_at = SteadyNow(); });
  ASSERT_TRUE(AwaitWaiters("delayed", 1));
  // The lease ends no earlier than before_create + TTL (the server started
  // it after we asked) and no later than after_create + TTL.
  const absl::Time expiry_earliest = before_create + absl::Milliseconds(kTtlMs);
  const absl::Time expiry_latest = after_create + absl::Milliseconds(kTtlMs);

  // During the delay: no holder, the waiter still queued, the delay shown.
  bool saw_delay = false;
  const absl::Time give_up = SteadyNow() + absl::FromChrono(kPatience);
  while (!wait->done.HasBeenNotified() && SteadyNow() < give_up) {
    v1::DescribeLockResponse d = Describe("delayed");
    if (d.holders_size() == 0 && d.lock_delay_remaining_ms() > 0) {
      saw_delay = true;
      EXPECT_LE(d.lock_delay_remaining_ms(), kDelayMs);
      EXPECT_EQ(d.waiter_count(), 1u);
      break;
    }
    absl::SleepFor(absl::Milliseconds(2));
  }
  EXPECT_TRUE(saw_delay);
  ASSERT_TRUE(wait->Wait());
  ASSERT_TRUE(wait->granted()) << wait->status.error_message();
  EXPECT_GT(wait->resp.grant().fencing_token(), holder_token);
  // Strict lower bound: not before the earliest expiry plus the delay.
  EXPECT_GE(granted_at - expiry_earliest, absl::Milliseconds(kDelayMs))
      << "granted " << (granted_at - expiry_earliest)
      << " after the holder's earliest expiry";
  // Generous upper bound: the reaper and the delay timer are prompt.
  EXPECT_LT(granted_at - expiry_latest,
            absl::Milliseconds(kDelayMs) + absl::Seconds(3));
  std::cerr << "granted " << (granted_at - expiry_latest) << " to "
            << (granted_at - expiry_earliest)
            << " after the holder's lease ran out (lock-delay "
            << kDelayMs << "ms)\n";
  EXPECT_EQ(Describe("delayed").lock_delay_remaining_ms(), 0);

  // A normal release applies no delay, even with lock_delay_ms set.
  const uint64_t a = CreateSession(10000, "releaser");
  const uint64_t b = CreateSession(10000, "after-release");
  AcquireRequest again = Request(a, "prompt", 0);
  again.set_lock_delay_ms(kDelayMs);
  ASSERT_TRUE(AcquireWith(again, &resp).ok());
  ASSERT_EQ(resp.result(), AcquireResponse::ACQUIRED);
  absl::Time b_granted_at;
  auto wait_b =
      StartWaiting(stub_.get(), b, "prompt", v1::LOCK_MODE_EXCLUSIVE,
                   [&](AsyncAcquire*) { b_granted_at = SteadyNow(); });
  ASSERT_TRUE(AwaitWaiters("prompt", 1));
  const absl::Time released_at = SteadyNow();
  ASSERT_TRUE(Release(a, "prompt", resp.grant().fencing_token()).ok());
  ASSERT_TRUE(wait_b->Wait());
  ASSERT_TRUE(wait_b->granted()) << wait_b->status.error_message();
  EXPECT_LT(b_granted_at - released_at, absl::Milliseconds(kDelayMs / 2))
      << "granted " << (b_granted_at - released_at) << " after the release";
  EXPECT_EQ(Describe("prompt").lock_delay_remaining_ms(), 0);

  // Closing the session is a release too: no delay.
  const uint64_t c = CreateSession(10000, "closer");
  ASSERT_TRUE(Release(b, "prompt", wait_b->resp.grant().fencing_token()).ok());
  AcquireRequest closing = Request(c, "prompt", 0);
  closing.set_lock_delay_ms(kDelayMs);
  ASSERT_TRUE(AcquireWith(closing, &resp).ok());
  ASSERT_EQ(resp.result(), AcquireResponse::ACQUIRED);
  {
    grpc::ClientContext ctx;
    ctx.set_deadline(Deadline());
    v1::CloseSessionRequest close;
    close.set_session_id(c);
    v1::CloseSessionResponse closed;
    ASSERT_TRUE(stub_->CloseSession(&ctx, close, &closed).ok());
    EXPECT_EQ(closed.released_grants(), 1u);
  }
  EXPECT_EQ(Describe("prompt").lock_delay_remaining_ms(), 0);
  MustAcquire(b, "prompt");
}

TEST_F(TaaladModesTest, SharedHolderUpgradesWhenTheOtherReaderLeaves) {
  const uint64_t a = CreateSession(10000, "upgrader");
  const uint64_t b = CreateSession(10000, "other-reader");
  const uint64_t w = CreateSession(10000, "writer");
  const uint64_t a_shared = MustTryLock(a, "up", v1::LOCK_MODE_SHARED);
  const uint64_t b_shared = MustTryLock(b, "up", v1::LOCK_MODE_SHARED);
  // A writer queues first; the upgrade still goes ahead of it.
  auto writer = StartWaiting(stub_.get(), w, "up", v1::LOCK_MODE_EXCLUSIVE);
  ASSERT_TRUE(AwaitWaiters("up", 1));
  auto upgrade = StartWaiting(stub_.get(), a, "up", v1::LOCK_MODE_EXCLUSIVE);
  ASSERT_TRUE(AwaitWaiters("up", 2));
  v1::DescribeLockResponse d = Describe("up");
  ASSERT_EQ(d.waiters_size(), 2);
  EXPECT_EQ(d.waiters(0).session_id(), a);
  EXPECT_EQ(d.waiters(0).mode(), v1::LOCK_MODE_EXCLUSIVE);
  EXPECT_EQ(d.waiters(1).session_id(), w);
  EXPECT_EQ(d.holders_size(), 2);  // a still reads meanwhile.
  EXPECT_FALSE(upgrade->done.HasBeenNotified());

  ASSERT_TRUE(Release(b, "up", b_shared).ok());
  ASSERT_TRUE(upgrade->Wait());
  ASSERT_TRUE(upgrade->granted()) << upgrade->status.error_message();
  const v1::Grant& g = upgrade->resp.grant();
  EXPECT_EQ(g.session_id(), a);
  EXPECT_EQ(g.mode(), v1::LOCK_MODE_EXCLUSIVE);
  EXPECT_GT(g.fencing_token(), a_shared);
  EXPECT_GT(g.fencing_token(), b_shared);
  d = Describe("up");
  ASSERT_EQ(d.holders_size(), 1);
  EXPECT_EQ(d.holders(0).grant().session_id(), a);
  EXPECT_EQ(d.holders(0).grant().mode(), v1::LOCK_MODE_EXCLUSIVE);
  EXPECT_EQ(d.holders(0).grant().fencing_token(), g.fencing_token());
  EXPECT_FALSE(writer->done.HasBeenNotified());
  // The SHARED grant's token is no longer current.
  EXPECT_EQ(Release(a, "up", a_shared).error_code(),
            grpc::StatusCode::FAILED_PRECONDITION);
  ASSERT_TRUE(Release(a, "up", g.fencing_token()).ok());
  ASSERT_TRUE(writer->Wait());
  EXPECT_TRUE(writer->granted()) << writer->status.error_message();
  EXPECT_GT(writer->resp.grant().fencing_token(), g.fencing_token());
}

TEST_F(TaaladModesTest, SecondUpgraderOfAKeyIsAbortedNamingBothSessions) {
  const uint64_t a = CreateSession(10000, "first-upgrader");
  const uint64_t b = CreateSession(10000, "second-upgrader");
  MustTryLock(a, "dl", v1::LOCK_MODE_SHARED);
  const uint64_t b_shared = MustTryLock(b, "dl", v1::LOCK_MODE_SHARED);
  auto first = StartWaiting(stub_.get(), a, "dl", v1::LOCK_MODE_EXCLUSIVE);
  ASSERT_TRUE(AwaitWaiters("dl", 1));

  // b waiting for a while a waits for b: a deadlock, refused at once.
  AcquireResponse resp;
  grpc::Status s = AcquireWith(Request(b, "dl", -1), &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::ABORTED) << s.error_message();
  EXPECT_THAT(s.error_message(), HasSubstr(absl::StrCat(a)));
  EXPECT_THAT(s.error_message(), HasSubstr(absl::StrCat(b)));
  EXPECT_THAT(s.error_message(), HasSubstr("\"dl\""));
  EXPECT_EQ(Describe("dl").waiter_count(), 1u);
  EXPECT_FALSE(first->done.HasBeenNotified());

  // b keeps its SHARED grant; when it lets go, a's upgrade goes through.
  ASSERT_TRUE(Release(b, "dl", b_shared).ok());
  ASSERT_TRUE(first->Wait());
  ASSERT_TRUE(first->granted()) << first->status.error_message();
  EXPECT_EQ(first->resp.grant().mode(), v1::LOCK_MODE_EXCLUSIVE);
}

TEST_F(TaaladModesTest, ReleaseRequestReachesTheHoldersKeepAliveStream) {
  const uint64_t holder = CreateSession(10000, "holder");
  const uint64_t requester = CreateSession(10000, "impatient-requester");
  grpc::ClientContext stream_ctx;
  stream_ctx.set_deadline(Deadline());
  auto stream = stub_->KeepAlive(&stream_ctx);
  v1::KeepAliveRequest ka;
  ka.set_session_id(holder);
  ASSERT_TRUE(stream->Write(ka));
  v1::KeepAliveResponse msg;
  ASSERT_TRUE(stream->Read(&msg));  // The ack: the stream is bound.
  ASSERT_FALSE(msg.has_event());

  const uint64_t token = MustAcquire(holder, "coop");
  auto call = std::make_unique<AsyncAcquire>();
  call->req.set_request_release(true);
  call->Start(stub_.get(), requester, "coop");

  ASSERT_TRUE(stream->Read(&msg));
  ASSERT_TRUE(msg.has_event());
  const v1::SessionEvent& e = msg.event();
  EXPECT_EQ(e.type(), v1::SessionEvent::RELEASE_REQUESTED);
  EXPECT_EQ(e.session_id(), holder);
  EXPECT_EQ(e.key(), "coop");
  EXPECT_EQ(e.fencing_token(), token);
  EXPECT_EQ(e.requester_session_id(), requester);
  EXPECT_EQ(e.requester_client_name(), "impatient-requester");
  EXPECT_THAT(e.reason(), HasSubstr(absl::StrCat(requester)));
  EXPECT_EQ(Describe("coop").waiter_count(), 1u);
  EXPECT_FALSE(call->done.HasBeenNotified());  // Asking is not taking.

  // The holder complies; the requester gets the key.
  ASSERT_TRUE(Release(holder, "coop", token).ok());
  ASSERT_TRUE(call->Wait());
  ASSERT_TRUE(call->granted()) << call->status.error_message();
  EXPECT_GT(call->resp.grant().fencing_token(), token);
  stream->WritesDone();
  EXPECT_TRUE(stream->Finish().ok());
}


// ---------------------------------------------------------------------------
// Deadlocks and AcquireAll over gRPC.

v1::AcquireAllRequest AllRequest(uint64_t session,
                                 const std::vector<std::string>& keys,
                                 int64_t wait_ms) {
  v1::AcquireAllRequest req;
  req.set_session_id(session);
  for (const std::string& k : keys) req.add_keys()->set_key(k);
  req.set_wait_timeout_ms(wait_ms);
  return req;
}

TEST_F(TaaladTest, OppositeOrderLockingGetsAbortedWithTheCycleNotAHang) {
  // One service locks partner then restaurant; the other restaurant then
  // partner.
  const uint64_t orders = CreateSession(10000, "orders");
  const uint64_t payouts = CreateSession(10000, "payouts");
  MustAcquire(orders, "partner/42");
  MustAcquire(payouts, "restaurant/7");
  AsyncAcquire waiting;
  waiting.Start(stub_.get(), orders, "restaurant/7");
  ASSERT_TRUE(AwaitWaiters("restaurant/7", 1));
  AcquireResponse resp;
  grpc::Status s = Acquire(payouts, "partner/42", -1, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::ABORTED);
  EXPECT_THAT(s.error_message(), HasSubstr("deadlock"));
  EXPECT_THAT(s.error_message(), HasSubstr("\"partner/42\""));
  EXPECT_THAT(s.error_message(), HasSubstr("\"restaurant/7\""));
  EXPECT_THAT(s.error_message(), HasSubstr("(orders)"));
  EXPECT_THAT(s.error_message(), HasSubstr("(payouts)"));

  grpc::ClientContext ctx;
  v1::GetWaitForGraphRequest greq;
  v1::GetWaitForGraphResponse graph;
  ASSERT_TRUE(stub_->GetWaitForGraph(&ctx, greq, &graph).ok());
  EXPECT_EQ(graph.deadlocks_refused(), 1u);
  ASSERT_EQ(graph.edges_size(), 1);
  EXPECT_EQ(graph.edges(0).waiter_session_id(), orders);
  EXPECT_EQ(graph.edges(0).blocker_session_id(), payouts);
  EXPECT_EQ(graph.edges(0).key(), "restaurant/7");
  waiting.ctx.TryCancel();
  ASSERT_TRUE(waiting.Wait());
}

TEST_F(TaaladTest, ThreeSessionCycleGetsAborted) {
  const uint64_t a = CreateSession(), b = CreateSession(), c = CreateSession();
  MustAcquire(a, "x");
  MustAcquire(b, "y");
  MustAcquire(c, "z");
  AsyncAcquire wa, wb;
  wa.Start(stub_.get(), a, "y");
  ASSERT_TRUE(AwaitWaiters("y", 1));
  wb.Start(stub_.get(), b, "z");
  ASSERT_TRUE(AwaitWaiters("z", 1));
  AcquireResponse resp;
  grpc::Status s = Acquire(c, "x", -1, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::ABORTED);
  wa.ctx.TryCancel();
  wb.ctx.TryCancel();
  ASSERT_TRUE(wa.Wait());
  ASSERT_TRUE(wb.Wait());
}

TEST_F(TaaladTest, AcquireAllInRandomOrdersNeverDeadlocksOrOverlaps) {
  constexpr int kThreads = 8;
  constexpr int kIterations = 500;
  const std::vector<std::string> keys = {"acct/1", "acct/2", "ledger", "z/9"};
  std::vector<std::atomic<int>> inside(keys.size());
  for (auto& i : inside) i = 0;
  std::atomic<int> overlaps{0}, failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      auto stub = NewStub(t);
      const uint64_t session = CreateSession(30000, "all", stub.get());
      auto renewed = std::chrono::steady_clock::now();
      std::mt19937 rng(t);
      std::vector<std::string> order = keys;
      for (int i = 0; i < kIterations && failures == 0; ++i) {
        if (!RenewIfDue(stub.get(), session, &renewed)) {
          failures++;
          return;
        }
        std::shuffle(order.begin(), order.end(), rng);
        grpc::ClientContext ctx;
        ctx.set_deadline(Deadline());
        v1::AcquireAllResponse resp;
        grpc::Status s =
            stub->AcquireAll(&ctx, AllRequest(session, order, -1), &resp);
        if (!s.ok() || resp.result() != AcquireResponse::ACQUIRED ||
            resp.grants_size() != 4) {
          ADD_FAILURE() << "AcquireAll: " << s.error_message();
          failures++;
          return;
        }
        for (size_t k = 0; k < keys.size(); ++k) {
          if (inside[k].fetch_add(1) != 0) overlaps++;
        }
        for (size_t k = 0; k < keys.size(); ++k) inside[k].fetch_sub(1);
        for (int g = 0; g < resp.grants_size(); ++g) {
          // Grants come back in the order the keys were listed.
          EXPECT_EQ(resp.grants(g).key(), order[g]);
          if (!Release(session, resp.grants(g).key(),
                       resp.grants(g).fencing_token(), stub.get())
                   .ok()) {
            failures++;
          }
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(overlaps.load(), 0);
}

// Issue 8 item 7: '-' and '.' sort below '/', so a bytewise order splits a
// key's subtree ("a" < "a-x" < "a/b") and two AcquireAll callers can each
// hold what the other waits for. Ordered segment by segment, none of these
// calls is ever refused as a deadlock.
TEST_F(TaaladTest, AcquireAllWithKeysSortingBelowSlashNeverAborts) {
  constexpr int kThreads = 6;
  constexpr int kIterations = 300;
  const std::vector<std::string> keys = {"a", "a-x", "a/b", "a.b/c"};
  std::atomic<int> aborted{0}, other_errors{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      auto stub = NewStub(100 + t);
      const uint64_t session = CreateSession(30000, "subtree", stub.get());
      auto renewed = std::chrono::steady_clock::now();
      std::mt19937 rng(1000 + t);
      for (int i = 0; i < kIterations && other_errors == 0; ++i) {
        if (!RenewIfDue(stub.get(), session, &renewed)) {
          other_errors++;
          return;
        }
        // A random subset of two or more keys, in a random order. Not both
        // "a" and "a/b" in one call: a session holding a key and asking for
        // another in its subtree can meet a waiter it blocks queued ahead
        // (FIFO across the tree), a cycle of its own that is not this test's.
        std::vector<std::string> subset = keys;
        std::shuffle(subset.begin(), subset.end(), rng);
        subset.resize(2 + rng() % (keys.size() - 1));
        if (std::count(subset.begin(), subset.end(), "a") +
                std::count(subset.begin(), subset.end(), "a/b") ==
            2) {
          subset.erase(std::find(subset.begin(), subset.end(), "a"));
        }
        grpc::ClientContext ctx;
        ctx.set_deadline(Deadline());
        v1::AcquireAllResponse resp;
        grpc::Status s =
            stub->AcquireAll(&ctx, AllRequest(session, subset, -1), &resp);
        if (s.error_code() == grpc::StatusCode::ABORTED) {
          if (aborted++ == 0) ADD_FAILURE() << s.error_message();
          continue;
        }
        if (!s.ok() || resp.result() != AcquireResponse::ACQUIRED) {
          ADD_FAILURE() << "AcquireAll: " << s.error_message();
          other_errors++;
          return;
        }
        for (const v1::Grant& g : resp.grants()) {
          if (!Release(session, g.key(), g.fencing_token(), stub.get()).ok()) {
            other_errors++;
          }
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(other_errors.load(), 0);
  EXPECT_EQ(aborted.load(), 0) << "AcquireAll calls refused as deadlocks";
}

// Issue 8 item 13: GetWaitForGraph's max_edges is capped at 10,000 (the
// listing runs under the graph's one mutex); 0 takes the default.
TEST_F(TaaladTest, WaitForGraphMaxEdgesAboveTheCapIsInvalidArgument) {
  for (uint32_t ok : {0u, 1u, 10000u}) {
    grpc::ClientContext ctx;
    ctx.set_deadline(Deadline());
    v1::GetWaitForGraphRequest req;
    req.set_max_edges(ok);
    v1::GetWaitForGraphResponse resp;
    EXPECT_TRUE(stub_->GetWaitForGraph(&ctx, req, &resp).ok()) << ok;
  }
  for (uint32_t too_many : {10001u, 4000000000u}) {
    grpc::ClientContext ctx;
    ctx.set_deadline(Deadline());
    v1::GetWaitForGraphRequest req;
    req.set_max_edges(too_many);
    v1::GetWaitForGraphResponse resp;
    grpc::Status s = stub_->GetWaitForGraph(&ctx, req, &resp);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << too_many;
    EXPECT_THAT(s.error_message(), HasSubstr("max_edges"));
    EXPECT_THAT(s.error_message(), HasSubstr("10000"));
  }
}

TEST_F(TaaladTest, AcquireAllIsAllOrNothing) {
  const uint64_t holder = CreateSession();
  const uint64_t all = CreateSession();
  MustAcquire(holder, "b");
  const uint64_t mine = MustAcquire(all, "c");  // Held before the call.
  grpc::ClientContext ctx;
  v1::AcquireAllResponse resp;
  ASSERT_TRUE(
      stub_->AcquireAll(&ctx, AllRequest(all, {"a", "b", "c"}, 200), &resp)
          .ok());
  EXPECT_EQ(resp.result(), AcquireResponse::TIMED_OUT);
  EXPECT_EQ(Describe("a").holders_size(), 0);  // Taken, then given back.
  ASSERT_EQ(Describe("c").holders_size(), 1);  // Held before: kept.
  EXPECT_EQ(Describe("c").holders(0).grant().fencing_token(), mine);

  grpc::ClientContext bad;
  grpc::Status s =
      stub_->AcquireAll(&bad, AllRequest(all, {"a", "a"}, 0), &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("listed twice"));
}


TEST_F(TaaladTest, HierarchyParentWaitsForChildrenAndSiblingsCoexist) {
  const uint64_t a = CreateSession(), b = CreateSession(), c = CreateSession();
  const uint64_t leaf = MustAcquire(a, "org/team/svc");
  MustAcquire(b, "org/other");  // A sibling subtree: no conflict.
  AcquireResponse resp;
  ASSERT_TRUE(Acquire(c, "org", 0, &resp).ok());
  EXPECT_EQ(resp.result(), AcquireResponse::TIMED_OUT);  // Children held.
  AsyncAcquire parent;
  parent.Start(stub_.get(), c, "org");
  ASSERT_TRUE(AwaitWaiters("org", 1));
  // New grants below the queued EXCLUSIVE parent wait behind it.
  ASSERT_TRUE(Acquire(a, "org/new", 0, &resp).ok());
  EXPECT_EQ(resp.result(), AcquireResponse::TIMED_OUT);
  ASSERT_TRUE(Release(a, "org/team/svc", leaf).ok());
  v1::DescribeLockResponse d = Describe("org/other");
  ASSERT_EQ(d.holders_size(), 1);
  ASSERT_TRUE(Release(b, "org/other", d.holders(0).grant().fencing_token())
                  .ok());
  ASSERT_TRUE(parent.Wait());
  EXPECT_TRUE(parent.granted()) << parent.status.error_message();
}

}  // namespace
}  // namespace taala
