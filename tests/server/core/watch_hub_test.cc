// Watch's core (issue 11): the hub's ring (LSN order, live-only records,
// capacity, resume positions), the fold, and LockTable::SnapshotForWatch
// under concurrent commands (a snapshot plus the records after it is the
// table's state).

#include <atomic>
#include <deque>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/core/lock_table.h"
#include "server/core/watch_fold.h"
#include "server/core/watch_hub.h"
#include "tests/server/core/lock_table_fixture.h"
#include "tests/testing/fake_clock.h"

namespace taala {
namespace {

using ::testing::HasSubstr;

Transition KeyRecord(TransitionType type, const std::string& key,
                     uint64_t session, uint64_t token = 0) {
  Transition t;
  t.type = type;
  t.key = key;
  t.session_id = session;
  t.token = token;
  return t;
}

std::vector<WatchHub::RecordPtr> ReadAll(const WatchHub& hub, uint64_t from,
                                         uint64_t* first) {
  return hub.Read(from, 1 << 20, first);
}

TEST(WatchHubTest, KeepsKeyRecordsInLsnOrderAndLiveOnlyOnesAfterTheirLsn) {
  MemoryLog log;
  WatchHub hub(&log, 100);
  Transition session;
  session.type = TransitionType::kSessionCreated;
  session.session_id = 7;
  EXPECT_EQ(hub.Append(session), 1u);  // Consumes an LSN, not in the ring.
  EXPECT_EQ(hub.Append(KeyRecord(TransitionType::kGrantMade, "a", 7)), 2u);
  EXPECT_FALSE(hub.WantsObserverRecords());
  hub.AddWatcher();
  EXPECT_TRUE(hub.WantsObserverRecords());
  hub.Observe(KeyRecord(TransitionType::kWaitStarted, "a", 8));
  Transition retry = KeyRecord(TransitionType::kWaitStarted, "a", 8);
  retry.retry = true;  // Keeps its place: not told.
  hub.Observe(retry);
  EXPECT_EQ(hub.Append(KeyRecord(TransitionType::kGrantEnded, "a", 7, 2)),
            3u);
  uint64_t first = 0;
  const auto records = ReadAll(hub, 0, &first);
  ASSERT_EQ(records.size(), 3u);
  EXPECT_EQ(first, 0u);
  EXPECT_EQ(records[0]->lsn, 2u);
  EXPECT_EQ(records[0]->token, 2u);  // A grant's token is its LSN.
  EXPECT_TRUE(records[1]->live_only());
  EXPECT_EQ(records[1]->after_lsn, 2u);
  EXPECT_EQ(records[2]->lsn, 3u);
  EXPECT_EQ(hub.Now().position, 3u);
  EXPECT_EQ(hub.Now().lsn, 3u);
  hub.RemoveWatcher();
}

TEST(WatchHubTest, ResumePositionsAndCompaction) {
  MemoryLog log;
  for (int i = 0; i < 5; ++i) log.TakeNumber();  // Before the hub: LSN 5.
  WatchHub hub(&log, 4);
  EXPECT_EQ(hub.floor_lsn(), 5u);
  EXPECT_THAT(hub.ResumePosition(4).status().message(),
              HasSubstr("compacted"));
  EXPECT_EQ(*hub.ResumePosition(5), 0u);
  for (int i = 0; i < 3; ++i) {
    hub.Append(KeyRecord(TransitionType::kGrantMade, "k", 1));  // 6, 7, 8
  }
  EXPECT_EQ(*hub.ResumePosition(6), 1u);
  EXPECT_EQ(*hub.ResumePosition(8), 3u);
  EXPECT_THAT(hub.ResumePosition(9).status().message(),
              HasSubstr("ahead of the log"));
  for (int i = 0; i < 3; ++i) {
    hub.Append(KeyRecord(TransitionType::kGrantMade, "k", 1));  // 9, 10, 11
  }
  // Kept: positions 2..5 (LSNs 8..11); 7 was dropped.
  EXPECT_EQ(hub.floor_lsn(), 7u);
  EXPECT_THAT(hub.ResumePosition(6).status().message(),
              HasSubstr("compacted"));
  EXPECT_EQ(*hub.ResumePosition(7), 2u);
  uint64_t first = 0;
  const auto records = ReadAll(hub, 0, &first);
  EXPECT_EQ(first, 2u);
  ASSERT_EQ(records.size(), 4u);
  EXPECT_EQ(records.front()->lsn, 8u);
}

TEST(WatchHubTest, SeededWithReplayedRecordsResumesAcrossARestart) {
  MemoryLog log(101);  // The restarted log goes on above the old LSNs.
  WatchHub hub(&log, 10);
  std::deque<Transition> replayed;
  Transition created;
  created.type = TransitionType::kSessionCreated;
  created.session_id = 3;
  created.client_name = "worker";
  created.lsn = 41;
  replayed.push_back(created);
  Transition grant = KeyRecord(TransitionType::kGrantMade, "k", 3);
  grant.lsn = 42;
  replayed.push_back(grant);
  Transition end = KeyRecord(TransitionType::kGrantEnded, "k", 3, 42);
  end.lsn = 43;
  replayed.push_back(end);
  hub.Seed(replayed, /*floor=*/40, DurableState());
  EXPECT_THAT(hub.ResumePosition(39).status().message(),
              HasSubstr("compacted"));
  EXPECT_EQ(*hub.ResumePosition(40), 0u);
  EXPECT_EQ(*hub.ResumePosition(42), 1u);
  EXPECT_EQ(*hub.ResumePosition(43), 2u);  // Nothing more to replay.
  EXPECT_EQ(*hub.ResumePosition(100), 2u);
  uint64_t first = 0;
  const auto records = ReadAll(hub, 0, &first);
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(records[0]->token, 42u);
  EXPECT_EQ(records[0]->client_name, "worker");
  EXPECT_EQ(hub.Append(KeyRecord(TransitionType::kGrantMade, "k", 3)), 101u);
  EXPECT_EQ(*hub.ResumePosition(43), 2u);
}

// A clean stop's floor for the next run (taalad writes it into the final
// snapshot): the last key record's LSN, not the log's last, which session
// records and taken numbers (session ids) move past it.
TEST(WatchHubTest, LastKeyLsnIgnoresSessionRecordsAndTakenNumbers) {
  MemoryLog log;
  for (int i = 0; i < 5; ++i) log.TakeNumber();
  WatchHub hub(&log, 4);
  EXPECT_EQ(hub.last_key_lsn(), 5u);  // None since the hub began.
  Transition created;
  created.type = TransitionType::kSessionCreated;
  created.session_id = 1;
  hub.Append(created);                                              // 6
  const uint64_t grant =
      hub.Append(KeyRecord(TransitionType::kGrantMade, "k", 1));    // 7
  hub.TakeNumber();                                                 // 8
  hub.Append(created);                                              // 9
  EXPECT_EQ(hub.LastLsn(), 9u);
  EXPECT_EQ(hub.last_key_lsn(), grant);
  // Seeded: the floor, then the newest replayed key record.
  MemoryLog log2(50);
  WatchHub seeded(&log2, 4);
  std::deque<Transition> replayed;
  Transition g = KeyRecord(TransitionType::kGrantMade, "k", 1);
  g.lsn = 45;
  replayed.push_back(g);
  created.lsn = 46;
  replayed.push_back(created);
  seeded.Seed({}, 40, DurableState());
  EXPECT_EQ(seeded.last_key_lsn(), 40u);
  WatchHub seeded2(&log2, 4);
  seeded2.Seed(replayed, 40, DurableState());
  EXPECT_EQ(seeded2.last_key_lsn(), 45u);
}

WatchRecord Rec(TransitionType type, const std::string& key, uint64_t session,
                uint64_t token = 0, LockMode mode = LockMode::kExclusive) {
  WatchRecord r;
  r.type = type;
  r.key = key;
  r.session_id = session;
  r.token = token;
  r.mode = mode;
  return r;
}

TEST(WatchFoldTest, UpgradesWaitsRestoresAndDelays) {
  WatchKeys keys;
  FoldWatchRecord(Rec(TransitionType::kGrantMade, "k", 1, 10,
                      LockMode::kShared), keys);
  FoldWatchRecord(Rec(TransitionType::kGrantMade, "k", 2, 11,
                      LockMode::kShared), keys);
  FoldWatchRecord(Rec(TransitionType::kWaitStarted, "k", 3), keys);
  WatchRecord up = Rec(TransitionType::kWaitStarted, "k", 1);
  up.upgrade = true;
  FoldWatchRecord(up, keys);  // Ahead of session 3.
  ASSERT_EQ(keys["k"].waiters.size(), 2u);
  EXPECT_EQ(keys["k"].waiters[0].session_id, 1u);
  // Session 1's SHARED grant ends: its upgrade wait goes to the back.
  FoldWatchRecord(Rec(TransitionType::kGrantEnded, "k", 1, 10), keys);
  EXPECT_EQ(keys["k"].waiters[0].session_id, 3u);
  EXPECT_EQ(keys["k"].waiters[1].session_id, 1u);
  EXPECT_FALSE(keys["k"].waiters[1].upgrade);
  // Session 2 upgrades and the upgrade is undone.
  WatchRecord granted = Rec(TransitionType::kGrantMade, "k", 2, 12);
  granted.upgrade = true;
  FoldWatchRecord(granted, keys);
  ASSERT_EQ(keys["k"].holders.size(), 1u);
  EXPECT_EQ(keys["k"].holders[0].token, 12u);
  FoldWatchRecord(Rec(TransitionType::kGrantRestored, "k", 2, 11,
                      LockMode::kShared), keys);
  EXPECT_EQ(keys["k"].holders[0].token, 11u);
  EXPECT_EQ(keys["k"].holders[0].mode, LockMode::kShared);
  // Everything ends; a lock-delay keeps the key until it ends.
  FoldWatchRecord(Rec(TransitionType::kWaitEnded, "k", 3), keys);
  FoldWatchRecord(Rec(TransitionType::kWaitEnded, "k", 1), keys);
  FoldWatchRecord(Rec(TransitionType::kGrantEnded, "k", 2, 11), keys);
  EXPECT_TRUE(keys.empty());
  WatchRecord delay = Rec(TransitionType::kLockDelayStarted, "k", 0);
  delay.wall = absl::FromUnixSeconds(100);
  FoldWatchRecord(delay, keys);
  WatchRecord early_end = Rec(TransitionType::kLockDelayEnded, "k", 0);
  early_end.wall = absl::FromUnixSeconds(99);
  FoldWatchRecord(early_end, keys);  // A longer delay is still running.
  EXPECT_EQ(keys["k"].delay_until, absl::FromUnixSeconds(100));
  WatchRecord end = early_end;
  end.wall = absl::FromUnixSeconds(100);
  FoldWatchRecord(end, keys);
  EXPECT_TRUE(keys.empty());
  // Records about holders or waiters it does not have change nothing.
  FoldWatchRecord(Rec(TransitionType::kGrantEnded, "x", 9, 1), keys);
  FoldWatchRecord(Rec(TransitionType::kWaitEnded, "x", 9), keys);
  EXPECT_TRUE(keys.empty());
}

TEST(WatchFilterTest, KeyOrPrefix) {
  EXPECT_TRUE(WatchFilter{}.Matches("anything"));
  EXPECT_TRUE((WatchFilter{"", "a/"}.Matches("a/b")));
  EXPECT_FALSE((WatchFilter{"", "a/"}.Matches("a-b")));
  EXPECT_TRUE((WatchFilter{"a", ""}.Matches("a")));
  EXPECT_FALSE((WatchFilter{"a", ""}.Matches("a/b")));
}

// Many threads take and release keys while snapshots are taken: each
// snapshot, with every record after its position folded in, equals the
// table at quiescence.
TEST(WatchSnapshotTest, SnapshotPlusLaterRecordsIsTheTableUnderConcurrency) {
  MemoryLog log;
  WatchHub hub(&log, 1 << 20);
  LockTable::Options options;
  options.shards = 8;
  options.log = &hub;
  LockTable table(options);
  test::FakeClock clock;
  std::vector<uint64_t> sessions;
  for (int i = 0; i < 4; ++i) {
    CreateSessionCmd cmd;
    cmd.session_id = table.NewSessionId();
    cmd.client_name = absl::StrCat("c", i);
    cmd.ttl = absl::Hours(1);
    cmd.now = clock.Now();
    ASSERT_TRUE(table.CreateSession(cmd).ok());
    sessions.push_back(cmd.session_id);
  }
  hub.AddWatcher();
  std::atomic<int> running{4};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 2000; ++i) {
        AcquireCmd cmd;
        cmd.session_id = sessions[t];
        cmd.key = absl::StrCat(i % 2 ? "a/" : "b", (i + t) % 5);
        cmd.now = clock.Now();
        auto r = table.Acquire(cmd, nullptr);  // Try-lock.
        if (r.has_value() && r->ok() && r->value().acquired) {
          if (i % 3 == 0) continue;  // Kept for a while.
          table.Release(ReleaseCmd{sessions[t], cmd.key,
                                   r->value().grant.token, clock.Now()})
              .IgnoreError();
        }
      }
      running.fetch_sub(1);
    });
  }
  std::vector<WatchSnapshotState> snaps;
  while (snaps.size() < 5 || (running.load() > 0 && snaps.size() < 300)) {
    absl::StatusOr<WatchSnapshotState> s =
        table.SnapshotForWatch(WatchFilter{}, hub);
    ASSERT_TRUE(s.ok()) << s.status();
    snaps.push_back(*std::move(s));
  }
  for (auto& th : threads) th.join();
  const WatchSnapshotState final_state =
      *table.SnapshotForWatch(WatchFilter{}, hub);
  for (WatchSnapshotState& s : snaps) {
    uint64_t first = 0;
    for (const auto& r : hub.Read(s.position, 1 << 22, &first)) {
      FoldWatchRecord(*r, s.keys);
    }
    EXPECT_EQ(s.keys.size(), final_state.keys.size());
    EXPECT_TRUE(s.keys == final_state.keys) << "snapshot at LSN " << s.lsn;
  }
  table.Shutdown();
}

}  // namespace
}  // namespace taala
