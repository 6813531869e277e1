// Introspection: fences, describe, list keys and sessions.

#include <algorithm>
#include <atomic>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/core/lock_table.h"
#include "tests/server/core/lock_table_fixture.h"
#include "tests/testing/fake_clock.h"
#include "tests/testing/status_matchers.h"

namespace taala {
namespace {

using ::taala::test::IsOkAndHolds;
using ::taala::test::kTtl;
using ::taala::test::LockTableTest;
using ::taala::test::RecordingWaiter;
using ::taala::test::StatusIs;
using ::testing::ElementsAre;
using ::testing::Field;
using ::testing::HasSubstr;

TEST_F(LockTableTest, CheckFenceAcceptsOnlyTheCurrentToken) {
  const uint64_t a = NewSession();
  const uint64_t token = MustAcquire(a, "db");
  EXPECT_THAT(table_.CheckFence("db", token),
              IsOkAndHolds(Field(&Grant::session_id, a)));
  ASSERT_OK(Release(a, "db", token));
  EXPECT_THAT(table_.CheckFence("db", token),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("the key is free")));
  const uint64_t newer = MustAcquire(a, "db");
  EXPECT_THAT(table_.CheckFence("db", token),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr(absl::StrCat("current token is ", newer))));
}

TEST_F(LockTableTest, DescribeListsHolderAndWaitersInQueueOrder) {
  const uint64_t a = NewSession(kTtl, "alpha");
  const uint64_t b = NewSession(kTtl, "beta");
  const uint64_t c = NewSession(kTtl, "gamma");
  MustAcquire(a, "db");
  RecordingWaiter wb, wc;
  Wait(b, "db", &wb, absl::Seconds(30));
  Wait(c, "db", &wc);
  absl::StatusOr<LockDescription> d = table_.Describe("db", 10);
  ASSERT_OK(d);
  ASSERT_EQ(d->holders.size(), 1u);
  EXPECT_EQ(d->holders[0].client_name, "alpha");
  EXPECT_EQ(d->waiter_count, 2u);
  ASSERT_EQ(d->waiters.size(), 2u);
  EXPECT_EQ(d->waiters[0].client_name, "beta");
  EXPECT_EQ(d->waiters[0].deadline, clock_.Now() + absl::Seconds(30));
  EXPECT_EQ(d->waiters[1].client_name, "gamma");
  EXPECT_EQ(d->waiters[1].deadline, absl::InfiniteFuture());
  d = table_.Describe("db", 1);
  ASSERT_OK(d);
  EXPECT_EQ(d->waiters.size(), 1u);
  EXPECT_EQ(d->waiter_count, 2u);
  table_.Shutdown();
}

std::vector<std::string> Keys(const LockPage& page) {
  std::vector<std::string> keys;
  for (const LockSummary& l : page.locks) keys.push_back(l.key);
  return keys;
}

TEST_F(LockTableTest, ListLocksFiltersByPrefixInKeyOrder) {
  const uint64_t a = NewSession(kTtl, "alpha");
  const uint64_t b = NewSession(kTtl, "beta");
  for (const char* key : {"other/c", "app/b", "apple", "app/x/y", "app/a"}) {
    MustAcquire(a, key);
  }
  RecordingWaiter wb;
  Wait(b, "app/a", &wb);

  absl::StatusOr<LockPage> page = table_.ListLocks("app/", "", 10);
  ASSERT_OK(page);
  EXPECT_THAT(Keys(*page), ElementsAre("app/a", "app/b", "app/x/y"));
  EXPECT_FALSE(page->next_after.has_value());
  ASSERT_EQ(page->locks[0].holders.size(), 1u);
  EXPECT_EQ(page->locks[0].holders[0].client_name, "alpha");
  EXPECT_EQ(page->locks[0].holders[0].grant.session_id, a);
  EXPECT_EQ(page->locks[0].holders[0].grant.key, "app/a");
  EXPECT_EQ(page->locks[0].waiter_count, 1u);
  EXPECT_EQ(page->locks[1].waiter_count, 0u);

  // A plain byte prefix: "app" also matches "apple".
  page = table_.ListLocks("app", "", 10);
  ASSERT_OK(page);
  EXPECT_THAT(Keys(*page), ElementsAre("app/a", "app/b", "app/x/y", "apple"));
  page = table_.ListLocks("", "", 10);
  ASSERT_OK(page);
  EXPECT_THAT(Keys(*page),
              ElementsAre("app/a", "app/b", "app/x/y", "apple", "other/c"));
  page = table_.ListLocks("nothing/", "", 10);
  ASSERT_OK(page);
  EXPECT_TRUE(page->locks.empty());
  EXPECT_FALSE(page->next_after.has_value());
  table_.Shutdown();
}

TEST_F(LockTableTest, ListLocksPagesAcrossShardsWithoutGapsOrRepeats) {
  const uint64_t s = NewSession();
  std::vector<std::string> all;
  absl::flat_hash_map<std::string, uint64_t> tokens;
  for (int i = 0; i < 50; ++i) {
    // Distinct first segments spread the keys over the 4 shards, more than
    // a page's worth in each.
    std::string key = absl::StrCat("k", 100 - i, (i % 3 == 0 ? "/sub" : ""));
    tokens[key] = MustAcquire(s, key);
    all.push_back(key);
  }
  std::sort(all.begin(), all.end());

  std::vector<std::string> listed;
  std::string after;
  int pages = 0;
  while (true) {
    absl::StatusOr<LockPage> page = table_.ListLocks("", after, 7);
    ASSERT_OK(page);
    ++pages;
    ASSERT_LE(page->locks.size(), 7u);
    for (const LockSummary& l : page->locks) listed.push_back(l.key);
    if (!page->next_after.has_value()) break;
    EXPECT_EQ(*page->next_after, page->locks.back().key);
    after = *page->next_after;
    ASSERT_LT(pages, 100) << "pagination does not end";
  }
  EXPECT_EQ(listed, all);
  EXPECT_EQ(pages, 8);  // 7 full pages and one of 1.

  // Exactly a page's worth: no further page is announced.
  absl::StatusOr<LockPage> page = table_.ListLocks("", "", 50);
  ASSERT_OK(page);
  EXPECT_EQ(page->locks.size(), 50u);
  EXPECT_FALSE(page->next_after.has_value());
  page = table_.ListLocks("", "", 49);
  ASSERT_OK(page);
  ASSERT_TRUE(page->next_after.has_value());
  EXPECT_EQ(*page->next_after, all[48]);

  // Keys taken after the token show up on the next page; released ones go.
  page = table_.ListLocks("", "", 3);
  ASSERT_OK(page);
  ASSERT_TRUE(page->next_after.has_value());
  const uint64_t t = MustAcquire(s, "k999");
  ASSERT_OK(Release(s, all[3], tokens[all[3]]));
  page = table_.ListLocks("", *page->next_after, 100);
  ASSERT_OK(page);
  std::vector<std::string> rest(all.begin() + 4, all.end());
  rest.push_back("k999");
  EXPECT_EQ(Keys(*page), rest);
  ASSERT_OK(Release(s, "k999", t));
}

TEST_F(LockTableTest, ListLocksRefusesMalformedPrefixAndToken) {
  EXPECT_THAT(table_.ListLocks(std::string(1025, 'p'), "", 10),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("prefix: 1025 bytes")));
  EXPECT_THAT(table_.ListLocks("bad\xff", "", 10),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("prefix: not valid UTF-8")));
  EXPECT_THAT(table_.ListLocks("", "bad\xff", 10),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("page_token: not valid UTF-8")));
  // A prefix need not be a valid key: "a/" and "" are fine.
  EXPECT_OK(table_.ListLocks("a/", "", 10));
}

TEST_F(LockTableTest, ListSessionsPagesInIdOrderWithLeaseAndCounts) {
  CreateSessionCmd cmd;
  cmd.session_id = table_.NewSessionId();
  cmd.client_name = "labelled";
  cmd.labels = {{"team", "payments"}, {"host", "h1"}};
  cmd.ttl = absl::Seconds(5);
  cmd.now = clock_.Now();
  ASSERT_OK(table_.CreateSession(cmd));
  const uint64_t a = cmd.session_id;
  std::vector<uint64_t> ids = {a};
  for (int i = 0; i < 4; ++i) ids.push_back(NewSession(kTtl, absl::StrCat("s", i)));
  MustAcquire(a, "x");
  MustAcquire(a, "y/z");
  RecordingWaiter w;
  Wait(ids[1], "x", &w);
  clock_.Advance(absl::Seconds(2));

  SessionPage page = table_.ListSessions(0, 100);
  ASSERT_EQ(page.sessions.size(), ids.size());
  EXPECT_FALSE(page.next_after.has_value());
  for (size_t i = 0; i < ids.size(); ++i) {
    EXPECT_EQ(page.sessions[i].session_id, ids[i]);
  }
  const SessionSummary& first = page.sessions[0];
  EXPECT_EQ(first.client_name, "labelled");
  EXPECT_EQ(first.labels, cmd.labels);
  EXPECT_EQ(first.ttl, absl::Seconds(5));
  EXPECT_EQ(first.expires_at - clock_.Now(), absl::Seconds(3));
  EXPECT_EQ(first.held_keys, 2u);
  EXPECT_EQ(first.waiting_keys, 0u);
  EXPECT_EQ(page.sessions[1].held_keys, 0u);
  EXPECT_EQ(page.sessions[1].waiting_keys, 1u);

  // Pages of 2: every session once, in order.
  std::vector<uint64_t> listed;
  uint64_t after = 0;
  for (int pages = 0; pages < 10; ++pages) {
    page = table_.ListSessions(after, 2);
    ASSERT_LE(page.sessions.size(), 2u);
    for (const SessionSummary& s : page.sessions) listed.push_back(s.session_id);
    if (!page.next_after.has_value()) break;
    after = *page.next_after;
  }
  EXPECT_EQ(listed, ids);

  // Closed and expired sessions are not listed.
  ASSERT_OK(table_.CloseSession(CloseSessionCmd{ids[2], clock_.Now()}));
  Advance(absl::Seconds(4));  // `a` (5 s lease) runs out.
  page = table_.ListSessions(0, 100);
  listed.clear();
  for (const SessionSummary& s : page.sessions) listed.push_back(s.session_id);
  EXPECT_THAT(listed, ElementsAre(ids[1], ids[3], ids[4]));
  EXPECT_TRUE(w.granted());  // `a`'s expiry handed "x" to ids[1].
  EXPECT_EQ(page.sessions[0].held_keys, 1u);
  EXPECT_EQ(page.sessions[0].waiting_keys, 0u);
}

// Listings run alongside grants and releases on every shard: each page is
// sorted, without repeats, and the table's invariants hold.
TEST_F(LockTableTest, ListingsRunConcurrentlyWithLockTraffic) {
  std::atomic<bool> stop{false};
  std::vector<std::thread> workers;
  for (int t = 0; t < 4; ++t) {
    workers.emplace_back([&, t] {
      const uint64_t s = NewSession(absl::Hours(1), absl::StrCat("w", t));
      for (int i = 0; !stop.load(); ++i) {
        const std::string key = absl::StrCat("k", (i * 7 + t) % 40, "/x");
        absl::StatusOr<AcquireResult> r = AcquireNow(s, key);
        if (r.ok() && r->acquired) {
          ASSERT_OK(Release(s, key, r->grant.token));
        }
      }
    });
  }
  // In a lambda: a failed ASSERT leaves it, and the workers still stop.
  auto list_rounds = [&] {
    for (int round = 0; round < 200; ++round) {
      std::string after;
      std::vector<std::string> seen;
      while (true) {
        absl::StatusOr<LockPage> page = table_.ListLocks("", after, 5);
        ASSERT_OK(page);
        for (const LockSummary& l : page->locks) {
          ASSERT_TRUE(seen.empty() || seen.back() < l.key);
          ASSERT_EQ(l.holders.size(), 1u);
          seen.push_back(l.key);
        }
        if (!page->next_after.has_value()) break;
        after = *page->next_after;
      }
      SessionPage sessions = table_.ListSessions(0, 2);
      ASSERT_LE(sessions.sessions.size(), 2u);
    }
  };
  list_rounds();
  stop = true;
  for (auto& w : workers) w.join();
}

}  // namespace
}  // namespace taala
