// Rotation, snapshots and the removal of covered segments, driven through
// the Wal with synthetic records (sessions first, then grant made / grant
// ended pairs), and what recovery makes of the result.

#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "server/wal/files.h"
#include "server/wal/snapshot_file.h"
#include "tests/server/wal/wal_test_util.h"
#include "tests/testing/status_matchers.h"

namespace taala::wal {
namespace {

using test::AppendTo;
using test::GrantEnded;
using test::GrantMade;
using test::OpenWal;
using test::SessionCreated;
using test::TempDir;

struct DirSizes {
  std::vector<uint64_t> segment_bytes;
  std::vector<uint64_t> snapshot_bytes;
};

DirSizes Sizes(const std::string& dir) {
  DirSizes out;
  for (const char* sub : {"wal", "snapshot"}) {
    const std::string path = dir + "/" + sub;
    if (!std::filesystem::exists(path)) continue;
    for (const auto& e : std::filesystem::directory_iterator(path)) {
      (sub[0] == 'w' ? out.segment_bytes : out.snapshot_bytes)
          .push_back(e.file_size());
    }
  }
  return out;
}

std::string Describe(const DirSizes& s) {
  std::string out = absl::StrCat(s.segment_bytes.size(), " segments (");
  for (uint64_t b : s.segment_bytes) absl::StrAppend(&out, b, " ");
  absl::StrAppend(&out, "bytes), ", s.snapshot_bytes.size(), " snapshots (");
  for (uint64_t b : s.snapshot_bytes) absl::StrAppend(&out, b, " ");
  absl::StrAppend(&out, "bytes)");
  return out;
}

// `pairs` acquire+release pairs over `keys` keys held by `sessions`
// sessions; returns the model state.
DurableState Drive(Wal& wal, int sessions, int keys, int pairs) {
  DurableState model;
  for (int s = 1; s <= sessions; ++s) {
    AppendTo(wal, SessionCreated(s), &model);
  }
  for (int i = 0; i < pairs; ++i) {
    const std::string key = absl::StrCat("key-", i % keys);
    const uint64_t session = 1 + i % sessions;
    const uint64_t token = AppendTo(wal, GrantMade(key, session), &model);
    AppendTo(wal, GrantEnded(key, session, token), &model);
  }
  return model;
}

TEST(WalSnapshotTest, SegmentsRotateAtTheSizeLimitAndRecoverWhole) {
  TempDir dir;
  WalOptions o;
  o.dir = dir.path();
  o.segment_bytes = 4096;
  o.snapshot_every_bytes = uint64_t{1} << 40;  // Never.
  auto wal = OpenWal(o);
  ASSERT_NE(wal, nullptr);
  DurableState model;
  for (int i = 1; i <= 20; ++i) AppendTo(*wal, SessionCreated(i), &model);
  for (int i = 0; i < 2000; ++i) {
    const uint64_t session = 1 + i % 20;
    const std::string key = i % 3 == 0 ? absl::StrCat("held-", i)
                                       : absl::StrCat("k", i % 7, "-", session);
    const uint64_t token = AppendTo(*wal, GrantMade(key, session), &model);
    if (i % 3 != 0) AppendTo(*wal, GrantEnded(key, session, token), &model);
    if (i % 50 == 0) wal->FlushForTest();  // Batch boundaries.
  }
  wal->FlushForTest();
  EXPECT_GT(Sizes(dir.path()).segment_bytes.size(), 3u);
  wal->AbandonForTest();  // Not clean: recovery must replay the log.
  absl::StatusOr<Recovered> r = Recover(o, absl::Minutes(1));
  ASSERT_OK(r);
  EXPECT_EQ(r->state, model) << r->state.Diff(model);
  EXPECT_EQ(r->state.lsn, model.lsn);
}

TEST(WalSnapshotTest, SnapshotsReplaceOldSegmentsAndRecoveryMatches) {
  TempDir dir;
  WalOptions o;
  o.dir = dir.path();
  o.segment_bytes = 64 << 10;
  o.snapshot_every_bytes = 64 << 10;
  auto wal = OpenWal(o);
  ASSERT_NE(wal, nullptr);
  DurableState model = Drive(*wal, 50, 100, 30000);
  // Some grants still held at the end, so the snapshot is not trivial.
  for (int i = 0; i < 10; ++i) {
    AppendTo(*wal, GrantMade(absl::StrCat("held-", i), 1 + i), &model);
  }
  wal->FlushForTest();
  const DirSizes sizes = Sizes(dir.path());
  std::printf("%s\n", Describe(sizes).c_str());
  EXPECT_LE(sizes.segment_bytes.size(), 2u);
  EXPECT_GE(sizes.snapshot_bytes.size(), 1u);
  EXPECT_LE(sizes.snapshot_bytes.size(), 2u);
  // How many snapshots were written depends on how busy the machine was
  // (requests made while one is being written coalesce): at least one.
  EXPECT_GE(wal->stats().snapshots, 1u);
  wal->AbandonForTest();
  absl::StatusOr<Recovered> r = Recover(o, absl::Minutes(1));
  ASSERT_OK(r);
  EXPECT_GT(r->snapshot_lsn, 0u);
  EXPECT_EQ(r->state, model) << r->state.Diff(model);
}

TEST(WalSnapshotTest, CloseWritesACleanSnapshotAndRemovesTheLog) {
  TempDir dir;
  WalOptions o;
  o.dir = dir.path();
  auto wal = OpenWal(o);
  ASSERT_NE(wal, nullptr);
  DurableState model = Drive(*wal, 3, 5, 100);
  AppendTo(*wal, GrantMade("kept", 2), &model);
  ASSERT_OK(wal->Close(&model));
  EXPECT_TRUE(Sizes(dir.path()).segment_bytes.empty());
  absl::StatusOr<Snapshot> snap =
      ReadSnapshot(SnapshotPath(dir.path(), model.lsn), model.lsn);
  ASSERT_OK(snap);
  EXPECT_TRUE(snap->clean);
  absl::StatusOr<Recovered> r = Recover(o, absl::Minutes(1));
  ASSERT_OK(r);
  EXPECT_TRUE(r->previous_clean);
  EXPECT_EQ(r->state, model) << r->state.Diff(model);
  EXPECT_EQ(r->records_replayed, 0u);
  EXPECT_GT(r->next_lsn, model.lsn);
}

// The clean snapshot carries the watch floor in its header's last word
// (the gap below its lsn); files written without one (older taalads wrote
// 0 there) read as a floor at their lsn, as does a gap too wide to store.
TEST(WalSnapshotTest, SnapshotsCarryTheWatchFloorAndOldOnesReadAsTheirLsn) {
  TempDir dir;
  WalOptions o;
  o.dir = dir.path();
  auto wal = OpenWal(o);
  ASSERT_NE(wal, nullptr);
  DurableState model = Drive(*wal, 3, 5, 10);
  const uint64_t floor = model.lsn - 2;
  ASSERT_OK(wal->Close(&model, floor));
  absl::StatusOr<Snapshot> snap =
      ReadSnapshot(SnapshotPath(dir.path(), model.lsn), model.lsn);
  ASSERT_OK(snap);
  EXPECT_EQ(snap->watch_floor, floor);
  absl::StatusOr<Recovered> r = Recover(o, absl::Minutes(1));
  ASSERT_OK(r);
  EXPECT_EQ(r->snapshot_watch_floor, floor);

  TempDir old_dir;
  ASSERT_OK(WriteSnapshot(old_dir.path(), model, model.lsn, true));
  snap = ReadSnapshot(SnapshotPath(old_dir.path(), model.lsn), model.lsn);
  ASSERT_OK(snap);
  EXPECT_EQ(snap->watch_floor, model.lsn);
  DurableState far = model;
  far.lsn = uint64_t{1} << 40;
  ASSERT_OK(WriteSnapshot(old_dir.path(), far, far.lsn, true, 1));
  snap = ReadSnapshot(SnapshotPath(old_dir.path(), far.lsn), far.lsn);
  ASSERT_OK(snap);
  EXPECT_EQ(snap->watch_floor, far.lsn);
}

// 1,000,000 acquire+release pairs on 1,000 keys with the default sizes:
// at most 2 snapshots and 2 segments remain (about 2 s, so always run).
TEST(WalSnapshotTest, MillionPairsLeaveAtMostTwoSnapshotsAndTwoSegments) {
  const int pairs = 1000000;
  TempDir dir;
  WalOptions o;  // Default segment and snapshot sizes (32 MiB).
  o.dir = dir.path();
  auto wal = OpenWal(o);
  ASSERT_NE(wal, nullptr);
  const auto start = std::chrono::steady_clock::now();
  DurableState model = Drive(*wal, 100, 1000, pairs);
  wal->FlushForTest();
  const double secs = std::chrono::duration<double>(
                          std::chrono::steady_clock::now() - start)
                          .count();
  const DirSizes sizes = Sizes(dir.path());
  const Wal::Stats s = wal->stats();
  std::printf("%d pairs in %.2f s: %s; %llu log bytes written, %llu "
              "snapshots taken, %.1f records/fsync\n",
              pairs, secs, Describe(sizes).c_str(),
              static_cast<unsigned long long>(s.bytes_written),
              static_cast<unsigned long long>(s.snapshots),
              s.records_per_fsync);
  EXPECT_LE(sizes.segment_bytes.size(), 2u);
  EXPECT_LE(sizes.snapshot_bytes.size(), 2u);
  EXPECT_GE(s.snapshots, 1u);
  wal->AbandonForTest();
  absl::StatusOr<Recovered> r = Recover(o, absl::Minutes(1));
  ASSERT_OK(r);
  EXPECT_EQ(r->state, model) << r->state.Diff(model);
}

}  // namespace
}  // namespace taala::wal
