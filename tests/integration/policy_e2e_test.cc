// Lock policies (taalad --policy_file) against a real taalad: defaults for
// acquires that leave fields unset, AcquireAll's per-key values, reloads
// (and refused ones), a malformed file at startup, GetPolicies and
// GetLockStats.policy, taalactl stats / policies, and the client library.

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "client/lock_client.h"
#include "common/wire_time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/integration/rpc_helpers.h"
#include "tests/integration/taalad_process.h"
#include "tests/tools/taalactl_fixture.h"

namespace taala {
namespace {

using ::testing::Gt;
using ::testing::HasSubstr;
using ::testing::Le;
using test::DeadlineIn;
using test::TaaladProcess;
using v1::AcquireResponse;

constexpr int64_t kHourMs = 3600 * 1000;

class PolicyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* tmp = getenv("TMPDIR");
    dir_ = absl::StrCat(tmp != nullptr ? tmp : "/tmp", "/policy_test_XXXXXX");
    ASSERT_NE(mkdtemp(dir_.data()), nullptr) << dir_;
    file_ = dir_ + "/policies";
  }
  void TearDown() override {
    if (HasFailure() && daemon_ != nullptr) {
      std::cerr << "---- taalad log ----\n" << daemon_->Log();
    }
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }

  void WritePolicies(const std::string& text) {
    // Through a rename, as an operator's tooling would: the reloader never
    // reads half a file.
    const std::string tmp = file_ + ".tmp";
    std::ofstream(tmp, std::ios::trunc) << text;
    ASSERT_EQ(std::rename(tmp.c_str(), file_.c_str()), 0);
  }

  void StartDaemon(const std::string& policies) {
    WritePolicies(policies);
    auto d = TaaladProcess::Start({"--policy_file=" + file_,
                                   "--policy_reload_interval=50ms"});
    ASSERT_TRUE(d.ok()) << d.status();
    daemon_ = std::move(*d);
    stub_ = test::RestartableStub(daemon_->address());
  }

  uint64_t Session() {
    uint64_t id = 0;
    grpc::Status s = test::CreateSession(stub_.get(), 60000, &id, "policy");
    EXPECT_TRUE(s.ok()) << s.error_message();
    return id;
  }

  // An Acquire with only the fields `fill` sets.
  AcquireResponse Acquire(uint64_t session, const std::string& key,
                          void (*fill)(v1::AcquireRequest*) = nullptr) {
    grpc::ClientContext ctx;
    ctx.set_deadline(DeadlineIn(std::chrono::seconds(60)));
    v1::AcquireRequest req;
    req.set_session_id(session);
    req.set_key(key);
    if (fill != nullptr) fill(&req);
    AcquireResponse resp;
    grpc::Status s = stub_->Acquire(&ctx, req, &resp);
    EXPECT_TRUE(s.ok()) << key << ": " << s.error_message();
    return resp;
  }

  v1::DescribeLockResponse Describe(const std::string& key) {
    v1::DescribeLockResponse resp;
    grpc::Status s = test::Describe(stub_.get(), key, &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return resp;
  }

  // Until `key` has `n` waiters (no timed assertion: the test's timeout).
  void AwaitWaiters(const std::string& key, uint32_t n) {
    while (Describe(key).waiter_count() != n) {
      absl::SleepFor(absl::Milliseconds(10));
    }
  }

  v1::GetPoliciesResponse Policies() {
    grpc::ClientContext ctx;
    ctx.set_deadline(DeadlineIn(std::chrono::seconds(10)));
    v1::GetPoliciesResponse resp;
    grpc::Status s = stub_->GetPolicies(&ctx, {}, &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return resp;
  }

  // A KeepAlive stream bound to `session`; Next reads its next event.
  struct Stream {
    grpc::ClientContext ctx;
    std::unique_ptr<grpc::ClientReaderWriter<v1::KeepAliveRequest,
                                             v1::KeepAliveResponse>> rw;
  };
  std::unique_ptr<Stream> OpenStream(uint64_t session) {
    auto stream = std::make_unique<Stream>();
    stream->ctx.set_deadline(DeadlineIn(std::chrono::seconds(60)));
    stream->rw = stub_->KeepAlive(&stream->ctx);
    v1::KeepAliveRequest ka;
    ka.set_session_id(session);
    EXPECT_TRUE(stream->rw->Write(ka));
    v1::KeepAliveResponse ack;
    EXPECT_TRUE(stream->rw->Read(&ack));  // Bound.
    return stream;
  }
  // Reads until an event arrives.
  v1::SessionEvent NextEvent(Stream* stream) {
    v1::KeepAliveResponse msg;
    while (stream->rw->Read(&msg)) {
      if (msg.has_event()) return msg.event();
    }
    ADD_FAILURE() << "the KeepAlive stream ended";
    return {};
  }

  std::string dir_;
  std::string file_;
  std::unique_ptr<TaaladProcess> daemon_;
  std::unique_ptr<v1::LockService::Stub> stub_;
};

TEST_F(PolicyTest, AnAcquireWithoutMaxHoldGetsThePolicysAndIsRevoked) {
  StartDaemon(
      "# max holds\n"
      "payments/ max_hold=1h\n"
      "payments/fast/ max_hold=300ms\n");
  const uint64_t s = Session();
  AcquireResponse r = Acquire(s, "payments/42");
  ASSERT_EQ(r.result(), AcquireResponse::ACQUIRED);
  EXPECT_THAT(r.grant().max_hold_remaining_ms(), Gt(kHourMs - 60000));
  EXPECT_THAT(r.grant().max_hold_remaining_ms(), Le(kHourMs));
  v1::DescribeLockResponse d = Describe("payments/42");
  ASSERT_EQ(d.holders_size(), 1);
  EXPECT_THAT(d.holders(0).grant().max_hold_remaining_ms(),
              Gt(kHourMs - 60000));

  // An explicit 0 ("no limit") and an explicit value are the caller's.
  r = Acquire(s, "payments/43", [](v1::AcquireRequest* q) {
    q->set_max_hold_ms(0);
  });
  EXPECT_EQ(r.grant().max_hold_remaining_ms(), 0);
  r = Acquire(s, "payments/44", [](v1::AcquireRequest* q) {
    q->set_max_hold_ms(5000);
  });
  EXPECT_THAT(r.grant().max_hold_remaining_ms(), Le(5000));
  // A key outside every prefix: no limit.
  r = Acquire(s, "orders/1");
  EXPECT_EQ(r.grant().max_hold_remaining_ms(), 0);

  // The longest prefix: 300ms, and the grant is revoked when it runs out
  // while the session lives (its KeepAlive stream is told).
  auto stream = OpenStream(s);
  r = Acquire(s, "payments/fast/1");
  ASSERT_EQ(r.result(), AcquireResponse::ACQUIRED);
  EXPECT_THAT(r.grant().max_hold_remaining_ms(), Le(300));
  const v1::SessionEvent e = NextEvent(stream.get());
  EXPECT_EQ(e.type(), v1::SessionEvent::GRANT_REVOKED);
  EXPECT_EQ(e.key(), "payments/fast/1");
  EXPECT_EQ(e.fencing_token(), r.grant().fencing_token());
  EXPECT_EQ(Describe("payments/fast/1").holders_size(), 0);
}

TEST_F(PolicyTest, LockDelayAndSemaphoreSizeDefaultsApply) {
  StartDaemon(
      "delay/ max_hold=200ms lock_delay=1h\n"
      "sem/ semaphore_size=2\n");
  const uint64_t s = Session();
  auto stream = OpenStream(s);
  // Revoked by the policy's max hold: the policy's lock-delay follows.
  AcquireResponse r = Acquire(s, "delay/a");
  ASSERT_EQ(r.result(), AcquireResponse::ACQUIRED);
  EXPECT_EQ(NextEvent(stream.get()).key(), "delay/a");
  EXPECT_THAT(Describe("delay/a").lock_delay_remaining_ms(),
              Gt(kHourMs - 60000));
  // An explicit lock_delay_ms=0 is the caller's: none.
  r = Acquire(s, "delay/b", [](v1::AcquireRequest* q) {
    q->set_lock_delay_ms(0);
  });
  ASSERT_EQ(r.result(), AcquireResponse::ACQUIRED);
  EXPECT_EQ(NextEvent(stream.get()).key(), "delay/b");
  EXPECT_EQ(Describe("delay/b").lock_delay_remaining_ms(), 0);

  // semaphore_size from the policy, whatever the mode (semaphores have
  // none): two holders, a third is refused.
  const uint64_t s2 = Session();
  const uint64_t s3 = Session();
  EXPECT_EQ(Acquire(s, "sem/x").result(), AcquireResponse::ACQUIRED);
  EXPECT_EQ(Acquire(s2, "sem/x", [](v1::AcquireRequest* q) {
              q->set_mode(v1::LOCK_MODE_SHARED);
            }).result(),
            AcquireResponse::ACQUIRED);
  EXPECT_EQ(Acquire(s3, "sem/x").result(), AcquireResponse::TIMED_OUT);
  EXPECT_EQ(Describe("sem/x").semaphore_size(), 2u);
  // An explicit semaphore_size=0 asks for a lock: not a semaphore.
  EXPECT_EQ(Acquire(s, "sem/y", [](v1::AcquireRequest* q) {
              q->set_semaphore_size(0);
            }).result(),
            AcquireResponse::ACQUIRED);
  EXPECT_EQ(Describe("sem/y").semaphore_size(), 0u);
  EXPECT_EQ(Acquire(s2, "sem/y", [](v1::AcquireRequest* q) {
              q->set_semaphore_size(0);
            }).result(),
            AcquireResponse::TIMED_OUT);
}

TEST_F(PolicyTest, WaitTimeoutDefaultsApplyButATryLockStaysOne) {
  StartDaemon(
      "wait/ wait_timeout=1h\n"
      "forever/ wait_timeout=forever\n");
  const uint64_t holder = Session();
  const uint64_t waiter = Session();
  for (const std::string key : {"wait/k", "forever/k"}) {
    AcquireResponse held = Acquire(holder, key);
    ASSERT_EQ(held.result(), AcquireResponse::ACQUIRED);
    // An explicit 0 is a try-lock: answered at once.
    EXPECT_EQ(Acquire(waiter, key, [](v1::AcquireRequest* q) {
                q->set_wait_timeout_ms(0);
              }).result(),
              AcquireResponse::TIMED_OUT);
    // Unset: the policy's wait (without a policy, a try-lock).
    AcquireResponse waited;
    std::thread t([&] { waited = Acquire(waiter, key); });
    AwaitWaiters(key, 1);
    const int64_t left = Describe(key).waiters(0).wait_remaining_ms();
    if (key == "wait/k") {
      EXPECT_THAT(left, Gt(kHourMs - 60000));
      EXPECT_THAT(left, Le(kHourMs));
    } else {
      EXPECT_EQ(left, kInfiniteMs);
    }
    ASSERT_TRUE(test::Release(stub_.get(), holder, key,
                              held.grant().fencing_token())
                    .ok());
    t.join();
    EXPECT_EQ(waited.result(), AcquireResponse::ACQUIRED) << key;
  }
}

TEST_F(PolicyTest, AcquireAllTakesEachKeysPolicy) {
  StartDaemon(
      "a/ max_hold=1h wait_timeout=1h\n"
      "b/ max_hold=2h lock_delay=1s wait_timeout=forever\n");
  const uint64_t s = Session();
  const uint64_t other = Session();
  AcquireResponse c = Acquire(other, "c/1");
  ASSERT_EQ(c.result(), AcquireResponse::ACQUIRED);
  v1::AcquireAllResponse all;
  std::thread t([&] {
    grpc::ClientContext ctx;
    ctx.set_deadline(DeadlineIn(std::chrono::seconds(60)));
    v1::AcquireAllRequest req;
    req.set_session_id(s);
    for (const char* k : {"a/1", "b/1", "c/1"}) req.add_keys()->set_key(k);
    grpc::Status st = stub_->AcquireAll(&ctx, req, &all);
    EXPECT_TRUE(st.ok()) << st.error_message();
  });
  // Waits on c/1 with the shortest of the policies' waits (1h, not
  // forever; without a policy it would have been a try-lock).
  AwaitWaiters("c/1", 1);
  const int64_t left = Describe("c/1").waiters(0).wait_remaining_ms();
  EXPECT_THAT(left, Gt(kHourMs - 60000));
  EXPECT_THAT(left, Le(kHourMs));
  ASSERT_TRUE(
      test::Release(stub_.get(), other, "c/1", c.grant().fencing_token()).ok());
  t.join();
  ASSERT_EQ(all.result(), AcquireResponse::ACQUIRED);
  ASSERT_EQ(all.grants_size(), 3);
  EXPECT_THAT(all.grants(0).max_hold_remaining_ms(), Gt(kHourMs - 60000));
  EXPECT_THAT(all.grants(0).max_hold_remaining_ms(), Le(kHourMs));
  EXPECT_THAT(all.grants(1).max_hold_remaining_ms(), Gt(2 * kHourMs - 60000));
  EXPECT_THAT(all.grants(1).max_hold_remaining_ms(), Le(2 * kHourMs));
  EXPECT_EQ(all.grants(2).max_hold_remaining_ms(), 0);

  // An explicit max hold is the caller's for every key.
  v1::AcquireAllResponse two;
  grpc::ClientContext ctx;
  ctx.set_deadline(DeadlineIn(std::chrono::seconds(60)));
  v1::AcquireAllRequest req;
  req.set_session_id(s);
  req.set_max_hold_ms(0);
  for (const char* k : {"a/2", "b/2"}) req.add_keys()->set_key(k);
  ASSERT_TRUE(stub_->AcquireAll(&ctx, req, &two).ok());
  ASSERT_EQ(two.grants_size(), 2);
  EXPECT_EQ(two.grants(0).max_hold_remaining_ms(), 0);
  EXPECT_EQ(two.grants(1).max_hold_remaining_ms(), 0);
}

TEST_F(PolicyTest, GetPoliciesAndGetLockStatsReportThePolicyInForce) {
  StartDaemon(
      "payments/ max_hold=30s lock_delay=2s wait_timeout=10s\n"
      "\"\" wait_timeout=forever\n"
      "payments/eu/ semaphore_size=3\n");
  v1::GetPoliciesResponse p = Policies();
  EXPECT_EQ(p.file(), file_);
  EXPECT_EQ(p.generation(), 1u);
  EXPECT_GT(p.loaded_at_unix_ms(), 0);
  EXPECT_EQ(p.last_error(), "");
  ASSERT_EQ(p.policies_size(), 3);  // Sorted by prefix.
  EXPECT_EQ(p.policies(0).prefix(), "");
  EXPECT_EQ(p.policies(0).wait_timeout_ms(), -1);
  EXPECT_EQ(p.policies(0).line(), 2u);
  EXPECT_EQ(p.policies(1).prefix(), "payments/");
  EXPECT_EQ(p.policies(1).max_hold_ms(), 30000);
  EXPECT_EQ(p.policies(1).lock_delay_ms(), 2000);
  EXPECT_EQ(p.policies(1).wait_timeout_ms(), 10000);
  EXPECT_FALSE(p.policies(1).has_semaphore_size());
  EXPECT_EQ(p.policies(2).prefix(), "payments/eu/");

  auto stats = [&](const std::string& key, const std::string& prefix) {
    grpc::ClientContext ctx;
    ctx.set_deadline(DeadlineIn(std::chrono::seconds(10)));
    v1::GetLockStatsRequest req;
    req.set_key(key);
    req.set_prefix(prefix);
    v1::GetLockStatsResponse resp;
    EXPECT_TRUE(stub_->GetLockStats(&ctx, req, &resp).ok());
    return resp;
  };
  EXPECT_EQ(stats("payments/1", "").policy().prefix(), "payments/");
  EXPECT_EQ(stats("payments/1", "").policy().max_hold_ms(), 30000);
  EXPECT_EQ(stats("payments/eu/1", "").policy().prefix(), "payments/eu/");
  EXPECT_EQ(stats("", "payments/").policy().prefix(), "payments/");
  EXPECT_EQ(stats("", "payments/eu/x/").policy().prefix(), "payments/eu/");
  // "pay" is wider than payments/: only the catch-all covers it.
  EXPECT_TRUE(stats("", "pay").has_policy());
  EXPECT_EQ(stats("", "pay").policy().prefix(), "");
  EXPECT_EQ(stats("orders/1", "").policy().wait_timeout_ms(), -1);
}

TEST_F(PolicyTest, AChangedFileIsReloaded) {
  StartDaemon("payments/ max_hold=1h\n");
  const uint64_t s = Session();
  EXPECT_THAT(Acquire(s, "payments/1").grant().max_hold_remaining_ms(),
              Le(kHourMs));
  WritePolicies("# now two hours\npayments/ max_hold=2h\nnew/ max_hold=1m\n");
  while (Policies().generation() < 2) absl::SleepFor(absl::Milliseconds(20));
  v1::GetPoliciesResponse p = Policies();
  EXPECT_EQ(p.generation(), 2u);
  ASSERT_EQ(p.policies_size(), 2);
  EXPECT_EQ(p.policies(1).line(), 2u);
  EXPECT_THAT(Acquire(s, "payments/2").grant().max_hold_remaining_ms(),
              Gt(kHourMs));
  EXPECT_THAT(Acquire(s, "new/1").grant().max_hold_remaining_ms(), Le(60000));
  EXPECT_THAT(daemon_->Log(), HasSubstr("reloaded 2 lock policies from"));
}

TEST_F(PolicyTest, AMalformedReloadIsRefusedWithItsLineAndTheOldPolicyStays) {
  StartDaemon("payments/ max_hold=1h\n");
  const uint64_t s = Session();
  WritePolicies("payments/ max_hold=2h\n\nother/ max_hld=3s\n");
  while (Policies().last_error().empty()) {
    absl::SleepFor(absl::Milliseconds(20));
  }
  v1::GetPoliciesResponse p = Policies();
  EXPECT_EQ(p.last_error(),
            "line 3: unknown setting \"max_hld\" (want max_hold, lock_delay, "
            "wait_timeout or semaphore_size)");
  EXPECT_GT(p.last_error_at_unix_ms(), 0);
  EXPECT_EQ(p.generation(), 1u);
  ASSERT_EQ(p.policies_size(), 1);
  EXPECT_EQ(p.policies(0).max_hold_ms(), kHourMs);
  EXPECT_THAT(daemon_->Log(), HasSubstr("[error] lock policies: refused"));
  EXPECT_THAT(daemon_->Log(), HasSubstr("line 3: unknown setting \"max_hld\""));
  // The old policy is still in force.
  const int64_t left =
      Acquire(s, "payments/1").grant().max_hold_remaining_ms();
  EXPECT_THAT(left, Le(kHourMs));
  EXPECT_THAT(left, Gt(kHourMs - 60000));

  // A missing file is refused too; the policies stay.
  ASSERT_EQ(std::remove(file_.c_str()), 0);
  while (!absl::StrContains(Policies().last_error(), "cannot open")) {
    absl::SleepFor(absl::Milliseconds(20));
  }
  EXPECT_EQ(Policies().policies_size(), 1);

  // Fixed: loaded, and the error is gone.
  WritePolicies("payments/ max_hold=2h\n");
  while (Policies().generation() < 2) absl::SleepFor(absl::Milliseconds(20));
  EXPECT_EQ(Policies().last_error(), "");
  EXPECT_THAT(Acquire(s, "payments/2").grant().max_hold_remaining_ms(),
              Gt(kHourMs));
}

TEST_F(PolicyTest, AMalformedFileAtStartupStopsTaaladWithTheLine) {
  WritePolicies("# ok\npayments/ max_hold=30s\n\"unterminated max_hold=1s\n");
  auto run = test::RunTaaladToExit(
      {"--policy_file=" + file_, "--listen=127.0.0.1:0", "--admin_listen=",
       "--data_dir=" + dir_ + "/data"},
      30000);
  ASSERT_TRUE(run.ok()) << run.status();
  EXPECT_TRUE(run->exited) << run->output;
  EXPECT_EQ(run->exit_code, 1) << run->output;
  EXPECT_THAT(run->output,
              HasSubstr(absl::StrCat("--policy_file: ", file_,
                                     ": line 3: unterminated quoted prefix")));
  // A missing file too.
  run = test::RunTaaladToExit(
      {"--policy_file=" + dir_ + "/none", "--listen=127.0.0.1:0",
       "--admin_listen=", "--data_dir=" + dir_ + "/data"},
      30000);
  ASSERT_TRUE(run.ok()) << run.status();
  EXPECT_EQ(run->exit_code, 1) << run->output;
  EXPECT_THAT(run->output, HasSubstr("cannot open"));
  // Both flags are taalad's own (listed by --help).
  run = test::RunTaaladToExit({"--help"}, 30000);
  ASSERT_TRUE(run.ok()) << run.status();
  EXPECT_THAT(run->output, HasSubstr("--policy_file ("));
  EXPECT_THAT(run->output, HasSubstr("--policy_reload_interval ("));
}

TEST_F(PolicyTest, TaalactlShowsThePolicies) {
  StartDaemon(
      "payments/ max_hold=30s lock_delay=2s wait_timeout=10s\n"
      "jobs/ semaphore_size=4 wait_timeout=forever\n");
  auto run = [&](std::vector<std::string> args) {
    args.insert(args.begin(), "--endpoint=" + daemon_->address());
    test::Taalactl t(dir_, args);
    const int code = t.Wait();
    EXPECT_EQ(code, 0) << t.err();
    return t.out();
  };
  std::string out = run({"stats", "payments/"});
  EXPECT_THAT(out, HasSubstr("POLICY       payments/ (line 1): max hold 30s, "
                             "lock-delay 2s, wait timeout 10s\n"));
  EXPECT_THAT(out, HasSubstr("SUGGESTED MAX HOLD      none: "));
  EXPECT_THAT(out, HasSubstr("; the policy's: 30s\n"));
  EXPECT_THAT(run({"stats", "orders/1"}), HasSubstr("POLICY       none\n"));

  out = run({"policies"});
  EXPECT_THAT(out, HasSubstr(absl::StrCat("FILE         ", file_)));
  EXPECT_THAT(out, HasSubstr("generation 1)"));
  EXPECT_THAT(out, HasSubstr("PREFIX     MAX HOLD  LOCK-DELAY  WAIT TIMEOUT  "
                             "SEMAPHORE  LINE\n"
                             "jobs/      -         -           forever       "
                             "4          2\n"
                             "payments/  30s       2s          10s           "
                             "-          1\n"));
  WritePolicies("payments/ max_hold=30s\nbad line\n");
  while (Policies().last_error().empty()) {
    absl::SleepFor(absl::Milliseconds(20));
  }
  out = run({"policies"});
  EXPECT_THAT(out, HasSubstr("REFUSED "));
  EXPECT_THAT(out, HasSubstr("line 2: "));
  EXPECT_THAT(out, HasSubstr("(the policies below stay in force)"));
  out = run({"--json", "policies"});
  EXPECT_THAT(out, HasSubstr("\"last_error\":\"line 2: "));
  EXPECT_THAT(out, HasSubstr("\"prefix\":\"payments/\""));
}

TEST_F(PolicyTest, ALibraryLockWithoutMaxHoldGetsThePolicys) {
  StartDaemon("payments/ max_hold=1h lock_delay=1s\n");
  ClientOptions options;
  options.endpoints = {daemon_->address()};
  auto client = Client::Connect(options);
  ASSERT_TRUE(client.ok()) << client.status();
  SessionOptions session_options;
  session_options.ttl = absl::Seconds(30);
  auto session = (*client)->CreateSession(session_options);
  ASSERT_TRUE(session.ok()) << session.status();
  {
    Lock lock(**session, "payments/lib");
    lock.lock();  // Waits forever, whatever a policy's wait timeout.
    const v1::DescribeLockResponse d = Describe("payments/lib");
    ASSERT_EQ(d.holders_size(), 1);
    EXPECT_THAT(d.holders(0).grant().max_hold_remaining_ms(),
                Gt(kHourMs - 60000));
  }
  // InfiniteDuration: explicitly no limit, over the policy.
  AcquireOptions unlimited;
  unlimited.max_hold = absl::InfiniteDuration();
  Lock lock(**session, "payments/unlimited", unlimited);
  lock.lock();
  const v1::DescribeLockResponse d = Describe("payments/unlimited");
  ASSERT_EQ(d.holders_size(), 1);
  EXPECT_EQ(d.holders(0).grant().max_hold_remaining_ms(), 0);
}

}  // namespace
}  // namespace taala
