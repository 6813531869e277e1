// Review of issue 11 (rev-admin): operator actions racing with the traffic
// they act on, on the real LockTable with real threads. Workers take and
// release keys (EXCLUSIVE, SHARED, upgrades, a hierarchy) while an operator
// thread force-releases keys and revokes sessions (which are then replaced).
// Afterwards: the table's invariants hold (never two conflicting holders,
// intention counts), no force-released token still fences, and the records,
// replayed, give the table's own state (what a restart would rebuild).

#include <atomic>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "gtest/gtest.h"
#include "server/core/durable_state.h"
#include "server/core/lock_table.h"
#include "tests/testing/fake_clock.h"

namespace taala {
namespace {

constexpr int kSessions = 6;
const char* const kKeys[] = {"r", "r/a", "r/b", "r/a/x", "q"};

class ReviewAdminRaceTest : public ::testing::Test {
 protected:
  ReviewAdminRaceTest() : table_(Options(&log_)) {
    log_.set_tap([this](const Transition& t) {
      // Called under the log's mutex: in LSN order.
      records_.push_back(t);
    });
  }
  static LockTable::Options Options(TransitionLog* log) {
    LockTable::Options o;
    o.shards = 4;
    o.log = log;
    o.max_pending_events = 1000000;
    return o;
  }
  uint64_t NewSession() {
    CreateSessionCmd cmd;
    cmd.session_id = table_.NewSessionId();
    cmd.client_name = "w";
    cmd.ttl = absl::Hours(1);
    cmd.now = clock_.Now();
    EXPECT_TRUE(table_.CreateSession(cmd).ok());
    return cmd.session_id;
  }

  MemoryLog log_;
  std::vector<Transition> records_;  // Written by the tap only.
  test::FakeClock clock_;
  LockTable table_;
  std::atomic<uint64_t> sessions_[kSessions];
};

TEST_F(ReviewAdminRaceTest, ForceReleaseAndRevokeRacingWithTraffic) {
  for (auto& s : sessions_) s.store(NewSession());
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> max_token{0};
  std::atomic<int> token_regressions{0};
  auto note_token = [&](uint64_t token) {
    uint64_t seen = max_token.load();
    while (token > seen && !max_token.compare_exchange_weak(seen, token)) {
    }
  };
  std::vector<std::thread> workers;
  for (int w = 0; w < 3; ++w) {
    workers.emplace_back([&, w] {
      std::mt19937 rng(w + 1);
      for (int i = 0; i < 4000; ++i) {
        const uint64_t s = sessions_[rng() % kSessions].load();
        AcquireCmd cmd;
        cmd.session_id = s;
        cmd.key = kKeys[rng() % 5];
        cmd.mode = rng() % 2 ? LockMode::kShared : LockMode::kExclusive;
        cmd.now = clock_.Now();
        auto r = table_.Acquire(cmd, nullptr);
        if (!r.has_value() || !r->ok() || !(*r)->acquired) continue;
        const Grant g = (*r)->grant;
        if (!(*r)->already_held) note_token(g.token);
        if (rng() % 3 == 0 && g.mode == LockMode::kShared) {
          AcquireCmd up = cmd;
          up.mode = LockMode::kExclusive;
          up.now = clock_.Now();
          auto u = table_.Acquire(up, nullptr);
          if (u.has_value() && u->ok() && (*u)->acquired) {
            note_token((*u)->grant.token);
            table_.Release(ReleaseCmd{s, cmd.key, (*u)->grant.token,
                                      clock_.Now()})
                .IgnoreError();
            continue;
          }
        }
        table_.Release(ReleaseCmd{s, cmd.key, g.token, clock_.Now()})
            .IgnoreError();
      }
    });
  }
  std::thread admin([&] {
    std::mt19937 rng(99);
    int revokes = 0;
    while (!stop.load()) {
      if (rng() % 10 == 0 && revokes < 200) {
        const int i = rng() % kSessions;
        const uint64_t old = sessions_[i].load();
        sessions_[i].store(NewSession());
        table_
            .RevokeSession(RevokeSessionCmd{old, "race", "ops", rng() % 2 == 0,
                                            clock_.Now()})
            .status()
            .IgnoreError();
        ++revokes;
        continue;
      }
      ForceReleaseCmd cmd;
      cmd.key = kKeys[rng() % 5];
      cmd.reason = "race";
      cmd.caller = "ops";
      cmd.skip_lock_delay = rng() % 2 == 0;
      cmd.now = clock_.Now();
      absl::StatusOr<std::vector<Grant>> got = table_.ForceRelease(cmd);
      if (got.ok()) {
        for (const Grant& g : *got) {
          // What was taken is dead: its token fences nothing.
          absl::StatusOr<Grant> fence = table_.CheckFence(g.key, g.token);
          if (fence.ok()) token_regressions.fetch_add(1);
        }
      }
    }
  });
  for (std::thread& t : workers) t.join();
  stop.store(true);
  admin.join();
  EXPECT_EQ(token_regressions.load(), 0)
      << "a force-released token still passed CheckFence";

  table_.CheckInvariantsForTest();
  DurableState folded;
  for (const Transition& t : records_) {
    ASSERT_TRUE(folded.Apply(t)) << TransitionToString(t);
  }
  DurableState exported = table_.ExportState();
  EXPECT_TRUE(folded == exported) << folded.Diff(exported);
  table_.Shutdown();
}

}  // namespace
}  // namespace taala
