// kill -9 of the real taalad under load, again and again, on one data
// directory and one port.
//
// fsync mode: nothing acknowledged is lost, no key ever has two holders,
// and fencing tokens only go up. async mode: nothing of the old run is
// restored, grants are refused for the longest session TTL, and tokens
// still only go up.
//
// TAALA_CRASH_ITERATIONS: kills in the fsync test (default 20).
// TAALA_CRASH_SEED: the random seed (default: from the clock; printed).

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "taala/v1/lock_service.grpc.pb.h"
#include "tests/integration/rpc_helpers.h"
#include "tests/integration/taalad_process.h"

namespace taala {
namespace {

using ::testing::HasSubstr;
using v1::AcquireResponse;
using Clock = std::chrono::steady_clock;

int EnvInt(const char* name, int fallback) {
  const char* v = getenv(name);
  return v != nullptr && *v != '\0' ? atoi(v) : fallback;
}

uint32_t Seed() {
  const uint32_t seed = static_cast<uint32_t>(EnvInt(
      "TAALA_CRASH_SEED",
      static_cast<int>(Clock::now().time_since_epoch().count() & 0x7fffffff)));
  std::cerr << "TAALA_CRASH_SEED=" << seed << "\n";
  return seed;
}

void Pause(int ms) { std::this_thread::sleep_for(std::chrono::milliseconds(ms)); }

// A daemon that is killed and restarted on the same data dir and port.
class Daemon {
 public:
  explicit Daemon(std::vector<std::string> args) : args_(std::move(args)) {
    auto p = test::TaaladProcess::Start(args_);
    EXPECT_TRUE(p.ok()) << p.status();
    if (p.ok()) process_ = std::move(*p);
  }
  ~Daemon() {
    if (::testing::Test::HasFailure() && process_ != nullptr) {
      std::cerr << "---- last taalad log ----\n" << process_->Log();
    }
  }
  bool ok() const { return process_ != nullptr; }
  std::string address() const { return process_->address(); }
  void Kill() { process_->Kill(); }
  // Starts a daemon on the killed one's data dir and port.
  bool Restart() {
    auto p = test::TaaladProcess::StartOnPort(process_->port(), args_,
                                              process_->data_dir());
    EXPECT_TRUE(p.ok()) << p.status();
    if (!p.ok()) return false;
    process_ = std::move(*p);  // The data dir goes with the last user.
    return true;
  }
  test::TaaladProcess* process() { return process_.get(); }

 private:
  std::vector<std::string> args_;
  std::unique_ptr<test::TaaladProcess> process_;
};

// What the clients were told, and the fencing-token registers.
struct Model {
  absl::Mutex mu;
  // key -> session -> token of every acknowledged, unreleased grant.
  std::map<std::string, std::map<uint64_t, uint64_t>> held ABSL_GUARDED_BY(mu);
  // key -> the highest token acknowledged (or written with) for it.
  std::map<std::string, uint64_t> fence ABSL_GUARDED_BY(mu);
  std::set<uint64_t> tokens ABSL_GUARDED_BY(mu);  // Every new grant's.
  uint64_t max_token ABSL_GUARDED_BY(mu) = 0;
  // Per traffic phase (between two restarts): every token acknowledged
  // before the phase began. A grant asked for in the phase is above it.
  std::vector<uint64_t> floor ABSL_GUARDED_BY(mu) = {0};
  int new_grants ABSL_GUARDED_BY(mu) = 0;
  int retried_grants ABSL_GUARDED_BY(mu) = 0;

  void Granted(const std::string& key, uint64_t session, uint64_t token,
               bool already_held, size_t phase) {
    absl::MutexLock lock(&mu);
    // A grant this client did not know of yet (also a retry's): the key's
    // previous holders all got lower tokens.
    EXPECT_GT(token, fence[key]) << key << ": token did not increase";
    EXPECT_TRUE(tokens.insert(token).second) << "token " << token << " twice";
    EXPECT_GT(token, floor[phase])
        << key << ": a token not above every token of before the restart";
    fence[key] = token;
    max_token = std::max(max_token, token);
    EXPECT_TRUE(held[key].emplace(session, token).second);
    ++(already_held ? retried_grants : new_grants);
  }
  // A simulated write to the resource `key` guards, fenced by `token`.
  void GuardedWrite(const std::string& key, uint64_t token) {
    absl::MutexLock lock(&mu);
    EXPECT_GE(token, fence[key])
        << key << ": a second holder got token " << fence[key]
        << " while token " << token << " was held";
    fence[key] = std::max(fence[key], token);
  }
  void Released(const std::string& key, uint64_t session) {
    absl::MutexLock lock(&mu);
    EXPECT_EQ(held[key].erase(session), 1u);
  }
};

// Workers park here while the daemon is checked after a restart.
struct Gate {
  absl::Mutex mu;
  bool paused ABSL_GUARDED_BY(mu) = false;
  bool stop ABSL_GUARDED_BY(mu) = false;
  bool abandon ABSL_GUARDED_BY(mu) = false;  // The test failed: no retries.
  int parked ABSL_GUARDED_BY(mu) = 0;
  int running ABSL_GUARDED_BY(mu) = 0;  // Workers that have not returned.
  size_t phase ABSL_GUARDED_BY(mu) = 0;

  // Returns false when the test is over; else the current phase.
  bool Pass(size_t* phase_out) {
    absl::MutexLock lock(&mu);
    if (paused && !stop) {
      ++parked;
      mu.Await(absl::Condition(
          +[](Gate* g) ABSL_NO_THREAD_SAFETY_ANALYSIS {
            return !g->paused || g->stop;
          },
          this));
      --parked;
    }
    *phase_out = phase;
    return !stop;
  }
  bool Abandoned() {
    absl::MutexLock lock(&mu);
    return abandon;
  }
};

constexpr int kKeys = 8;
std::string KeyName(int i) { return absl::StrCat("crash/", i); }

// One client: its own session and connection; try-locks and timed waits on
// the shared keys; resolves every call whose outcome a kill made unknown.
void Worker(int id, const std::string& address, uint32_t seed, Model* model,
            Gate* gate, std::atomic<uint64_t>* session_out) {
  struct Leave {  // A worker that returns (a failed ASSERT) parks for good.
    Gate* gate;
    ~Leave() {
      absl::MutexLock lock(&gate->mu);
      --gate->running;
    }
  } leave{gate};
  auto stub = test::RestartableStub(address, id + 1);
  std::mt19937 rng(seed);
  uint64_t session = 0;
  for (grpc::Status s; !(s = test::CreateSession(stub.get(), 20000, &session,
                                                 absl::StrCat("w", id)))
                             .ok();) {
    ASSERT_TRUE(test::Unknown(s)) << s.error_message();
    if (gate->Abandoned()) return;
    Pause(20);
  }
  session_out->store(session);
  std::map<std::string, uint64_t> mine;  // Acknowledged grants.
  size_t phase = 0;
  while (gate->Pass(&phase)) {
    const std::string key = KeyName(static_cast<int>(rng() % kKeys));
    auto it = mine.find(key);
    if (it != mine.end()) {
      model->GuardedWrite(key, it->second);  // Still ours: write with it.
      if (rng() % 2 == 0) continue;
      bool retried = false;
      while (true) {
        grpc::Status s = test::Release(stub.get(), session, key, it->second);
        if (s.ok()) break;
        if (retried && s.error_code() == grpc::StatusCode::FAILED_PRECONDITION &&
            s.error_message().find("does not hold") != std::string::npos) {
          break;  // The lost release was applied before the kill.
        }
        ASSERT_TRUE(test::Unknown(s)) << key << ": " << s.error_message();
        if (gate->Abandoned()) return;
        retried = true;
        Pause(20);
      }
      model->Released(key, session);
      mine.erase(it);
      continue;
    }
    const int64_t wait_ms = rng() % 2 == 0 ? 0 : 100;
    while (true) {
      AcquireResponse resp;
      grpc::Status s = test::Acquire(stub.get(), session, key, wait_ms, &resp);
      if (s.ok()) {
        if (resp.result() == AcquireResponse::ACQUIRED) {
          const uint64_t token = resp.grant().fencing_token();
          model->Granted(key, session, token, resp.already_held(), phase);
          model->GuardedWrite(key, token);
          mine[key] = token;
        }
        break;
      }
      if (s.error_code() == grpc::StatusCode::ABORTED) break;  // Deadlock.
      ASSERT_TRUE(test::Unknown(s)) << key << ": " << s.error_message();
      if (gate->Abandoned()) return;
      Pause(20);  // Outcome unknown: the same Acquire again.
    }
  }
}

// Renews every session each second; a session the daemon forgot fails.
void Renewer(const std::string& address,
             const std::vector<std::atomic<uint64_t>>* sessions,
             std::atomic<bool>* stop) {
  auto stub = test::RestartableStub(address, 100);
  while (!stop->load()) {
    for (const auto& s : *sessions) {
      if (s.load() == 0) continue;
      grpc::Status st = test::KeepAliveOnce(stub.get(), s.load());
      EXPECT_TRUE(st.ok() || test::Unknown(st))
          << "session " << s.load() << ": " << st.error_message();
    }
    for (int i = 0; i < 10 && !stop->load(); ++i) Pause(100);
  }
}

// Every key's holders are exactly the acknowledged, unreleased grants.
void CheckTable(v1::LockService::Stub* stub, Model* model, int restart) {
  absl::MutexLock lock(&model->mu);
  for (int i = 0; i < kKeys; ++i) {
    const std::string key = KeyName(i);
    v1::DescribeLockResponse resp;
    grpc::Status s = test::Describe(stub, key, &resp);
    ASSERT_TRUE(s.ok()) << s.error_message();
    std::map<uint64_t, uint64_t> holders;
    int exclusive = 0;
    for (const auto& h : resp.holders()) {
      holders[h.grant().session_id()] = h.grant().fencing_token();
      exclusive += h.grant().mode() != v1::LOCK_MODE_SHARED;
    }
    EXPECT_LE(exclusive, 1) << key << " after restart " << restart;
    EXPECT_EQ(holders, model->held[key]) << key << " after restart " << restart
                                         << ": (session, token) differ";
  }
}

TEST(CrashTest, AcknowledgedGrantsSurviveKillNineAndNoKeyHasTwoHolders) {
  const int iterations = EnvInt("TAALA_CRASH_ITERATIONS", 20);
  const uint32_t seed = Seed();
  std::mt19937 rng(seed);
  Daemon daemon({"--durability=fsync", "--restart_grace=5s"});
  ASSERT_TRUE(daemon.ok());
  const std::string address = daemon.address();
  constexpr int kWorkers = 4;
  Model model;
  Gate gate;
  std::vector<std::atomic<uint64_t>> sessions(kWorkers);
  std::vector<std::thread> workers;
  {
    absl::MutexLock lock(&gate.mu);
    gate.running = kWorkers;
  }
  for (int i = 0; i < kWorkers; ++i) {
    workers.emplace_back(Worker, i, address, seed + 1 + i, &model, &gate,
                         &sessions[i]);
  }
  std::atomic<bool> stop_renewer{false};
  std::thread renewer(Renewer, address, &sessions, &stop_renewer);
  auto stub = test::RestartableStub(address, 200);

  const auto start = Clock::now();
  for (int k = 1; k <= iterations && !::testing::Test::HasFailure(); ++k) {
    Pause(50 + static_cast<int>(rng() % 351));  // Traffic.
    daemon.Kill();
    {
      absl::MutexLock lock(&gate.mu);
      gate.paused = true;
    }
    if (!daemon.Restart()) {
      ADD_FAILURE() << "restart " << k << " failed";
      absl::MutexLock lock(&gate.mu);
      gate.abandon = true;
      break;
    }
    {
      // Every worker has resolved its call in flight and parked.
      absl::MutexLock lock(&gate.mu);
      gate.mu.Await(absl::Condition(
          +[](Gate* g) ABSL_NO_THREAD_SAFETY_ANALYSIS {
            return g->parked == g->running;
          },
          &gate));
    }
    // A new connection: one to the killed daemon may not be known dead yet.
    stub = test::RestartableStub(address, 200 + k);
    CheckTable(stub.get(), &model, k);
    for (const auto& s : sessions) {
      grpc::Status st = test::KeepAliveOnce(stub.get(), s.load());
      EXPECT_TRUE(st.ok()) << "session " << s.load() << " lost at restart "
                           << k << ": " << st.error_message();
    }
    {
      absl::MutexLock model_lock(&model.mu);
      model.floor.push_back(model.max_token);
      absl::MutexLock lock(&gate.mu);
      gate.phase = model.floor.size() - 1;
      gate.paused = false;
    }
  }
  bool abandoned = false;
  {
    absl::MutexLock lock(&gate.mu);
    gate.stop = true;
    abandoned = gate.abandon;
  }
  for (auto& w : workers) w.join();
  stop_renewer = true;
  renewer.join();
  if (abandoned) return;
  CheckTable(stub.get(), &model, iterations);
  absl::MutexLock lock(&model.mu);
  std::cerr << iterations << " kills in "
            << std::chrono::duration_cast<std::chrono::milliseconds>(
                   Clock::now() - start).count()
            << " ms; " << model.new_grants << " grants, "
            << model.retried_grants
            << " found again by retrying an Acquire cut by a kill\n";
  EXPECT_GT(model.new_grants, iterations);
}

// Load for the async test: try-locks and releases on the shared keys until
// the daemon dies; returns the highest token acknowledged.
void AsyncLoad(const std::string& address, int id,
               std::vector<uint64_t>* sessions, uint64_t* max_token) {
  auto stub = test::RestartableStub(address, id + 1);
  uint64_t session = 0;
  if (!test::CreateSession(stub.get(), 2000, &session).ok()) return;
  sessions->push_back(session);
  std::mt19937 rng(id);
  auto last_renewal = Clock::now();
  while (true) {
    if (Clock::now() - last_renewal > std::chrono::milliseconds(300)) {
      if (!test::KeepAliveOnce(stub.get(), session).ok()) return;
      last_renewal = Clock::now();
    }
    const std::string key = KeyName(static_cast<int>(rng() % kKeys));
    AcquireResponse resp;
    if (!test::Acquire(stub.get(), session, key, 0, &resp).ok()) return;
    if (resp.result() != AcquireResponse::ACQUIRED) continue;
    const uint64_t token = resp.grant().fencing_token();
    *max_token = std::max(*max_token, token);
    if (!test::Release(stub.get(), session, key, token).ok()) return;
  }
}

TEST(CrashTest, AsyncModeKillNineNeverRepeatsTokensAndHonoursTheWindow) {
  constexpr int kIterations = 10;
  constexpr int64_t kTtlMs = 2000;
  const uint32_t seed = Seed();
  std::mt19937 rng(seed);
  Daemon daemon({"--durability=async", "--max_session_ttl=2s",
                 "--default_session_ttl=1s", "--min_session_ttl=100ms"});
  ASSERT_TRUE(daemon.ok());
  const std::string address = daemon.address();
  auto stub = test::RestartableStub(address, 200);
  uint64_t floor = 0;  // Every token acknowledged so far.
  int windows_seen = 0;
  for (int k = 1; k <= kIterations && !::testing::Test::HasFailure(); ++k) {
    // Load on the daemon, killed at a random moment of it.
    constexpr int kClients = 3;
    std::vector<std::vector<uint64_t>> sessions(kClients);
    std::vector<uint64_t> max_tokens(kClients, 0);
    std::vector<std::thread> clients;
    for (int c = 0; c < kClients; ++c) {
      clients.emplace_back(AsyncLoad, address, c, &sessions[c],
                           &max_tokens[c]);
    }
    Pause(50 + static_cast<int>(rng() % 351));
    daemon.Kill();
    for (auto& c : clients) c.join();  // Each ends at its first error.
    for (uint64_t t : max_tokens) floor = std::max(floor, t);

    const auto restarted = Clock::now();
    ASSERT_TRUE(daemon.Restart());
    // A new connection: one to the killed daemon may not be known dead yet.
    stub = test::RestartableStub(address, 200 + k);
    v1::ServerStatus status;
    grpc::Status got = test::ServerStatus(stub.get(), &status);
    ASSERT_TRUE(got.ok()) << "restart " << k << ": " << got.error_message();
    const auto window = std::chrono::milliseconds(kTtlMs);
    const bool early = Clock::now() - restarted < window;
    EXPECT_EQ(status.durability(), "async");
    EXPECT_FALSE(status.previous_stop_clean());
    EXPECT_EQ(status.sessions_restored(), 0u);
    EXPECT_LE(status.grants_refused_for_ms(), kTtlMs);
    // Zero only if this client was too slow to see the window.
    if (early) EXPECT_GT(status.grants_refused_for_ms(), 0) << "restart " << k;
    for (const auto& list : sessions) {
      for (uint64_t s : list) {
        grpc::Status st = test::KeepAliveOnce(stub.get(), s);
        EXPECT_EQ(st.error_code(), grpc::StatusCode::NOT_FOUND)
            << "session " << s << " of the killed run: " << st.error_message();
      }
    }
    // A new session may not get a key during the window.
    uint64_t fresh = 0;
    ASSERT_TRUE(test::CreateSession(stub.get(), kTtlMs, &fresh).ok());
    AcquireResponse resp;
    grpc::Status refused = test::Acquire(stub.get(), fresh, KeyName(0), 0, &resp);
    if (refused.ok()) {
      EXPECT_GE(Clock::now() - restarted, window)
          << "a grant inside the window after restart " << k;
    } else {
      ++windows_seen;
      EXPECT_EQ(refused.error_code(), grpc::StatusCode::UNAVAILABLE);
      EXPECT_THAT(refused.error_message(), HasSubstr("unclean stop"));
    }
    // After the window: grants again, above every token of before.
    while (true) {
      ASSERT_TRUE(test::KeepAliveOnce(stub.get(), fresh).ok());
      ASSERT_TRUE(test::ServerStatus(stub.get(), &status).ok());
      if (status.grants_refused_for_ms() == 0) break;
      Pause(100);
    }
    for (int i = 0; i < kKeys; ++i) {
      grpc::Status st = test::Acquire(stub.get(), fresh, KeyName(i), 0, &resp);
      ASSERT_TRUE(st.ok()) << st.error_message();
      ASSERT_EQ(resp.result(), AcquireResponse::ACQUIRED) << KeyName(i);
      EXPECT_GT(resp.grant().fencing_token(), floor) << "restart " << k;
      floor = std::max(floor, resp.grant().fencing_token());
      ASSERT_TRUE(test::Release(stub.get(), fresh, KeyName(i),
                                resp.grant().fencing_token()).ok());
    }
  }
  std::cerr << windows_seen << " of " << kIterations
            << " restarts had the refusal seen by a client\n";
  EXPECT_GT(windows_seen, 0);
}

}  // namespace
}  // namespace taala
