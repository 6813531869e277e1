// An end-to-end stress of the real taalad: many clients, keys in trees (and
// keys whose bytes sort below '/'), SHARED and EXCLUSIVE, AcquireAll, short
// client deadlines (cancels), retried calls and dropped connections, with
// every hold checked by a fencing-token register and an occupancy map. The
// run is bounded by time and by a number of operations; TAALA_LONG_TESTS=1
// runs it longer.

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <iostream>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "taala/v1/lock_service.grpc.pb.h"
#include "tests/integration/taalad_process.h"

namespace taala {
namespace {

using v1::AcquireResponse;
using v1::LockService;

const std::vector<std::string> kKeys = {"s",   "s/a", "s/b", "s/a/x",
                                        "t",   "t-1", "t/y", "u",
                                        "s.b", "t/y/z"};

bool Related(const std::string& a, const std::string& b) {
  auto below = [](const std::string& low, const std::string& high) {
    return low.size() > high.size() &&
           low.compare(0, high.size(), high) == 0 && low[high.size()] == '/';
  };
  return a == b || below(a, b) || below(b, a);
}

bool Conflicts(v1::LockMode a, v1::LockMode b) {
  return a != v1::LOCK_MODE_SHARED || b != v1::LOCK_MODE_SHARED;
}

struct Counts {
  std::atomic<int64_t> grants{0}, timeouts{0}, aborts{0}, cancels{0},
      retries{0}, disconnects{0}, all_grants{0}, violations{0}, errors{0},
      mode_conflicts{0};
};

// What the clients believe they hold, and the highest fencing token an
// EXCLUSIVE holder has written per key.
class Checker {
 public:
  explicit Checker(Counts* counts) : counts_(counts) {}

  // A holder starts (true) or checks again before it stops (false) using
  // `key` with `token`.
  void Use(int client, const std::string& key, v1::LockMode mode,
           uint64_t token, bool enter) {
    absl::MutexLock lock(&mu_);
    for (const auto& [k, reg] : registers_) {
      if (!Related(k, key)) continue;
      // Tokens of one tree come from one counter; a lower token than a
      // conflicting writer's means that writer got in while we hold.
      if (token < reg.token && (k == key || reg.client != client)) {
        Violation(absl::StrCat("client ", client, " uses ", key, " token ",
                               token, " after client ", reg.client,
                               " wrote ", k, " with token ", reg.token));
      }
    }
    if (enter) {
      for (const auto& [k, holders] : occupancy_) {
        if (!Related(k, key)) continue;
        for (const auto& [c, m] : holders) {
          if (c != client && Conflicts(m, mode)) {
            Violation(absl::StrCat("client ", client, " holds ", key,
                                   " while client ", c, " holds ", k));
          }
        }
      }
      occupancy_[key][client] = mode;
    }
    if (mode == v1::LOCK_MODE_EXCLUSIVE) {
      Register& reg = registers_[key];
      if (token > reg.token) reg = Register{token, client};
    }
  }
  void Leave(int client, const std::string& key) {
    absl::MutexLock lock(&mu_);
    occupancy_[key].erase(client);
  }

 private:
  struct Register {
    uint64_t token = 0;
    int client = -1;
  };
  void Violation(const std::string& what) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (counts_->violations.fetch_add(1) < 10) ADD_FAILURE() << what;
  }
  Counts* const counts_;
  absl::Mutex mu_;
  std::map<std::string, Register> registers_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, std::map<int, v1::LockMode>> occupancy_
      ABSL_GUARDED_BY(mu_);
};

class Client {
 public:
  Client(int id, std::string address, Counts* counts, Checker* checker)
      : id_(id),
        address_(std::move(address)),
        counts_(counts),
        checker_(checker),
        rng_(id) {
    Connect();
  }

  uint64_t session() {
    absl::MutexLock lock(&mu_);
    return session_;
  }
  LockService::Stub* stub() { return stub_.get(); }

  // One random operation.
  void Step() {
    const int op = rng_() % 100;
    if (op < 50) {
      AcquireOne();
    } else if (op < 65) {
      Retry();
    } else if (op < 90) {
      AcquireAll();
    } else if (op < 98) {
      Cancel();
    } else {
      Disconnect();
    }
  }

  void Close() {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() +
                     std::chrono::seconds(30));
    v1::CloseSessionRequest req;
    req.set_session_id(session());
    v1::CloseSessionResponse resp;
    stub_->CloseSession(&ctx, req, &resp);
  }

 private:
  void Connect() {
    grpc::ChannelArguments args;
    args.SetInt("taala.test.channel", id_ * 1000 + ++connections_);
    stub_ = LockService::NewStub(grpc::CreateCustomChannel(
        address_, grpc::InsecureChannelCredentials(), args));
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() +
                     std::chrono::seconds(30));
    // A new connection's first attempt can fail under load; the daemon is
    // up, so wait for it rather than count a transport error.
    ctx.set_wait_for_ready(true);
    v1::CreateSessionRequest req;
    req.set_ttl_ms(10000);
    req.set_client_name(absl::StrCat("stress-", id_));
    v1::CreateSessionResponse resp;
    grpc::Status s = stub_->CreateSession(&ctx, req, &resp);
    if (!s.ok()) {
      counts_->errors++;
      ADD_FAILURE() << "CreateSession: " << s.error_message();
    }
    absl::MutexLock lock(&mu_);
    session_ = resp.session_id();
  }

  const std::string& Key() { return kKeys[rng_() % kKeys.size()]; }
  v1::LockMode Mode() {
    return rng_() % 2 == 0 ? v1::LOCK_MODE_SHARED : v1::LOCK_MODE_EXCLUSIVE;
  }

  grpc::Status Call(const std::string& key, v1::LockMode mode,
                    int64_t wait_ms, int deadline_ms, AcquireResponse* resp) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() +
                     std::chrono::milliseconds(deadline_ms));
    v1::AcquireRequest req;
    req.set_session_id(session());
    req.set_key(key);
    req.set_mode(mode);
    req.set_wait_timeout_ms(wait_ms);
    return stub_->Acquire(&ctx, req, resp);
  }

  // Holds the keys a moment, checked, then releases them.
  void Hold(const std::vector<v1::Grant>& grants) {
    for (const v1::Grant& g : grants) {
      checker_->Use(id_, g.key(), g.mode(), g.fencing_token(), true);
    }
    absl::SleepFor(absl::Microseconds(200 + rng_() % 1500));
    for (const v1::Grant& g : grants) {
      checker_->Use(id_, g.key(), g.mode(), g.fencing_token(), false);
      checker_->Leave(id_, g.key());
    }
    for (const v1::Grant& g : grants) {
      grpc::ClientContext ctx;
      ctx.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::seconds(30));
      v1::ReleaseRequest req;
      req.set_session_id(session());
      req.set_key(g.key());
      req.set_fencing_token(g.fencing_token());
      v1::ReleaseResponse resp;
      grpc::Status s = stub_->Release(&ctx, req, &resp);
      if (!s.ok()) {
        // A grant the client holds was gone: lost silently.
        counts_->violations++;
        ADD_FAILURE() << "client " << id_ << " release of " << g.key()
                      << " token " << g.fencing_token() << ": "
                      << s.error_message();
      }
    }
  }

  void Count(const grpc::Status& s) {
    switch (s.error_code()) {
      case grpc::StatusCode::ABORTED:
        counts_->aborts++;
        break;
      case grpc::StatusCode::DEADLINE_EXCEEDED:
      case grpc::StatusCode::CANCELLED:
        counts_->cancels++;
        break;
      case grpc::StatusCode::FAILED_PRECONDITION:
        // A call whose client deadline just passed can still be queued on
        // the server for a moment; a next call for the key in another mode
        // in that moment is refused (issue 8, item 1), never granted
        // beside the old one. Expected; anything else is an error.
        if (absl::StrContains(s.error_message(),
                              "a retry must ask for the same")) {
          counts_->mode_conflicts++;
          break;
        }
        [[fallthrough]];
      default:
        counts_->errors++;
        ADD_FAILURE() << "client " << id_ << ": " << s.error_code() << " "
                      << s.error_message();
    }
  }

  void AcquireOne() {
    AcquireResponse resp;
    const int64_t wait_ms = rng_() % 5 == 0 ? 0 : 50 + rng_() % 500;
    grpc::Status s = Call(Key(), Mode(), wait_ms, 30000, &resp);
    if (!s.ok()) return Count(s);
    if (resp.result() != AcquireResponse::ACQUIRED) {
      counts_->timeouts++;
      return;
    }
    counts_->grants++;
    Hold({resp.grant()});
  }

  // The same call sent twice: a retry after a lost reply (here: a client
  // deadline that may end the first call before or after its grant).
  void Retry() {
    const std::string key = Key();
    const v1::LockMode mode = Mode();
    AcquireResponse first;
    grpc::Status s = Call(key, mode, -1, 5 + rng_() % 100, &first);
    AcquireResponse again;
    grpc::Status t = Call(key, mode, 300, 30000, &again);
    counts_->retries++;
    if (!t.ok()) return Count(t);
    if (again.result() != AcquireResponse::ACQUIRED) {
      counts_->timeouts++;
      return;
    }
    if (s.ok() && first.result() == AcquireResponse::ACQUIRED &&
        (!again.already_held() ||
         again.grant().fencing_token() != first.grant().fencing_token())) {
      counts_->violations++;
      ADD_FAILURE() << "client " << id_ << ": retry of " << key
                    << " did not return the grant it already had";
    }
    counts_->grants++;
    Hold({again.grant()});
  }

  void AcquireAll() {
    std::vector<std::string> keys = kKeys;
    std::shuffle(keys.begin(), keys.end(), rng_);
    keys.resize(2 + rng_() % 2);
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() +
                     std::chrono::seconds(30));
    v1::AcquireAllRequest req;
    req.set_session_id(session());
    for (const std::string& k : keys) {
      v1::AcquireAllRequest::Key* key = req.add_keys();
      key->set_key(k);
      key->set_mode(Mode());
    }
    req.set_wait_timeout_ms(200 + rng_() % 500);
    v1::AcquireAllResponse resp;
    grpc::Status s = stub_->AcquireAll(&ctx, req, &resp);
    if (!s.ok()) return Count(s);
    if (resp.result() != AcquireResponse::ACQUIRED) {
      counts_->timeouts++;
      return;
    }
    counts_->grants += resp.grants_size();
    counts_->all_grants++;
    Hold(std::vector<v1::Grant>(resp.grants().begin(), resp.grants().end()));
  }

  // Waits with no timeout of its own and a short client deadline.
  void Cancel() {
    AcquireResponse resp;
    grpc::Status s = Call(Key(), Mode(), -1, 5 + rng_() % 60, &resp);
    if (!s.ok()) return Count(s);
    counts_->grants++;
    Hold({resp.grant()});
  }

  // Starts a wait, drops the connection in the middle of it, and goes on
  // with a new session on a new connection. The old session holds nothing
  // the client still uses; its lease runs out.
  void Disconnect() {
    counts_->disconnects++;
    {
      grpc::ClientContext ctx;
      v1::AcquireRequest req;
      req.set_session_id(session());
      req.set_key(Key());
      req.set_mode(Mode());
      req.set_wait_timeout_ms(-1);
      AcquireResponse resp;
      std::thread dropper([&] {
        absl::SleepFor(absl::Milliseconds(rng_() % 30));
        ctx.TryCancel();
      });
      stub_->Acquire(&ctx, req, &resp).IgnoreError();
      dropper.join();
    }
    const uint64_t old = session();
    stub_.reset();  // The connection goes.
    Connect();
    if (rng_() % 4 != 0) {
      // Mostly a restarted client that knows its old session ends it; else
      // its lease runs out.
      grpc::ClientContext ctx;
      ctx.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::seconds(30));
      v1::CloseSessionRequest req;
      req.set_session_id(old);
      v1::CloseSessionResponse resp;
      stub_->CloseSession(&ctx, req, &resp).IgnoreError();
    }
  }

  const int id_;
  const std::string address_;
  Counts* const counts_;
  Checker* const checker_;
  std::mt19937 rng_;
  int connections_ = 0;
  std::unique_ptr<LockService::Stub> stub_;
  absl::Mutex mu_;
  uint64_t session_ ABSL_GUARDED_BY(mu_) = 0;
};

TEST(StressTest, ManyClientsOnATreeOfKeysNeverBreakFencingOrExclusion) {
  const bool long_run = std::getenv("TAALA_LONG_TESTS") != nullptr;
  const absl::Duration run_for =
      long_run ? absl::Seconds(100) : absl::Seconds(25);
  const int max_ops = long_run ? 1000000 : 400;  // Per client.
  constexpr int kClients = 16;

  auto daemon = test::TaaladProcess::Start({"--min_session_ttl=100ms"});
  ASSERT_TRUE(daemon.ok()) << daemon.status();
  Counts counts;
  Checker checker(&counts);
  std::vector<std::unique_ptr<Client>> clients;
  for (int i = 0; i < kClients; ++i) {
    clients.push_back(
        std::make_unique<Client>(i, (*daemon)->address(), &counts, &checker));
  }
  std::atomic<bool> stop{false};
  // Periodic KeepAlive for every client's current session, on its own
  // connection.
  std::thread keeper([&] {
    grpc::ChannelArguments args;
    args.SetInt("taala.test.channel", 999999);
    auto stub = LockService::NewStub(grpc::CreateCustomChannel(
        (*daemon)->address(), grpc::InsecureChannelCredentials(), args));
    while (!stop.load()) {
      for (auto& c : clients) {
        grpc::ClientContext ctx;
        ctx.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::seconds(5));
        v1::KeepAliveRequest req;
        req.set_session_id(c->session());
        v1::KeepAliveResponse resp;
        stub->KeepAliveOnce(&ctx, req, &resp).IgnoreError();
      }
      absl::SleepFor(absl::Milliseconds(300));
    }
  });
  // Bounded by operations and time. On a slow or busy machine the time runs
  // out first; then the run goes on (up to 50 s in all) until it has made
  // the grants it needs to mean something.
  const absl::Time start = absl::Now();
  const absl::Time until = start + run_for;
  const absl::Time hard_until = start + std::max(run_for, absl::Seconds(50));
  constexpr int64_t kMinGrants = 1000;
  auto more = [&] {
    const absl::Time now = absl::Now();
    return now < until || (now < hard_until && counts.grants < kMinGrants);
  };
  std::vector<std::thread> threads;
  for (auto& c : clients) {
    threads.emplace_back([&, client = c.get()] {
      for (int i = 0; (i < max_ops || counts.grants < kMinGrants) && more();
           ++i) {
        client->Step();
      }
    });
  }
  for (auto& t : threads) t.join();
  stop = true;
  keeper.join();
  for (auto& c : clients) c->Close();

  std::cout << "stress: grants " << counts.grants << " (acquire_all "
            << counts.all_grants << "), timeouts " << counts.timeouts
            << ", aborts " << counts.aborts << ", cancels " << counts.cancels
            << ", retries " << counts.retries << ", disconnects "
            << counts.disconnects << ", mode conflicts "
            << counts.mode_conflicts << ", errors " << counts.errors
            << ", violations " << counts.violations << std::endl;
  EXPECT_EQ(counts.violations.load(), 0);
  EXPECT_EQ(counts.errors.load(), 0);
  EXPECT_GE(counts.grants.load(), kMinGrants);
  if (HasFailure()) std::cerr << "---- taalad log ----\n" << (*daemon)->Log();
}

}  // namespace
}  // namespace taala
