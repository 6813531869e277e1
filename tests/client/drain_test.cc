// The client library across drains (SIGTERM, then a new taalad on the same
// port and data directory, as in an upgrade; docs/deploy.md, "Upgrading with
// a drain"). Calls that reach taalad as it shuts down must come back to the
// caller as OK or UNAVAILABLE (which the docs tell callers to retry), never
// as a bare CANCELLED: gRPC cancels the calls its server had accepted but
// not yet handed to taalad when Shutdown began, and the library retries
// those like a server that went away.
//
// The race is narrow (calls sent within a few milliseconds of the SIGTERM),
// so several clients hammer try-lock Acquire + Release without a pause and
// taalad is restarted many times. Against the real taalad.

#include <grpcpp/support/status.h>

#include <atomic>
#include <iostream>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "client/lock_client.h"
#include "client/rpc_caller.h"
#include "gtest/gtest.h"
#include "tests/client/client_fixture.h"
#include "tests/integration/taalad_process.h"

namespace taala {
namespace {

constexpr int kClients = 8;
constexpr int kRestarts = 12;
// Far longer than the whole test: no session may be lost to a restart.
constexpr absl::Duration kTtl = absl::Seconds(120);
// A bound on waiting for every client to get through again after a
// restart: only a hang runs into it.
constexpr absl::Duration kPatience = absl::Seconds(30);

// One application thread: its own client (connection) and session, looping
// a try-lock Acquire of one of its own keys and the Release of the grant.
class Worker {
 public:
  Worker(int index, ClientOptions options) : index_(index) {
    auto client = Client::Connect(std::move(options));
    EXPECT_TRUE(client.ok()) << client.status();
    if (!client.ok()) return;
    client_ = std::move(*client);
    SessionOptions so;
    so.ttl = kTtl;
    so.client_name = absl::StrCat("drain-test-", index);
    auto session = client_->CreateSession(std::move(so));
    EXPECT_TRUE(session.ok()) << session.status();
    if (session.ok()) session_ = std::move(*session);
  }

  ~Worker() { Stop(); }

  bool ready() const { return session_ != nullptr; }
  int64_t successes() const { return successes_.load(); }
  int64_t unavailable() const { return unavailable_.load(); }
  int64_t calls() const { return calls_.load(); }
  Session& session() { return *session_; }

  void Start() {
    thread_ = std::thread([this] { Run(); });
  }
  void Stop() {
    stop_.store(true);
    if (thread_.joinable()) thread_.join();
  }

  // Every answer other than OK and UNAVAILABLE, as "<call>: <status>".
  std::vector<std::string> others() {
    absl::MutexLock lock(&mu_);
    return others_;
  }

 private:
  void Run() {
    AcquireOptions try_lock;
    try_lock.wait = absl::ZeroDuration();
    for (int64_t n = 0; !stop_.load(); ++n) {
      const std::string key = absl::StrCat("drain/", index_, "/", n % 4);
      const char* call = "Acquire";
      absl::Status status;
      auto grant = session_->Acquire(key, try_lock);
      if (!grant.ok()) {
        status = grant.status();
      } else if (!grant->has_value()) {
        status = absl::AbortedError("own key held by someone else");
      } else {
        call = "Release";
        status = session_->Release(**grant);
      }
      ++calls_;
      if (status.ok()) {
        ++successes_;
      } else if (absl::IsUnavailable(status)) {
        ++unavailable_;
        // An open circuit fails fast: no busy loop meanwhile.
        absl::SleepFor(absl::Milliseconds(5));
      } else {
        absl::MutexLock lock(&mu_);
        others_.push_back(
            absl::StrCat(call, " of ", key, ": ", status.ToString()));
      }
    }
  }

  const int index_;
  std::unique_ptr<Client> client_;
  std::unique_ptr<Session> session_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::atomic<int64_t> successes_{0};
  std::atomic<int64_t> unavailable_{0};
  std::atomic<int64_t> calls_{0};
  absl::Mutex mu_;
  std::vector<std::string> others_ ABSL_GUARDED_BY(mu_);
};

class ClientDrainTest : public test::ClientFixture {
 protected:
  void TearDown() override {
    if (HasFailure()) {
      for (const auto& old : old_) {
        std::cerr << "---- earlier taalad's log ----\n" << old->Log();
      }
    }
    ClientFixture::TearDown();
  }

  // True once every worker has had `n` more successful calls than in
  // `since`; false after kPatience.
  static bool AllGotThrough(const std::vector<std::unique_ptr<Worker>>& ws,
                            const std::vector<int64_t>& since, int64_t n) {
    const absl::Time give_up = absl::Now() + kPatience;
    for (size_t i = 0; i < ws.size(); ++i) {
      while (ws[i]->successes() < since[i] + n) {
        if (absl::Now() > give_up) return false;
        absl::SleepFor(absl::Milliseconds(5));
      }
    }
    return true;
  }

  static std::vector<int64_t> Successes(
      const std::vector<std::unique_ptr<Worker>>& ws) {
    std::vector<int64_t> out;
    for (const auto& w : ws) out.push_back(w->successes());
    return out;
  }

  // kClients workers call through kRestarts drains of taalad; every call
  // must end OK or UNAVAILABLE and every session must survive.
  void RunDrains(int max_attempts) {
    ClientOptions options = Options();
    options.retry.max_attempts = max_attempts;
    // A short open circuit: clients are back soon after each restart (the
    // race does not depend on it).
    options.circuit_breaker.open_for = absl::Milliseconds(100);
    std::vector<std::unique_ptr<Worker>> workers;
    for (int i = 0; i < kClients; ++i) {
      workers.push_back(std::make_unique<Worker>(i, options));
      ASSERT_TRUE(workers.back()->ready());
    }
    std::vector<uint64_t> ids;
    for (auto& w : workers) ids.push_back(w->session().id());
    for (auto& w : workers) w->Start();

    for (int r = 0; r < kRestarts; ++r) {
      // Every client is calling again (and has been for a few calls): the
      // SIGTERM lands amid calls from all of them.
      ASSERT_TRUE(AllGotThrough(workers, Successes(workers), 20))
          << "a client got no answer for " << kPatience << " before restart "
          << r + 1;
      const int port = daemon_->port();
      const std::string data_dir = daemon_->data_dir();
      old_.push_back(std::move(daemon_));
      ASSERT_EQ(old_.back()->Stop(), 0) << old_.back()->Log();
      auto started = test::TaaladProcess::StartOnPort(port, {}, data_dir);
      ASSERT_TRUE(started.ok()) << started.status();
      daemon_ = std::move(*started);
    }
    EXPECT_TRUE(AllGotThrough(workers, Successes(workers), 20))
        << "a client got no answer after the last restart";
    int64_t calls = 0, unavailable = 0;
    std::vector<std::string> others;
    for (auto& w : workers) {
      w->Stop();
      calls += w->calls();
      unavailable += w->unavailable();
      for (std::string& o : w->others()) others.push_back(std::move(o));
    }
    std::cerr << kRestarts << " restarts: " << calls << " calls, "
              << unavailable << " UNAVAILABLE, " << others.size()
              << " other errors\n";
    for (const std::string& o : others) ADD_FAILURE() << o;
    EXPECT_TRUE(others.empty());
    // Every session survived every restart, with its id.
    for (int i = 0; i < kClients; ++i) {
      EXPECT_FALSE(workers[i]->session().lost())
          << workers[i]->session().lost_status();
      EXPECT_EQ(workers[i]->session().id(), ids[i]);
    }
  }

  std::vector<std::unique_ptr<test::TaaladProcess>> old_;
};

// Which failures the library asks again: no answer from a working taalad,
// but never taalad's own CANCELLED answers (server/core/shard_acquire.cc,
// shard.cc, multi_acquire.cc), which a retry would misread.
TEST(CutInTransitTest, GrpcCancelsAreCutTaaladCancelsAreAnswers) {
  using grpc::StatusCode;
  EXPECT_TRUE(CutInTransit(grpc::Status(StatusCode::UNAVAILABLE, "x")));
  // What gRPC's server sends for a call it accepted but never handed to
  // taalad, as it shuts down.
  EXPECT_TRUE(CutInTransit(grpc::Status(StatusCode::CANCELLED, "CANCELLED")));
  EXPECT_TRUE(CutInTransit(grpc::Status(
      StatusCode::CANCELLED, "Received RST_STREAM with error code 8")));
  EXPECT_FALSE(CutInTransit(grpc::Status(
      StatusCode::CANCELLED,
      "acquire of key \"k\" by session 7 was superseded by a newer acquire "
      "of the same key")));
  EXPECT_FALSE(CutInTransit(grpc::Status(
      StatusCode::CANCELLED,
      "acquire of key \"k\" by session 7 was cancelled by the caller")));
  EXPECT_FALSE(CutInTransit(
      grpc::Status(StatusCode::CANCELLED, "acquire cancelled by the caller")));
  EXPECT_FALSE(CutInTransit(grpc::Status(StatusCode::DEADLINE_EXCEEDED, "x")));
  EXPECT_FALSE(
      CutInTransit(grpc::Status(StatusCode::FAILED_PRECONDITION, "x")));
  EXPECT_FALSE(CutInTransit(grpc::Status::OK));
}

// The library's default retries: a call cut as taalad drains is asked again.
TEST_F(ClientDrainTest, TryLockAndReleaseSeeOnlyOkOrUnavailableAcrossSigterms) {
  RunDrains(RetryPolicy().max_attempts);
}

// One attempt per call: a call cut as taalad drains is not asked again, and
// comes back UNAVAILABLE (retry it), not CANCELLED.
TEST_F(ClientDrainTest, WithoutRetriesACutCallIsUnavailableNotCancelled) {
  RunDrains(1);
}

}  // namespace
}  // namespace taala
