#include "server/wal/recovery.h"

#include <chrono>
#include <filesystem>
#include <sstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/wal/dump.h"
#include "server/wal/files.h"
#include "server/wal/snapshot_file.h"
#include "tests/server/wal/log_files_util.h"
#include "tests/server/wal/wal_test_util.h"
#include "tests/testing/status_matchers.h"

namespace taala::wal {
namespace {

using test::AppendTo;
using test::GrantEnded;
using test::GrantMade;
using test::OpenWal;
using test::Options;
using test::SessionCreated;
using test::StatusIs;
using test::TempDir;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

// Two sessions, a held grant and a lock-delay.
DurableState Populate(Wal& wal) {
  DurableState model;
  AppendTo(wal, SessionCreated(101), &model);
  AppendTo(wal, SessionCreated(102), &model);
  const uint64_t t = AppendTo(wal, GrantMade("a", 101), &model);
  AppendTo(wal, GrantEnded("a", 101, t), &model);
  AppendTo(wal, GrantMade("b", 102), &model);
  Transition delay;
  delay.type = TransitionType::kLockDelayStarted;
  delay.key = "c";
  delay.wall = test::TestWall(100);
  AppendTo(wal, delay, &model);
  return model;
}

TEST(RecoveryTest, FreshDirectoryStartsEmptyAtLsn1) {
  TempDir dir;
  absl::StatusOr<Recovered> r = Recover(Options(dir), absl::Minutes(1));
  ASSERT_OK(r);
  EXPECT_EQ(r->next_lsn, 1u);
  EXPECT_TRUE(r->restore_sessions);
  EXPECT_EQ(r->refuse_grants_for, absl::ZeroDuration());
  EXPECT_TRUE(r->state.sessions.empty());
  EXPECT_THAT(r->warnings, IsEmpty());
}

TEST(RecoveryTest, CrashInFsyncModeRestoresEverythingAppendedDurably) {
  TempDir dir;
  auto wal = OpenWal(Options(dir));
  ASSERT_NE(wal, nullptr);
  DurableState model = Populate(*wal);
  wal->FlushForTest();
  wal->AbandonForTest();
  absl::StatusOr<Recovered> r = Recover(Options(dir), absl::Minutes(1));
  ASSERT_OK(r);
  EXPECT_FALSE(r->previous_clean);
  EXPECT_EQ(r->previous_mode, Durability::kFsync);
  EXPECT_TRUE(r->restore_sessions);
  EXPECT_EQ(r->refuse_grants_for, absl::ZeroDuration());
  EXPECT_EQ(r->state, model) << r->state.Diff(model);
  EXPECT_EQ(r->records_replayed, 6u);
}

// Kill-free crash: LSNs were issued past a reservation block and the buffer
// was never written; the next run still starts above every one of them.
TEST(RecoveryTest, ReservationKeepsLsnsFromRepeatingAfterACrash) {
  TempDir dir;
  WalOptions o = Options(dir);
  o.reserve_block = 100;
  auto wal = OpenWal(o);
  ASSERT_NE(wal, nullptr);
  uint64_t highest = 0;
  for (int i = 0; i < 250; ++i) highest = wal->TakeNumber();
  for (int i = 1; i <= 5; ++i) highest = wal->Append(SessionCreated(i));
  wal->AbandonForTest();  // Nothing flushed.
  absl::StatusOr<Recovered> r = Recover(o, absl::Minutes(1));
  ASSERT_OK(r);
  EXPECT_GT(r->next_lsn, highest);
  // And again from the new run, in none mode too.
  o.durability = Durability::kNone;
  absl::StatusOr<std::unique_ptr<Wal>> w2 = Wal::Open(o, *r);
  ASSERT_OK(w2);
  (*w2)->Start();
  for (int i = 0; i < 1000; ++i) highest = (*w2)->TakeNumber();
  (*w2)->AbandonForTest();
  absl::StatusOr<Recovered> r2 = Recover(o, absl::Minutes(1));
  ASSERT_OK(r2);
  EXPECT_GT(r2->next_lsn, highest);
}

TEST(RecoveryTest, AdoptsTodaysTokenEpochFile) {
  TempDir dir;
  test::WriteRaw(TokenEpochPath(dir.path()), "7\n");
  absl::StatusOr<Recovered> r = Recover(Options(dir), absl::Minutes(1));
  ASSERT_OK(r);
  EXPECT_GE(r->next_lsn, uint64_t{8} << 40);
  ASSERT_EQ(r->warnings.size(), 1u);
  EXPECT_THAT(r->warnings[0], HasSubstr("adopted"));
  EXPECT_THAT(r->warnings[0], HasSubstr("epoch 7"));
  // The old daemon's leases are unknown: the longest one it could give.
  EXPECT_EQ(r->refuse_grants_for, absl::Minutes(1));
  // The next run continues above it, without another warning.
  auto wal = OpenWal(Options(dir));
  ASSERT_NE(wal, nullptr);
  EXPECT_EQ(wal->TakeNumber(), uint64_t{8} << 40);
  ASSERT_OK(wal->Close(nullptr));
  absl::StatusOr<Recovered> r2 = Recover(Options(dir), absl::Minutes(1));
  ASSERT_OK(r2);
  EXPECT_GT(r2->next_lsn, uint64_t{8} << 40);
  EXPECT_THAT(r2->warnings, IsEmpty());
}

// An unclean stop in async or none mode: sessions and grants are dropped,
// lock-delays kept, and grants refused for min(persisted TTL, flag).
TEST(RecoveryTest, UncleanAsyncOrNoneStopDropsSessionsAndRefusesGrants) {
  for (Durability mode : {Durability::kAsync, Durability::kNone}) {
    SCOPED_TRACE(DurabilityName(mode));
    TempDir dir;
    auto wal = OpenWal(Options(dir, mode));
    ASSERT_NE(wal, nullptr);
    DurableState model = Populate(*wal);
    ASSERT_OK(wal->NoteSessionTtl(absl::Seconds(20)));
    if (mode == Durability::kNone) {
      // A snapshot from an earlier clean stop holds the sessions.
      ASSERT_OK(WriteSnapshot(dir.path(), model, model.lsn, true));
    }
    wal->FlushForTest();
    wal->AbandonForTest();
    absl::StatusOr<Recovered> r = Recover(Options(dir, mode), absl::Minutes(1));
    ASSERT_OK(r);
    EXPECT_FALSE(r->previous_clean);
    EXPECT_EQ(r->previous_mode, mode);
    EXPECT_FALSE(r->restore_sessions);
    EXPECT_EQ(r->refuse_grants_for, absl::Seconds(20));
    EXPECT_TRUE(r->state.sessions.empty());
    ASSERT_EQ(r->state.keys.size(), 1u);  // Only the lock-delay on "c".
    EXPECT_EQ(r->state.keys.begin()->first, "c");
    EXPECT_EQ(r->state.keys.at("c").delayed_until, test::TestWall(100));
    // A lower --max_session_ttl now does not shorten it: the previous
    // run's leases were granted under its own flag.
    absl::StatusOr<Recovered> lower =
        Recover(Options(dir, mode), absl::Seconds(5));
    ASSERT_OK(lower);
    EXPECT_EQ(lower->refuse_grants_for, absl::Seconds(20));

    // The dropped sessions stay dropped after the next run crashes too.
    absl::StatusOr<std::unique_ptr<Wal>> w2 =
        Wal::Open(Options(dir, Durability::kFsync), *r);
    ASSERT_OK(w2);
    (*w2)->Start();
    (*w2)->AbandonForTest();
    absl::StatusOr<Recovered> r2 =
        Recover(Options(dir, Durability::kFsync), absl::Minutes(1));
    ASSERT_OK(r2);
    EXPECT_TRUE(r2->state.sessions.empty());
    EXPECT_TRUE(r2->restore_sessions);  // The previous run was fsync.
  }
}

// The refusal window's end is persisted by Wal::Open and outlives the runs
// inside it (clean or not, in any mode); once past, it is ignored.
TEST(RecoveryTest, APersistedRefusalWindowRunsToItsEnd) {
  TempDir dir;
  {
    auto wal = OpenWal(Options(dir));
    ASSERT_NE(wal, nullptr);
    ASSERT_OK(wal->Close(nullptr));
  }
  const std::string path = GrantsRefusedUntilPath(dir.path());
  const int64_t now_ms = absl::ToUnixMillis(absl::Now());
  ASSERT_OK(WriteFileDurably(path, absl::StrCat(now_ms + 60000, "\n")));
  absl::StatusOr<Recovered> r = Recover(Options(dir), absl::Minutes(1));
  ASSERT_OK(r);
  EXPECT_TRUE(r->previous_clean);
  EXPECT_TRUE(r->restore_sessions);  // Only the window carries over.
  EXPECT_GT(r->refuse_grants_for, absl::Seconds(50));
  EXPECT_LE(r->refuse_grants_for, absl::Seconds(60));
  EXPECT_EQ(r->refuse_grants_until, absl::FromUnixMillis(now_ms + 60000));
  // Open keeps the same end (it does not slide).
  {
    absl::StatusOr<std::unique_ptr<Wal>> w = Wal::Open(Options(dir), *r);
    ASSERT_OK(w);
    (*w)->Start();
    ASSERT_OK((*w)->Close(nullptr));
  }
  absl::StatusOr<std::string> text = ReadFile(path);
  ASSERT_OK(text);
  // The end, and the whole window's length (what is left is never more).
  EXPECT_EQ(*text, absl::StrCat(now_ms + 60000, " 60000\n"));

  ASSERT_OK(WriteFileDurably(path, absl::StrCat(now_ms - 1000, "\n")));
  absl::StatusOr<Recovered> past = Recover(Options(dir), absl::Minutes(1));
  ASSERT_OK(past);
  EXPECT_EQ(past->refuse_grants_for, absl::ZeroDuration());
  EXPECT_EQ(past->refuse_grants_until, absl::InfinitePast());
}

TEST(RecoveryTest, NoPersistedTtlMeansNoRefusalWindow) {
  TempDir dir;
  auto wal = OpenWal(Options(dir, Durability::kAsync));
  ASSERT_NE(wal, nullptr);
  wal->AbandonForTest();
  absl::StatusOr<Recovered> r =
      Recover(Options(dir, Durability::kAsync), absl::Minutes(1));
  ASSERT_OK(r);
  EXPECT_FALSE(r->restore_sessions);
  EXPECT_EQ(r->refuse_grants_for, absl::ZeroDuration());
}

TEST(RecoveryTest, CleanAsyncStopRestoresSessions) {
  TempDir dir;
  auto wal = OpenWal(Options(dir, Durability::kAsync));
  ASSERT_NE(wal, nullptr);
  DurableState model = Populate(*wal);
  ASSERT_OK(wal->NoteSessionTtl(absl::Seconds(20)));
  ASSERT_OK(wal->Close(nullptr));
  absl::StatusOr<Recovered> r =
      Recover(Options(dir, Durability::kAsync), absl::Minutes(1));
  ASSERT_OK(r);
  EXPECT_TRUE(r->previous_clean);
  EXPECT_TRUE(r->restore_sessions);
  EXPECT_EQ(r->refuse_grants_for, absl::ZeroDuration());
  EXPECT_EQ(r->state, model) << r->state.Diff(model);
}

TEST(RecoveryTest, CleanNoneStopWithFinalStateRestoresIt) {
  TempDir dir;
  auto wal = OpenWal(Options(dir, Durability::kNone));
  ASSERT_NE(wal, nullptr);
  DurableState model = Populate(*wal);
  ASSERT_OK(wal->Close(&model));
  absl::StatusOr<Recovered> r =
      Recover(Options(dir, Durability::kNone), absl::Minutes(1));
  ASSERT_OK(r);
  EXPECT_TRUE(r->previous_clean);
  EXPECT_TRUE(r->restore_sessions);
  EXPECT_EQ(r->state, model) << r->state.Diff(model);
  EXPECT_EQ(r->snapshot_lsn, model.lsn);
}

TEST(RecoveryTest, CorruptNewestSnapshotIsRefusedNamingIt) {
  TempDir dir;
  DurableState s;
  s.lsn = 10;
  ASSERT_OK(WriteSnapshot(dir.path(), s, 5, false));
  ASSERT_OK(WriteSnapshot(dir.path(), s, 10, false));
  const std::string path = SnapshotPath(dir.path(), 10);
  std::string bytes = test::ReadRaw(path);
  bytes.back() ^= 1;
  test::WriteRaw(path, bytes);
  absl::StatusOr<Recovered> r = Recover(Options(dir), absl::Minutes(1));
  EXPECT_THAT(r, StatusIs(absl::StatusCode::kDataLoss, HasSubstr(path)));
}

TEST(RecoveryTest, RecordTheStateRejectsIsRefusedNamingItsLsn) {
  TempDir dir;
  Transition t = GrantMade("x", 999);  // No such session.
  t.lsn = 1;
  std::string payload;
  EncodeTransition(t, &payload);
  std::string frame;
  AppendFrame(payload, &frame);
  test::WriteSegment(dir.path(), 1, frame);
  absl::StatusOr<Recovered> r = Recover(Options(dir), absl::Minutes(1));
  EXPECT_THAT(r, StatusIs(absl::StatusCode::kDataLoss,
                          HasSubstr("record with LSN 1")));
}

TEST(RecoveryTest, TornTailIsRepairedWithAWarning) {
  TempDir dir;
  auto wal = OpenWal(Options(dir));
  ASSERT_NE(wal, nullptr);
  DurableState model = Populate(*wal);
  wal->FlushForTest();
  wal->AbandonForTest();
  const std::string path = SegmentPath(dir.path(), 1);
  {
    std::ofstream(path, std::ios::binary | std::ios::app) << "\x05\x00\x00";
  }
  absl::StatusOr<Recovered> r = Recover(Options(dir), absl::Minutes(1));
  ASSERT_OK(r);
  ASSERT_EQ(r->warnings.size(), 1u);
  EXPECT_THAT(r->warnings[0], HasSubstr("cut off a torn tail of " + path));
  EXPECT_EQ(r->state, model);
}

TEST(RecoveryTest, HundredThousandGrantsRecoverQuickly) {
  TempDir dir;
  auto wal = OpenWal(Options(dir));
  ASSERT_NE(wal, nullptr);
  DurableState model;
  for (int s = 1; s <= 1000; ++s) AppendTo(*wal, SessionCreated(s), &model);
  for (int i = 0; i < 100000; ++i) {
    AppendTo(*wal, GrantMade(absl::StrCat("key-", i), 1 + i % 1000), &model);
  }
  wal->FlushForTest();
  wal->AbandonForTest();
  const auto start = std::chrono::steady_clock::now();
  absl::StatusOr<Recovered> r = Recover(Options(dir), absl::Minutes(1));
  const double ms = std::chrono::duration<double, std::milli>(
                        std::chrono::steady_clock::now() - start)
                        .count();
  ASSERT_OK(r);
  std::printf("recovered %llu records (100000 grants) in %.1f ms\n",
              static_cast<unsigned long long>(r->records_replayed), ms);
  EXPECT_EQ(r->state.keys.size(), 100000u);
  EXPECT_EQ(r->state, model);
}

TEST(DumpTest, PrintsSnapshotRecordsAndTornTailWithoutChangingFiles) {
  TempDir dir;
  WalOptions o = Options(dir);
  auto wal = OpenWal(o);
  ASSERT_NE(wal, nullptr);
  DurableState model = Populate(*wal);
  ASSERT_OK(wal->Close(&model));
  auto wal2 = OpenWal(o);
  ASSERT_NE(wal2, nullptr);
  const uint64_t lsn = AppendTo(*wal2, SessionCreated(103), nullptr);
  wal2->FlushForTest();
  wal2->AbandonForTest();
  const std::string path = SegmentPath(dir.path(), lsn);
  {
    std::ofstream(path, std::ios::binary | std::ios::app) << "torn";
  }
  const std::string before = test::ReadRaw(path);
  std::ostringstream out;
  ASSERT_OK(DumpWal(dir.path(), out));
  const std::string text = out.str();
  EXPECT_THAT(text, HasSubstr("snapshot lsn=6 clean=true sessions=2 keys=2"));
  EXPECT_THAT(text, HasSubstr(absl::StrCat("SESSION_CREATED lsn=", lsn)));
  EXPECT_THAT(text, HasSubstr("torn tail of " + path));
  EXPECT_EQ(test::ReadRaw(path), before);
}

}  // namespace
}  // namespace taala::wal
