// lock_table_bench: LockTable::Acquire + Release of an uncontended key, with
// no gRPC: the cost of taala's state machine alone, to set against the
// per-pair cost measured end to end by taala-bench.
//
// Every command carries the same fixed time, so no lease ever runs out and
// no timer is due; there is no TimerLoop. The sessions (one per benchmark
// thread, TTL 1h) are created once and reused by every benchmark; each
// benchmark leaves its keys free.
//
//   Flat       key "k<thread>"            (own first segment per thread)
//   Deep4      key "k<thread>/b/c/d"      (4 segments, own first segment)
//   SameShard  key "shared/k<thread>"     (all threads in one shard)
//
// The queue benchmarks (one thread) use a table of their own per run, built
// before the timed loop: a holder session holds "wq/key" and `waiters`
// other sessions wait on it (infinite wait, a trivial Waiter), so the queue
// stays `waiters` long throughout.
//   QueuedAcquireCancel  one more session's Acquire that queues (infinite
//                        wait), then CancelWait of it: the cost of joining
//                        and leaving a queue of `waiters` (wait-for graph
//                        included). search=1: that session also holds
//                        "wq2/key", which has a waiter of its own, so the
//                        graph cannot take its no-cycle fast path and runs
//                        the cycle search over every holder and waiter
//                        ahead (server/core/wait_for_graph.cc).
//   TryLockHeld          a try-lock of the held key (never queues).
//
// --stats=false (before Google Benchmark's flags) builds every table with
// statistics off (LockTable::Options::stats), to measure what they cost.
//
// --mutex_deadlock_detection=false (before Google Benchmark's own flags are
// parsed) turns off Abseil's Mutex deadlock detection, which Debian's libabsl
// (built without NDEBUG) leaves on by default.

#include <benchmark/benchmark.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/core/commands.h"
#include "server/core/lock_table.h"

namespace taala {
namespace {

constexpr int kMaxThreads = 4;  // The largest ThreadRange below.

// --stats: tables keep statistics (the default) or not.
bool g_stats = true;

LockTable::Options TableOptions() {
  LockTable::Options options;
  options.stats = g_stats;
  return options;
}

// The time of every command.
const absl::Time kNow = absl::UnixEpoch() + absl::Hours(24);

struct Env {
  Env() : table(TableOptions()) {
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

// Every acquire a key never seen before (its own first segment): with
// statistics on, each one evicts from the segment and key top-Ks.
void BM_AcquireRelease_DistinctKeys(benchmark::State& state) {
  if (state.thread_index() >= kMaxThreads) {
    state.SkipWithError("more threads than sessions");
    return;
  }
  Env& env = GetEnv();
  const uint64_t session = env.sessions[state.thread_index()];
  AcquireCmd acquire;
  acquire.session_id = session;
  acquire.mode = LockMode::kExclusive;
  acquire.wait_timeout = absl::ZeroDuration();  // Try-lock.
  acquire.now = kNow;
  uint64_t n = 0;
  for (auto _ : state) {
    acquire.key = absl::StrCat("d", state.thread_index(), "-", n++, "/x");
    std::optional<absl::StatusOr<AcquireResult>> acquired =
        env.table.Acquire(acquire, nullptr);
    if (!acquired.has_value() || !acquired->ok() || !(*acquired)->acquired) {
      state.SkipWithError("Acquire did not grant the key");
      break;
    }
    const absl::Status released = env.table.Release(
        ReleaseCmd{session, acquire.key, (*acquired)->grant.token, kNow});
    if (!released.ok()) {
      state.SkipWithError("Release failed");
      break;
    }
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_AcquireRelease_DistinctKeys);

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

// A pending Acquire that never goes away; counts its completions.
class ParkedWaiter final : public Waiter {
 public:
  bool Complete(absl::StatusOr<AcquireResult> result) override {
    ++completions;
    if (result.ok() && result->acquired) ++grants;
    return true;
  }
  bool Gone() const override { return false; }
  int64_t completions = 0;
  int64_t grants = 0;
};

uint64_t NewSession(LockTable& table, const std::string& name) {
  CreateSessionCmd cmd;
  cmd.session_id = table.NewSessionId();
  cmd.client_name = name;
  cmd.ttl = absl::Hours(1);
  cmd.now = kNow;
  if (!table.CreateSession(cmd).ok()) return 0;
  return cmd.session_id;
}

AcquireCmd AcquireOf(uint64_t session, const std::string& key,
                     absl::Duration wait) {
  AcquireCmd cmd;
  cmd.session_id = session;
  cmd.key = key;
  cmd.mode = LockMode::kExclusive;
  cmd.wait_timeout = wait;
  cmd.now = kNow;
  return cmd;
}

// A table whose key "wq/key" is held and has `waiters` waiters, plus a
// session `measured` that neither holds nor waits on it. With `search`,
// `measured` holds "wq2/key", on which another session waits.
struct QueueEnv {
  QueueEnv(int waiters, bool search)
      : parked(static_cast<size_t>(waiters)),
        table(std::make_unique<LockTable>(TableOptions())) {
    const uint64_t holder = NewSession(*table, "holder");
    ok = holder != 0 && Granted(AcquireOf(holder, kKey, absl::ZeroDuration()));
    for (int i = 0; ok && i < waiters; ++i) {
      const uint64_t s = NewSession(*table, absl::StrCat("waiter", i));
      ok = s != 0 && Queued(AcquireOf(s, kKey, absl::InfiniteDuration()),
                            &parked[static_cast<size_t>(i)]);
    }
    measured = NewSession(*table, "measured");
    ok = ok && measured != 0;
    if (ok && search) {
      const uint64_t other = NewSession(*table, "other");
      ok = other != 0 &&
           Granted(AcquireOf(measured, kOtherKey, absl::ZeroDuration())) &&
           Queued(AcquireOf(other, kOtherKey, absl::InfiniteDuration()),
                  &other_waiter);
    }
  }
  ~QueueEnv() { table->Shutdown(); }  // Completes the parked waiters.

  bool Granted(const AcquireCmd& cmd) {
    std::optional<absl::StatusOr<AcquireResult>> r =
        table->Acquire(cmd, nullptr);
    return r.has_value() && r->ok() && (*r)->acquired;
  }
  bool Queued(const AcquireCmd& cmd, ParkedWaiter* waiter) {
    return !table->Acquire(cmd, waiter).has_value();
  }
  int64_t EarlyCompletions() const {
    int64_t n = other_waiter.completions;
    for (const ParkedWaiter& w : parked) n += w.completions;
    return n;
  }

  static constexpr const char* kKey = "wq/key";
  static constexpr const char* kOtherKey = "wq2/key";
  // Declared before the table: destroyed after it.
  std::vector<ParkedWaiter> parked;
  ParkedWaiter other_waiter;
  std::unique_ptr<LockTable> table;
  uint64_t measured = 0;
  bool ok = false;
};

// Args: waiters, search (0/1).
void BM_QueuedAcquireCancel(benchmark::State& state) {
  QueueEnv env(static_cast<int>(state.range(0)), state.range(1) != 0);
  if (!env.ok) {
    state.SkipWithError("setting up the queue failed");
    return;
  }
  ParkedWaiter mine;
  const AcquireCmd acquire =
      AcquireOf(env.measured, QueueEnv::kKey, absl::InfiniteDuration());
  const CancelWaitCmd cancel{env.measured, QueueEnv::kKey,           0,
                             &mine,        CancelReason::kCancelled, kNow};
  for (auto _ : state) {
    if (env.table->Acquire(acquire, &mine).has_value()) {
      state.SkipWithError("Acquire did not queue");
      break;
    }
    env.table->CancelWait(cancel);
  }
  if (mine.completions != static_cast<int64_t>(state.iterations()) ||
      mine.grants != 0 || env.EarlyCompletions() != 0) {
    state.SkipWithError("a wait was not cancelled exactly once");
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_QueuedAcquireCancel)
    ->ArgNames({"waiters", "search"})
    ->ArgsProduct({{0, 100, 1000, 4000}, {0, 1}});

// Arg: waiters.
void BM_TryLockHeld(benchmark::State& state) {
  QueueEnv env(static_cast<int>(state.range(0)), false);
  if (!env.ok) {
    state.SkipWithError("setting up the queue failed");
    return;
  }
  const AcquireCmd acquire =
      AcquireOf(env.measured, QueueEnv::kKey, absl::ZeroDuration());
  for (auto _ : state) {
    std::optional<absl::StatusOr<AcquireResult>> r =
        env.table->Acquire(acquire, nullptr);
    if (!r.has_value() || !r->ok() || (*r)->acquired) {
      state.SkipWithError("try-lock of the held key did not say not acquired");
      break;
    }
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_TryLockHeld)->ArgName("waiters")->Arg(0)->Arg(1000);

// Issue 8 item 13, the stall: uncontended acquire+release pairs (try-lock
// of a free key by a session of their own, one every ~100 us; the reported
// time per iteration includes that pause) timed one by one while another
// thread, once a millisecond, joins and leaves the 1,000-waiter queue of
// "wq/key" with a wait that needs a cycle search (QueueEnv with search). Arg same_shard:
// 1 times "wq/free" (the hot key's shard: its first segment), 0 "free/k"
// (another shard). Counters: p50_us, p99_us, p999_us of one pair, and
// searches (the other thread's acquires during the run).
void BM_UncontendedBesideSearches(benchmark::State& state) {
  QueueEnv env(1000, /*search=*/true);
  const uint64_t mine = NewSession(*env.table, "uncontended");
  if (!env.ok || mine == 0) {
    state.SkipWithError("setting up the queue failed");
    return;
  }
  const std::string key = state.range(0) != 0 ? "wq/free" : "free/k";
  std::atomic<bool> stop{false};
  std::atomic<int64_t> searches{0};
  std::thread searcher([&] {
    ParkedWaiter parked;
    const AcquireCmd acquire =
        AcquireOf(env.measured, QueueEnv::kKey, absl::InfiniteDuration());
    const CancelWaitCmd cancel{env.measured, QueueEnv::kKey,           0,
                               &parked,      CancelReason::kCancelled, kNow};
    while (!stop.load(std::memory_order_relaxed)) {
      if (env.table->Acquire(acquire, &parked).has_value()) break;
      env.table->CancelWait(cancel);
      searches.fetch_add(1, std::memory_order_relaxed);
      // Paced, so that both builds search at the same rate (an unpaced
      // searcher that holds the shard mutex starves the timed thread
      // instead, and the percentiles of what does run say little).
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  });
  const AcquireCmd acquire = AcquireOf(mine, key, absl::ZeroDuration());
  std::vector<double> micros;
  micros.reserve(1 << 20);
  for (auto _ : state) {
    // Paced too: one pair every ~100 us, so that a pair lands at a random
    // point of the searcher's cycle (back to back, one stalled pair hides
    // among hundreds that run while the searcher sleeps).
    std::this_thread::sleep_for(std::chrono::microseconds(100));
    const auto start = std::chrono::steady_clock::now();
    std::optional<absl::StatusOr<AcquireResult>> r =
        env.table->Acquire(acquire, nullptr);
    if (!r.has_value() || !r->ok() || !(*r)->acquired ||
        !env.table->Release(ReleaseCmd{mine, key, (*r)->grant.token, kNow})
             .ok()) {
      state.SkipWithError("uncontended acquire+release failed");
      break;
    }
    micros.push_back(std::chrono::duration<double, std::micro>(
                         std::chrono::steady_clock::now() - start)
                         .count());
  }
  stop.store(true);
  searcher.join();
  if (micros.empty()) return;
  std::sort(micros.begin(), micros.end());
  auto at = [&](double q) {
    return micros[std::min(micros.size() - 1,
                           static_cast<size_t>(q * micros.size()))];
  };
  state.counters["p50_us"] = at(0.50);
  state.counters["p99_us"] = at(0.99);
  state.counters["p999_us"] = at(0.999);
  state.counters["max_us"] = micros.back();
  state.counters["searches"] = static_cast<double>(searches.load());
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_UncontendedBesideSearches)
    ->ArgName("same_shard")
    ->Arg(1)
    ->Arg(0)
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
    } else if (std::strcmp(argv[i], "--stats=false") == 0) {
      taala::g_stats = false;
    } else if (std::strcmp(argv[i], "--stats=true") == 0) {
      taala::g_stats = true;
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
  benchmark::AddCustomContext("stats", taala::g_stats ? "on" : "off");
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
