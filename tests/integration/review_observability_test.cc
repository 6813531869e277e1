// Review of issue 10's observability against a real taalad (reviewA):
// restored grants across a clean restart, and a mixed concurrent workload
// under --check_lock_order. Tests that fail on main say what is wrong.

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/integration/rpc_helpers.h"
#include "tests/integration/taalad_process.h"

namespace taala {
namespace {

using test::DeadlineIn;
using test::TaaladProcess;

v1::Metrics Metrics(v1::LockService::Stub* stub) {
  grpc::ClientContext ctx;
  ctx.set_deadline(DeadlineIn(std::chrono::seconds(10)));
  ctx.set_wait_for_ready(true);
  v1::GetMetricsResponse resp;
  grpc::Status s = stub->GetMetrics(&ctx, v1::GetMetricsRequest(), &resp);
  EXPECT_TRUE(s.ok()) << s.error_message();
  return resp.metrics();
}

uint64_t HeldByListing(v1::LockService::Stub* stub) {
  uint64_t held = 0;
  std::string token;
  do {
    grpc::ClientContext ctx;
    ctx.set_deadline(DeadlineIn(std::chrono::seconds(10)));
    v1::ListLocksRequest req;
    req.set_page_token(token);
    req.set_page_size(1000);
    v1::ListLocksResponse resp;
    grpc::Status s = stub->ListLocks(&ctx, req, &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();
    for (const auto& l : resp.locks()) held += l.holders_size();
    token = resp.next_page_token();
  } while (!token.empty());
  return held;
}

// Guard: restored grants after a clean restart are in held_locks, are leak
// suspects by their age from the original grant, and their hold time (in
// the hold histogram) runs from the restored granted_at.
TEST(ReviewObservabilityTest, RestoredGrantsAreCountedAndAgedAfterRestart) {
  const std::vector<std::string> args = {"--check_lock_order",
                                         "--leak_threshold=2s"};
  auto d = TaaladProcess::Start(args);
  ASSERT_TRUE(d.ok()) << d.status();
  std::unique_ptr<TaaladProcess> daemon = std::move(*d);
  auto stub = test::RestartableStub(daemon->address());
  uint64_t s = 0;
  ASSERT_TRUE(test::CreateSession(stub.get(), 60000, &s, "worker").ok());
  v1::AcquireResponse r1, r2;
  ASSERT_TRUE(test::Acquire(stub.get(), s, "jobs/a", 0, &r1).ok());
  ASSERT_TRUE(test::Acquire(stub.get(), s, "b-c", 0, &r2).ok());
  ASSERT_EQ(r1.result(), v1::AcquireResponse::ACQUIRED);
  ASSERT_EQ(r2.result(), v1::AcquireResponse::ACQUIRED);
  const absl::Time granted = absl::Now();
  absl::SleepFor(absl::Milliseconds(1500));
  const int port = daemon->port();
  const std::string dir = daemon->data_dir();
  ASSERT_EQ(daemon->Stop(), 0) << daemon->Log();
  d = TaaladProcess::StartOnPort(port, args, dir);
  ASSERT_TRUE(d.ok()) << d.status();
  daemon = std::move(*d);
  const v1::Metrics m = Metrics(stub.get());
  EXPECT_EQ(m.held_locks(), 2u) << "restored grants are held";
  EXPECT_EQ(m.held_locks(), HeldByListing(stub.get()));
  absl::SleepFor(absl::Milliseconds(800));  // Over 2 s since granted.
  {
    grpc::ClientContext ctx;
    ctx.set_deadline(DeadlineIn(std::chrono::seconds(10)));
    v1::GetLeakSuspectsResponse resp;
    ASSERT_TRUE(
        stub->GetLeakSuspects(&ctx, v1::GetLeakSuspectsRequest(), &resp).ok());
    ASSERT_EQ(resp.suspects_size(), 2) << daemon->Log();
    for (const auto& l : resp.suspects()) {
      EXPECT_GE(l.grant().held_for_ms(), 2000) << l.grant().key();
      EXPECT_EQ(l.client_name(), "worker");
    }
  }
  ASSERT_TRUE(test::Release(stub.get(), s, "jobs/a", r1.grant().fencing_token())
                  .ok());
  const double held_s = absl::ToDoubleSeconds(absl::Now() - granted);
  const v1::Metrics after = Metrics(stub.get());
  EXPECT_EQ(after.held_locks(), 1u);
  EXPECT_EQ(after.hold_seconds().count(), 1u);
  EXPECT_NEAR(after.hold_seconds().sum(), held_s, 0.5);
  EXPECT_EQ(daemon->Stop(), 0) << daemon->Log();
}

// Guard: a concurrent mix (waits, try-locks, retries, cancels by deadline,
// shared/exclusive on a tree, deadlocks between two keys) with statistics
// queried all along, under --check_lock_order: the daemon must not abort,
// and the gauges must settle at the real counts.
TEST(ReviewObservabilityTest, ConcurrentMixUnderCheckLockOrder) {
  auto d = TaaladProcess::Start({"--check_lock_order"});
  ASSERT_TRUE(d.ok()) << d.status();
  std::unique_ptr<TaaladProcess> daemon = std::move(*d);
  std::atomic<bool> stop{false};
  std::vector<std::thread> threads;
  const std::vector<std::string> keys = {"t", "t/a", "t/a/b", "t-x", "u",
                                         "u/1"};
  for (int i = 0; i < 6; ++i) {
    threads.emplace_back([&, i] {
      auto stub = test::RestartableStub(daemon->address(), i + 1);
      uint64_t s = 0;
      if (!test::CreateSession(stub.get(), 60000, &s).ok()) return;
      for (int n = 0; n < 150 && !stop; ++n) {
        const std::string& k1 = keys[(i + n) % keys.size()];
        const std::string& k2 = keys[(i * 3 + n * 7 + 1) % keys.size()];
        v1::AcquireResponse a, b;
        if (!test::Acquire(stub.get(), s, k1, 50 * (n % 3), &a).ok()) continue;
        test::Acquire(stub.get(), s, k2, 40, &b);
        if (b.result() == v1::AcquireResponse::ACQUIRED) {
          test::Release(stub.get(), s, k2, b.grant().fencing_token());
        }
        if (a.result() == v1::AcquireResponse::ACQUIRED) {
          test::Release(stub.get(), s, k1, a.grant().fencing_token());
        }
      }
    });
  }
  threads.emplace_back([&] {
    auto stub = test::RestartableStub(daemon->address(), 99);
    while (!stop) {
      Metrics(stub.get());
      for (const char* p : {"t/", "t", "u/", ""}) {
        grpc::ClientContext ctx;
        ctx.set_deadline(DeadlineIn(std::chrono::seconds(10)));
        v1::GetLockStatsRequest req;
        req.set_prefix(p);
        v1::GetLockStatsResponse resp;
        stub->GetLockStats(&ctx, req, &resp);
      }
      grpc::ClientContext c1, c2;
      c1.set_deadline(DeadlineIn(std::chrono::seconds(10)));
      c2.set_deadline(DeadlineIn(std::chrono::seconds(10)));
      v1::GetContentionResponse cr;
      stub->GetContention(&c1, v1::GetContentionRequest(), &cr);
      v1::GetLeakSuspectsResponse lr;
      stub->GetLeakSuspects(&c2, v1::GetLeakSuspectsRequest(), &lr);
      HeldByListing(stub.get());
    }
  });
  for (size_t i = 0; i + 1 < threads.size(); ++i) threads[i].join();
  stop = true;
  threads.back().join();
  auto stub = test::RestartableStub(daemon->address(), 100);
  const v1::Metrics m = Metrics(stub.get());
  EXPECT_EQ(m.held_locks(), HeldByListing(stub.get()));
  EXPECT_EQ(m.waiters(), 0u);
  EXPECT_EQ(daemon->Stop(), 0) << daemon->Log();
}


// BUG (minor): --stats_prefixes="cfg/, other/" (a space after the comma,
// as people write lists) configures " other/": absl::SkipWhitespace only
// drops entries that are all blanks, it does not trim. No key starts with
// " other/", so "other/" silently has no figures of its own: GetLockStats
// (prefix "other/") falls back to the segment's (approximate, evictable)
// figures. Correct: trim each entry (or refuse the flag).
TEST(ReviewObservabilityTest, StatsPrefixesWithASpaceAfterTheCommaAreTrimmed) {
  auto d = TaaladProcess::Start({"--stats_prefixes=cfg/, other/"});
  ASSERT_TRUE(d.ok()) << d.status();
  std::unique_ptr<TaaladProcess> daemon = std::move(*d);
  auto stub = test::RestartableStub(daemon->address());
  uint64_t s = 0;
  ASSERT_TRUE(test::CreateSession(stub.get(), 60000, &s).ok());
  v1::AcquireResponse r;
  ASSERT_TRUE(test::Acquire(stub.get(), s, "other/1", 0, &r).ok());
  ASSERT_EQ(r.result(), v1::AcquireResponse::ACQUIRED);
  grpc::ClientContext ctx;
  ctx.set_deadline(DeadlineIn(std::chrono::seconds(10)));
  v1::GetLockStatsRequest req;
  req.set_prefix("other/");
  v1::GetLockStatsResponse resp;
  ASSERT_TRUE(stub->GetLockStats(&ctx, req, &resp).ok());
  EXPECT_EQ(resp.stats().source(), "prefix")
      << "\"other/\" is a configured prefix";
  EXPECT_EQ(resp.stats().acquires().acquired(), 1u);
  EXPECT_EQ(daemon->Stop(), 0) << daemon->Log();
}

}  // namespace
}  // namespace taala
