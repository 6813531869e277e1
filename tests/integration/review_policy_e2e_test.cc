// Review of issue 11's lock policies against a real taalad: reloads of a
// file that is swapped for a directory or truncated in place, idempotent
// retries and semaphores across a reload, AcquireAll on a semaphore prefix,
// the client library's explicit zero, and taalactl's display of hostile
// prefixes and odd values; and the limits on a policy file.

#include <grpcpp/grpcpp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
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
using ::testing::Not;
using test::DeadlineIn;
using test::TaaladProcess;
using v1::AcquireResponse;

constexpr int64_t kHourMs = 3600 * 1000;

class ReviewPolicyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* tmp = getenv("TMPDIR");
    dir_ = absl::StrCat(tmp != nullptr ? tmp : "/tmp",
                        "/review_policy_test_XXXXXX");
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

  // Through a rename, as docs/policies.md asks.
  void WritePolicies(const std::string& text) {
    const std::string tmp = file_ + ".tmp";
    std::ofstream(tmp, std::ios::trunc | std::ios::binary) << text;
    ASSERT_EQ(std::rename(tmp.c_str(), file_.c_str()), 0);
  }

  void StartDaemon(const std::string& policies,
                   std::vector<std::string> extra = {}) {
    WritePolicies(policies);
    StartDaemonOnFile(std::move(extra));
  }
  void StartDaemonOnFile(std::vector<std::string> extra = {}) {
    extra.push_back("--policy_file=" + file_);
    extra.push_back("--policy_reload_interval=100ms");
    auto d = TaaladProcess::Start(extra);
    ASSERT_TRUE(d.ok()) << d.status();
    daemon_ = std::move(*d);
    stub_ = test::RestartableStub(daemon_->address());
  }

  uint64_t Session() {
    uint64_t id = 0;
    grpc::Status s = test::CreateSession(stub_.get(), 120000, &id, "review");
    EXPECT_TRUE(s.ok()) << s.error_message();
    return id;
  }

  // An Acquire with only the fields `fill` sets; the status in *status.
  AcquireResponse Acquire(uint64_t session, const std::string& key,
                          grpc::Status* status,
                          void (*fill)(v1::AcquireRequest*) = nullptr) {
    grpc::ClientContext ctx;
    ctx.set_deadline(DeadlineIn(std::chrono::seconds(30)));
    v1::AcquireRequest req;
    req.set_session_id(session);
    req.set_key(key);
    if (fill != nullptr) fill(&req);
    AcquireResponse resp;
    *status = stub_->Acquire(&ctx, req, &resp);
    return resp;
  }
  AcquireResponse Acquire(uint64_t session, const std::string& key,
                          void (*fill)(v1::AcquireRequest*) = nullptr) {
    grpc::Status s;
    AcquireResponse r = Acquire(session, key, &s, fill);
    EXPECT_TRUE(s.ok()) << key << ": " << s.error_message();
    return r;
  }

  v1::DescribeLockResponse Describe(const std::string& key) {
    v1::DescribeLockResponse resp;
    grpc::Status s = test::Describe(stub_.get(), key, &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return resp;
  }

  v1::GetPoliciesResponse Policies() {
    grpc::ClientContext ctx;
    ctx.set_deadline(DeadlineIn(std::chrono::seconds(10)));
    v1::GetPoliciesResponse resp;
    grpc::Status s = stub_->GetPolicies(&ctx, {}, &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return resp;
  }

  // Until a reload (generation > `generation`) or a refusal shows.
  void AwaitReloadOrRefusal(uint64_t generation) {
    while (true) {
      const v1::GetPoliciesResponse p = Policies();
      if (p.generation() > generation || !p.last_error().empty()) return;
      absl::SleepFor(absl::Milliseconds(20));
    }
  }
  // The same, giving up after `polls` reload intervals: for a change that
  // the code under review reacts to (a reload) and a fixed one ignores.
  void AwaitReloadOrRefusalAtMost(uint64_t generation, int polls) {
    for (int i = 0; i < polls; ++i) {
      const v1::GetPoliciesResponse p = Policies();
      if (p.generation() > generation || !p.last_error().empty()) return;
      absl::SleepFor(absl::Milliseconds(50));
    }
  }

  std::string RunTaalactl(std::vector<std::string> args) {
    args.insert(args.begin(), "--endpoint=" + daemon_->address());
    test::Taalactl t(dir_, args);
    const int code = t.Wait();
    EXPECT_EQ(code, 0) << t.err();
    return t.out();
  }

  std::string dir_;
  std::string file_;
  std::unique_ptr<TaaladProcess> daemon_;
  std::unique_ptr<v1::LockService::Stub> stub_;
};

// ---------------------------------------------------------------------------
// Reloads.

// A directory swapped in for the file is refused, not read as no policies.
TEST_F(ReviewPolicyTest, AFileSwappedForADirectoryIsRefusedNotLoadedAsEmpty) {
  const std::string v1 = dir_ + "/policies.v1";
  std::ofstream(v1) << "payments/ max_hold=1h\n";
  ASSERT_EQ(symlink(v1.c_str(), file_.c_str()), 0);
  StartDaemonOnFile();
  ASSERT_EQ(Policies().policies_size(), 1);
  // The symlink now points at a directory, swapped in by a rename.
  const std::string d = dir_ + "/policies.d";
  ASSERT_TRUE(std::filesystem::create_directory(d));
  const std::string tmp = dir_ + "/policies.lnk";
  ASSERT_EQ(symlink(d.c_str(), tmp.c_str()), 0);
  ASSERT_EQ(std::rename(tmp.c_str(), file_.c_str()), 0);
  AwaitReloadOrRefusal(1);
  const v1::GetPoliciesResponse p = Policies();
  EXPECT_EQ(p.generation(), 1u);
  EXPECT_EQ(p.policies_size(), 1) << "the policies were dropped";
  EXPECT_THAT(p.last_error(), HasSubstr("not a regular file"));
  grpc::Status s;
  const uint64_t session = Session();
  const AcquireResponse r = Acquire(session, "payments/1", &s);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_NE(r.grant().max_hold_remaining_ms(), 0)
      << "payments/1 was granted without the policy's max hold";
}

// A directory as --policy_file stops taalad at startup.
TEST_F(ReviewPolicyTest, ADirectoryAsThePolicyFileStopsTaaladAtStartup) {
  auto run = test::RunTaaladToExit(
      {"--policy_file=" + dir_, "--listen=127.0.0.1:0", "--admin_listen=",
       "--data_dir=" + dir_ + "/data"},
      5000);
  ASSERT_TRUE(run.ok()) << run.status();
  EXPECT_TRUE(run->exited) << "taalad kept running with --policy_file="
                           << dir_ << ":\n"
                           << run->output;
  EXPECT_EQ(run->exit_code, 1) << run->output;
  EXPECT_THAT(run->output, HasSubstr("not a regular file"));
}

// A file truncated in place (empty for a moment) does not drop every policy.
TEST_F(ReviewPolicyTest, AFileTruncatedInPlaceDoesNotDropEveryPolicy) {
  StartDaemon("payments/ max_hold=1h\norders/ max_hold=1m\n");
  ASSERT_EQ(Policies().policies_size(), 2);
  // The instant between open(O_TRUNC) and the write, held long enough for
  // the reloader (every 100ms) to see it. A fixed taalad never reloads, so
  // the wait is bounded (50 intervals): this can only fail, not pass, by
  // the timing.
  { std::ofstream truncate(file_, std::ios::trunc); }
  AwaitReloadOrRefusalAtMost(1, 100);
  const v1::GetPoliciesResponse p = Policies();
  EXPECT_EQ(p.policies_size(), 2)
      << "generation " << p.generation()
      << " loaded the empty file: every policy dropped";
  EXPECT_THAT(p.last_error(), HasSubstr("empty file"));
  // Written again (in place): loaded once two polls read the same bytes.
  std::ofstream(file_, std::ios::trunc) << "payments/ max_hold=2h\n";
  while (Policies().generation() < 2) absl::SleepFor(absl::Milliseconds(20));
  EXPECT_EQ(Policies().policies_size(), 1);
  EXPECT_EQ(Policies().last_error(), "");
}

// An empty file stops taalad at startup; a comment line means no policies.
TEST_F(ReviewPolicyTest, AnEmptyFileIsRefusedAtStartupACommentIsNot) {
  WritePolicies("");
  auto run = test::RunTaaladToExit(
      {"--policy_file=" + file_, "--listen=127.0.0.1:0", "--admin_listen=",
       "--data_dir=" + dir_ + "/data"},
      30000);
  ASSERT_TRUE(run.ok()) << run.status();
  EXPECT_EQ(run->exit_code, 1) << run->output;
  EXPECT_THAT(run->output, HasSubstr("empty file; write a comment line"));
  StartDaemon("# no policies\n");
  ASSERT_NE(daemon_, nullptr);
  EXPECT_EQ(Policies().policies_size(), 0);
  EXPECT_EQ(Policies().generation(), 1u);
}

// --policy_reload_interval below 100ms stops taalad at startup.
TEST_F(ReviewPolicyTest, AReloadIntervalBelow100msIsRefused) {
  WritePolicies("a/ max_hold=1s\n");
  auto run = test::RunTaaladToExit(
      {"--policy_file=" + file_, "--policy_reload_interval=99ms",
       "--listen=127.0.0.1:0", "--admin_listen=",
       "--data_dir=" + dir_ + "/data"},
      30000);
  ASSERT_TRUE(run.ok()) << run.status();
  EXPECT_EQ(run->exit_code, 1) << run->output;
  EXPECT_THAT(run->output, HasSubstr("--policy_reload_interval: 99ms is "
                                     "below 100ms"));
}

TEST_F(ReviewPolicyTest, DeletedThenRecreatedAndUnreadableFilesKeepThePolicies) {
  StartDaemon("payments/ max_hold=1h\n");
  ASSERT_EQ(std::remove(file_.c_str()), 0);
  AwaitReloadOrRefusal(1);
  EXPECT_THAT(Policies().last_error(), HasSubstr("cannot open"));
  EXPECT_EQ(Policies().policies_size(), 1);
  // Recreated with the same bytes: loaded again (a change after a failure).
  WritePolicies("payments/ max_hold=1h\n");
  while (Policies().generation() < 2) absl::SleepFor(absl::Milliseconds(20));
  EXPECT_EQ(Policies().last_error(), "");
  EXPECT_EQ(Policies().policies_size(), 1);
  if (geteuid() != 0) {  // root reads a mode-000 file anyway.
    ASSERT_EQ(chmod(file_.c_str(), 0), 0);
    AwaitReloadOrRefusal(2);
    EXPECT_THAT(Policies().last_error(), HasSubstr("cannot open"));
    EXPECT_EQ(Policies().policies_size(), 1);
  }
  // CRLF line endings are read as LF ones.
  WritePolicies("payments/ max_hold=2h\r\norders/ max_hold=1m\r\n");
  while (Policies().policies_size() != 2) {
    absl::SleepFor(absl::Milliseconds(20));
  }
  EXPECT_EQ(Policies().last_error(), "");
}

// A FIFO swapped in for the file is refused; it never blocks the reloader
// (nor taalad's stop).
TEST_F(ReviewPolicyTest, AFileSwappedForAFifoDoesNotHangTaalad) {
  const std::string v1 = dir_ + "/policies.v1";
  std::ofstream(v1) << "payments/ max_hold=1h\n";
  ASSERT_EQ(symlink(v1.c_str(), file_.c_str()), 0);
  StartDaemonOnFile();
  const std::string fifo = dir_ + "/policies.fifo";
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  const std::string tmp = dir_ + "/policies.lnk";
  ASSERT_EQ(symlink(fifo.c_str(), tmp.c_str()), 0);
  ASSERT_EQ(std::rename(tmp.c_str(), file_.c_str()), 0);
  // A fixed taalad refuses it (last_error); a blocked one never says
  // anything: give the reloader (every 100ms) 20 intervals to meet it.
  AwaitReloadOrRefusalAtMost(1, 40);
  EXPECT_EQ(Policies().policies_size(), 1);
  EXPECT_THAT(Policies().last_error(), HasSubstr("not a regular file"))
      << "the FIFO was never refused";
  // SIGTERM: a clean stop, not a hang until SIGKILL.
  EXPECT_EQ(daemon_->Stop(20000), 0) << "taalad did not stop on SIGTERM";
}

std::string ManyPolicies(int n) {
  std::string text;
  for (int i = 0; i < n; ++i) {
    absl::StrAppend(&text, "tenant-", i, "/ max_hold=1h lock_delay=1s\n");
  }
  return text;
}

// Startup stays fast and GetPolicies fits its message at the limits
// (docs/policies.md): 10,000 policies, 1 MiB of file. Past them (the
// review's 150,000 policies, a 5 MB file, which started in quadratic time
// and made a GetPolicies response over gRPC's 4 MiB) the file is refused,
// naming the limit.
TEST_F(ReviewPolicyTest, ManyPoliciesDoNotStallStartup) {
  // 10,000 policies of about 100 bytes each, just under 1 MiB.
  std::string text;
  for (int i = 0; i < 10000; ++i) {
    std::string line = absl::StrCat("tenant-", i, "/");
    line.resize(75, 'x');
    absl::StrAppend(&line, "/ max_hold=1h lock_delay=1s\n");
    text += line;
  }
  ASSERT_LE(text.size(), size_t{1} << 20);
  ASSERT_GT(text.size(), 1000 * 1000u);
  StartDaemon(text);
  ASSERT_NE(daemon_, nullptr);
  EXPECT_EQ(Policies().generation(), 1u);
  EXPECT_EQ(Policies().policies_size(), 10000);
  test::Taalactl t(dir_, {"--endpoint=" + daemon_->address(), "policies"});
  EXPECT_EQ(t.Wait(), 0) << t.err();
  // One policy more: refused by a reload, naming the line.
  WritePolicies(text + "one-more/ max_hold=1h\n");
  AwaitReloadOrRefusal(1);
  EXPECT_THAT(Policies().last_error(),
              HasSubstr("line 10001: more than 10000 policies (the limit)"));
  EXPECT_EQ(Policies().policies_size(), 10000);
}

TEST_F(ReviewPolicyTest, APolicyFileOverTheLimitsIsRefusedAtStartup) {
  const std::string many = ManyPolicies(150000);  // 5 MB.
  WritePolicies(many);
  const std::vector<std::string> args = {
      "--policy_file=" + file_, "--listen=127.0.0.1:0", "--admin_listen=",
      "--data_dir=" + dir_ + "/data"};
  auto run = test::RunTaaladToExit(args, 30000);
  ASSERT_TRUE(run.ok()) << run.status();
  EXPECT_EQ(run->exit_code, 1) << run->output;
  EXPECT_THAT(run->output, HasSubstr("is larger than 1048576 bytes"));
  // Small enough, but too many.
  WritePolicies(absl::StrCat("# many\n", ManyPolicies(10001)));
  run = test::RunTaaladToExit(args, 30000);
  ASSERT_TRUE(run.ok()) << run.status();
  EXPECT_EQ(run->exit_code, 1) << run->output;
  EXPECT_THAT(run->output,
              HasSubstr("line 10002: more than 10000 policies (the limit)"));
}

// ---------------------------------------------------------------------------
// A reload between an acquire and its idempotent retry.

// An idempotent retry after a reload changed the policy's semaphore size
// answers the same grant.
TEST_F(ReviewPolicyTest, AnIdempotentRetryAfterAReloadAnswersTheSameGrant) {
  StartDaemon("sem/ semaphore_size=2\nlk/ max_hold=1h\n");
  const uint64_t s = Session();
  const AcquireResponse sem = Acquire(s, "sem/k");
  ASSERT_EQ(sem.result(), AcquireResponse::ACQUIRED);
  const AcquireResponse lk = Acquire(s, "lk/k");
  ASSERT_EQ(lk.result(), AcquireResponse::ACQUIRED);
  WritePolicies("sem/ semaphore_size=3\nlk/ max_hold=2h semaphore_size=4\n");
  while (Policies().generation() < 2) absl::SleepFor(absl::Milliseconds(20));

  grpc::Status st;
  AcquireResponse again = Acquire(s, "sem/k", &st);
  EXPECT_TRUE(st.ok()) << "retry of sem/k: " << st.error_code() << " "
                       << st.error_message();
  EXPECT_EQ(again.result(), AcquireResponse::ACQUIRED);
  EXPECT_EQ(again.grant().fencing_token(), sem.grant().fencing_token());

  again = Acquire(s, "lk/k", &st);
  EXPECT_TRUE(st.ok()) << "retry of lk/k: " << st.error_code() << " "
                       << st.error_message();
  EXPECT_EQ(again.result(), AcquireResponse::ACQUIRED);
  EXPECT_EQ(again.grant().fencing_token(), lk.grant().fencing_token());
}

// Holds: a retry after a reload that changed the max hold keeps the grant's
// (the grant is answered as it was made).
TEST_F(ReviewPolicyTest, ARetryAfterAReloadKeepsTheGrantsMaxHold) {
  StartDaemon("p/ max_hold=1h lock_delay=1s\n");
  const uint64_t s = Session();
  const AcquireResponse first = Acquire(s, "p/k");
  ASSERT_EQ(first.result(), AcquireResponse::ACQUIRED);
  WritePolicies("p/ max_hold=5h\n");
  while (Policies().generation() < 2) absl::SleepFor(absl::Milliseconds(20));
  const AcquireResponse again = Acquire(s, "p/k");
  ASSERT_EQ(again.result(), AcquireResponse::ACQUIRED);
  EXPECT_EQ(again.grant().fencing_token(), first.grant().fencing_token());
  EXPECT_THAT(again.grant().max_hold_remaining_ms(), Le(kHourMs));
  EXPECT_THAT(again.grant().max_hold_remaining_ms(), Gt(kHourMs - 60000));
  // A new key gets the new one.
  EXPECT_THAT(Acquire(s, "p/other").grant().max_hold_remaining_ms(),
              Gt(4 * kHourMs));
}

// A policy's semaphore size yields to the size of a key in use.
TEST_F(ReviewPolicyTest, ASemaphoreSizeChangedByAReloadDoesNotFailAcquirers) {
  StartDaemon("sem/ semaphore_size=2\n");
  const uint64_t a = Session();
  const uint64_t b = Session();
  ASSERT_EQ(Acquire(a, "sem/k").result(), AcquireResponse::ACQUIRED);
  WritePolicies("sem/ semaphore_size=3\n");
  while (Policies().generation() < 2) absl::SleepFor(absl::Milliseconds(20));
  grpc::Status st;
  const AcquireResponse r = Acquire(b, "sem/k", &st);
  EXPECT_TRUE(st.ok()) << st.error_code() << " " << st.error_message();
  EXPECT_EQ(r.result(), AcquireResponse::ACQUIRED);
}

// Holds: acquires racing reloads each get one whole policy (the old or the
// new max hold, never a mix or none), and the lock-delay a reload may set
// stays within --max_lock_delay.
TEST_F(ReviewPolicyTest, AcquiresRacingReloadsGetOneWholePolicy) {
  StartDaemon("r/ max_hold=1h lock_delay=1s\n", {"--max_lock_delay=2s"});
  std::atomic<bool> stop{false};
  std::atomic<int> bad{0};
  std::atomic<int> granted{0};
  std::vector<std::thread> acquirers;
  for (int t = 0; t < 4; ++t) {
    acquirers.emplace_back([&, t] {
      uint64_t s = 0;
      ASSERT_TRUE(test::CreateSession(stub_.get(), 120000, &s, "race").ok());
      for (int i = 0; !stop.load() && i < 2000; ++i) {
        grpc::Status st;
        const std::string key = absl::StrCat("r/", t, "/", i);
        const AcquireResponse r = Acquire(s, key, &st);
        if (!st.ok() || r.result() != AcquireResponse::ACQUIRED) {
          ++bad;
          continue;
        }
        ++granted;
        const int64_t left = r.grant().max_hold_remaining_ms();
        // 1h or 2h (minus the call's time).
        if (!((left > kHourMs - 60000 && left <= kHourMs) ||
              (left > 2 * kHourMs - 60000 && left <= 2 * kHourMs))) {
          ++bad;
        }
        test::Release(stub_.get(), s, key, r.grant().fencing_token());
      }
    });
  }
  uint64_t generation = 1;
  for (int i = 0; i < 10; ++i) {
    WritePolicies(i % 2 == 0 ? "r/ max_hold=2h lock_delay=2s\n"
                             : "r/ max_hold=1h lock_delay=1s\n");
    while (Policies().generation() <= generation) {
      absl::SleepFor(absl::Milliseconds(10));
    }
    ++generation;
  }
  // Over --max_lock_delay: refused, the policies stay.
  WritePolicies("r/ max_hold=2h lock_delay=3s\n");
  AwaitReloadOrRefusal(generation);
  stop = true;
  for (std::thread& t : acquirers) t.join();
  EXPECT_EQ(bad.load(), 0);
  EXPECT_GT(granted.load(), 0);
  const v1::GetPoliciesResponse p = Policies();
  EXPECT_THAT(p.last_error(), HasSubstr("exceeds the daemon's --max_lock_delay"));
  EXPECT_EQ(p.generation(), generation);
}

// ---------------------------------------------------------------------------
// AcquireAll.

// AcquireAll takes a slot of a key its policy makes a semaphore.
TEST_F(ReviewPolicyTest, AcquireAllOnASemaphorePrefixTakesASlot) {
  StartDaemon("sem/ semaphore_size=2 wait_timeout=0\n");
  const uint64_t a = Session();
  const uint64_t b = Session();
  ASSERT_EQ(Acquire(a, "sem/k").result(), AcquireResponse::ACQUIRED);
  ASSERT_EQ(Describe("sem/k").semaphore_size(), 2u);
  grpc::ClientContext ctx;
  ctx.set_deadline(DeadlineIn(std::chrono::seconds(30)));
  v1::AcquireAllRequest req;
  req.set_session_id(b);
  req.add_keys()->set_key("sem/k");
  req.add_keys()->set_key("other/k");
  v1::AcquireAllResponse resp;
  const grpc::Status st = stub_->AcquireAll(&ctx, req, &resp);
  EXPECT_TRUE(st.ok()) << st.error_code() << " " << st.error_message();
  EXPECT_EQ(resp.result(), AcquireResponse::ACQUIRED);
  const v1::DescribeLockResponse d = Describe("sem/k");
  EXPECT_EQ(d.semaphore_size(), 2u);
  EXPECT_EQ(d.holders_size(), 2);
}

// Holds: a policy's wait timeout on AcquireAll is the shortest of the keys'
// (here a try on a held key answers at once), and per-key max holds apply.
TEST_F(ReviewPolicyTest, AcquireAllTakesTheShortestPolicyWait) {
  StartDaemon("a/ wait_timeout=forever\nb/ wait_timeout=0 max_hold=1h\n");
  const uint64_t holder = Session();
  const uint64_t s = Session();
  ASSERT_EQ(Acquire(holder, "a/1").result(), AcquireResponse::ACQUIRED);
  grpc::ClientContext ctx;
  ctx.set_deadline(DeadlineIn(std::chrono::seconds(30)));
  v1::AcquireAllRequest req;
  req.set_session_id(s);
  req.add_keys()->set_key("a/1");
  req.add_keys()->set_key("b/1");
  v1::AcquireAllResponse resp;
  ASSERT_TRUE(stub_->AcquireAll(&ctx, req, &resp).ok());
  EXPECT_EQ(resp.result(), AcquireResponse::TIMED_OUT);
  EXPECT_EQ(Describe("b/1").holders_size(), 0);
}

// ---------------------------------------------------------------------------
// The client library's explicit zero.

// The library's sub-millisecond max hold is not sent as 0 ("no limit"), and
// a negative one is refused.
TEST_F(ReviewPolicyTest, ASubMillisecondLibraryMaxHoldIsNotUnlimited) {
  StartDaemon("payments/ max_hold=1h\n");
  ClientOptions options;
  options.endpoints = {daemon_->address()};
  auto client = Client::Connect(options);
  ASSERT_TRUE(client.ok()) << client.status();
  SessionOptions session_options;
  session_options.ttl = absl::Seconds(60);
  auto session = (*client)->CreateSession(session_options);
  ASSERT_TRUE(session.ok()) << session.status();
  for (const absl::Duration max_hold :
       {absl::Microseconds(500), absl::Seconds(-1)}) {
    const std::string key =
        absl::StrCat("payments/", absl::FormatDuration(max_hold));
    AcquireOptions o;
    o.max_hold = max_hold;
    o.wait = absl::ZeroDuration();
    absl::StatusOr<std::optional<LockGrant>> g = (*session)->Acquire(key, o);
    if (max_hold < absl::ZeroDuration()) {
      // A negative max hold is refused by the library.
      EXPECT_EQ(g.status().code(), absl::StatusCode::kInvalidArgument)
          << g.status();
      continue;
    }
    ASSERT_TRUE(g.ok()) << g.status();
    ASSERT_TRUE(g->has_value()) << key << " not granted";
    const v1::DescribeLockResponse d = Describe(key);
    if (d.holders_size() == 0) continue;  // Revoked already: it was limited.
    EXPECT_NE(d.holders(0).grant().max_hold_remaining_ms(), 0)
        << "max_hold " << absl::FormatDuration(max_hold)
        << " was granted with no limit (over the policy's 1h)";
  }
}

// ---------------------------------------------------------------------------
// taalactl.

// Holds: hostile prefixes (terminal escapes, C1 controls) never reach the
// terminal raw, whether the daemon loads them or refuses them.
TEST_F(ReviewPolicyTest, TaalactlNeverPrintsARawControlCharacter) {
  StartDaemon("ok/ max_hold=1s\n");
  WritePolicies(
      "ok/ max_hold=1s\n"
      "\"\x1b]0;pwned\x07\x1b[2J/\" max_hold=2s\n"
      "\"\xc2\x9b" "31m/\" max_hold=3s\n"
      "\"\" max_hold=4s\n");
  AwaitReloadOrRefusal(1);
  for (const std::vector<std::string>& args :
       std::vector<std::vector<std::string>>{
           {"policies"}, {"stats", "ok/1"}, {"stats", "x"}}) {
    const std::string out = RunTaalactl(args);
    EXPECT_FALSE(absl::StrContains(out, "\x1b")) << args[0];
    EXPECT_FALSE(absl::StrContains(out, "\x07")) << args[0];
    EXPECT_FALSE(absl::StrContains(out, "\xc2\x9b")) << args[0];
  }
}

// taalactl shows a policy's values exactly (1050ms is not "1.0s").
TEST_F(ReviewPolicyTest, TaalactlShowsAPolicysValueExactly) {
  StartDaemon("a/ max_hold=1050ms\nb/ lock_delay=61500ms\n");
  const std::string out = RunTaalactl({"policies"});
  EXPECT_THAT(out, Not(HasSubstr(" 1.0s ")));
  EXPECT_THAT(out, Not(HasSubstr("1m01s ")));
  EXPECT_TRUE(absl::StrContains(out, "1.05s") ||
              absl::StrContains(out, "1050ms"))
      << out;
}

}  // namespace
}  // namespace taala
