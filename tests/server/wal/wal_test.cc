#include "server/wal/wal.h"

#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/wal/files.h"
#include "tests/server/wal/log_files_util.h"
#include "tests/server/wal/wal_test_util.h"
#include "tests/testing/status_matchers.h"

namespace taala::wal {
namespace {

using test::AppendTo;
using test::OpenWal;
using test::Options;
using test::SessionCreated;
using test::TempDir;
using ::testing::HasSubstr;

TEST(WalTest, ParseDurability) {
  EXPECT_THAT(ParseDurability("fsync"), test::IsOkAndHolds(Durability::kFsync));
  EXPECT_THAT(ParseDurability("async"), test::IsOkAndHolds(Durability::kAsync));
  EXPECT_THAT(ParseDurability("none"), test::IsOkAndHolds(Durability::kNone));
  EXPECT_THAT(ParseDurability("sometimes"),
              test::StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(WalTest, LsnsAreConsecutiveAcrossAppendAndTakeNumber) {
  TempDir dir;
  auto wal = OpenWal(Options(dir));
  ASSERT_NE(wal, nullptr);
  EXPECT_EQ(wal->Append(SessionCreated(1)), 1u);
  EXPECT_EQ(wal->TakeNumber(), 2u);
  EXPECT_EQ(wal->Append(SessionCreated(3)), 3u);
  EXPECT_EQ(wal->LastLsn(), 3u);
  ASSERT_OK(wal->Close(nullptr));
}

TEST(WalTest, RunStateSaysRunningThenClean) {
  TempDir dir;
  auto wal = OpenWal(Options(dir));
  ASSERT_NE(wal, nullptr);
  EXPECT_EQ(test::ReadRaw(RunStatePath(dir.path())), "fsync running\n");
  ASSERT_OK(wal->Close(nullptr));
  EXPECT_EQ(test::ReadRaw(RunStatePath(dir.path())), "fsync clean\n");
}

// Callbacks registered before the writer runs all run once, in LSN order,
// after their records are durable.
TEST(WalTest, WhenDurableCallbacksRunOnceInLsnOrder) {
  TempDir dir;
  WalOptions o = Options(dir);
  absl::StatusOr<Recovered> r = Recover(o, absl::Minutes(1));
  ASSERT_OK(r);
  absl::StatusOr<std::unique_ptr<Wal>> wal = Wal::Open(o, *r);
  ASSERT_OK(wal);
  std::vector<uint64_t> lsns;
  for (int i = 1; i <= 100; ++i) lsns.push_back((*wal)->Append(SessionCreated(i)));
  EXPECT_FALSE((*wal)->IsDurable(1));
  absl::Mutex mu;
  std::vector<uint64_t> ran;
  for (auto it = lsns.rbegin(); it != lsns.rend(); ++it) {
    const uint64_t lsn = *it;
    (*wal)->WhenDurable(lsn, [&mu, &ran, &wal, lsn] {
      EXPECT_TRUE((*wal)->IsDurable(lsn));
      absl::MutexLock lock(&mu);
      ran.push_back(lsn);
    });
  }
  {
    absl::MutexLock lock(&mu);
    EXPECT_TRUE(ran.empty());
  }
  (*wal)->Start();
  (*wal)->FlushForTest();
  absl::MutexLock lock(&mu);
  EXPECT_EQ(ran, lsns);
}

// The writer does not run callbacks: while one is still running (a reply
// being sent), later records are written, fsynced and published.
TEST(WalTest, TheWriterCommitsWhileACallbackRuns) {
  TempDir dir;
  auto wal = OpenWal(Options(dir));
  ASSERT_NE(wal, nullptr);
  absl::Notification entered, release;
  wal->WhenDurable(wal->Append(SessionCreated(1)), [&entered, &release] {
    entered.Notify();
    release.WaitForNotification();
  });
  ASSERT_TRUE(entered.WaitForNotificationWithTimeout(absl::Seconds(10)));
  const uint64_t later = wal->Append(SessionCreated(2));
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (!wal->IsDurable(later) && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(1));
  }
  EXPECT_TRUE(wal->IsDurable(later));
  bool ran = false;
  wal->WhenDurable(later, [&ran] { ran = true; });
  EXPECT_FALSE(ran) << "ran before the callback before it finished";
  release.Notify();
  wal->FlushForTest();
  EXPECT_TRUE(ran);
}

// The cycle through a table mutex: a thread holding a shard mutex appends
// past the reservation (and waits for the writer to renew it) while a
// callback waits for that mutex. The writer must not be the one running
// the callback.
TEST(WalTest, AnAppenderHoldingAMutexACallbackWantsDoesNotDeadlock) {
  TempDir dir;
  WalOptions o = Options(dir);
  o.reserve_block = 4;
  auto wal = OpenWal(o);
  ASSERT_NE(wal, nullptr);
  absl::Mutex shard_mu;
  auto done = std::make_shared<absl::Notification>();
  {
    absl::MutexLock lock(&shard_mu);
    wal->WhenDurable(wal->Append(SessionCreated(1)), [&shard_mu, done] {
      absl::MutexLock l(&shard_mu);
      done->Notify();
    });
    absl::SleepFor(absl::Milliseconds(20));  // Let the callback wait.
    for (int i = 0; i < 8; ++i) wal->Append(SessionCreated(10 + i));
  }
  if (!done->WaitForNotificationWithTimeout(absl::Seconds(10))) {
    (void)wal.release();  // Stuck: never join it.
    FAIL() << "deadlock through the mutex";
  }
  wal->FlushForTest();
}

// A crash while a file was being written durably leaves its temporary
// file (a snapshot's can be tens of MB): Open removes those, and nothing
// else.
TEST(WalTest, OpenRemovesStaleTempFiles) {
  TempDir dir;
  std::filesystem::create_directories(SnapshotDir(dir.path()));
  const std::string snap_tmp = SnapshotPath(dir.path(), 42) + ".tmp";
  const std::string reserved_tmp = ReservationPath(dir.path()) + ".tmp";
  const std::string run_state_tmp = RunStatePath(dir.path()) + ".tmp";
  const std::string foreign = dir.path() + "/notes.tmp";  // Not ours.
  for (const std::string& path :
       {snap_tmp, reserved_tmp, run_state_tmp, foreign}) {
    test::WriteRaw(path, std::string(4096, 'x'));
  }
  auto wal = OpenWal(Options(dir));
  ASSERT_NE(wal, nullptr);
  EXPECT_FALSE(std::filesystem::exists(snap_tmp));
  EXPECT_FALSE(std::filesystem::exists(reserved_tmp));
  EXPECT_FALSE(std::filesystem::exists(run_state_tmp));
  EXPECT_TRUE(std::filesystem::exists(foreign));
  ASSERT_OK(wal->Close(nullptr));
}

// Many threads append and wait for durability, like acquire replies: every
// callback runs exactly once, and fsyncs are shared.
TEST(WalTest, GroupCommitSharesFsyncsAcrossThreads) {
  TempDir dir;
  auto wal = OpenWal(Options(dir));
  ASSERT_NE(wal, nullptr);
  constexpr int kThreads = 8;
  constexpr int kPerThread = 1000;
  std::vector<std::atomic<int>> runs(kThreads * kPerThread + 1);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&wal, &runs, t] {
      for (int i = 0; i < kPerThread; ++i) {
        const uint64_t lsn = wal->Append(SessionCreated(t * kPerThread + i + 1));
        absl::Notification done;
        wal->WhenDurable(lsn, [&runs, &done, lsn] {
          runs[lsn].fetch_add(1);
          done.Notify();
        });
        done.WaitForNotification();  // A reply waits for its fsync.
      }
    });
  }
  for (auto& th : threads) th.join();
  for (size_t lsn = 1; lsn < runs.size(); ++lsn) {
    ASSERT_EQ(runs[lsn].load(), 1) << "lsn " << lsn;
  }
  const Wal::Stats s = wal->stats();
  std::printf("records %llu fsyncs %llu records/fsync %.2f mean fsync %s "
              "max fsync %s\n",
              static_cast<unsigned long long>(s.records),
              static_cast<unsigned long long>(s.fsyncs), s.records_per_fsync,
              absl::FormatDuration(s.fsync_total / std::max<uint64_t>(1, s.fsyncs))
                  .c_str(),
              absl::FormatDuration(s.fsync_max).c_str());
  EXPECT_EQ(s.records, uint64_t{kThreads * kPerThread});
  EXPECT_GT(s.records_per_fsync, 1.0);
  ASSERT_OK(wal->Close(nullptr));
  test::ReadBack back = test::ReadAll(dir.path(), false);
  ASSERT_OK(back.result);
  EXPECT_EQ(back.lsns.size(), size_t{kThreads * kPerThread});
}

TEST(WalTest, AsyncModeIsDurableAtOnceButStillWrites) {
  TempDir dir;
  auto wal = OpenWal(Options(dir, Durability::kAsync));
  ASSERT_NE(wal, nullptr);
  const uint64_t lsn = wal->Append(SessionCreated(1));
  EXPECT_TRUE(wal->IsDurable(lsn));
  bool ran = false;
  wal->WhenDurable(lsn, [&ran] { ran = true; });
  EXPECT_TRUE(ran);  // On this thread, at once.
  ASSERT_OK(wal->Close(nullptr));
  test::ReadBack back = test::ReadAll(dir.path(), false);
  ASSERT_OK(back.result);
  EXPECT_EQ(back.lsns, std::vector<uint64_t>{1});
}

TEST(WalTest, NoneModeWritesNoLogButLsnsAndReservationWork) {
  TempDir dir;
  WalOptions o = Options(dir, Durability::kNone);
  o.reserve_block = 10;
  auto wal = OpenWal(o);
  ASSERT_NE(wal, nullptr);
  uint64_t lsn = 0;
  for (int i = 1; i <= 100; ++i) lsn = wal->Append(SessionCreated(i));
  EXPECT_EQ(lsn, 100u);
  EXPECT_TRUE(wal->IsDurable(lsn));
  EXPECT_FALSE(std::filesystem::exists(WalDir(dir.path())));
  absl::StatusOr<uint64_t> reserved = ReadNumberFile(ReservationPath(dir.path()));
  ASSERT_OK(reserved);
  EXPECT_GE(*reserved, 100u);
  ASSERT_OK(wal->Close(nullptr));
  // Without a final state nothing on disk holds this run: not clean.
  EXPECT_EQ(test::ReadRaw(RunStatePath(dir.path())), "none running\n");
}

TEST(WalTest, AppendPastTheReservationWaitsForTheWriterNotForever) {
  TempDir dir;
  WalOptions o = Options(dir);
  o.reserve_block = 4;  // Renewed every couple of numbers.
  auto wal = OpenWal(o);
  ASSERT_NE(wal, nullptr);
  uint64_t last = 0;
  for (int i = 1; i <= 500; ++i) {
    last = wal->Append(SessionCreated(i));
    absl::StatusOr<uint64_t> reserved =
        ReadNumberFile(ReservationPath(dir.path()));
    ASSERT_OK(reserved);
    ASSERT_GE(*reserved, last);  // Issued only under a durable reservation.
  }
  ASSERT_OK(wal->Close(nullptr));
}

TEST(WalTest, NoteSessionTtlPersistsOnlyIncreases) {
  TempDir dir;
  auto wal = OpenWal(Options(dir));
  ASSERT_NE(wal, nullptr);
  const std::string path = SessionTtlPath(dir.path());
  ASSERT_OK(wal->NoteSessionTtl(absl::Seconds(10)));
  EXPECT_EQ(test::ReadRaw(path), "10000\n");
  ASSERT_OK(wal->NoteSessionTtl(absl::Seconds(5)));
  EXPECT_EQ(test::ReadRaw(path), "10000\n");
  ASSERT_OK(wal->NoteSessionTtl(absl::Milliseconds(10001)));
  EXPECT_EQ(test::ReadRaw(path), "10001\n");
  ASSERT_OK(wal->Close(nullptr));
}

struct FatalCatcher {
  absl::Mutex mu;
  std::vector<std::string> messages;
  std::function<void(const std::string&)> Fn() {
    return [this](const std::string& m) {
      absl::MutexLock lock(&mu);
      messages.push_back(m);
    };
  }
  std::string WaitForOne() {
    absl::MutexLock lock(&mu);
    mu.Await(absl::Condition(
        +[](std::vector<std::string>* v) { return !v->empty(); }, &messages));
    return messages[0];
  }
};

TEST(WalTest, FailedWriteCallsOnFatalNamingTheFile) {
  TempDir dir;
  FatalCatcher fatal;
  WalOptions o = Options(dir);
  o.on_fatal = fatal.Fn();
  o.fail_write_after_bytes = 100;
  auto wal = OpenWal(o);
  ASSERT_NE(wal, nullptr);
  absl::Mutex mu;
  uint64_t highest_ran = 0;
  for (int i = 1; i <= 50; ++i) {
    const uint64_t lsn = wal->Append(SessionCreated(i));
    wal->WhenDurable(lsn, [&mu, &highest_ran, lsn] {
      absl::MutexLock lock(&mu);
      highest_ran = std::max(highest_ran, lsn);
    });
  }
  const std::string m = fatal.WaitForOne();
  EXPECT_THAT(m, HasSubstr(SegmentPath(dir.path(), 1)));
  EXPECT_THAT(m, HasSubstr("No space left on device"));
  EXPECT_FALSE(wal->IsDurable(50));
  EXPECT_THAT(wal->Close(nullptr),
              test::StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_EQ(test::ReadRaw(RunStatePath(dir.path())), "fsync running\n");
  // Only records that reached the file (before the 100-byte limit) were
  // ever claimed durable.
  test::ReadBack back = test::ReadAll(dir.path(), false);
  ASSERT_OK(back.result);
  absl::MutexLock lock(&mu);
  EXPECT_LE(highest_ran, back.result->last_lsn);
  EXPECT_LT(back.result->last_lsn, 50u);
}

TEST(WalTest, FailedFsyncCallsOnFatalAndIsNotRetried) {
  TempDir dir;
  FatalCatcher fatal;
  WalOptions o = Options(dir);
  o.on_fatal = fatal.Fn();
  o.fail_fsync = true;
  auto wal = OpenWal(o);
  ASSERT_NE(wal, nullptr);
  wal->Append(SessionCreated(1));
  const std::string m = fatal.WaitForOne();
  EXPECT_THAT(m, HasSubstr("cannot fsync log segment " +
                           SegmentPath(dir.path(), 1)));
  EXPECT_THAT(m, HasSubstr("Input/output error"));
  EXPECT_FALSE(wal->IsDurable(1));
  EXPECT_FALSE(wal->Close(nullptr).ok());
  absl::MutexLock lock(&fatal.mu);
  EXPECT_EQ(fatal.messages.size(), 1u);
}

TEST(WalDeathTest, DefaultOnFatalExitsWithStatus1) {
  ::testing::FLAGS_gtest_death_test_style = "threadsafe";
  TempDir dir;
  EXPECT_EXIT(
      {
        WalOptions o = Options(dir);
        o.fail_fsync = true;
        auto wal = OpenWal(o);
        wal->Append(SessionCreated(1));
        wal->FlushForTest();  // Never returns: the writer exits the process.
      },
      ::testing::ExitedWithCode(1), "cannot fsync log segment");
}

TEST(WalDeathTest, AppendAfterCloseIsAProgrammingError) {
  ::testing::FLAGS_gtest_death_test_style = "threadsafe";
  TempDir dir;
  EXPECT_DEATH(
      {
        auto wal = OpenWal(Options(dir));
        (void)wal->Close(nullptr);
        wal->Append(SessionCreated(1));
      },
      "check failed");
}

}  // namespace
}  // namespace taala::wal
