// What callers without `read` on every key are shown (caller_views.h):
// deadlock messages cut to the caller's own wait, ListSessions pages whose
// tokens are never another identity's session id, on a real LockTable.

#include "server/rpc/caller_views.h"

#include <cstdint>
#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "server/core/lock_table.h"
#include "server/rpc/translation.h"
#include "tests/testing/fake_clock.h"

namespace taala {
namespace {

TEST(WithoutForeignCycleTest, KeepsTheCallersWaitAndItsKeysHolder) {
  const absl::Status full = absl::AbortedError(
      "deadlock: session 5 (alice) waits for key \"a/2\", held by session 9 "
      "(bob), which waits for key \"secret/9\", held by session 7 (carol), "
      "which waits for key \"a/1\", held by session 5 (alice); refusing "
      "session 5's wait for key \"a/2\"");
  const absl::Status cut = WithoutForeignCycle(full);
  EXPECT_EQ(cut.code(), absl::StatusCode::kAborted);
  EXPECT_TRUE(absl::StartsWith(
      cut.message(), "deadlock: session 5 (alice) waits for key \"a/2\", "
                     "held by session 9 (bob), which waits in turn"))
      << cut.message();
  EXPECT_TRUE(absl::EndsWith(cut.message(),
                             "; refusing session 5's wait for key \"a/2\""))
      << cut.message();
  EXPECT_FALSE(absl::StrContains(cut.message(), "secret/"));
  EXPECT_FALSE(absl::StrContains(cut.message(), "carol"));
}

TEST(WithoutForeignCycleTest, LeavesOtherStatusesAlone) {
  // The SHARED-upgrade deadlock names one key, the caller's own.
  const absl::Status upgrade = absl::AbortedError(
      "deadlock: sessions 1 (a) and 2 (b) both hold key \"k\" SHARED and "
      "wait to upgrade to EXCLUSIVE; refusing session 2's upgrade");
  EXPECT_EQ(WithoutForeignCycle(upgrade), upgrade);
  const absl::Status other = absl::AbortedError("taken over by a newer stream");
  EXPECT_EQ(WithoutForeignCycle(other), other);
  EXPECT_EQ(WithoutForeignCycle(absl::NotFoundError("x, which waits for key ")),
            absl::NotFoundError("x, which waits for key "));
}

class ListOwnSessionsTest : public ::testing::Test {
 protected:
  static LockTable::Options Options() {
    LockTable::Options options;
    options.shards = 4;
    return options;
  }
  uint64_t Create(const std::string& owner) {
    CreateSessionCmd cmd;
    cmd.session_id = table_.NewSessionId();
    cmd.owner = owner;
    cmd.client_name = "c";
    cmd.ttl = absl::Hours(1);
    cmd.now = clock_.Now();
    absl::StatusOr<SessionInfo> info = table_.CreateSession(cmd);
    EXPECT_TRUE(info.ok()) << info.status();
    return info.ok() ? info->session_id : 0;
  }
  // Pages through alice's sessions with `limit`; every token must be one
  // of hers or an opaque resume token.
  std::vector<uint64_t> PageThrough(size_t limit,
                                    const absl::flat_hash_set<uint64_t>& hers,
                                    int* resumes,
                                    const std::string& name = "alice") {
    auth::Identity alice;
    alice.name = name;
    std::vector<uint64_t> seen;
    uint64_t after = 0;
    for (int calls = 0; calls < 10000; ++calls) {
      OwnSessionsPage page = ListOwnSessions(table_, alice, after, limit);
      EXPECT_LE(page.page.sessions.size(), limit);
      for (const SessionSummary& s : page.page.sessions) {
        EXPECT_TRUE(hers.contains(s.session_id));
        seen.push_back(s.session_id);
      }
      std::string token;
      if (page.resume.has_value()) {
        ++*resumes;
        token = *page.resume;
        EXPECT_TRUE(absl::StartsWith(token, "r")) << token;
      } else if (page.page.next_after.has_value()) {
        EXPECT_TRUE(hers.contains(*page.page.next_after));
        token = absl::StrCat(*page.page.next_after);
      } else {
        break;
      }
      absl::StatusOr<uint64_t> next = FromOwnSessionsToken(token);
      EXPECT_TRUE(next.ok()) << next.status();
      if (!next.ok()) break;
      after = *next;
    }
    return seen;
  }

  test::FakeClock clock_;
  LockTable table_{Options()};
};

TEST_F(ListOwnSessionsTest, TokensAreOwnIdsOrOpaque) {
  absl::flat_hash_set<uint64_t> hers;
  for (int i = 0; i < 3; ++i) hers.insert(Create("alice"));
  // More foreign sessions than one call reads (4096).
  for (int i = 0; i < 9000; ++i) Create(absl::StrCat("bob", i % 50));
  for (int i = 0; i < 3; ++i) hers.insert(Create("alice"));
  for (size_t limit : {size_t{1}, size_t{2}, size_t{100}}) {
    int resumes = 0;
    std::vector<uint64_t> seen = PageThrough(limit, hers, &resumes);
    EXPECT_EQ(seen.size(), hers.size()) << "limit " << limit;
    EXPECT_EQ(absl::flat_hash_set<uint64_t>(seen.begin(), seen.end()), hers);
  }
  // An identity with no session: empty pages, resumed opaquely past the
  // 9006 others (at most 4096 a call), then the end.
  int resumes = 0;
  EXPECT_TRUE(PageThrough(1, {}, &resumes, "dave").empty());
  EXPECT_EQ(resumes, 2);
  table_.Shutdown();
}

TEST(FromOwnSessionsTokenTest, RefusesForgedResumeTokens) {
  EXPECT_EQ(FromOwnSessionsToken("").value(), 0u);
  EXPECT_EQ(FromOwnSessionsToken("42").value(), 42u);
  EXPECT_FALSE(FromOwnSessionsToken("r").ok());
  EXPECT_FALSE(
      FromOwnSessionsToken("r00000000000000000000000000000000").ok());
  EXPECT_FALSE(FromOwnSessionsToken("x1").ok());
}

}  // namespace
}  // namespace taala
