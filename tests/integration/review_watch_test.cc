// Review (rev-watch) of issue 11's Watch: edges found by the reviewer,
// each a test that failed first (helpers in watch_fixture.h).

#include <grpcpp/grpcpp.h>
#include <grpcpp/impl/rpc_method.h>
#include <grpcpp/support/byte_buffer.h>
#include <grpcpp/support/sync_stream.h>

#include <algorithm>
#include <atomic>
#include <cctype>
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

class ReviewWatchTest : public WatchFixture {};

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

uint64_t LastEventLsn(const std::vector<WatchResponse>& got) {
  uint64_t last = 0;
  for (const WatchResponse& m : got) {
    if (m.has_event()) last = std::max(last, m.event().lsn());
    if (m.has_snapshot()) last = std::max(last, m.snapshot().lsn());
  }
  return last;
}

// Guards: after a clean stop a watcher resumes from the last event it saw, though session records and ids moved the final snapshot's LSN past it.
TEST_F(ReviewWatchTest, ResumeAfterCleanStopFromLastSeenEvent) {
  StartDaemon({"--durability=fsync"});
  const uint64_t s = NewSession(stub_.get(), "a");
  uint64_t last = 0;
  {
    Watcher w(stub_.get(), Prefix("cs/"));
    const uint64_t t = Take(stub_.get(), s, "cs/x");
    ASSERT_TRUE(w.WaitForLsn(t));
    ASSERT_TRUE(test::Release(stub_.get(), s, "cs/x", t).ok());
    ASSERT_TRUE(w.WaitForEvent(WatchEvent::RELEASED, "cs/x"));
    // Another client only opens a session: nothing about cs/.
    NewSession(stub_.get(), "bystander");
    last = LastEventLsn(w.got());
  }
  ASSERT_GT(last, 0u);
  const int port = daemon_->port();
  const std::string dir = daemon_->data_dir();
  ASSERT_EQ(daemon_->Stop(), 0);
  auto restarted =
      test::TaaladProcess::StartOnPort(port, {"--durability=fsync"}, dir);
  ASSERT_TRUE(restarted.ok()) << restarted.status();
  daemon_ = std::move(*restarted);
  stub_ = test::RestartableStub(daemon_->address());
  Watcher resumed(stub_.get(), Prefix("cs/", last));
  const uint64_t t2 = Take(stub_.get(), s, "cs/y");  // Session restored.
  EXPECT_TRUE(resumed.WaitForLsn(t2))
      << "resume after " << last << " (every cs/ event seen) failed: "
      << resumed.WaitDone().error_message();
}

// Holds: after a clean stop with nothing after the watcher's last event.
TEST_F(ReviewWatchTest, ResumeAfterCleanStopWhenLastRecordWasSeen) {
  StartDaemon({"--durability=fsync"});
  const uint64_t s = NewSession(stub_.get(), "a");
  uint64_t last = 0;
  {
    Watcher w(stub_.get(), Prefix("cs/"));
    const uint64_t t = Take(stub_.get(), s, "cs/x");
    ASSERT_TRUE(w.WaitForLsn(t));
    last = LastEventLsn(w.got());
  }
  const int port = daemon_->port();
  const std::string dir = daemon_->data_dir();
  ASSERT_EQ(daemon_->Stop(), 0);
  auto restarted =
      test::TaaladProcess::StartOnPort(port, {"--durability=fsync"}, dir);
  ASSERT_TRUE(restarted.ok()) << restarted.status();
  daemon_ = std::move(*restarted);
  stub_ = test::RestartableStub(daemon_->address());
  Watcher resumed(stub_.get(), Prefix("cs/", last));
  const uint64_t t2 = Take(stub_.get(), s, "cs/y");
  EXPECT_TRUE(resumed.WaitForLsn(t2)) << resumed.WaitDone().error_message();
}

// Edges of resume: the last LSN (a session record, not in a key's events),
// and the exact floor named by the OUT_OF_RANGE message.
TEST_F(ReviewWatchTest, ResumeAtTheRingsEdges) {
  StartDaemon({"--watch_history=8"});
  LockService::Stub* stub = stub_.get();
  const uint64_t s = NewSession(stub, "edge");
  Churn(stub, s, "e/x", 20);
  // The last LSN (a fresh session's record; session ids are random since
  // issue 12, no longer numbers of the log): resume after it is not
  // "ahead".
  NewSession(stub, "edge2");
  v1::ServerStatus status;
  ASSERT_TRUE(test::ServerStatus(stub, &status).ok());
  const uint64_t last_lsn = status.last_lsn();
  {
    Watcher w(stub, Prefix("e/", last_lsn));
    const uint64_t t = Take(stub, s, "e/after-sid");
    EXPECT_TRUE(w.WaitForLsn(t)) << w.WaitDone().error_message();
    const std::vector<std::string> got = Logged(w.got());
    ASSERT_FALSE(got.empty());
    EXPECT_THAT(got.front(), HasSubstr("e/after-sid"));
  }
  // LSN 1: compacted; the message names the floor M; M resumes, M-1 not.
  uint64_t floor = 0;
  {
    Watcher w(stub, Prefix("e/", 1));
    const grpc::Status st = w.WaitDone();
    ASSERT_EQ(st.error_code(), grpc::StatusCode::OUT_OF_RANGE);
    const std::string msg = st.error_message();
    const std::string tag = "resume after is ";
    const size_t at = msg.find(tag);
    ASSERT_NE(at, std::string::npos) << msg;
    size_t end = at + tag.size();
    while (end < msg.size() && isdigit(static_cast<unsigned char>(msg[end])))
      ++end;
    ASSERT_TRUE(absl::SimpleAtoi(msg.substr(at + tag.size(),
                                            end - at - tag.size()),
                                 &floor))
        << msg;
  }
  ASSERT_GT(floor, 1u);
  {
    Watcher below(stub, Prefix("e/", floor - 1));
    EXPECT_EQ(below.WaitDone().error_code(), grpc::StatusCode::OUT_OF_RANGE);
  }
  // Records above the floor are retained: they come at once (no new
  // traffic, which would move the floor on).
  Watcher at(stub, Prefix("e/", floor));
  EXPECT_TRUE(at.WaitForLsn(floor + 1)) << at.WaitDone().error_message();
  for (const std::string& e : Logged(at.got())) {
    EXPECT_THAT(e, ::testing::Not(HasSubstr(absl::StrCat("lsn: ", floor, " "))));
  }
}

TEST_F(ReviewWatchTest, MalformedRequestsAreInvalidArgument) {
  StartDaemon();
  auto status_of = [&](const v1::WatchRequest& r) {
    grpc::ClientContext ctx;
    ctx.set_deadline(test::DeadlineIn(std::chrono::seconds(20)));
    auto reader = stub_->Watch(&ctx, r);
    WatchResponse msg;
    while (reader->Read(&msg)) {
    }
    return reader->Finish();
  };
  v1::WatchRequest both;
  both.set_key("a/b");
  both.set_prefix("a/");
  EXPECT_EQ(status_of(both).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  v1::WatchRequest ctl;
  ctl.set_key(std::string("a/\x01\n", 4));
  EXPECT_EQ(status_of(ctl).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  // A prefix past the longest key: refused, naming the field. (A request
  // past --max_request_bytes, 1 MiB, never reaches the parser: gRPC
  // answers RESOURCE_EXHAUSTED.)
  v1::WatchRequest huge;
  huge.set_prefix(std::string(512 << 10, 'p'));
  EXPECT_EQ(status_of(huge).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  huge.set_prefix(std::string(1 << 20, 'p'));
  EXPECT_EQ(status_of(huge).error_code(),
            grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(Metric("watchers"), 0u);
}

// A Watch call with raw request bytes.
grpc::Status RawWatch(const std::string& address, const std::string& bytes) {
  auto channel =
      grpc::CreateChannel(address, grpc::InsecureChannelCredentials());
  grpc::ClientContext ctx;
  ctx.set_deadline(test::DeadlineIn(std::chrono::seconds(20)));
  grpc::Slice slice(bytes);
  grpc::ByteBuffer req(&slice, 1);
  const grpc::internal::RpcMethod method(
      "/taala.v1.LockService/Watch",
      grpc::internal::RpcMethod::SERVER_STREAMING);
  std::unique_ptr<grpc::ClientReader<grpc::ByteBuffer>> reader(
      grpc::internal::ClientReaderFactory<grpc::ByteBuffer>::Create(
          channel.get(), method, &ctx, req));
  grpc::ByteBuffer msg;
  while (reader->Read(&msg)) {
  }
  return reader->Finish();
}

// Guards: a raw WatchRequest whose prefix is not UTF-8 gets INVALID_ARGUMENT (Watch is served raw), not gRPC's UNIMPLEMENTED.
TEST_F(ReviewWatchTest, RawRequestPrefixNotUtf8IsInvalidArgument) {
  StartDaemon();
  const grpc::Status st = RawWatch(daemon_->address(),
                                   std::string("\x12\x02" "a\xff", 4));
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT)
      << st.error_message();
}

// Holds: garbage and truncated request bytes end the call with an error,
// register no watcher, and leave the daemon serving.
TEST_F(ReviewWatchTest, RawGarbageRequestsEndCleanly) {
  StartDaemon();
  for (const std::string& bytes :
       {std::string("\xff\xff\xff", 3), std::string("\x18\xff", 2),
        std::string("\x12\x7f" "ab", 4)}) {
    const grpc::Status st = RawWatch(daemon_->address(), bytes);
    EXPECT_FALSE(st.ok());
  }
  EXPECT_EQ(Metric("watchers"), 0u);
  Watcher w(stub_.get(), Prefix("ok/"));
  const uint64_t s = NewSession(stub_.get(), "after");
  EXPECT_TRUE(w.WaitForLsn(Take(stub_.get(), s, "ok/x")));
}

// Watchers cancelled while events stream to them (a write in flight).
void CancelChurn(LockService::Stub* stub, const std::string& address,
                 int n) {
  auto busy = test::RestartableStub(address, 5);
  const uint64_t s = NewSession(busy.get(), "busy");
  std::atomic<bool> stop{false};
  std::thread traffic([&] {
    while (!stop.load()) Churn(busy.get(), s, "m/x", 1);
  });
  for (int i = 0; i < n; ++i) {
    Watcher w(stub, Prefix(i % 2 ? "m/" : ""));
    if (i % 3 == 0) w.Cancel();
  }
  stop.store(true);
  traffic.join();
}

// Guards: a watcher cancelled while a write is in flight is finished when the write ends (ok or not): no reactor leaks, the watchers gauge returns to 0.
TEST_F(ReviewWatchTest, ManyWatchersCancelledWhileStreamingGaugeBackToZero) {
  StartDaemon();
  CancelChurn(stub_.get(), daemon_->address(), 120);
  const absl::Time until = absl::Now() + absl::Seconds(15);
  while (Metric("watchers") != 0 && absl::Now() < until) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  EXPECT_EQ(Metric("watchers"), 0u);
}

// Guards: SIGTERM completes (final snapshot written) after watchers were cancelled mid-write.
TEST_F(ReviewWatchTest, StopReturnsAfterWatchersWereCancelledMidWrite) {
  StartDaemon({"--drain_timeout=2s"});
  CancelChurn(stub_.get(), daemon_->address(), 120);
  EXPECT_EQ(daemon_->Stop(20000), 0) << "SIGTERM did not end taalad";
}

// Guards: SIGTERM completes with live watchers and one never reading (its stuck write ends at the drain deadline and the call is finished).
TEST_F(ReviewWatchTest, StopWithLiveWatchersAndANeverReadingOne) {
  StartDaemon({"--drain_timeout=2s"});
  LockService::Stub* stub = stub_.get();
  const uint64_t s = NewSession(stub, "busy");
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_HTTP2_BDP_PROBE, 0);
  args.SetInt(GRPC_ARG_HTTP2_STREAM_LOOKAHEAD_BYTES, 1024);
  args.SetInt("taala.test.channel", 77);
  auto slow_stub = LockService::NewStub(grpc::CreateCustomChannel(
      daemon_->address(), grpc::InsecureChannelCredentials(), args));
  grpc::ClientContext slow_ctx;
  auto slow = slow_stub->Watch(&slow_ctx, Prefix(""));
  const std::string pad(900, 'p');
  for (int i = 0; i < 300; ++i) Churn(stub, s, absl::StrCat("m/", i, pad), 1);
  std::vector<std::unique_ptr<Watcher>> live;
  for (int i = 0; i < 5; ++i) {
    live.push_back(std::make_unique<Watcher>(stub, Prefix("m/")));
  }
  EXPECT_EQ(daemon_->Stop(20000), 0);
  for (auto& w : live) {
    EXPECT_EQ(w->WaitDone().error_code(), grpc::StatusCode::UNAVAILABLE);
  }
  slow_ctx.TryCancel();
}

// Snapshots taken while 6 clients contend on 45 keys across every shard
// (keys with and without '/', bytes below '/'), several watchers on
// overlapping prefixes: each one's fold equals DescribeLock at quiescence.
TEST_F(ReviewWatchTest, SnapshotsUnderHeavyTrafficFoldToTheTable) {
  StartDaemon();
  LockService::Stub* stub = stub_.get();
  std::vector<std::string> keys;
  for (int i = 0; i < 15; ++i) {
    keys.push_back(absl::StrCat("h/k", i));
    keys.push_back(absl::StrCat("h-", i));
    keys.push_back(absl::StrCat("h!", i, "/x"));
  }
  std::vector<std::string> held;
  for (int t = 0; t < 6; ++t) {
    held.push_back(absl::StrCat(t % 3 == 0 ? "h/held" : t % 3 == 1 ? "h-held" : "h!held", t));
  }
  std::atomic<bool> stop{false};
  std::vector<std::thread> threads;
  for (int t = 0; t < 6; ++t) {
    threads.emplace_back([&, t] {
      auto own = test::RestartableStub(daemon_->address(), t + 1);
      const uint64_t s = NewSession(own.get(), absl::StrCat("w", t));
      for (int i = 0; !stop.load() || i < 30; ++i) {
        const std::string& key = keys[(i * 7 + t * 5) % keys.size()];
        const uint64_t token = Take(own.get(), s, key);
        EXPECT_TRUE(test::Release(own.get(), s, key, token).ok());
        if (i > 400) break;
      }
      // Left held (keys nobody churns: no one waits on them).
      Take(own.get(), s, absl::StrCat(t % 3 == 0 ? "h/held" : t % 3 == 1 ? "h-held" : "h!held", t));
    });
  }
  std::vector<std::unique_ptr<Watcher>> watchers;
  const std::vector<std::string> prefixes = {"", "h", "h/", "h-", "h!", "h/k1"};
  for (int round = 0; round < 3; ++round) {
    for (const std::string& p : prefixes) {
      watchers.push_back(std::make_unique<Watcher>(stub, Prefix(p)));
    }
  }
  stop.store(true);
  for (auto& th : threads) th.join();
  keys.insert(keys.end(), held.begin(), held.end());
  const uint64_t m = NewSession(stub, "marker");
  const uint64_t marker = Take(stub, m, "h/marker");
  for (size_t i = 0; i < watchers.size(); ++i) {
    const std::string& p = prefixes[i % prefixes.size()];
    const bool sees_marker = absl::StartsWith("h/marker", p);
    if (sees_marker) {
      ASSERT_TRUE(watchers[i]->WaitForLsn(marker)) << p;
    } else {
      // No event of its own to wait for: another marker in its tree.
      ASSERT_TRUE(watchers[i]->WaitForLsn(
          Take(stub, m, absl::StrCat(p, "mk", i))))
          << p;
    }
  }
  for (size_t i = 0; i < watchers.size(); ++i) {
    const std::string& p = prefixes[i % prefixes.size()];
    const FoldedKeys folded = FoldStream(watchers[i]->got());
    for (const std::string& key : keys) {
      if (!absl::StartsWith(key, p)) continue;
      const Folded want = Described(stub, key);
      auto it = folded.find(key);
      const Folded got = it == folded.end() ? Folded{} : it->second;
      EXPECT_EQ(got.holders, want.holders) << "prefix '" << p << "' " << key;
      EXPECT_EQ(got.waiters, want.waiters) << "prefix '" << p << "' " << key;
    }
  }
}

// One acquire with mode, semaphore size and max hold; 0 if not granted.
uint64_t TakeMode(LockService::Stub* stub, uint64_t session,
                  const std::string& key, v1::LockMode mode, uint32_t sem,
                  int64_t max_hold_ms, int64_t lock_delay_ms) {
  grpc::ClientContext ctx;
  ctx.set_deadline(test::DeadlineIn(std::chrono::seconds(30)));
  v1::AcquireRequest req;
  req.set_session_id(session);
  req.set_key(key);
  req.set_mode(mode);
  req.set_wait_timeout_ms(200);
  if (sem > 0) req.set_semaphore_size(sem);
  if (max_hold_ms > 0) req.set_max_hold_ms(max_hold_ms);
  if (lock_delay_ms > 0) req.set_lock_delay_ms(lock_delay_ms);
  v1::AcquireResponse resp;
  if (!stub->Acquire(&ctx, req, &resp).ok() || !resp.has_grant()) return 0;
  return resp.grant().fencing_token();
}

// Shared grants, upgrades, semaphores, max holds and lock-delays under
// contention, watchers (some across every shard) joining mid-traffic: each
// fold's holders equal DescribeLock's at quiescence.
TEST_F(ReviewWatchTest, MixedModesUpgradesSemaphoresFoldToTheTable) {
  StartDaemon();
  LockService::Stub* stub = stub_.get();
  std::vector<std::string> keys;
  for (int i = 0; i < 6; ++i) {
    keys.push_back(absl::StrCat("u/s", i));
    keys.push_back(absl::StrCat("u-sem", i));
    keys.push_back(absl::StrCat("u/a/b", i));
  }
  std::atomic<bool> go{true};
  std::vector<std::thread> threads;
  for (int t = 0; t < 6; ++t) {
    threads.emplace_back([&, t] {
      auto own = test::RestartableStub(daemon_->address(), t + 1);
      const uint64_t s = NewSession(own.get(), absl::StrCat("m", t));
      for (int i = 0; i < 60; ++i) {
        const std::string& key = keys[(i * 5 + t) % keys.size()];
        const bool sem = absl::StrContains(key, "sem");
        const uint64_t shared = TakeMode(
            own.get(), s, key, sem ? v1::LOCK_MODE_SHARED : v1::LOCK_MODE_SHARED,
            sem ? 2 : 0, i % 9 == 0 ? 30 : 0, i % 4 == 0 ? 20 : 0);
        uint64_t token = shared;
        if (!sem && shared != 0 && i % 3 == 0) {  // An upgrade.
          const uint64_t up = TakeMode(own.get(), s, key,
                                       v1::LOCK_MODE_EXCLUSIVE, 0, 0, 0);
          if (up != 0) token = up;
        }
        if (token != 0) test::Release(own.get(), s, key, token);
      }
      // Left held: shared on u/s*, a semaphore seat.
      TakeMode(own.get(), s, keys[(t % 6) * 3], v1::LOCK_MODE_SHARED, 0, 0, 0);
      TakeMode(own.get(), s, keys[(t % 6) * 3 + 1], v1::LOCK_MODE_SHARED, 2, 0,
               0);
    });
  }
  std::vector<std::unique_ptr<Watcher>> watchers;
  const std::vector<std::string> prefixes = {"", "u", "u/", "u-", "u/a/"};
  for (int round = 0; round < 2 && go.load(); ++round) {
    for (const std::string& p : prefixes) {
      watchers.push_back(std::make_unique<Watcher>(stub, Prefix(p)));
    }
  }
  for (auto& th : threads) th.join();
  absl::SleepFor(absl::Milliseconds(100));  // Lets 30 ms max holds end.
  const uint64_t m = NewSession(stub, "marker");
  for (size_t i = 0; i < watchers.size(); ++i) {
    const std::string& p = prefixes[i % prefixes.size()];
    ASSERT_TRUE(watchers[i]->WaitForLsn(
        Take(stub, m, absl::StrCat(p, "zz-mk", i))))
        << p;
  }
  for (size_t i = 0; i < watchers.size(); ++i) {
    const std::string& p = prefixes[i % prefixes.size()];
    const FoldedKeys folded = FoldStream(watchers[i]->got());
    for (const std::string& key : keys) {
      if (!absl::StartsWith(key, p)) continue;
      const Folded want = Described(stub, key);
      auto it = folded.find(key);
      const Folded got = it == folded.end() ? Folded{} : it->second;
      EXPECT_EQ(got.holders, want.holders) << "prefix '" << p << "' " << key;
      EXPECT_EQ(got.waiters, want.waiters) << "prefix '" << p << "' " << key;
    }
  }
}

// fsync mode, kill -9 during a burst of grants: every grant a watcher saw
// survives the crash (same token, still held), and a resume after the
// watcher's last LSN is neither ahead of the log nor compacted.
TEST_F(ReviewWatchTest, KillDuringBurstNoWatchedGrantIsLost) {
  StartDaemon({"--durability=fsync"});
  const uint64_t s = NewSession(stub_.get(), "burst");
  Watcher w(stub_.get(), Prefix("d/"));
  std::atomic<bool> stop{false};
  std::vector<std::thread> threads;
  for (int t = 0; t < 3; ++t) {
    threads.emplace_back([&, t] {
      auto own = test::RestartableStub(daemon_->address(), t + 1);
      for (int i = 0; i < 400 && !stop.load(); ++i) {
        TakeMode(own.get(), s, absl::StrCat("d/", t, "/", i),
                 v1::LOCK_MODE_EXCLUSIVE, 0, 0, 0);
      }
    });
  }
  // Kill once the watcher has seen some grants, the burst still going.
  {
    const absl::Time until = absl::Now() + absl::Seconds(30);
    while (absl::Now() < until) {
      size_t n = 0;
      for (const WatchResponse& m : w.got()) n += m.has_event();
      if (n >= 60) break;
      absl::SleepFor(absl::Milliseconds(1));
    }
  }
  const int port = daemon_->port();
  const std::string dir = daemon_->data_dir();
  daemon_->Kill();
  stop.store(true);
  for (auto& th : threads) th.join();
  w.WaitDone();
  std::map<std::string, uint64_t> seen;  // key -> granted token
  uint64_t last = 0;
  for (const WatchResponse& m : w.got()) {
    if (!m.has_event()) continue;
    last = std::max(last, m.event().lsn());
    if (m.event().type() == WatchEvent::GRANTED) {
      seen[m.event().key()] = m.event().fencing_token();
    }
  }
  ASSERT_GE(seen.size(), 30u);
  auto restarted =
      test::TaaladProcess::StartOnPort(port, {"--durability=fsync"}, dir);
  ASSERT_TRUE(restarted.ok()) << restarted.status();
  daemon_ = std::move(*restarted);
  stub_ = test::RestartableStub(daemon_->address());
  for (const auto& [key, token] : seen) {
    const Folded f = Described(stub_.get(), key);
    EXPECT_TRUE(f.holders.count(token) == 1)
        << key << " token " << token << " seen by the watcher, lost";
  }
  Watcher resumed(stub_.get(), Prefix("d/", last));
  const uint64_t t2 = Take(stub_.get(), s, "d/after");
  EXPECT_TRUE(resumed.WaitForLsn(t2)) << resumed.WaitDone().error_message();
}

// fsync mode with every fsync failing: the daemon must die before any
// grant is durable; a watcher never sees a GRANTED event.
TEST_F(ReviewWatchTest, FailedFsyncShowsNoGrant) {
  StartDaemon({"--durability=fsync", "--fault_wal_fail_fsync"});
  if (daemon_ == nullptr) GTEST_SKIP() << "taalad did not start";
  grpc::ClientContext ctx;
  ctx.set_deadline(test::DeadlineIn(std::chrono::seconds(20)));
  auto reader = stub_->Watch(&ctx, Prefix(""));
  std::thread burst([&] {
    auto own = test::RestartableStub(daemon_->address(), 3);
    grpc::ClientContext c;
    c.set_deadline(test::DeadlineIn(std::chrono::seconds(5)));
    v1::CreateSessionRequest req;
    req.set_ttl_ms(kTtlMs);
    v1::CreateSessionResponse resp;
    if (!own->CreateSession(&c, req, &resp).ok()) return;
    for (int i = 0; i < 20; ++i) {
      TakeMode(own.get(), resp.session_id(), absl::StrCat("f/", i),
               v1::LOCK_MODE_EXCLUSIVE, 0, 0, 0);
    }
  });
  WatchResponse msg;
  int granted = 0;
  while (reader->Read(&msg)) {
    if (msg.has_event() && msg.event().type() == WatchEvent::GRANTED) {
      ++granted;
    }
  }
  reader->Finish();
  burst.join();
  EXPECT_EQ(granted, 0);
}

}  // namespace
}  // namespace taala::watch_test
