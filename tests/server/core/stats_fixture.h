// Shared by the statistics' core tests (table_stats_test, review_stats_test):
// a small table with statistics on a fake clock, and one-line helpers to
// open a session, take and give a key, let time pass and read figures.

#ifndef TAALA_TESTS_SERVER_CORE_STATS_FIXTURE_H_
#define TAALA_TESTS_SERVER_CORE_STATS_FIXTURE_H_

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "gtest/gtest.h"
#include "server/core/lock_table.h"
#include "tests/testing/fake_clock.h"

namespace taala {
namespace test {

class StatsFixture : public ::testing::Test {
 protected:
  // A 4-shard table with statistics `stats` and configured `prefixes`.
  static std::unique_ptr<LockTable> NewStatsTable(
      bool stats = true, std::vector<std::string> prefixes = {}) {
    LockTable::Options options;
    options.shards = 4;
    options.stats = stats;
    options.stats_prefixes = std::move(prefixes);
    return std::make_unique<LockTable>(options);
  }
  void TearDown() override { table_->CheckInvariantsForTest(); }

  uint64_t NewSession(std::string name = "test", Labels labels = {}) {
    CreateSessionCmd cmd;
    cmd.session_id = table_->NewSessionId();
    cmd.client_name = std::move(name);
    cmd.labels = std::move(labels);
    cmd.ttl = absl::Hours(1);
    cmd.now = clock_.Now();
    EXPECT_TRUE(table_->CreateSession(cmd).ok());
    return cmd.session_id;
  }
  AcquireCmd Cmd(uint64_t s, const std::string& key,
                 absl::Duration wait = absl::ZeroDuration()) {
    AcquireCmd cmd;
    cmd.session_id = s;
    cmd.key = key;
    cmd.wait_timeout = wait;
    cmd.now = clock_.Now();
    return cmd;
  }
  uint64_t Take(uint64_t s, const std::string& key) {
    auto r = table_->Acquire(Cmd(s, key), nullptr);
    EXPECT_TRUE(r.has_value() && r->ok() && (*r)->acquired) << key;
    return r.has_value() && r->ok() ? (*r)->grant.token : 0;
  }
  void Give(uint64_t s, const std::string& key, uint64_t token) {
    EXPECT_TRUE(
        table_->Release(ReleaseCmd{s, key, token, clock_.Now()}).ok());
  }
  void Advance(absl::Duration d) {
    clock_.Advance(d);
    table_->RunDueTimers(clock_.Now());
  }
  LockStats Stats(const std::string& key, const std::string& prefix = "") {
    absl::StatusOr<LockStats> s = table_->GetLockStats(key, prefix);
    EXPECT_TRUE(s.ok()) << s.status();
    return s.ok() ? *s : LockStats{};
  }

  FakeClock clock_;  // Starts at the Unix epoch + 1 h: a whole minute.
  std::unique_ptr<LockTable> table_;
};

}  // namespace test
}  // namespace taala

#endif  // TAALA_TESTS_SERVER_CORE_STATS_FIXTURE_H_
