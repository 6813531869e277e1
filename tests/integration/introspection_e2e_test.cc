// End-to-end introspection (issue 10) against the real taalad over gRPC:
// ListLocks' filters (held longer than, contended only) with pagination
// across shards and within one tree, holders' session labels, DescribeLock's
// tree blockers from above and below, and the bad arguments.

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "taala/v1/lock_service.grpc.pb.h"
#include "tests/integration/rpc_helpers.h"
#include "tests/integration/taalad_process.h"

namespace taala {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Pair;
using ::testing::UnorderedElementsAre;
using v1::AcquireResponse;
using v1::LockService;

// How long a test waits for something that should happen promptly; never a
// measure of speed.
constexpr auto kPatience = std::chrono::seconds(30);
// Sessions outlive every test: no renewal needed.
constexpr int64_t kTtlMs = 300000;

// An Acquire that waits in the key's queue while the test goes on.
struct AsyncAcquire {
  grpc::ClientContext ctx;
  v1::AcquireRequest req;
  AcquireResponse resp;
  absl::Notification done;
  grpc::Status status;

  void Start(LockService::Stub* stub, uint64_t session,
             const std::string& key) {
    req.set_session_id(session);
    req.set_key(key);
    req.set_wait_timeout_ms(-1);
    ctx.set_deadline(test::DeadlineIn(std::chrono::seconds(110)));
    stub->async()->Acquire(&ctx, &req, &resp, [this](grpc::Status s) {
      status = std::move(s);
      done.Notify();
    });
  }
  bool Granted() {
    return done.WaitForNotificationWithTimeout(absl::FromChrono(kPatience)) &&
           status.ok() && resp.result() == AcquireResponse::ACQUIRED;
  }
};

class IntrospectionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto started = test::TaaladProcess::Start();
    ASSERT_TRUE(started.ok()) << started.status();
    daemon_ = std::move(*started);
    auto channel = grpc::CreateChannel(daemon_->address(),
                                       grpc::InsecureChannelCredentials());
    ASSERT_TRUE(channel->WaitForConnected(test::DeadlineIn(kPatience)));
    stub_ = LockService::NewStub(channel);
  }

  void TearDown() override {
    // Waits still queued end with the daemon; their callers are told.
    for (auto& w : waits_) w->ctx.TryCancel();
    for (auto& w : waits_) {
      w->done.WaitForNotificationWithTimeout(absl::FromChrono(kPatience));
    }
    if (HasFailure()) std::cerr << "---- taalad log ----\n" << daemon_->Log();
  }

  uint64_t CreateSession(
      const std::string& name,
      const std::map<std::string, std::string>& labels = {}) {
    grpc::ClientContext ctx;
    ctx.set_deadline(test::DeadlineIn(kPatience));
    v1::CreateSessionRequest req;
    req.set_ttl_ms(kTtlMs);
    req.set_client_name(name);
    req.mutable_labels()->insert(labels.begin(), labels.end());
    v1::CreateSessionResponse resp;
    grpc::Status s = stub_->CreateSession(&ctx, req, &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return resp.session_id();
  }

  grpc::Status Acquire(uint64_t session, const std::string& key,
                       v1::LockMode mode, AcquireResponse* resp) {
    grpc::ClientContext ctx;
    ctx.set_deadline(test::DeadlineIn(kPatience));
    v1::AcquireRequest req;
    req.set_session_id(session);
    req.set_key(key);
    req.set_mode(mode);
    req.set_wait_timeout_ms(0);
    return stub_->Acquire(&ctx, req, resp);
  }

  uint64_t MustAcquire(uint64_t session, const std::string& key,
                       v1::LockMode mode = v1::LOCK_MODE_EXCLUSIVE) {
    AcquireResponse resp;
    grpc::Status s = Acquire(session, key, mode, &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();
    EXPECT_EQ(resp.result(), AcquireResponse::ACQUIRED) << key;
    return resp.grant().fencing_token();
  }

  void MustRelease(uint64_t session, const std::string& key, uint64_t token) {
    grpc::Status s = test::Release(stub_.get(), session, key, token);
    EXPECT_TRUE(s.ok()) << s.error_message();
  }

  // Queues `session` on `key` and waits until the daemon shows it queued.
  AsyncAcquire* StartWait(uint64_t session, const std::string& key) {
    waits_.push_back(std::make_unique<AsyncAcquire>());
    AsyncAcquire* w = waits_.back().get();
    const uint32_t before = Describe(key).waiter_count();
    w->Start(stub_.get(), session, key);
    const auto give_up = std::chrono::steady_clock::now() + kPatience;
    while (Describe(key).waiter_count() == before &&
           std::chrono::steady_clock::now() < give_up) {
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    EXPECT_EQ(Describe(key).waiter_count(), before + 1) << key;
    return w;
  }

  v1::DescribeLockResponse Describe(const std::string& key) {
    v1::DescribeLockResponse resp;
    grpc::Status s = test::Describe(stub_.get(), key, &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return resp;
  }

  grpc::Status ListPage(const v1::ListLocksRequest& req,
                        v1::ListLocksResponse* resp) {
    grpc::ClientContext ctx;
    ctx.set_deadline(test::DeadlineIn(kPatience));
    return stub_->ListLocks(&ctx, req, resp);
  }

  // Every page of `req` from the first. Each page but the last is full and
  // its token is its last key.
  std::vector<v1::LockSummary> ListAll(v1::ListLocksRequest req) {
    std::vector<v1::LockSummary> all;
    req.clear_page_token();
    for (int pages = 0; pages < 1000; ++pages) {
      v1::ListLocksResponse resp;
      grpc::Status s = ListPage(req, &resp);
      EXPECT_TRUE(s.ok()) << s.error_message();
      if (!s.ok()) break;
      all.insert(all.end(), resp.locks().begin(), resp.locks().end());
      if (resp.next_page_token().empty()) break;
      EXPECT_EQ(resp.locks_size(), static_cast<int>(req.page_size()));
      EXPECT_EQ(resp.next_page_token(), resp.locks().rbegin()->key());
      req.set_page_token(resp.next_page_token());
    }
    return all;
  }

  static std::vector<std::string> Keys(
      const std::vector<v1::LockSummary>& locks) {
    std::vector<std::string> keys;
    for (const v1::LockSummary& l : locks) keys.push_back(l.key());
    return keys;
  }

  std::unique_ptr<test::TaaladProcess> daemon_;
  std::unique_ptr<LockService::Stub> stub_;
  std::vector<std::unique_ptr<AsyncAcquire>> waits_;
};

// "e/..." keys of many first segments spread over taalad's shards; "tree/..."
// keys share one. Old keys are held longer than the threshold, new ones
// (taken after a pause longer than it) usually not; every third key has a
// waiter.
TEST_F(IntrospectionTest, ListLocksFiltersPageAcrossShardsAndWithinATree) {
  constexpr int64_t kThresholdMs = 500;
  const uint64_t holder = CreateSession("holder");
  const uint64_t waiter = CreateSession("waiter");
  std::set<std::string> old_keys, new_keys, contended;
  auto take = [&](int i, std::set<std::string>& into) {
    const std::string key = i % 2 == 0 ? absl::StrCat("e", i, "/k")
                                       : absl::StrCat("tree/k", 10 + i);
    MustAcquire(holder, key);
    into.insert(key);
    if (i % 3 == 0) {
      StartWait(waiter, key);
      contended.insert(key);
    }
  };
  for (int i = 0; i < 16; ++i) take(i, old_keys);
  std::this_thread::sleep_for(std::chrono::milliseconds(kThresholdMs + 100));
  const auto new_taken = std::chrono::steady_clock::now();
  for (int i = 16; i < 32; ++i) take(i, new_keys);

  for (uint32_t page_size : {1u, 2u, 5u, 0u}) {
    for (const std::string prefix : {"", "tree/", "e1"}) {
      SCOPED_TRACE(
          absl::StrCat("page size ", page_size, ", prefix \"", prefix, "\""));
      auto with_prefix = [&](const std::set<std::string>& keys) {
        std::vector<std::string> out;
        for (const std::string& k : keys) {
          if (absl::StartsWith(k, prefix)) out.push_back(k);
        }
        return out;
      };
      v1::ListLocksRequest req;
      req.set_prefix(prefix);
      req.set_page_size(page_size);
      req.set_contended_only(true);
      EXPECT_EQ(Keys(ListAll(req)), with_prefix(contended));

      req.set_contended_only(false);
      req.set_held_longer_than_ms(kThresholdMs);
      const std::vector<v1::LockSummary> held = ListAll(req);
      const bool new_too_young = std::chrono::steady_clock::now() - new_taken <
                                 std::chrono::milliseconds(kThresholdMs);
      std::set<std::string> listed;
      for (const v1::LockSummary& l : held) {
        listed.insert(l.key());
        ASSERT_EQ(l.holders_size(), 1);
        EXPECT_GE(l.holders(0).grant().held_for_ms(), kThresholdMs);
        // A new key is listed only once it has been held that long.
        if (new_too_young) EXPECT_EQ(new_keys.count(l.key()), 0u) << l.key();
      }
      for (const std::string& k : with_prefix(old_keys)) {
        EXPECT_EQ(listed.count(k), 1u) << k;
      }

      // Both: old and contended.
      req.set_contended_only(true);
      std::set<std::string> both;
      for (const v1::LockSummary& l : ListAll(req)) {
        both.insert(l.key());
        EXPECT_GT(l.waiter_count(), 0u);
        EXPECT_GE(l.holders(0).grant().held_for_ms(), kThresholdMs);
      }
      for (const std::string& k : with_prefix(old_keys)) {
        EXPECT_EQ(both.count(k), contended.count(k)) << k;
      }
    }
  }
  // A threshold no grant reaches: an empty last page, no token.
  v1::ListLocksRequest req;
  req.set_held_longer_than_ms(3600 * 1000);
  v1::ListLocksResponse resp;
  ASSERT_TRUE(ListPage(req, &resp).ok());
  EXPECT_EQ(resp.locks_size(), 0);
  EXPECT_EQ(resp.next_page_token(), "");
}

TEST_F(IntrospectionTest, HoldersShowTheirSessionsLabels) {
  const uint64_t labelled =
      CreateSession("billing-worker", {{"host", "web-7"}, {"pid", "4242"}});
  const uint64_t plain = CreateSession("plain");
  MustAcquire(labelled, "invoices/2026");
  MustAcquire(plain, "invoices-archive", v1::LOCK_MODE_SHARED);

  v1::DescribeLockResponse d = Describe("invoices/2026");
  ASSERT_EQ(d.holders_size(), 1);
  EXPECT_EQ(d.holders(0).client_name(), "billing-worker");
  EXPECT_THAT(d.holders(0).labels(),
              UnorderedElementsAre(Pair("host", "web-7"), Pair("pid", "4242")));

  v1::ListLocksRequest req;
  req.set_prefix("invoices");
  const std::vector<v1::LockSummary> all = ListAll(req);
  ASSERT_THAT(Keys(all), ElementsAre("invoices-archive", "invoices/2026"));
  EXPECT_TRUE(all[0].holders(0).labels().empty());
  EXPECT_THAT(all[1].holders(0).labels(),
              UnorderedElementsAre(Pair("host", "web-7"), Pair("pid", "4242")));

  // And as a blocker of the tree's root.
  d = Describe("invoices");
  ASSERT_EQ(d.blocked_from_below_size(), 1);
  EXPECT_THAT(d.blocked_from_below(0).holder().labels(),
              UnorderedElementsAre(Pair("host", "web-7"), Pair("pid", "4242")));
}

// The 2 AM question: the key is free, yet an acquire is not granted. Describe
// names who holds the tree above it and below it.
TEST_F(IntrospectionTest, DescribeShowsWhatBlocksAFreeKeyFromAboveAndBelow) {
  const uint64_t reader = CreateSession("reader", {{"host", "r1"}});
  const uint64_t writer = CreateSession("writer", {{"host", "w1"}});
  const uint64_t other = CreateSession("other");
  const uint64_t me = CreateSession("me");
  // Above: "org" SHARED by two readers' sessions, "org/team" free.
  MustAcquire(reader, "org", v1::LOCK_MODE_SHARED);
  MustAcquire(other, "org", v1::LOCK_MODE_SHARED);
  AcquireResponse resp;
  ASSERT_TRUE(Acquire(me, "org/team/doc", v1::LOCK_MODE_EXCLUSIVE, &resp).ok());
  EXPECT_EQ(resp.result(), AcquireResponse::TIMED_OUT);  // Not acquired.

  v1::DescribeLockResponse d = Describe("org/team/doc");
  EXPECT_EQ(d.holders_size(), 0);  // Looks free.
  ASSERT_EQ(d.blocked_from_above_size(), 2);
  std::set<std::string> above;
  for (const v1::TreeBlocker& b : d.blocked_from_above()) {
    EXPECT_EQ(b.key(), "org");
    EXPECT_EQ(b.holder().grant().key(), "org");
    EXPECT_EQ(b.holder().grant().mode(), v1::LOCK_MODE_SHARED);
    EXPECT_GE(b.holder().grant().held_for_ms(), 0);
    above.insert(b.holder().client_name());
  }
  EXPECT_THAT(above, ElementsAre("other", "reader"));
  EXPECT_EQ(d.blocked_from_below_size(), 0);

  // Nearest first: "org/team" is taken by the writer (SHARED, which the
  // readers above allow).
  MustAcquire(writer, "org/team", v1::LOCK_MODE_SHARED);
  d = Describe("org/team/doc");
  ASSERT_EQ(d.blocked_from_above_size(), 3);
  EXPECT_EQ(d.blocked_from_above(0).key(), "org/team");
  EXPECT_EQ(d.blocked_from_above(0).holder().client_name(), "writer");
  EXPECT_EQ(d.blocked_from_above(0).holder().grant().session_id(), writer);
  EXPECT_EQ(d.blocked_from_above(1).key(), "org");
  EXPECT_EQ(d.blocked_from_above(2).key(), "org");

  // Below: "proj" is free, but keys under it are held; listed in key order
  // with their holders' grants.
  const uint64_t deep = MustAcquire(writer, "proj/b/deep");
  MustAcquire(reader, "proj/a", v1::LOCK_MODE_SHARED);
  MustAcquire(other, "proj/a", v1::LOCK_MODE_SHARED);
  MustAcquire(other, "proj-sibling");  // Not below "proj".
  ASSERT_TRUE(Acquire(me, "proj", v1::LOCK_MODE_EXCLUSIVE, &resp).ok());
  EXPECT_EQ(resp.result(), AcquireResponse::TIMED_OUT);
  d = Describe("proj");
  EXPECT_EQ(d.holders_size(), 0);
  EXPECT_EQ(d.blocked_from_above_size(), 0);
  ASSERT_EQ(d.blocked_from_below_size(), 3);
  EXPECT_EQ(d.blocked_from_below(0).key(), "proj/a");
  EXPECT_EQ(d.blocked_from_below(1).key(), "proj/a");
  EXPECT_EQ(d.blocked_from_below(2).key(), "proj/b/deep");
  const v1::Holder& h = d.blocked_from_below(2).holder();
  EXPECT_EQ(h.client_name(), "writer");
  EXPECT_EQ(h.grant().fencing_token(), deep);
  EXPECT_EQ(h.grant().mode(), v1::LOCK_MODE_EXCLUSIVE);
  EXPECT_THAT(h.labels(), ElementsAre(Pair("host", "w1")));
  // The middle of the tree: above and below at once.
  d = Describe("proj/b");
  EXPECT_EQ(d.blocked_from_above_size(), 0);
  ASSERT_EQ(d.blocked_from_below_size(), 1);
  EXPECT_EQ(d.blocked_from_below(0).key(), "proj/b/deep");
  d = Describe("proj/b/deep/x");
  ASSERT_EQ(d.blocked_from_above_size(), 1);
  EXPECT_EQ(d.blocked_from_above(0).key(), "proj/b/deep");

  // Once released, nothing blocks and the acquire is granted.
  MustRelease(writer, "proj/b/deep", deep);
  EXPECT_EQ(Describe("proj/b").blocked_from_below_size(), 0);
  MustAcquire(me, "proj/b");
}

TEST_F(IntrospectionTest, BlockersBelowStopAtAHundredInKeyOrder) {
  const uint64_t s = CreateSession("many");
  std::vector<std::string> keys;
  for (int i = 0; i < 120; ++i) {
    keys.push_back(absl::StrCat("wide/", 1000 + (i * 7) % 120));
    MustAcquire(s, keys.back());
  }
  std::sort(keys.begin(), keys.end());
  const v1::DescribeLockResponse d = Describe("wide");
  ASSERT_EQ(d.blocked_from_below_size(), 100);
  for (int i = 0; i < 100; ++i) {
    EXPECT_EQ(d.blocked_from_below(i).key(), keys[i]);
  }
}

TEST_F(IntrospectionTest, BadArgumentsAreRefusedNamingTheField) {
  v1::ListLocksRequest req;
  req.set_held_longer_than_ms(-1);
  v1::ListLocksResponse resp;
  grpc::Status s = ListPage(req, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("held_longer_than_ms"));
  // The other fields are still checked with a filter set.
  req.set_held_longer_than_ms(10);
  req.set_contended_only(true);
  req.set_page_token("bad\xff");
  s = ListPage(req, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("page_token"));
  // Describe of a malformed key: no blockers computed for it.
  v1::DescribeLockResponse d;
  s = test::Describe(stub_.get(), "a//b", &d);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("key"));
}

// The waits of the filter test end when their keys are released: a grant
// from a listed queue still works.
TEST_F(IntrospectionTest, AContendedKeyListedIsHandedOverOnRelease) {
  const uint64_t a = CreateSession("a");
  const uint64_t b = CreateSession("b");
  const uint64_t token = MustAcquire(a, "hot/key");
  AsyncAcquire* w = StartWait(b, "hot/key");
  v1::ListLocksRequest req;
  req.set_contended_only(true);
  std::vector<v1::LockSummary> listed = ListAll(req);
  ASSERT_THAT(Keys(listed), ElementsAre("hot/key"));
  EXPECT_EQ(listed[0].waiter_count(), 1u);
  MustRelease(a, "hot/key", token);
  EXPECT_TRUE(w->Granted());
  EXPECT_TRUE(ListAll(req).empty());
}

}  // namespace
}  // namespace taala
