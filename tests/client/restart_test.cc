// The client across a daemon restart on the same data directory (the
// write-ahead log restores every session and grant acknowledged before the
// crash or stop, each lease restarting at now + TTL + --restart_grace).
// A Lock holder keeps its lock and token through a kill -9; a Lock blocked
// in lock() whose waiting Acquire died with the daemon asks again and gets
// the key when the holder releases; a clean restart (SIGTERM) ends KeepAlive
// streams with UNAVAILABLE "your session is kept", and the client keeps the
// session. Against the real taalad.

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "client/lock_client.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "taala/v1/lock_service.grpc.pb.h"
#include "tests/client/client_fixture.h"
#include "tests/integration/taalad_process.h"
#include "tests/testing/status_matchers.h"

namespace taala {
namespace {

using ::testing::HasSubstr;

// Long enough that a restart on a busy machine never runs a lease out, short
// enough that the client must renew soon after the restart.
constexpr absl::Duration kTtl = absl::Seconds(15);
// Generous bounds for things that take a round trip or a reconnect.
constexpr absl::Duration kPatience = absl::Seconds(30);

enum class How { kKill9, kSigterm };

class RestartTestBase : public test::ClientFixture {
 protected:
  void TearDown() override {
    if (HasFailure()) {
      for (const auto& old : old_) {
        std::cerr << "---- earlier taalad's log ----\n" << old->Log();
      }
    }
    ClientFixture::TearDown();
  }

  // Ends taalad (SIGKILL or SIGTERM) and starts another on the same data
  // directory and port; `while_down` runs in between. The old process
  // object stays (and with it the data directory) until the test ends.
  void Restart(How how, const std::function<void()>& while_down = {}) {
    const int port = daemon_->port();
    const std::string data_dir = daemon_->data_dir();
    old_.push_back(std::move(daemon_));
    if (how == How::kKill9) {
      old_.back()->Kill();
    } else {
      ASSERT_EQ(old_.back()->Stop(), 0) << old_.back()->Log();
    }
    if (while_down) while_down();
    // The port may be briefly busy: try again for a while.
    const absl::Time give_up = absl::Now() + kPatience;
    while (true) {
      auto started = test::TaaladProcess::Start(
          {"--min_session_ttl=100ms",
           "--listen=127.0.0.1:" + std::to_string(port)},
          data_dir);
      if (started.ok()) {
        daemon_ = std::move(*started);
        return;
      }
      ASSERT_LT(absl::Now(), give_up)
          << "taalad did not restart on port " << port << ": "
          << started.status();
      absl::SleepFor(absl::Milliseconds(200));
    }
  }

  // Raw calls to the current daemon, for what the client does not show.
  std::unique_ptr<v1::LockService::Stub> Stub() {
    return v1::LockService::NewStub(grpc::CreateChannel(
        daemon_->address(), grpc::InsecureChannelCredentials()));
  }

  static void Deadline(grpc::ClientContext* ctx) {
    ctx->set_deadline(std::chrono::system_clock::now() +
                      std::chrono::seconds(5));
  }

  v1::DescribeLockResponse Describe(const std::string& key) {
    grpc::ClientContext ctx;
    Deadline(&ctx);
    v1::DescribeLockRequest req;
    req.set_key(key);
    v1::DescribeLockResponse resp;
    const grpc::Status s = Stub()->DescribeLock(&ctx, req, &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return resp;
  }

  bool Waits(const std::string& key, uint64_t session_id) {
    const v1::DescribeLockResponse d = Describe(key);
    for (const v1::Waiter& w : d.waiters()) {
      if (w.session_id() == session_id) return true;
    }
    return false;
  }

  // When the daemon will end the session's lease unless renewed (wall
  // clock); nullopt if it does not list the session.
  std::optional<absl::Time> LeaseEnd(uint64_t session_id) {
    grpc::ClientContext ctx;
    Deadline(&ctx);
    v1::ListSessionsRequest req;
    req.set_page_size(1000);
    v1::ListSessionsResponse resp;
    const absl::Time asked = absl::Now();
    const grpc::Status s = Stub()->ListSessions(&ctx, req, &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();
    for (const v1::SessionSummary& summary : resp.sessions()) {
      if (summary.session_id() == session_id) {
        return asked + absl::Milliseconds(summary.expires_in_ms());
      }
    }
    return std::nullopt;
  }

  // Waits until the daemon shows the session's lease renewed: its end moves
  // well past where it was first seen (the restored lease, or one renewal
  // later). The client renews every TTL/3 (5 s), so this takes about 10 s.
  void ExpectRenewed(uint64_t session_id) {
    const std::optional<absl::Time> first = LeaseEnd(session_id);
    ASSERT_TRUE(first.has_value()) << "the restarted daemon lost session "
                                   << session_id;
    const absl::Time give_up = absl::Now() + 3 * kTtl;
    while (true) {
      const std::optional<absl::Time> now = LeaseEnd(session_id);
      ASSERT_TRUE(now.has_value()) << "session " << session_id << " ended";
      if (*now > *first + absl::Milliseconds(2500)) return;
      ASSERT_LT(absl::Now(), give_up)
          << "the restarted daemon saw no renewal of session " << session_id;
      absl::SleepFor(absl::Milliseconds(250));
    }
  }

  std::vector<std::unique_ptr<test::TaaladProcess>> old_;
};

// Samples a held Lock on its own thread until stopped: it must own its key
// with the same token, its session never lost, all along.
class OwnershipWatch {
 public:
  OwnershipWatch(const Session& session, const Lock& lock)
      : token_(lock.fencing_token()), thread_([this, &session, &lock] {
          while (!stop_.load()) {
            ++samples_;
            if (!lock.owns_lock()) ++not_owned_;
            if (lock.fencing_token() != token_) ++token_changed_;
            if (session.lost()) ++lost_;
            std::this_thread::sleep_for(std::chrono::milliseconds(5));
          }
        }) {}
  ~OwnershipWatch() { Stop(); }

  void Stop() {
    stop_.store(true);
    if (thread_.joinable()) thread_.join();
  }
  void Expect() const {
    EXPECT_GT(samples_.load(), 100);
    EXPECT_EQ(not_owned_.load(), 0) << "owns_lock() was false";
    EXPECT_EQ(token_changed_.load(), 0) << "fencing_token() changed";
    EXPECT_EQ(lost_.load(), 0) << "session lost() was true";
  }

 private:
  const uint64_t token_;
  std::atomic<bool> stop_{false};
  std::atomic<int> samples_{0}, not_owned_{0}, token_changed_{0}, lost_{0};
  std::thread thread_;
};

// on_lost, counted.
struct LostCounter {
  std::atomic<int> calls{0};
  absl::Mutex mu;
  absl::Status why ABSL_GUARDED_BY(mu);
  SessionOptions Options(std::string name) {
    SessionOptions options;
    options.client_name = std::move(name);
    options.on_lost = [this](const absl::Status& s) {
      absl::MutexLock lock(&mu);
      why = s;
      ++calls;
    };
    return options;
  }
  void ExpectNone() {
    absl::MutexLock lock(&mu);
    EXPECT_EQ(calls.load(), 0) << "on_lost ran: " << why;
  }
};

class RestartTest : public RestartTestBase {
 protected:
  // Session A holds K; B waits for K in lock() on another thread; the
  // daemon restarts (`how`); A unlocks; B gets K with a higher token.
  void BlockedLockGetsTheKey(How how) {
    const std::string key = "restart/blocked";
    auto client_a = Connect(Options());
    auto client_b = Connect(Options());
    LostCounter lost_a, lost_b;
    auto a_session = NewSession(*client_a, kTtl, lost_a.Options("a"));
    auto b_session = NewSession(*client_b, kTtl, lost_b.Options("b"));
    ASSERT_NE(a_session, nullptr);
    ASSERT_NE(b_session, nullptr);
    Lock a(*a_session, key);
    a.lock();
    const uint64_t a_token = a.fencing_token();

    Lock b(*b_session, key);
    absl::Notification done;
    absl::Status b_status;  // Written by the thread before done.
    std::thread waiter([&] {
      try {
        b.lock();
      } catch (const LockError& e) {
        b_status = e.status();
      }
      done.Notify();
    });
    // Whatever happens below, the waiter ends before b and its session go.
    struct Join {
      std::function<void()> f;
      ~Join() { f(); }
    } join{[&] {
      if (!done.WaitForNotificationWithTimeout(absl::Seconds(1))) {
        b_session->Close().IgnoreError();
      }
      waiter.join();
    }};

    const uint64_t b_id = b_session->id();
    auto wait_for = [&](const char* what) {
      const absl::Time give_up = absl::Now() + kPatience;
      while (!done.HasBeenNotified() && !Waits(key, b_id)) {
        ASSERT_LT(absl::Now(), give_up) << "B does not wait for K " << what;
        absl::SleepFor(absl::Milliseconds(50));
      }
      ASSERT_FALSE(done.HasBeenNotified())
          << "B's lock() returned " << what << ": " << b_status;
    };
    ASSERT_NO_FATAL_FAILURE(wait_for("before the restart"));
    ASSERT_NO_FATAL_FAILURE(
        Restart(how, [] { absl::SleepFor(absl::Milliseconds(500)); }));
    // B's waiting Acquire died with the old daemon: the client asks again.
    ASSERT_NO_FATAL_FAILURE(wait_for("after the restart"));

    EXPECT_TRUE(a.owns_lock());
    EXPECT_EQ(a.fencing_token(), a_token);
    // A's client saw the daemon down: until its channel has reconnected
    // (gRPC's reconnect backoff, up to 1 s) and its circuit breaker lets a
    // probe through, its calls fail fast (by design, see docs/client.md),
    // and an unlock() would leave the grant to the session's end.
    const absl::Time give_up = absl::Now() + kPatience;
    while (!client_a->CheckHealth().ok() ||
           client_a->circuit_state() == CircuitState::kOpen) {
      ASSERT_LT(absl::Now(), give_up) << "A's client does not reconnect";
      absl::SleepFor(absl::Milliseconds(50));
    }
    a.unlock();
    EXPECT_OK(a.last_unlock_status());

    ASSERT_TRUE(done.WaitForNotificationWithTimeout(kPatience))
        << "B's lock() did not return after A released K";
    EXPECT_OK(b_status);
    EXPECT_TRUE(b.owns_lock());
    EXPECT_GT(b.fencing_token(), a_token);
    const v1::DescribeLockResponse d = Describe(key);
    ASSERT_EQ(d.holders_size(), 1);
    EXPECT_EQ(d.holders(0).grant().session_id(), b_id);
    EXPECT_EQ(d.holders(0).grant().fencing_token(), b.fencing_token());
    lost_a.ExpectNone();
    lost_b.ExpectNone();
    EXPECT_FALSE(a_session->lost()) << a_session->lost_status();
    EXPECT_FALSE(b_session->lost()) << b_session->lost_status();
    if (b.owns_lock()) {
      b.unlock();
      EXPECT_OK(b.last_unlock_status());
    }
  }
};

TEST_F(RestartTest, AHolderKeepsItsLockAcrossKillNine) {
  auto client = Connect(Options());
  LostCounter lost;
  auto session = NewSession(*client, kTtl, lost.Options("holder"));
  ASSERT_NE(session, nullptr);
  Lock lock(*session, "restart/holder");
  lock.lock();
  const uint64_t token = lock.fencing_token();
  ASSERT_GT(token, 0u);
  OwnershipWatch watch(*session, lock);
  absl::SleepFor(absl::Milliseconds(300));

  ASSERT_NO_FATAL_FAILURE(
      Restart(How::kKill9, [] { absl::SleepFor(absl::Milliseconds(500)); }));

  // The new daemon restored the grant.
  const v1::DescribeLockResponse d = Describe("restart/holder");
  ASSERT_EQ(d.holders_size(), 1);
  EXPECT_EQ(d.holders(0).grant().session_id(), session->id());
  EXPECT_EQ(d.holders(0).grant().fencing_token(), token);
  // The client's keepalive reconnects and renews the restored lease.
  ASSERT_NO_FATAL_FAILURE(ExpectRenewed(session->id()));
  absl::SleepFor(absl::Seconds(2));

  watch.Stop();
  watch.Expect();
  lost.ExpectNone();
  EXPECT_FALSE(session->lost()) << session->lost_status();
  EXPECT_TRUE(lock.owns_lock());
  EXPECT_EQ(lock.fencing_token(), token);

  lock.unlock();
  EXPECT_OK(lock.last_unlock_status());
  EXPECT_EQ(Describe("restart/holder").holders_size(), 0)
      << "the release did not reach the restarted daemon";
}

TEST_F(RestartTest,
       ABlockedLockGetsTheKeyAfterTheHolderReleasesWithAHigherToken) {
  BlockedLockGetsTheKey(How::kKill9);
}

TEST_F(RestartTest,
       ABlockedLockGetsTheKeyAfterTheHolderReleasesAcrossACleanRestart) {
  BlockedLockGetsTheKey(How::kSigterm);
}

TEST_F(RestartTest, SessionKeptAcrossACleanRestart) {
  auto client = Connect(Options());
  LostCounter lost;
  auto session = NewSession(*client, kTtl, lost.Options("kept"));
  ASSERT_NE(session, nullptr);
  Lock lock(*session, "restart/clean");
  lock.lock();
  const uint64_t token = lock.fencing_token();

  // A KeepAlive stream of another session, read raw: how the daemon ends
  // every session's stream on SIGTERM (the client's own stream ends alike).
  auto stub = Stub();
  uint64_t raw_id = 0;
  {
    grpc::ClientContext ctx;
    Deadline(&ctx);
    v1::CreateSessionRequest req;
    req.set_ttl_ms(absl::ToInt64Milliseconds(kTtl));
    req.set_client_name("raw");
    v1::CreateSessionResponse resp;
    const grpc::Status s = stub->CreateSession(&ctx, req, &resp);
    ASSERT_TRUE(s.ok()) << s.error_message();
    raw_id = resp.session_id();
  }
  grpc::ClientContext raw_ctx;
  auto raw = stub->KeepAlive(&raw_ctx);
  v1::KeepAliveRequest renew;
  renew.set_session_id(raw_id);
  renew.set_request_sequence(1);
  ASSERT_TRUE(raw->Write(renew));
  v1::KeepAliveResponse ack;
  ASSERT_TRUE(raw->Read(&ack));
  EXPECT_TRUE(ack.has_ttl_ms());

  OwnershipWatch watch(*session, lock);
  absl::SleepFor(absl::Milliseconds(300));
  ASSERT_NO_FATAL_FAILURE(Restart(How::kSigterm, [&] {
    while (raw->Read(&ack)) {
    }
    const grpc::Status end = raw->Finish();
    EXPECT_EQ(end.error_code(), grpc::StatusCode::UNAVAILABLE);
    EXPECT_THAT(end.error_message(), HasSubstr("your session is kept"));
  }));

  const v1::DescribeLockResponse d = Describe("restart/clean");
  ASSERT_EQ(d.holders_size(), 1);
  EXPECT_EQ(d.holders(0).grant().session_id(), session->id());
  EXPECT_EQ(d.holders(0).grant().fencing_token(), token);
  ASSERT_NO_FATAL_FAILURE(ExpectRenewed(session->id()));
  // The session works: a new key, and the held one stays held.
  Lock other(*session, "restart/clean-2");
  EXPECT_TRUE(other.try_lock());
  absl::SleepFor(absl::Seconds(2));

  watch.Stop();
  watch.Expect();
  lost.ExpectNone();
  EXPECT_FALSE(session->lost()) << session->lost_status();
  EXPECT_TRUE(lock.owns_lock());
  EXPECT_EQ(lock.fencing_token(), token);
  other.unlock();
  EXPECT_OK(other.last_unlock_status());
  lock.unlock();
  EXPECT_OK(lock.last_unlock_status());
  EXPECT_EQ(Describe("restart/clean").holders_size(), 0);
}

}  // namespace
}  // namespace taala
