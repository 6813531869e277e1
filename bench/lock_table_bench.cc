// lock_table_bench: LockTable::Acquire + Release of an uncontended key, with
// no gRPC: the cost of taala's state machine alone, to set against the
// per-pair cost measured end to end by taala-bench.
//
// Every command carries the same fixed time, so no lease ever runs out and
// no timer is due; there is no LeaseReaper. The sessions (one per benchmark
// thread, TTL 1h) are created once and reused by every benchmark; each
// benchmark leaves its keys free.
//
//   Flat       key "k<thread>"            (own first segment per thread)
//   Deep4      key "k<thread>/b/c/d"      (4 segments, own first segment)
//   SameShard  key "shared/k<thread>"     (all threads in one shard)
//
// --mutex_deadlock_detection=false (before Google Benchmark's own flags are
// parsed) turns off Abseil's Mutex deadlock detection, which Debian's libabsl
// (built without NDEBUG) leaves on by default.

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>

#include <benchmark/benchmark.h>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/commands.h"
#include "server/lock_table.h"

namespace taala {
namespace {

constexpr int kMaxThreads = 4;  // The largest ThreadRange below.

// The time of every command.
const absl::Time kNow = absl::UnixEpoch() + absl::Hours(24);

struct Env {
  Env() : table(LockTable::Options{}) {
    for (int i = 0; i < kMaxThreads; ++i) {
      CreateSessionCmd cmd;
      cmd.session_id = table.NewSessionId();
      cmd.client_name = absl::StrCat("lock_table_bench/t", i);
      cmd.ttl = absl::Hours(1);
      cmd.now = kNow;
      absl::StatusOr<SessionInfo> info = table.CreateSession(cmd);
      if (!info.ok()) {
        std::fprintf(stderr, "CreateSession: %s\n",
                     info.status().ToString().c_str());
        std::abort();
      }
      sessions[i] = cmd.session_id;
    }
  }
  LockTable table;
  uint64_t sessions[kMaxThreads] = {};
};

Env& GetEnv() {
  static Env* const env = new Env();  // Thread-safe; never destroyed.
  return *env;
}

void AcquireReleaseLoop(benchmark::State& state, const std::string& key) {
  if (state.thread_index() >= kMaxThreads) {
    state.SkipWithError("more threads than sessions");
    return;
  }
  Env& env = GetEnv();
  const uint64_t session = env.sessions[state.thread_index()];
  AcquireCmd acquire;
  acquire.session_id = session;
  acquire.key = key;
  acquire.mode = LockMode::kExclusive;
  acquire.wait_timeout = absl::ZeroDuration();  // Try-lock.
  acquire.now = kNow;
  ReleaseCmd release{session, key, 0, kNow};
  for (auto _ : state) {
    std::optional<absl::StatusOr<AcquireResult>> acquired =
        env.table.Acquire(acquire, nullptr);
    if (!acquired.has_value() || !acquired->ok() || !(*acquired)->acquired) {
      state.SkipWithError("Acquire did not grant the key");
      break;
    }
    release.token = (*acquired)->grant.token;
    const absl::Status released = env.table.Release(release);
    if (!released.ok()) {
      state.SkipWithError("Release failed");
      break;
    }
    benchmark::DoNotOptimize(release.token);
  }
  state.SetItemsProcessed(state.iterations());
}

void BM_AcquireRelease_Flat(benchmark::State& state) {
  AcquireReleaseLoop(state, absl::StrCat("k", state.thread_index()));
}
BENCHMARK(BM_AcquireRelease_Flat);
BENCHMARK(BM_AcquireRelease_Flat)->ThreadRange(1, kMaxThreads)->UseRealTime();

void BM_AcquireRelease_Deep4(benchmark::State& state) {
  AcquireReleaseLoop(state, absl::StrCat("k", state.thread_index(), "/b/c/d"));
}
BENCHMARK(BM_AcquireRelease_Deep4);
BENCHMARK(BM_AcquireRelease_Deep4)->ThreadRange(1, kMaxThreads)->UseRealTime();

void BM_AcquireRelease_SameShard(benchmark::State& state) {
  AcquireReleaseLoop(state, absl::StrCat("shared/k", state.thread_index()));
}
BENCHMARK(BM_AcquireRelease_SameShard)
    ->ThreadRange(1, kMaxThreads)
    ->UseRealTime();

}  // namespace
}  // namespace taala

int main(int argc, char** argv) {
  // Our one flag; the rest are Google Benchmark's.
  bool detection = true;
  int kept = 1;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--mutex_deadlock_detection=false") == 0) {
      detection = false;
    } else if (std::strcmp(argv[i], "--mutex_deadlock_detection=true") != 0) {
      argv[kept++] = argv[i];
    }
  }
  argc = kept;
  if (!detection) {
    absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  }
  benchmark::AddCustomContext("mutex_deadlock_detection",
                              detection ? "library default" : "off");
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
