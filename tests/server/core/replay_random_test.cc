// Replay is exact (issue 9): random operations of every kind — SHARED and
// EXCLUSIVE locks, semaphores, key trees (and keys whose bytes sort below
// '/'), waits, try-locks, upgrades and their undo (a waiter that left before
// its grant was delivered), AcquireAll, releases, closes, renewals, lease
// expiry, max holds and lock-delays, release requests — with a snapshot at
// a random step. At checkpoints, the records folded into a DurableState,
// the snapshot plus the records after it, and the live table's export all
// agree, and a table restored from the fold exports the same again
// (replay_check.h). No reference model: the table is compared with its own
// log. (lock_table_model_test.cc checks the table's answers against a model
// and folds its records too, without semaphores.)
//
//   TAALA_REPLAY_SEEDS=N   seeds 1..N (default 1,000; TAALA_LONG_TESTS: 20,000)
//   TAALA_REPLAY_SEED=n    seed n alone

#include <cstdlib>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "server/core/lock_table.h"
#include "server/core/multi_acquire.h"
#include "tests/server/core/lock_table_fixture.h"
#include "tests/server/core/replay_check.h"
#include "tests/testing/fake_clock.h"

namespace taala {
namespace {

const std::vector<std::string> kKeys = {"a",   "a/b", "a/c",  "a/b/d", "a!b",
                                        "a.b", "sem", "sem2", "z"};

int EnvInt(const char* name, int fallback) {
  const char* v = std::getenv(name);
  return v != nullptr ? std::atoi(v) : fallback;
}

// A waiter that may have "left" by the time its grant is delivered.
class RandomWaiter final : public Waiter {
 public:
  explicit RandomWaiter(bool leaves) : leaves_(leaves) {}
  bool Complete(absl::StatusOr<AcquireResult> result) override {
    done_ = true;
    return !leaves_;
  }
  bool Gone() const override { return false; }
  bool done() const { return done_; }

 private:
  const bool leaves_;
  bool done_ = false;
};

class NullListener final : public MultiAcquireListener {
 public:
  void OnMultiAcquireDone(absl::StatusOr<MultiAcquireResult>) override {
    done = true;
  }
  bool done = false;
};

class ReplayRun {
 public:
  explicit ReplayRun(uint64_t seed)
      : rng_(seed), tap_(16), table_(Options(&log_)) {
    tap_.Attach(log_);
    for (int i = 0; i < 5; ++i) sessions_.push_back(NewSession());
  }
  ~ReplayRun() { table_.Shutdown(); }

  std::string Go(int steps) {
    const int snapshot_at = static_cast<int>(rng_() % steps);
    for (int step = 0; step < steps; ++step) {
      if (step == snapshot_at) tap_.Snapshot();
      Step();
      if (step % 100 == 99 || step == steps - 1) {
        table_.CheckInvariantsForTest();
        std::string bad = tap_.Check(table_, clock_.Now());
        if (!bad.empty()) return absl::StrCat("step ", step, ": ", bad);
      }
    }
    return "";
  }

 private:
  static LockTable::Options Options(TransitionLog* log) {
    LockTable::Options o;
    o.shards = 3;
    o.log = log;
    o.wall_offset = absl::Hours(24 * 365 * 55);
    o.max_pending_events = 16;  // Overflows happen too.
    return o;
  }
  uint64_t Rand(uint64_t n) { return rng_() % n; }

  uint64_t NewSession() {
    const uint64_t id = table_.NewSessionId();
    CreateSessionCmd cmd{id, absl::StrCat("c", id), {{"k", "v"}},
                         absl::Seconds(5 + Rand(20)), clock_.Now(), ""};
    EXPECT_TRUE(table_.CreateSession(cmd).ok());
    if (Rand(2) == 0) {
      auto sink = std::make_shared<test::RecordingSink>();
      (void)table_.AttachSink(id, sink);
      sinks_.push_back(sink);
    }
    return id;
  }

  void Step() {
    uint64_t& s = sessions_[Rand(sessions_.size())];
    const std::string& key = kKeys[Rand(kKeys.size())];
    const int op = static_cast<int>(Rand(100));
    if (op < 40) {
      AcquireCmd cmd;
      cmd.session_id = s;
      cmd.key = key;
      cmd.mode = Rand(2) == 0 ? LockMode::kShared : LockMode::kExclusive;
      if (key.rfind("sem", 0) == 0) cmd.semaphore_size = 2 + (key == "sem2");
      // A lock policy's size (as after reloads: any size, any key) yields
      // to the kind of a key in use.
      if (Rand(5) == 0) {
        cmd.semaphore_size = 1 + static_cast<uint32_t>(Rand(3));
        cmd.semaphore_size_from_policy = true;
      }
      if (Rand(3) == 0) cmd.max_hold = absl::Seconds(1 + Rand(10));
      if (Rand(3) == 0) cmd.lock_delay = absl::Seconds(Rand(4));
      cmd.request_release = Rand(4) == 0;
      cmd.now = clock_.Now();
      const bool wait = Rand(2) == 0;
      cmd.wait_timeout = wait ? absl::Seconds(1 + Rand(8)) : absl::ZeroDuration();
      auto w = std::make_unique<RandomWaiter>(Rand(6) == 0);
      auto r = table_.Acquire(cmd, wait ? w.get() : nullptr);
      if (r.has_value() && r->ok() && (*r)->acquired) {
        held_[{s, key}] = (*r)->grant.token;
      }
      waiters_.push_back(std::move(w));
    } else if (op < 60) {
      auto it = held_.lower_bound({s, ""});
      if (it == held_.end() || it->first.first != s) return;
      (void)table_.Release(
          ReleaseCmd{s, it->first.second, it->second, clock_.Now()});
      held_.erase(it);
    } else if (op < 68) {
      MultiAcquireCmd cmd;
      cmd.session_id = s;
      for (int i = 0; i < 2; ++i) {
        const std::string& k = kKeys[Rand(kKeys.size())];
        if (k.rfind("sem", 0) == 0) continue;
        bool dup = false;
        for (const auto& e : cmd.keys) dup |= e.key == k;
        if (!dup) cmd.keys.push_back({k, LockMode::kExclusive});
      }
      if (cmd.keys.empty()) return;
      cmd.deadline = clock_.Now() + absl::Seconds(Rand(3));
      cmd.max_hold = Rand(2) == 0 ? absl::Seconds(3) : absl::ZeroDuration();
      auto listener = std::make_unique<NullListener>();
      auto m = std::make_unique<MultiAcquire>(&table_, &clock_, cmd,
                                              listener.get());
      m->Start();
      multis_.push_back({std::move(m), std::move(listener)});
    } else if (op < 76) {
      (void)table_.KeepAlive(KeepAliveCmd{s, clock_.Now()});
    } else if (op < 80) {
      (void)table_.CloseSession(CloseSessionCmd{s, clock_.Now()});
      s = NewSession();
    } else if (op < 82) {
      // An operator takes the key (from every holder, or from s) or ends s.
      if (Rand(2) == 0) {
        ForceReleaseCmd cmd;
        cmd.key = key;
        cmd.session_id = Rand(2) == 0 ? s : 0;
        cmd.reason = "replay";
        cmd.caller = "127.0.0.1 (requested_by test)";
        cmd.skip_lock_delay = Rand(2) == 0;
        cmd.now = clock_.Now();
        (void)table_.ForceRelease(cmd);
      } else {
        (void)table_.RevokeSession(RevokeSessionCmd{
            s, "replay", "test", Rand(2) == 0, clock_.Now()});
        s = NewSession();
      }
    } else if (op < 95) {
      clock_.Advance(absl::Milliseconds(200 + Rand(3000)));
      table_.RunDueTimers(clock_.Now());
      for (uint64_t& id : sessions_) {
        if (table_.KeepAlive(KeepAliveCmd{id, clock_.Now()}).ok()) continue;
        id = NewSession();  // Expired (or closed): a new one.
      }
    } else {
      for (const auto& sink : sinks_) {
        auto events = sink->events();
        if (!events.empty()) {
          table_.AckEvents(events.back().session_id, events.back().sequence);
        }
      }
    }
  }

  std::mt19937_64 rng_;
  test::FakeClock clock_;
  MemoryLog log_;
  test::FoldingTap tap_;
  // Destroyed after the table (declared before it).
  std::vector<std::unique_ptr<RandomWaiter>> waiters_;
  std::vector<std::pair<std::unique_ptr<MultiAcquire>,
                        std::unique_ptr<NullListener>>>
      multis_;
  std::vector<std::shared_ptr<test::RecordingSink>> sinks_;
  LockTable table_;
  std::vector<uint64_t> sessions_;
  std::map<std::pair<uint64_t, std::string>, uint64_t> held_;
};

TEST(ReplayRandomTest, RecordsReproduceTheTableAndARestoredTable) {
  const bool long_tests = std::getenv("TAALA_LONG_TESTS") != nullptr;
  const int one = EnvInt("TAALA_REPLAY_SEED", 0);
  const int seeds = EnvInt("TAALA_REPLAY_SEEDS", long_tests ? 20000 : 1000);
  for (int seed = one != 0 ? one : 1; seed <= (one != 0 ? one : seeds);
       ++seed) {
    ReplayRun run(seed);
    const std::string failure = run.Go(400);
    ASSERT_TRUE(failure.empty())
        << "seed " << seed << ": " << failure
        << "\nreplay: TAALA_REPLAY_SEED=" << seed
        << " build/tests/replay_random_test";
  }
}

}  // namespace
}  // namespace taala
