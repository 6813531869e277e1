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
#include "absl/strings/match.h"
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
using ::taala::test::WithMode;
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

// Every page of a filtered listing, `page_size` at a time.
std::vector<std::string> ListAll(LockTable& table, absl::string_view prefix,
                                 size_t page_size,
                                 const ListLocksFilter& filter) {
  std::vector<std::string> listed;
  std::string after;
  for (int pages = 0; pages < 1000; ++pages) {
    absl::StatusOr<LockPage> page =
        table.ListLocks(prefix, after, page_size, filter);
    EXPECT_OK(page);
    if (!page.ok()) break;
    for (const LockSummary& l : page->locks) listed.push_back(l.key);
    if (!page->next_after.has_value()) break;
    // A page is full whenever another follows, and the token is its last
    // key: a filter never leaves a short or empty page mid-listing.
    EXPECT_EQ(page->locks.size(), page_size);
    EXPECT_EQ(*page->next_after, page->locks.back().key);
    after = *page->next_after;
  }
  return listed;
}

TEST_F(LockTableTest, ListLocksFiltersByHoldAgeAndWaitersAcrossPages) {
  const uint64_t a = NewSession(absl::Hours(1), "alpha");
  const uint64_t b = NewSession(absl::Hours(1), "beta");
  // 40 keys over the 4 shards (distinct first segments) and, in one tree,
  // one shard: "old" keys held 10 s, "new" ones 1 s; every third contended.
  std::set<std::string> old_keys, contended, all;
  std::vector<std::unique_ptr<RecordingWaiter>> waiters;
  auto take = [&](const std::string& key, int i) {
    MustAcquire(a, key);
    all.insert(key);
    if (i % 3 == 0) {
      waiters.push_back(std::make_unique<RecordingWaiter>());
      Wait(b, key, waiters.back().get());
      contended.insert(key);
    }
  };
  for (int i = 0; i < 20; ++i) {
    const std::string key =
        i % 2 == 0 ? absl::StrCat("k", i) : absl::StrCat("tree/k", i);
    take(key, i);
    old_keys.insert(key);
  }
  clock_.Advance(absl::Seconds(9));
  for (int i = 20; i < 40; ++i) {
    take(i % 2 == 0 ? absl::StrCat("k", i) : absl::StrCat("tree/k", i), i);
  }
  clock_.Advance(absl::Seconds(1));
  // A waiter alone (its key held by nobody) is contended but not held.
  const uint64_t lone = MustAcquire(a, "lone");
  waiters.push_back(std::make_unique<RecordingWaiter>());
  Wait(b, "lone", waiters.back().get());
  ASSERT_OK(Release(a, "lone", lone));
  ASSERT_TRUE(waiters.back()->granted());
  all.insert("lone");  // Now held by b, for 0 s.

  auto expect = [&](const std::set<std::string>& keys,
                    absl::string_view prefix) {
    std::vector<std::string> out;
    for (const std::string& k : keys) {
      if (absl::StartsWith(k, prefix)) out.push_back(k);
    }
    return out;
  };
  std::set<std::string> old_contended;
  for (const std::string& k : old_keys) {
    if (contended.count(k)) old_contended.insert(k);
  }
  ListLocksFilter held;
  held.held_longer_than = absl::Seconds(5);
  held.now = clock_.Now();
  ListLocksFilter busy;
  busy.contended_only = true;
  ListLocksFilter both = held;
  both.contended_only = true;
  for (size_t page_size : {1, 2, 3, 7, 100}) {
    SCOPED_TRACE(absl::StrCat("page size ", page_size));
    for (absl::string_view prefix : {"", "tree/", "k"}) {
      SCOPED_TRACE(absl::StrCat("prefix \"", prefix, "\""));
      EXPECT_EQ(ListAll(table_, prefix, page_size, {}), expect(all, prefix));
      EXPECT_EQ(ListAll(table_, prefix, page_size, held),
                expect(old_keys, prefix));
      EXPECT_EQ(ListAll(table_, prefix, page_size, busy),
                expect(contended, prefix));
      EXPECT_EQ(ListAll(table_, prefix, page_size, both),
                expect(old_contended, prefix));
    }
  }
  // "Longer than" is strict: a grant exactly 10 s old is not listed.
  held.held_longer_than = absl::Seconds(10);
  EXPECT_TRUE(ListAll(table_, "", 10, held).empty());
  held.held_longer_than = absl::Seconds(10) - absl::Nanoseconds(1);
  EXPECT_EQ(ListAll(table_, "", 10, held), expect(old_keys, ""));
  // A matching key's entry is complete: holders and queue length.
  absl::StatusOr<LockPage> page = table_.ListLocks("", "", 1, both);
  ASSERT_OK(page);
  ASSERT_EQ(page->locks.size(), 1u);
  EXPECT_EQ(page->locks[0].key, *old_contended.begin());
  EXPECT_EQ(page->locks[0].waiter_count, 1u);
  ASSERT_EQ(page->locks[0].holders.size(), 1u);
  EXPECT_EQ(page->locks[0].holders[0].client_name, "alpha");
  table_.Shutdown();
}

TEST_F(LockTableTest, ListLocksRefusesANegativeHoldAge) {
  ListLocksFilter filter;
  filter.held_longer_than = absl::Milliseconds(-5);
  filter.now = clock_.Now();
  EXPECT_THAT(table_.ListLocks("", "", 10, filter),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("held_longer_than_ms: must not be negative "
                                 "(got -5)")));
}

uint64_t NewLabelledSession(LockTable& table, absl::Time now,
                            const std::string& name, const Labels& labels) {
  CreateSessionCmd cmd;
  cmd.session_id = table.NewSessionId();
  cmd.client_name = name;
  cmd.labels = labels;
  cmd.ttl = kTtl;
  cmd.now = now;
  EXPECT_OK(table.CreateSession(cmd));
  return cmd.session_id;
}

TEST_F(LockTableTest, HoldersCarryTheirSessionsLabels) {
  const Labels labels = {{"host", "web-7"}, {"pid", "4242"}};
  const uint64_t a = NewLabelledSession(table_, clock_.Now(), "alpha", labels);
  const uint64_t plain = NewSession(kTtl, "plain");
  MustAcquire(a, "doc/x");
  MustAcquire(plain, "other");
  absl::StatusOr<LockDescription> d = table_.Describe("doc/x", 10);
  ASSERT_OK(d);
  ASSERT_EQ(d->holders.size(), 1u);
  ASSERT_NE(d->holders[0].labels, nullptr);
  EXPECT_EQ(*d->holders[0].labels, labels);
  absl::StatusOr<LockPage> page = table_.ListLocks("", "", 10);
  ASSERT_OK(page);
  ASSERT_EQ(page->locks.size(), 2u);
  EXPECT_EQ(*page->locks[0].holders[0].labels, labels);
  ASSERT_NE(page->locks[1].holders[0].labels, nullptr);
  EXPECT_TRUE(page->locks[1].holders[0].labels->empty());
  // Blockers carry them too.
  d = table_.Describe("doc", 10);
  ASSERT_OK(d);
  ASSERT_EQ(d->blocked_from_below.size(), 1u);
  EXPECT_EQ(*d->blocked_from_below[0].labels, labels);
  table_.Shutdown();
}

std::vector<std::string> BlockerKeys(const std::vector<HolderInfo>& blockers) {
  std::vector<std::string> keys;
  for (const HolderInfo& h : blockers) {
    keys.push_back(absl::StrCat(h.grant.key, "@", h.client_name));
  }
  return keys;
}

TEST_F(LockTableTest, DescribeNamesTheTreeHoldersThatBlockAKey) {
  const uint64_t a = NewSession(kTtl, "alpha");
  const uint64_t b = NewSession(kTtl, "beta");
  const uint64_t c = NewSession(kTtl, "gamma");
  // Above "org/team/doc": "org" held SHARED by two sessions; "org/team" is
  // waited for, not held. The doc itself is free and has no entry.
  ASSERT_TRUE(
      table_.Acquire(WithMode(Cmd(a, "org"), LockMode::kShared), nullptr)
          ->value()
          .acquired);
  ASSERT_TRUE(
      table_.Acquire(WithMode(Cmd(b, "org"), LockMode::kShared), nullptr)
          ->value()
          .acquired);
  // An EXCLUSIVE acquire of a key below a SHARED holder waits.
  RecordingWaiter team;
  Wait(c, "org/team", &team);
  absl::StatusOr<LockDescription> d = table_.Describe("org/team/doc", 10);
  ASSERT_OK(d);
  EXPECT_TRUE(d->holders.empty());
  EXPECT_THAT(BlockerKeys(d->blocked_from_above),
              ElementsAre("org@alpha", "org@beta"));
  EXPECT_TRUE(d->blocked_from_below.empty());
  // The waiter on "org/team" sees the same holders above it.
  d = table_.Describe("org/team", 10);
  ASSERT_OK(d);
  EXPECT_THAT(BlockerKeys(d->blocked_from_above),
              ElementsAre("org@alpha", "org@beta"));
  EXPECT_FALSE(team.done());

  // Nearest ancestor first; below in key order, and the blocker's grant
  // and age are its own. "x/y" is SHARED, so the keys below it can be held
  // SHARED by others and in any mode by its own holder.
  const uint64_t d1 = NewSession(kTtl, "delta");
  ASSERT_TRUE(
      table_.Acquire(WithMode(Cmd(d1, "x/y"), LockMode::kShared), nullptr)
          ->value()
          .acquired);
  clock_.Advance(absl::Seconds(3));
  MustAcquire(d1, "x/y/z/deep");
  for (uint64_t s : {b, c}) {
    ASSERT_TRUE(
        table_.Acquire(WithMode(Cmd(s, "x/y/z/a"), LockMode::kShared), nullptr)
            ->value()
            .acquired);
  }
  // A sibling, not below "x/y/z".
  ASSERT_TRUE(
      table_
          .Acquire(WithMode(Cmd(b, "x/y/z-flat"), LockMode::kShared), nullptr)
          ->value()
          .acquired);
  d = table_.Describe("x/y/z", 10);
  ASSERT_OK(d);
  EXPECT_THAT(BlockerKeys(d->blocked_from_above), ElementsAre("x/y@delta"));
  EXPECT_EQ(clock_.Now() - d->blocked_from_above[0].grant.granted_at,
            absl::Seconds(3));
  EXPECT_EQ(d->blocked_from_above[0].grant.session_id, d1);
  EXPECT_EQ(d->blocked_from_above[0].grant.mode, LockMode::kShared);
  EXPECT_THAT(BlockerKeys(d->blocked_from_below),
              ElementsAre("x/y/z/a@beta", "x/y/z/a@gamma", "x/y/z/deep@delta"));
  EXPECT_EQ(d->blocked_from_below[0].grant.mode, LockMode::kShared);
  EXPECT_EQ(d->blocked_from_below[2].grant.mode, LockMode::kExclusive);
  // From "x": everything below, in key order.
  d = table_.Describe("x", 10);
  ASSERT_OK(d);
  EXPECT_TRUE(d->blocked_from_above.empty());
  EXPECT_THAT(BlockerKeys(d->blocked_from_below),
              ElementsAre("x/y@delta", "x/y/z-flat@beta", "x/y/z/a@beta",
                          "x/y/z/a@gamma", "x/y/z/deep@delta"));
  // A flat key, and a key of another tree, have none.
  MustAcquire(a, "flat");
  d = table_.Describe("flat", 10);
  ASSERT_OK(d);
  EXPECT_TRUE(d->blocked_from_above.empty());
  EXPECT_TRUE(d->blocked_from_below.empty());
  d = table_.Describe("xx/y", 10);
  ASSERT_OK(d);
  EXPECT_TRUE(d->blocked_from_above.empty());
  table_.Shutdown();
}

TEST_F(LockTableTest, DescribeListsAtMostAHundredBlockersBelowInKeyOrder) {
  const uint64_t a = NewSession(kTtl, "alpha");
  const uint64_t b = NewSession(kTtl, "beta");
  std::vector<std::string> below;
  for (int i = 0; i < 130; ++i) {
    const std::string key = absl::StrCat("big/", 1000 + i * 7 % 130);
    MustAcquire(a, key);
    below.push_back(key);
  }
  // Keys of the same shard outside the tree are not blockers.
  MustAcquire(b, "big-not/1");
  MustAcquire(b, "bigger");
  std::sort(below.begin(), below.end());
  absl::StatusOr<LockDescription> d = table_.Describe("big", 10);
  ASSERT_OK(d);
  ASSERT_EQ(d->blocked_from_below.size(), kMaxBlockersBelow);
  for (size_t i = 0; i < kMaxBlockersBelow; ++i) {
    EXPECT_EQ(d->blocked_from_below[i].grant.key, below[i]);
    EXPECT_EQ(d->blocked_from_below[i].grant.session_id, a);
  }
  table_.Shutdown();
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
  // Ids are random: listed in id order, not in creation order.
  std::vector<uint64_t> sorted = ids;
  std::sort(sorted.begin(), sorted.end());
  for (size_t i = 0; i < ids.size(); ++i) {
    EXPECT_EQ(page.sessions[i].session_id, sorted[i]);
  }
  auto summary = [&](uint64_t id) -> const SessionSummary& {
    for (const SessionSummary& s : page.sessions) {
      if (s.session_id == id) return s;
    }
    ADD_FAILURE() << "session " << id << " not listed";
    return page.sessions[0];
  };
  const SessionSummary& first = summary(a);
  EXPECT_EQ(first.client_name, "labelled");
  EXPECT_EQ(first.labels, cmd.labels);
  EXPECT_EQ(first.ttl, absl::Seconds(5));
  EXPECT_EQ(first.expires_at - clock_.Now(), absl::Seconds(3));
  EXPECT_EQ(first.held_keys, 2u);
  EXPECT_EQ(first.waiting_keys, 0u);
  EXPECT_EQ(summary(ids[1]).held_keys, 0u);
  EXPECT_EQ(summary(ids[1]).waiting_keys, 1u);

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
  EXPECT_EQ(listed, sorted);

  // Closed and expired sessions are not listed.
  ASSERT_OK(table_.CloseSession(CloseSessionCmd{ids[2], clock_.Now()}));
  Advance(absl::Seconds(4));  // `a` (5 s lease) runs out.
  page = table_.ListSessions(0, 100);
  listed.clear();
  for (const SessionSummary& s : page.sessions) listed.push_back(s.session_id);
  std::vector<uint64_t> left = {ids[1], ids[3], ids[4]};
  std::sort(left.begin(), left.end());
  EXPECT_EQ(listed, left);
  EXPECT_TRUE(w.granted());  // `a`'s expiry handed "x" to ids[1].
  EXPECT_EQ(summary(ids[1]).held_keys, 1u);
  EXPECT_EQ(summary(ids[1]).waiting_keys, 0u);
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
