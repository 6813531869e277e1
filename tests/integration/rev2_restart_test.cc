// Review round 2 (rev2): daemon-level tests of the durability work: SIGTERM
// under load, hostile KeepAlive clients, restarts.

#include <grpcpp/grpcpp.h>
#include <stdlib.h>

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "taala/v1/lock_service.grpc.pb.h"
#include "tests/integration/rpc_helpers.h"
#include "tests/integration/taalad_process.h"

namespace taala::test {
namespace {

using v1::AcquireResponse;

std::string TempDataDir() {
  std::string dir = "/tmp/taala_rev2_XXXXXX";
  EXPECT_NE(mkdtemp(dir.data()), nullptr);
  return dir + "/data";
}

// What a client was told about one of its keys.
struct Known {
  enum State { kFree, kHeld, kUnknown } state = kFree;
  uint64_t token = 0;
};

// Claim (operations.md, "Durability and restarts"): SIGTERM drains and
// writes a final snapshot; taalad exits 0 within about --drain_timeout, and
// the next start restores every grant a client was told of.
class Rev2SigtermTest : public ::testing::TestWithParam<std::string> {};

TEST_P(Rev2SigtermTest, UnderLoadExitsPromptlyAndRestoresAcknowledged) {
  const std::string data_dir = TempDataDir();
  const std::vector<std::string> args = {"--durability=" + GetParam(),
                                         "--drain_timeout=2s"};
  auto d = TaaladProcess::Start(args, data_dir);
  ASSERT_TRUE(d.ok()) << d.status();
  const std::string address = (*d)->address();
  const int port = (*d)->port();

  constexpr int kThreads = 8;
  constexpr int kKeys = 6;
  std::atomic<bool> stop{false};
  std::vector<uint64_t> sessions(kThreads);
  std::vector<std::map<std::string, Known>> known(kThreads);
  std::vector<std::thread> threads;
  std::atomic<int> ops{0};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      auto stub = RestartableStub(address, t + 1);
      if (!CreateSession(stub.get(), 120000, &sessions[t]).ok()) return;
      unsigned seed = t;
      while (!stop.load()) {
        const std::string key =
            "load/" + std::to_string(t) + "/" + std::to_string(rand_r(&seed) % kKeys);
        Known& k = known[t][key];
        if (k.state == Known::kUnknown) continue;
        if (k.state == Known::kFree) {
          AcquireResponse resp;
          grpc::Status s = Acquire(stub.get(), sessions[t], key, 0, &resp);
          if (!s.ok()) {
            k.state = Known::kUnknown;
            if (Unknown(s)) break;
            continue;
          }
          if (resp.result() == AcquireResponse::ACQUIRED) {
            k.state = Known::kHeld;
            k.token = resp.grant().fencing_token();
          }
        } else {
          grpc::Status s = Release(stub.get(), sessions[t], key, k.token);
          if (!s.ok()) {
            k.state = Known::kUnknown;
            if (Unknown(s)) break;
            continue;
          }
          k.state = Known::kFree;
        }
        ++ops;
      }
    });
  }
  // Some waiters on a contended key, blocked when SIGTERM comes.
  std::vector<std::thread> waiters;
  for (int w = 0; w < 4; ++w) {
    waiters.emplace_back([&, w] {
      auto stub = RestartableStub(address, 100 + w);
      uint64_t s = 0;
      if (!CreateSession(stub.get(), 120000, &s).ok()) return;
      AcquireResponse resp;
      Acquire(stub.get(), s, "hot", 30000, &resp);
    });
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  const auto t0 = std::chrono::steady_clock::now();
  const int rc = (*d)->Stop(30000);
  const auto took = std::chrono::steady_clock::now() - t0;
  stop = true;
  for (auto& th : threads) th.join();
  for (auto& th : waiters) th.join();
  const std::string log1 = (*d)->Log();
  EXPECT_EQ(rc, 0) << log1;
  EXPECT_LT(took, std::chrono::seconds(5))
      << "SIGTERM took "
      << std::chrono::duration_cast<std::chrono::milliseconds>(took).count()
      << " ms\n" << log1;
  EXPECT_GT(ops.load(), 100);
  d->reset();

  auto d2 = TaaladProcess::StartOnPort(port, args, data_dir);
  ASSERT_TRUE(d2.ok()) << d2.status();
  auto stub = RestartableStub((*d2)->address(), 999);
  int checked = 0;
  for (int t = 0; t < kThreads; ++t) {
    for (const auto& [key, k] : known[t]) {
      if (k.state == Known::kUnknown) continue;
      v1::DescribeLockResponse resp;
      ASSERT_TRUE(Describe(stub.get(), key, &resp).ok());
      if (k.state == Known::kHeld) {
        ASSERT_EQ(resp.holders_size(), 1) << key;
        EXPECT_EQ(resp.holders(0).grant().fencing_token(), k.token) << key;
        EXPECT_EQ(resp.holders(0).grant().session_id(), sessions[t]) << key;
      } else {
        EXPECT_EQ(resp.holders_size(), 0) << key;
      }
      ++checked;
    }
  }
  EXPECT_GT(checked, 10);
}

INSTANTIATE_TEST_SUITE_P(Modes, Rev2SigtermTest,
                         ::testing::Values("fsync", "async", "none"));

// SIGTERM ends a waiting Acquire with UNAVAILABLE, never CANCELLED, even
// under load and with a short drain (the tests' 200 ms): the waits' answers
// go through the log's callbacks, which must run before the drain starts.
TEST(Rev2ShutdownTest, WaitsEndUnavailableNotCancelledUnderLoad) {
  auto d = TaaladProcess::Start({"--drain_timeout=200ms"}, TempDataDir());
  ASSERT_TRUE(d.ok()) << d.status();
  const std::string address = (*d)->address();
  std::atomic<bool> stop{false};
  std::vector<std::thread> load;
  for (int t = 0; t < 6; ++t) {
    load.emplace_back([&, t] {
      auto stub = RestartableStub(address, t + 1);
      uint64_t s = 0;
      if (!CreateSession(stub.get(), 120000, &s).ok()) return;
      const std::string key = "churn/" + std::to_string(t);
      while (!stop.load()) {
        AcquireResponse resp;
        if (!Acquire(stub.get(), s, key, 0, &resp).ok()) return;
        if (!Release(stub.get(), s, key, resp.grant().fencing_token()).ok()) {
          return;
        }
      }
    });
  }
  constexpr int kWaiters = 16;
  std::vector<grpc::Status> statuses(kWaiters);
  std::vector<bool> granted(kWaiters, false);
  std::vector<std::thread> waiters;
  for (int w = 0; w < kWaiters; ++w) {
    waiters.emplace_back([&, w] {
      auto stub = RestartableStub(address, 100 + w);
      uint64_t s = 0;
      if (!CreateSession(stub.get(), 120000, &s).ok()) return;
      AcquireResponse resp;
      statuses[w] = Acquire(stub.get(), s, "hot", 60000, &resp);
      granted[w] = statuses[w].ok();
    });
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  EXPECT_EQ((*d)->Stop(30000), 0);
  stop = true;
  for (auto& th : load) th.join();
  for (auto& th : waiters) th.join();
  int ended = 0;
  for (int w = 0; w < kWaiters; ++w) {
    if (granted[w]) continue;
    ++ended;
    EXPECT_EQ(statuses[w].error_code(), grpc::StatusCode::UNAVAILABLE)
        << "waiter " << w << ": " << statuses[w].error_code() << " "
        << statuses[w].error_message();
  }
  EXPECT_GE(ended, kWaiters - 1);
}

// Thousands of sessions, each holding a key, then kill -9 (fsync): all are
// restored and live through the restart grace.
TEST(Rev2RestartTest, ThousandsOfSessionsSurviveKill9) {
  const std::string data_dir = TempDataDir();
  const std::vector<std::string> args = {"--durability=fsync",
                                         "--restart_grace=5s"};
  auto d = TaaladProcess::Start(args, data_dir);
  ASSERT_TRUE(d.ok()) << d.status();
  const int port = (*d)->port();
  constexpr int kThreads = 8, kPer = 300;
  std::vector<std::vector<std::pair<uint64_t, uint64_t>>> held(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      auto stub = RestartableStub((*d)->address(), t + 1);
      for (int i = 0; i < kPer; ++i) {
        uint64_t s = 0;
        // A lease far longer than the fill: on a loaded machine 2,400
        // sessions take seconds to create, and a 3 s lease let the first
        // ones expire before the kill (the test then counted them lost).
        if (!CreateSession(stub.get(), 120000, &s).ok()) return;
        AcquireResponse resp;
        const std::string key = "many/" + std::to_string(s);
        if (!Acquire(stub.get(), s, key, 0, &resp).ok()) return;
        held[t].push_back({s, resp.grant().fencing_token()});
      }
    });
  }
  for (auto& th : threads) th.join();
  (*d)->Kill();
  d->reset();
  auto d2 = TaaladProcess::StartOnPort(port, args, data_dir);
  ASSERT_TRUE(d2.ok()) << d2.status();
  auto stub = RestartableStub((*d2)->address(), 99);
  v1::ServerStatus st;
  ASSERT_TRUE(ServerStatus(stub.get(), &st).ok());
  EXPECT_EQ(st.sessions_restored(), kThreads * kPer) << (*d2)->Log();
  EXPECT_EQ(st.grants_restored(), kThreads * kPer);
  int bad = 0;
  for (int t = 0; t < kThreads; ++t) {
    for (auto [s, token] : held[t]) {
      if (!KeepAliveOnce(stub.get(), s).ok()) ++bad;
      v1::DescribeLockResponse resp;
      ASSERT_TRUE(Describe(stub.get(), "many/" + std::to_string(s), &resp).ok());
      if (resp.holders_size() != 1 ||
          resp.holders(0).grant().fencing_token() != token) {
        ++bad;
      }
    }
  }
  EXPECT_EQ(bad, 0) << (*d2)->Log();
}

// A release carrying a token from before a restart, of a key re-granted to
// the same session after it, must not end the new grant.
TEST(Rev2RestartTest, StaleTokenFromBeforeARestartDoesNotReleaseTheNewGrant) {
  const std::string data_dir = TempDataDir();
  const std::vector<std::string> args = {"--durability=fsync"};
  auto d = TaaladProcess::Start(args, data_dir);
  ASSERT_TRUE(d.ok()) << d.status();
  const int port = (*d)->port();
  uint64_t s = 0;
  uint64_t old_token = 0;
  const std::string key = std::string("a-.") + "/b";
  {
    auto stub = RestartableStub((*d)->address(), 1);
    ASSERT_TRUE(CreateSession(stub.get(), 60000, &s).ok());
    AcquireResponse resp;
    ASSERT_TRUE(Acquire(stub.get(), s, key, 0, &resp).ok());
    old_token = resp.grant().fencing_token();
    AcquireResponse r2;
    ASSERT_TRUE(Acquire(stub.get(), s, "a!", 0, &r2).ok());
  }
  ASSERT_EQ((*d)->Stop(), 0);
  d->reset();
  auto d2 = TaaladProcess::StartOnPort(port, args, data_dir);
  ASSERT_TRUE(d2.ok()) << d2.status();
  auto stub = RestartableStub((*d2)->address(), 2);
  ASSERT_TRUE(Release(stub.get(), s, key, old_token).ok());
  AcquireResponse resp;
  ASSERT_TRUE(Acquire(stub.get(), s, key, 0, &resp).ok());
  ASSERT_EQ(resp.result(), AcquireResponse::ACQUIRED);
  EXPECT_GT(resp.grant().fencing_token(), old_token);
  EXPECT_FALSE(Release(stub.get(), s, key, old_token).ok());
  v1::DescribeLockResponse desc;
  ASSERT_TRUE(Describe(stub.get(), key, &desc).ok());
  ASSERT_EQ(desc.holders_size(), 1);
  EXPECT_EQ(desc.holders(0).grant().fencing_token(), resp.grant().fencing_token());
  ASSERT_TRUE(Describe(stub.get(), "a!", &desc).ok());
  EXPECT_EQ(desc.holders_size(), 1);
}

// A hostile client: a KeepAlive stream that attaches and then never reads,
// while its session's events (revocations of large keys) fill the HTTP/2
// window. SIGTERM must still end taalad cleanly within about
// --drain_timeout.
TEST(Rev2RestartTest, SigtermWithAKeepAliveStreamThatNeverReads) {
  const std::string data_dir = TempDataDir();
  const std::vector<std::string> args = {
      "--durability=fsync", "--drain_timeout=2s", "--max_key_bytes=60000",
      "--max_key_segments=1000"};
  auto d = TaaladProcess::Start(args, data_dir);
  ASSERT_TRUE(d.ok()) << d.status();
  auto stub = RestartableStub((*d)->address(), 1);
  uint64_t session = 0;
  ASSERT_TRUE(CreateSession(stub.get(), 120000, &session).ok());

  grpc::ClientContext ka_ctx;
  auto stream = stub->KeepAlive(&ka_ctx);
  v1::KeepAliveRequest req;
  req.set_session_id(session);
  req.set_acked_event_sequence(0);
  ASSERT_TRUE(stream->Write(req));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  // 40 revoked grants of 50 KB keys: 2 MB of events nobody reads.
  for (int i = 0; i < 40; ++i) {
    grpc::ClientContext ctx;
    ctx.set_deadline(DeadlineIn(std::chrono::seconds(10)));
    v1::AcquireRequest a;
    a.set_session_id(session);
    a.set_key(std::string(50000, 'a' + (i % 26)) + std::to_string(i));
    a.set_max_hold_ms(1);
    AcquireResponse resp;
    ASSERT_TRUE(stub->Acquire(&ctx, a, &resp).ok());
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  const auto t0 = std::chrono::steady_clock::now();
  const int rc = (*d)->Stop(30000);
  const auto took = std::chrono::steady_clock::now() - t0;
  EXPECT_EQ(rc, 0) << (*d)->Log();
  EXPECT_LT(took, std::chrono::seconds(5))
      << std::chrono::duration_cast<std::chrono::milliseconds>(took).count()
      << " ms\n" << (*d)->Log();
  ka_ctx.TryCancel();
  d->reset();
  // Restart: the session and its unacknowledged events come back.
  auto d2 = TaaladProcess::Start(args, data_dir);
  ASSERT_TRUE(d2.ok()) << d2.status();
  auto stub2 = RestartableStub((*d2)->address(), 2);
  EXPECT_TRUE(KeepAliveOnce(stub2.get(), session).ok()) << (*d2)->Log();
}

}  // namespace
}  // namespace taala::test
