// waiter_memory_core: the lock table's share of a waiting Acquire's memory,
// without gRPC (issue 12). Queues N waits directly into a LockTable (S
// sessions, one wait each, on K keys held by another session) and reports the
// heap in use (mallinfo2) per waiter; then closes the waiting sessions and
// reports what is left, and RSS before and after malloc_trim.
//   waiter_memory_core [N=50000] [K=100]
// The transport's per-waiter object (AcquireReactor: gRPC's reactor base,
// our fields and the AcquireCmd copy) is reported from its sizes.

#include <grpcpp/support/server_callback.h>
#include <malloc.h>

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "server/core/lock_table.h"
#include "server/memory_monitor.h"

namespace taala {
namespace {

const absl::Time kNow = absl::UnixEpoch() + absl::Hours(24);

// What the table keeps a pointer to; the real one is AcquireReactor.
struct BenchWaiter final : Waiter {
  bool Complete(absl::StatusOr<AcquireResult>) override { return true; }
  bool Gone() const override { return false; }
};

uint64_t InUse() { return mallinfo2().uordblks; }

uint64_t NewSession(LockTable& table, const std::string& name) {
  CreateSessionCmd cmd;
  cmd.session_id = table.NewSessionId();
  cmd.client_name = name;
  cmd.ttl = absl::Hours(1);
  cmd.now = kNow;
  if (!table.CreateSession(cmd).ok()) std::abort();
  return cmd.session_id;
}

std::string Key(int k) { return absl::StrCat("bench/waiters/key-", k); }

int Main(int argc, char** argv) {
  const int n = argc > 1 ? std::atoi(argv[1]) : 50000;
  const int keys = argc > 2 ? std::atoi(argv[2]) : 100;
  const int sessions = n;  // one wait per session, as clients do
  LockTable::Options options;
  // One identity makes every wait here: past the per-identity defaults.
  options.limits.max_sessions_per_identity = options.limits.max_waiters_per_identity =
      options.limits.max_waiters_per_key = static_cast<size_t>(n) + 1;
  LockTable table(options);
  const uint64_t holder = NewSession(table, "holder");
  for (int k = 0; k < keys; ++k) {
    AcquireCmd cmd;
    cmd.session_id = holder;
    cmd.key = Key(k);
    cmd.now = kNow;
    if (!table.Acquire(cmd, nullptr).has_value()) std::abort();
  }
  std::vector<uint64_t> ids;
  for (int s = 0; s < sessions; ++s) {
    ids.push_back(NewSession(table, absl::StrCat("waiter-", s)));
  }
  auto waiters = std::make_unique<BenchWaiter[]>(n);
  malloc_trim(0);
  const uint64_t rss0 = ReadRssBytes();
  const uint64_t heap0 = InUse();
  for (int i = 0; i < n; ++i) {
    AcquireCmd cmd;
    cmd.session_id = ids[i];
    cmd.key = Key(i % keys);
    cmd.wait_timeout = absl::InfiniteDuration();
    cmd.now = kNow;
    if (table.Acquire(cmd, &waiters[i]).has_value()) std::abort();
  }
  const uint64_t heap1 = InUse();
  const uint64_t rss1 = ReadRssBytes();
  std::printf("waiters %d on %d keys (one session each, created before)\n",
              n, keys);
  std::printf("table heap per waiter: %.0f bytes (RSS %.0f bytes)\n",
              double(heap1 - heap0) / n, double(rss1 - rss0) / n);
  // The transport's object per waiter: the reactor and its AcquireCmd (a
  // key of up to 15 bytes fits in the string; longer ones add a heap block).
  const size_t key_heap = Key(0).size() > 15 ? Key(0).size() + 1 : 0;
  std::printf(
      "reactor per waiter: sizeof(ServerUnaryReactor) %zu + sizeof(AcquireCmd)"
      " %zu + own fields 32 + key copy %zu bytes\n",
      sizeof(grpc::ServerUnaryReactor), sizeof(AcquireCmd), key_heap);
  // What a client's cancellation leaves (the sessions stay, as over gRPC).
  for (int i = 0; i < n; ++i) {
    CancelWaitCmd cmd;
    cmd.session_id = ids[i];
    cmd.key = Key(i % keys);
    cmd.waiter = &waiters[i];
    cmd.reason = CancelReason::kCancelled;
    cmd.now = kNow;
    table.CancelWait(cmd);
  }
  const uint64_t heap_cancelled = InUse();
  std::printf("after cancelling the waits (sessions kept): heap %+.1f MiB vs "
              "before the waits\n",
              (double(heap_cancelled) - double(heap0)) / (1 << 20));
  for (uint64_t id : ids) {
    CloseSessionCmd cmd;
    cmd.session_id = id;
    cmd.now = kNow;
    if (!table.CloseSession(cmd).ok()) std::abort();
  }
  const uint64_t heap2 = InUse();
  const uint64_t rss2 = ReadRssBytes();
  malloc_trim(0);
  const uint64_t rss3 = ReadRssBytes();
  std::printf("after closing the waiting sessions: heap %+.1f MiB vs before"
              " the waits; RSS %+.1f MiB, after malloc_trim %+.1f MiB\n",
              (double(heap2) - double(heap0)) / (1 << 20),
              (double(rss2) - double(rss0)) / (1 << 20),
              (double(rss3) - double(rss0)) / (1 << 20));
  return 0;
}

}  // namespace
}  // namespace taala

int main(int argc, char** argv) { return taala::Main(argc, argv); }
