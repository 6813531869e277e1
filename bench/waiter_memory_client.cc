// waiter-memory-client: creates N sessions (prints SESSIONS), then on
// stdin's first line opens N waiting Acquires against a taalad (one per
// session, on K keys held by another session, spread over C connections;
// prints WAITING), on the second cancels them all (prints CANCELLED), and
// exits on the third.
// Driven by bench/waiter_memory.sh, which reads the daemon's RSS.
//   waiter-memory-client ADDRESS [N=50000] [K=100] [C=8]

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "taala/v1/lock_service.grpc.pb.h"

namespace {

using taala::v1::LockService;

struct Call {
  grpc::ClientContext ctx;
  taala::v1::AcquireRequest req;
  taala::v1::AcquireResponse resp;
};

std::string Key(int k) { return absl::StrCat("bench/waiters/key-", k); }

void Check(const grpc::Status& s, const char* what) {
  if (!s.ok()) {
    std::fprintf(stderr, "%s: %s\n", what, s.error_message().c_str());
    std::exit(1);
  }
}

uint64_t NewSession(LockService::Stub* stub) {
  grpc::ClientContext ctx;
  taala::v1::CreateSessionRequest req;
  req.set_ttl_ms(3600 * 1000);
  req.set_client_name("waiter-memory");
  taala::v1::CreateSessionResponse resp;
  Check(stub->CreateSession(&ctx, req, &resp), "CreateSession");
  return resp.session_id();
}

int Waiting(LockService::Stub* stub, int keys) {
  int n = 0;
  for (int k = 0; k < keys; ++k) {
    grpc::ClientContext ctx;
    taala::v1::DescribeLockRequest req;
    req.set_key(Key(k));
    taala::v1::DescribeLockResponse resp;
    Check(stub->DescribeLock(&ctx, req, &resp), "DescribeLock");
    n += resp.waiters_size();
  }
  return n;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s ADDRESS [N] [K] [C]\n", argv[0]);
    return 2;
  }
  const std::string address = argv[1];
  const int n = argc > 2 ? std::atoi(argv[2]) : 50000;
  const int keys = argc > 3 ? std::atoi(argv[3]) : 100;
  const int conns = argc > 4 ? std::atoi(argv[4]) : 8;
  std::vector<std::unique_ptr<LockService::Stub>> stubs;
  for (int c = 0; c < conns; ++c) {
    grpc::ChannelArguments args;
    args.SetInt("taala.bench.channel", c);
    stubs.push_back(LockService::NewStub(grpc::CreateCustomChannel(
        address, grpc::InsecureChannelCredentials(), args)));
  }
  LockService::Stub* admin = stubs[0].get();
  const uint64_t holder = NewSession(admin);
  for (int k = 0; k < keys; ++k) {
    grpc::ClientContext ctx;
    taala::v1::AcquireRequest req;
    req.set_session_id(holder);
    req.set_key(Key(k));
    taala::v1::AcquireResponse resp;
    Check(admin->Acquire(&ctx, req, &resp), "Acquire (holder)");
  }
  // One session per waiter (a session waits for one key at a time, as
  // clients do); the sessions are in the daemon before the waits start, so
  // their memory is not counted as the waiters'.
  std::vector<uint64_t> ids;
  for (int s = 0; s < n; ++s) ids.push_back(NewSession(admin));
  std::printf("SESSIONS %d\n", n);
  std::fflush(stdout);
  std::string line;
  std::getline(std::cin, line);

  std::vector<std::unique_ptr<Call>> calls(n);
  absl::Mutex mu;
  int done = 0;
  for (int i = 0; i < n; ++i) {
    calls[i] = std::make_unique<Call>();
    Call* c = calls[i].get();
    c->req.set_session_id(ids[i]);
    c->req.set_key(Key(i % keys));
    c->req.set_wait_timeout_ms(3600 * 1000);
    stubs[i % conns]->async()->Acquire(&c->ctx, &c->req, &c->resp,
                                       [&mu, &done](grpc::Status s) {
                                         absl::MutexLock lock(&mu);
                                         if (!s.ok() && done >= 0 &&
                                             s.error_code() !=
                                                 grpc::StatusCode::CANCELLED) {
                                           std::fprintf(
                                               stderr, "Acquire: %s\n",
                                               s.error_message().c_str());
                                         }
                                         ++done;
                                       });
  }
  for (int w = 0; (w = Waiting(admin, keys)) < n;) {
    std::fprintf(stderr, "waiting: %d of %d\n", w, n);
    absl::SleepFor(absl::Milliseconds(500));
  }
  std::printf("WAITING %d\n", n);
  std::fflush(stdout);
  std::getline(std::cin, line);
  for (auto& c : calls) c->ctx.TryCancel();
  for (;;) {
    {
      absl::MutexLock lock(&mu);
      if (done == n) break;
    }
    absl::SleepFor(absl::Milliseconds(50));
  }
  while (Waiting(admin, keys) > 0) absl::SleepFor(absl::Milliseconds(100));
  std::printf("CANCELLED\n");
  std::fflush(stdout);
  std::getline(std::cin, line);
  return 0;
}
