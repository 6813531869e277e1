// End-to-end Watch (issue 11) against the real taalad over gRPC: the
// snapshot then the events in LSN order under concurrent traffic, folded
// and compared with DescribeLock; resumption from a retained LSN (nothing
// missed or repeated, against an uninterrupted watcher); OUT_OF_RANGE after
// compaction and ahead of the log; a never-reading watcher ended with
// RESOURCE_EXHAUSTED naming its last LSN while other clients go on; a clean
// end when the client goes (the watchers gauge back to 0); waiting and
// deadlock events live and not replayed; keys below '/' and a prefix that
// spans every shard.

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "taala/v1/admin_service.grpc.pb.h"
#include "taala/v1/lock_service.grpc.pb.h"
#include "tests/integration/rpc_helpers.h"
#include "tests/integration/taalad_process.h"
#include "tests/integration/watch_fixture.h"

namespace taala::watch_test {
namespace {

class WatchE2eTest : public WatchFixture {};

TEST_F(WatchE2eTest, SnapshotThenEventsInOrderUnderConcurrentTraffic) {
  StartDaemon();
  LockService::Stub* stub = stub_.get();
  // State before the watch: a holder and a queued waiter.
  const uint64_t a = NewSession(stub, "a");
  const uint64_t b = NewSession(stub, "b");
  const uint64_t token_a = Take(stub, a, "w/a");
  grpc::ClientContext waiting_ctx;
  v1::AcquireRequest waiting_req;
  waiting_req.set_session_id(b);
  waiting_req.set_key("w/a");
  waiting_req.set_wait_timeout_ms(-1);
  v1::AcquireResponse waiting_resp;
  absl::Notification waiting_done;
  stub->async()->Acquire(&waiting_ctx, &waiting_req, &waiting_resp,
                         [&](grpc::Status) { waiting_done.Notify(); });
  while (Described(stub, "w/a").waiters.empty()) {
    absl::SleepFor(absl::Milliseconds(5));
  }

  Watcher watcher(stub, Prefix("w/"));
  Watcher all(stub, Prefix(""));  // Every shard.
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      auto own = test::RestartableStub(daemon_->address(), t + 1);
      const uint64_t s = NewSession(own.get(), absl::StrCat("worker", t));
      for (int i = 0; i < 40; ++i) {
        const std::string key = absl::StrCat("w/k", (i + t) % 3);
        const uint64_t token = Take(own.get(), s, key);
        if (i % 7 == 0) Take(own.get(), s, absl::StrCat("other/", t));
        EXPECT_TRUE(test::Release(own.get(), s, key, token).ok());
      }
      Take(own.get(), s, absl::StrCat("w/end", t));  // Left held.
    });
  }
  for (auto& th : threads) th.join();
  // Hands w/a to b, whose wait began before the watch.
  EXPECT_TRUE(test::Release(stub, a, "w/a", token_a).ok());
  waiting_done.WaitForNotification();
  // A marker after everything: once seen, every earlier event was.
  const uint64_t m = NewSession(stub, "marker");
  const uint64_t marker = Take(stub, m, "w/marker");
  ASSERT_TRUE(watcher.WaitForLsn(marker));
  ASSERT_TRUE(all.WaitForLsn(marker));
  const FoldedKeys folded = FoldStream(watcher.got());
  std::vector<std::string> keys = {"w/a", "w/marker", "w/k0", "w/k1", "w/k2"};
  for (int t = 0; t < 4; ++t) keys.push_back(absl::StrCat("w/end", t));
  for (const std::string& key : keys) {
    const Folded want = Described(stub, key);
    auto it = folded.find(key);
    const Folded got = it == folded.end() ? Folded{} : it->second;
    EXPECT_EQ(got.holders, want.holders) << key;
    EXPECT_EQ(got.waiters, want.waiters) << key;
  }
  for (const auto& [key, k] : folded) {
    EXPECT_TRUE(absl::StartsWith(key, "w/")) << key;
  }
  // The all-keys watcher saw the other tree too, in the same order.
  const FoldedKeys every = FoldStream(all.got());
  EXPECT_TRUE(every.count("other/0") == 1);
  for (const std::string& key : keys) {
    auto it = every.find(key);
    const Folded want = Described(stub, key);
    const Folded got = it == every.end() ? Folded{} : it->second;
    EXPECT_EQ(got.holders, want.holders) << key;
  }
}

// The logged events of a stream (live-only ones aside).
std::vector<std::string> Logged(const std::vector<WatchResponse>& got,
                                uint64_t above = 0) {
  std::vector<std::string> out;
  for (const WatchResponse& m : got) {
    if (m.has_event() && m.event().lsn() > above) {
      out.push_back(m.event().ShortDebugString());
    }
  }
  return out;
}

void Churn(LockService::Stub* stub, uint64_t s, const std::string& key,
           int n) {
  for (int i = 0; i < n; ++i) {
    EXPECT_TRUE(test::Release(stub, s, key, Take(stub, s, key)).ok());
  }
}

TEST_F(WatchE2eTest, ResumesFromRetainedLsnWithNothingMissedOrRepeated) {
  StartDaemon();
  LockService::Stub* stub = stub_.get();
  const uint64_t s = NewSession(stub, "churn");
  Churn(stub, s, "r/x", 3);
  Watcher full(stub, Prefix("r/"));
  uint64_t last = 0;
  {
    Watcher first(stub, Prefix("r/"));
    Churn(stub, s, "r/x", 10);
    const uint64_t m1 = Take(stub, s, "r/m1");
    ASSERT_TRUE(first.WaitForLsn(m1));
    first.Cancel();
    first.WaitDone();
    for (const WatchResponse& m : first.got()) {
      if (m.has_event()) last = std::max(last, m.event().lsn());
    }
  }
  ASSERT_GT(last, 0u);
  Churn(stub, s, "r/y", 10);  // While nobody but `full` watches.
  Watcher resumed(stub, Prefix("r/", last));
  Churn(stub, s, "r/x", 5);
  const uint64_t m2 = Take(stub, s, "r/m2");
  ASSERT_TRUE(resumed.WaitForLsn(m2));
  ASSERT_TRUE(full.WaitForLsn(m2));
  const std::vector<WatchResponse> got = resumed.got();
  for (const WatchResponse& m : got) EXPECT_FALSE(m.has_snapshot());
  EXPECT_EQ(Logged(got), Logged(full.got(), last));
  EXPECT_GE(Logged(got).size(), 30u);
}

// After a crash (fsync mode), the records recovery replays seed the
// history: a watch resumes across the restart with nothing missed.
TEST_F(WatchE2eTest, ResumesAcrossACrashFromTheReplayedRecords) {
  StartDaemon();
  const uint64_t s = NewSession(stub_.get(), "churn");
  std::vector<WatchResponse> before;
  uint64_t mid = 0;
  {
    Watcher w(stub_.get(), Prefix("k/"));
    Churn(stub_.get(), s, "k/x", 4);
    const uint64_t m1 = Take(stub_.get(), s, "k/m1");
    ASSERT_TRUE(w.WaitForLsn(m1));
    before = w.got();
    std::vector<uint64_t> lsns;
    for (const WatchResponse& m : before) {
      if (m.has_event() && m.event().lsn() != 0) {
        lsns.push_back(m.event().lsn());
      }
    }
    ASSERT_GE(lsns.size(), 9u);
    mid = lsns[3];
  }
  const int port = daemon_->port();
  const std::string dir = daemon_->data_dir();
  daemon_->Kill();
  auto restarted = test::TaaladProcess::StartOnPort(port, {}, dir);
  ASSERT_TRUE(restarted.ok()) << restarted.status();
  daemon_ = std::move(*restarted);
  stub_ = test::RestartableStub(daemon_->address());
  Watcher resumed(stub_.get(), Prefix("k/", mid));
  const uint64_t m2 = Take(stub_.get(), s, "k/m2");  // Session restored.
  ASSERT_TRUE(resumed.WaitForLsn(m2));
  const std::vector<std::string> want = Logged(before, mid);
  const std::vector<std::string> got = Logged(resumed.got());
  ASSERT_GT(got.size(), want.size());
  EXPECT_EQ(std::vector<std::string>(got.begin(), got.begin() + want.size()),
            want);
  // Older than the replayed records (before the log's snapshot, if any) or
  // ahead: still OUT_OF_RANGE; a resume from the restart's own LSNs works.
  Watcher ahead(stub_.get(), Prefix("k/", m2 + (uint64_t{1} << 40)));
  EXPECT_EQ(ahead.WaitDone().error_code(), grpc::StatusCode::OUT_OF_RANGE);
}

TEST_F(WatchE2eTest, OutOfRangeAfterCompactionAndAheadOfTheLog) {
  StartDaemon({"--watch_history=8"});
  LockService::Stub* stub = stub_.get();
  const uint64_t s = NewSession(stub, "churn");
  const uint64_t early = Take(stub, s, "c/x");
  EXPECT_TRUE(test::Release(stub, s, "c/x", early).ok());
  Churn(stub, s, "c/y", 20);
  {
    Watcher old(stub, Prefix("c/", early));
    const grpc::Status st = old.WaitDone();
    EXPECT_EQ(st.error_code(), grpc::StatusCode::OUT_OF_RANGE);
    EXPECT_THAT(st.error_message(), HasSubstr("compacted"));
  }
  {
    Watcher ahead(stub, Prefix("c/", uint64_t{1} << 60));
    const grpc::Status st = ahead.WaitDone();
    EXPECT_EQ(st.error_code(), grpc::StatusCode::OUT_OF_RANGE);
    EXPECT_THAT(st.error_message(), HasSubstr("ahead of the log"));
  }
  // A fresh watch (a snapshot) still works.
  Watcher fresh(stub, Prefix("c/"));
  const uint64_t t = Take(stub, s, "c/z");
  EXPECT_TRUE(fresh.WaitForLsn(t));
}

TEST_F(WatchE2eTest, NeverReadingWatcherEndsTooSlowWhileTrafficGoesOn) {
  StartDaemon({"--watch_buffer=4"});
  LockService::Stub* stub = stub_.get();
  // A watcher that never reads, on a connection with a small window.
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_HTTP2_BDP_PROBE, 0);
  args.SetInt(GRPC_ARG_HTTP2_STREAM_LOOKAHEAD_BYTES, 1024);
  args.SetInt("taala.test.channel", 99);
  auto slow_stub = LockService::NewStub(grpc::CreateCustomChannel(
      daemon_->address(), grpc::InsecureChannelCredentials(), args));
  grpc::ClientContext ctx;
  std::unique_ptr<grpc::ClientReader<WatchResponse>> reader =
      slow_stub->Watch(&ctx, Prefix("big/"));
  const uint64_t s = NewSession(stub, "busy");
  const std::string pad(900, 'p');
  bool ended = false;
  for (int i = 0; i < 20000 && !ended; ++i) {
    // Other clients' acquires keep succeeding meanwhile.
    Churn(stub, s, absl::StrCat("big/", i % 10, pad), 1);
    if (i % 20 == 19) ended = Metric("too_slow") >= 1;
  }
  ASSERT_TRUE(ended);
  WatchResponse msg;
  uint64_t last = 0;
  while (reader->Read(&msg)) {
    if (msg.has_snapshot()) last = msg.snapshot().lsn();
    if (msg.has_event()) last = msg.event().lsn();
  }
  const grpc::Status st = reader->Finish();
  EXPECT_EQ(st.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_THAT(st.error_message(), HasSubstr("watcher too slow"));
  EXPECT_THAT(st.error_message(),
              HasSubstr(absl::StrCat("resume with after_lsn=", last)));
  Churn(stub, s, "big/after", 1);
}

TEST_F(WatchE2eTest, CleanEndWhenTheClientGoes) {
  StartDaemon();
  {
    Watcher w(stub_.get(), Prefix("g/"));
    const uint64_t s = NewSession(stub_.get(), "g");
    ASSERT_TRUE(w.WaitForLsn(Take(stub_.get(), s, "g/x")));
    EXPECT_EQ(Metric("watchers"), 1u);
    w.Cancel();
    EXPECT_EQ(w.WaitDone().error_code(), grpc::StatusCode::CANCELLED);
  }
  const absl::Time until = absl::Now() + kPatience;
  while (Metric("watchers") != 0 && absl::Now() < until) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  EXPECT_EQ(Metric("watchers"), 0u);
}

TEST_F(WatchE2eTest, WaitingAndDeadlockEventsAreLiveOnly) {
  StartDaemon();
  LockService::Stub* stub = stub_.get();
  const uint64_t a = NewSession(stub, "a");
  const uint64_t b = NewSession(stub, "b");
  Watcher live(stub, Prefix("l/"));
  const uint64_t p = Take(stub, a, "l/p");
  Take(stub, b, "l/q");
  ASSERT_TRUE(live.WaitForLsn(p));
  // a waits for l/q (held by b) ...
  grpc::ClientContext wctx;
  v1::AcquireRequest wreq;
  wreq.set_session_id(a);
  wreq.set_key("l/q");
  wreq.set_wait_timeout_ms(-1);
  v1::AcquireResponse wresp;
  absl::Notification wdone;
  stub->async()->Acquire(&wctx, &wreq, &wresp,
                         [&](grpc::Status) { wdone.Notify(); });
  ASSERT_TRUE(live.WaitForEvent(WatchEvent::WAITING, "l/q"));
  // ... so b's wait for l/p would close a cycle.
  v1::AcquireResponse refused;
  EXPECT_EQ(test::Acquire(stub, b, "l/p", -1, &refused).error_code(),
            grpc::StatusCode::ABORTED);
  ASSERT_TRUE(live.WaitForEvent(WatchEvent::DEADLOCK_REFUSED, "l/p"));
  for (const WatchResponse& m : live.got()) {
    if (m.has_event() && m.event().type() == WatchEvent::DEADLOCK_REFUSED) {
      EXPECT_EQ(m.event().lsn(), 0u);
      EXPECT_EQ(m.event().session_id(), b);
      EXPECT_FALSE(m.event().reason().empty());
      EXPECT_GE(m.event().cycle_size(), 2);
    }
  }
  // Resumed from before them: the logged events only.
  Watcher resumed(stub, Prefix("l/", p - 1));
  const uint64_t m = Take(stub, b, "l/m");
  ASSERT_TRUE(resumed.WaitForLsn(m));
  for (const WatchResponse& msg : resumed.got()) {
    ASSERT_TRUE(msg.has_event());
    EXPECT_NE(msg.event().lsn(), 0u) << msg.ShortDebugString();
  }
  wctx.TryCancel();
  wdone.WaitForNotification();
}

// Wait records are made for watchers even with the statistics off.
TEST_F(WatchE2eTest, WaitEventsWithStatisticsOff) {
  StartDaemon({"--stats=false"});
  LockService::Stub* stub = stub_.get();
  const uint64_t a = NewSession(stub, "a");
  const uint64_t b = NewSession(stub, "b");
  const uint64_t t = Take(stub, a, "n/x");
  Watcher live(stub, Prefix("n/"));
  grpc::ClientContext wctx;
  v1::AcquireRequest wreq;
  wreq.set_session_id(b);
  wreq.set_key("n/x");
  wreq.set_wait_timeout_ms(-1);
  v1::AcquireResponse wresp;
  absl::Notification wdone;
  stub->async()->Acquire(&wctx, &wreq, &wresp,
                         [&](grpc::Status) { wdone.Notify(); });
  ASSERT_TRUE(live.WaitForEvent(WatchEvent::WAITING, "n/x"));
  EXPECT_TRUE(test::Release(stub, a, "n/x", t).ok());
  wdone.WaitForNotification();
  ASSERT_TRUE(live.WaitForEvent(WatchEvent::WAIT_ENDED, "n/x"));
  const FoldedKeys folded = FoldStream(live.got());
  ASSERT_EQ(folded.count("n/x"), 1u);
  EXPECT_EQ(folded.at("n/x").holders, Described(stub, "n/x").holders);
  EXPECT_TRUE(folded.at("n/x").waiters.empty());
}

// An operator's force-release reaches watchers as REVOKED with its reason
// and caller.
TEST_F(WatchE2eTest, ForceReleaseIsRevokedWithReasonAndCaller) {
  StartDaemon();
  const uint64_t a = NewSession(stub_.get(), "stuck");
  const uint64_t t = Take(stub_.get(), a, "f/x");
  Watcher w(stub_.get(), Prefix("f/"));
  auto admin = v1::AdminService::NewStub(grpc::CreateChannel(
      daemon_->address(), grpc::InsecureChannelCredentials()));
  grpc::ClientContext ctx;
  v1::ForceReleaseRequest req;
  req.set_key("f/x");
  req.set_reason("stuck in a loop");
  req.set_requested_by("oncall");
  v1::ForceReleaseResponse resp;
  ASSERT_TRUE(admin->ForceRelease(&ctx, req, &resp).ok());
  ASSERT_TRUE(w.WaitForEvent(WatchEvent::REVOKED, "f/x"));
  for (const WatchResponse& m : w.got()) {
    if (!m.has_event() || m.event().type() != WatchEvent::REVOKED) continue;
    EXPECT_EQ(m.event().fencing_token(), t);
    EXPECT_EQ(m.event().session_id(), a);
    EXPECT_EQ(m.event().client_name(), "stuck");
    EXPECT_THAT(m.event().reason(), HasSubstr("stuck in a loop"));
    EXPECT_THAT(m.event().caller(), HasSubstr("oncall"));
  }
}

TEST_F(WatchE2eTest, KeysBelowSlashAndPrefixesAcrossShards) {
  StartDaemon();
  LockService::Stub* stub = stub_.get();
  Watcher any(stub, Prefix("s"));
  Watcher tree(stub, Prefix("s/"));
  v1::WatchRequest one;
  one.set_key("s-1");
  Watcher key(stub, one);
  const uint64_t s = NewSession(stub, "s");
  Take(stub, s, "s-1");
  Take(stub, s, "s!2");
  Take(stub, s, "s.3");
  const uint64_t last = Take(stub, s, "s/4");
  ASSERT_TRUE(any.WaitForLsn(last));
  ASSERT_TRUE(tree.WaitForLsn(last));
  EXPECT_EQ(FoldStream(any.got()).size(), 4u);
  const FoldedKeys t = FoldStream(tree.got());
  ASSERT_EQ(t.size(), 1u);
  EXPECT_EQ(t.begin()->first, "s/4");
  // A new watch of the prefix sees all four in its snapshot.
  Watcher later(stub, Prefix("s"));
  const uint64_t marker = Take(stub, s, "s/5");
  ASSERT_TRUE(later.WaitForLsn(marker));
  EXPECT_EQ(FoldStream(later.got()).size(), 5u);
  EXPECT_EQ(FoldStream(key.got()).size(), 1u);
  // Both key and prefix: refused.
  v1::WatchRequest both = Prefix("s");
  both.set_key("s-1");
  Watcher bad(stub, both);
  EXPECT_EQ(bad.WaitDone().error_code(), grpc::StatusCode::INVALID_ARGUMENT);
}

}  // namespace
}  // namespace taala::watch_test
