// Review (rev-dur): failing tests for durability bugs in the write-ahead
// log. Each test states the claim it breaks.

#include <memory>
#include <string>
#include <utility>

#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "server/wal/recovery.h"
#include "server/wal/wal.h"
#include "tests/server/wal/log_files_util.h"
#include "tests/server/wal/wal_test_util.h"
#include "tests/testing/status_matchers.h"

namespace taala::wal {
namespace {

using test::AppendTo;
using test::GrantMade;
using test::OpenWal;
using test::Options;
using test::SessionCreated;
using test::TempDir;

// An async run in which a client was granted "k" under a 30 s session
// lease, then a crash (kill -9).
void CrashedAsyncRunWithAGrant(const TempDir& dir) {
  test::CrashedAsyncRunWithAGrant(dir, absl::Seconds(30));
}

// Claim 6: after an unclean async stop, grants are refused for the longest
// session TTL, so that no holder of the crashed run still believes it holds
// a key. The refusal window lives only in memory
// (LockTable::RefuseGrantsUntil, server/main.cc): a clean SIGTERM of the
// recovering run, one second into its 30 s window, marks the run "clean",
// and the next start grants at once while the crashed run's holder of "k"
// may still believe in its lease for ~29 s.
TEST(ReviewDurabilityTest, RefusalWindowSurvivesACleanStopInsideIt) {
  TempDir dir;
  CrashedAsyncRunWithAGrant(dir);

  absl::StatusOr<Recovered> r =
      Recover(Options(dir, Durability::kAsync), absl::Minutes(1));
  ASSERT_OK(r);
  ASSERT_FALSE(r->restore_sessions);
  ASSERT_EQ(r->refuse_grants_for, absl::Seconds(30));
  // The recovering run (as server/main.cc runs it), stopped by SIGTERM at
  // once: Close with the table's final state.
  absl::StatusOr<std::unique_ptr<Wal>> w =
      Wal::Open(Options(dir, Durability::kAsync), *r);
  ASSERT_OK(w);
  (*w)->Start();
  DurableState final_state = r->state;
  final_state.lsn = (*w)->LastLsn();
  ASSERT_OK((*w)->Close(&final_state));

  absl::StatusOr<Recovered> r2 =
      Recover(Options(dir, Durability::kAsync), absl::Minutes(1));
  ASSERT_OK(r2);
  EXPECT_GT(r2->refuse_grants_for, absl::ZeroDuration())
      << "the crashed run's lease on \"k\" (30 s) is still running, but the "
         "restart after a clean stop inside the refusal window grants at "
         "once (previous_clean="
      << r2->previous_clean << ")";
}

// Claim 6 / Jepsen "a second kill during recovery": the run that recovers
// from the unclean async stop is in fsync mode and is killed inside its
// refusal window. The next recovery sees "fsync running" and refuses
// nothing.
TEST(ReviewDurabilityTest, RefusalWindowSurvivesACrashOfAnFsyncRunInsideIt) {
  TempDir dir;
  CrashedAsyncRunWithAGrant(dir);

  absl::StatusOr<Recovered> r =
      Recover(Options(dir, Durability::kFsync), absl::Minutes(1));
  ASSERT_OK(r);
  ASSERT_FALSE(r->restore_sessions);
  ASSERT_EQ(r->refuse_grants_for, absl::Seconds(30));
  absl::StatusOr<std::unique_ptr<Wal>> w =
      Wal::Open(Options(dir, Durability::kFsync), *r);
  ASSERT_OK(w);
  (*w)->Start();
  (*w)->AbandonForTest();  // kill -9, a second after the restart.

  absl::StatusOr<Recovered> r2 =
      Recover(Options(dir, Durability::kFsync), absl::Minutes(1));
  ASSERT_OK(r2);
  EXPECT_GT(r2->refuse_grants_for, absl::ZeroDuration())
      << "the first crashed run's lease on \"k\" (30 s) is still running, "
         "but a second crash inside the refusal window ends the window";
}

// Claim 2 (deadlocks): WhenDurable callbacks run on the writer thread, and
// the table's deferred work appends there (EffectsRunner::RunNow:
// ReleaseUndeliveredInto, AbortWaitInto, EndOverflowedInto; main.cc's
// drain comment: "work waiting for durability (which may append in
// turn)"). Append waits for the reservation, which only the writer thread
// renews: a callback that needs more numbers than are left waits for itself.
TEST(ReviewDurabilityTest, CallbackThatAppendsDoesNotDeadlockTheWriter) {
  TempDir dir;
  WalOptions options = Options(dir, Durability::kFsync);
  options.reserve_block = 4;
  auto wal = OpenWal(options);
  ASSERT_NE(wal, nullptr);
  const uint64_t lsn = wal->Append(SessionCreated(7));
  auto done = std::make_shared<absl::Notification>();
  Wal* w = wal.get();
  wal->WhenDurable(lsn, [w, done] {
    // Say the undo of three grants nobody received (kGrantEnded each) and
    // the grants to the next waiters: more than the block holds.
    for (int i = 0; i < 8; ++i) w->Append(SessionCreated(100 + i));
    done->Notify();
  });
  if (!done->WaitForNotificationWithTimeout(absl::Seconds(10))) {
    (void)wal.release();  // Its writer is stuck: never join it.
    FAIL() << "deadlock: the writer thread runs a WhenDurable callback whose "
              "Append waits for a reservation renewal only the writer does";
  }
  wal->FlushForTest();
}

// Claim 5: a corrupt middle refuses start; never a silent loss. The writer
// starts a segment only after the previous batch was written and fsynced
// (WriteBatch -> StartSegment), and the new segment's header chains to the
// last LSN written before it. So a bad frame in a segment that is followed
// by another one cannot be a torn write: it is corruption of acknowledged,
// fsynced records (here bit rot in the last record, LSN 5, of a full
// segment). If the later segment holds no valid record (the daemon was
// killed right after rotating: header only), log_reader.cc BadFrame finds
// no valid frame after the bad one, calls it a "torn tail", cuts LSN 5 off
// and deletes the later segment, although that segment's header says the
// log reached LSN 5.
TEST(ReviewDurabilityTest, BadLastFrameBeforeAnEmptyLaterSegmentIsNotATornTail) {
  TempDir dir;
  const std::string first = test::WriteSegment(dir.path(), 1, test::Frames(1, 5));
  std::string bytes = test::ReadRaw(first);
  bytes[bytes.size() - 2] ^= 0x20;  // One flipped bit inside record 5.
  test::WriteRaw(first, bytes);
  // Rotated after record 5 (chained to it), then killed before the next
  // batch reached the file.
  test::WriteSegment(dir.path(), 6, "");
  test::ReadBack back = test::ReadAll(dir.path(), /*repair=*/true);
  EXPECT_FALSE(back.result.ok())
      << "fsynced record 5 (the next segment's header chains to it) was cut "
         "off as a torn tail; lsns read: "
      << back.lsns.size() << "; warnings: "
      << (back.result.ok() && !back.result->warnings.empty()
              ? back.result->warnings[0]
              : std::string());
}

}  // namespace
}  // namespace taala::wal
