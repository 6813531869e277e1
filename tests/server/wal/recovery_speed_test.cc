// How long recovery takes with many held locks: a data directory written
// through the real Wal (sessions x keys grants, keys "f<session>/k<key>" as
// bench/durability_driver's fill), then Recover + Wal::Open + Restore, as
// taalad starts, from the log alone and from a clean snapshot. Prints the
// times; no timing assertion (the suite runs on shared machines).
//
// TAALA_RECOVERY_SESSIONS / TAALA_RECOVERY_KEYS (default 100 x 1000 =
// 100,000 grants) and TAALA_RECOVERY_ROUNDS (default 1) size the run.
// TAALA_RECOVERY_DIR: build the data directory there (a new directory,
// kept, holding the clean snapshot at the end) to time taalad on it;
// TAALA_RECOVERY_LOG_DIR: a copy of it with the log alone (before the
// snapshot).

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/synchronization/mutex.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "server/core/clock.h"
#include "server/core/lock_table.h"
#include "server/wal/recovery.h"
#include "server/wal/wal.h"
#include "tests/server/wal/wal_test_util.h"
#include "tests/testing/status_matchers.h"

namespace taala::wal {
namespace {

using test::GrantMade;
using test::SessionCreated;
using test::TempDir;

int EnvInt(const char* name, int fallback) {
  const char* v = std::getenv(name);
  int n;
  return v != nullptr && absl::SimpleAtoi(v, &n) && n > 0 ? n : fallback;
}

// Recover + Open + Restore, as server/main.cc does; prints the times.
void RecoverOnce(const WalOptions& options, const char* what,
                 size_t expected_grants) {
  const absl::Time t0 = absl::Now();
  absl::StatusOr<Recovered> r = Recover(options, absl::Hours(1));
  ASSERT_OK(r);
  const absl::Time t1 = absl::Now();
  const uint64_t replayed = r->records_replayed;
  const bool restore_sessions = r->restore_sessions;
  LockTable::Options table_options;
  table_options.wall_offset = absl::Now() - RealClock()->Now();
  const absl::Time t1b = absl::Now();
  absl::StatusOr<std::unique_ptr<Wal>> wal =
      Wal::Open(options, std::move(*r));
  ASSERT_OK(wal);
  (*wal)->Start();
  const absl::Time t2 = absl::Now();
  table_options.log = wal->get();
  auto table = std::make_unique<LockTable>(table_options);
  const DurableState& state = (*wal)->recovered_state();
  table->Restore(state, RealClock()->Now(), absl::Seconds(5),
                 restore_sessions);
  const absl::Time t3 = absl::Now();
  const size_t keys = state.keys.size();
  size_t grants = 0;
  for (const auto& [key, k] : state.keys) grants += k.holders.size();
  (*wal)->DoneWithRecoveredState();
  ASSERT_EQ(grants, expected_grants);
  std::printf(
      "%-16s %zu grants (%llu records replayed): Recover %.3f s, Open %.3f "
      "s, Restore %.3f s, total %.3f s\n",
      what, grants, static_cast<unsigned long long>(replayed),
      absl::ToDoubleSeconds(t1 - t0), absl::ToDoubleSeconds(t2 - t1b),
      absl::ToDoubleSeconds(t3 - t2),
      absl::ToDoubleSeconds((t1 - t0) + (t3 - t1b)));
  std::fflush(stdout);
  EXPECT_EQ(table->ExportState().keys.size(), keys);
  table.reset();
  ASSERT_OK((*wal)->Close(nullptr));
}

TEST(RecoverySpeedTest, ManyHeldLocks) {
  const int sessions = EnvInt("TAALA_RECOVERY_SESSIONS", 100);
  const int keys = EnvInt("TAALA_RECOVERY_KEYS", 1000);
  const int rounds = EnvInt("TAALA_RECOVERY_ROUNDS", 1);
  const size_t grants = static_cast<size_t>(sessions) * keys;
  // As taalad without --check_lock_order (the test default checks).
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  TempDir dir;
  WalOptions options;
  const char* keep = std::getenv("TAALA_RECOVERY_DIR");
  options.dir = keep != nullptr ? std::string(keep) : dir.path();
  options.durability = Durability::kFsync;
  // No snapshot while filling: the log path replays every record.
  options.segment_bytes = uint64_t{1} << 40;
  options.snapshot_every_bytes = uint64_t{1} << 40;
  {
    absl::StatusOr<Recovered> r = Recover(options, absl::Hours(1));
    ASSERT_OK(r);
    absl::StatusOr<std::unique_ptr<Wal>> wal = Wal::Open(options, *r);
    ASSERT_OK(wal);
    (*wal)->Start();
    for (int s = 1; s <= sessions; ++s) {
      const uint64_t id = (*wal)->TakeNumber();
      Transition created = SessionCreated(id);
      created.ttl = absl::Seconds(30);
      (*wal)->Append(created);
      for (int k = 0; k < keys; ++k) {
        (*wal)->Append(GrantMade(absl::StrCat("f", s, "/k", k), id));
      }
    }
    (*wal)->FlushForTest();
    ASSERT_OK((*wal)->Close(nullptr));  // Clean, no snapshot: the log path.
  }
  if (const char* copy = std::getenv("TAALA_RECOVERY_LOG_DIR")) {
    std::filesystem::copy(options.dir, copy,
                          std::filesystem::copy_options::recursive);
  }
  for (int i = 0; i < rounds; ++i) RecoverOnce(options, "log replay", grants);
  {
    // A clean stop with a final snapshot: the snapshot path.
    absl::StatusOr<Recovered> r = Recover(options, absl::Hours(1));
    ASSERT_OK(r);
    DurableState final_state = r->state;
    absl::StatusOr<std::unique_ptr<Wal>> wal =
        Wal::Open(options, std::move(*r));
    ASSERT_OK(wal);
    (*wal)->Start();
    final_state.lsn = (*wal)->LastLsn();
    ASSERT_OK((*wal)->Close(&final_state));
  }
  for (int i = 0; i < rounds; ++i) {
    RecoverOnce(options, "clean snapshot", grants);
  }
}

}  // namespace
}  // namespace taala::wal
