// Hostile-client review of issue 10's observability RPCs against a real
// taalad. Every test here failed on main when written; each says what is
// wrong and what the correct behaviour is.

#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <fstream>
#include <limits>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "tests/integration/rpc_helpers.h"
#include "tests/integration/taalad_process.h"

namespace taala {
namespace {

using test::DeadlineIn;
using test::TaaladProcess;

constexpr int64_t kTtlMs = 120000;

class HostileObservabilityTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto d = TaaladProcess::Start({"--leak_threshold=1s"});
    ASSERT_TRUE(d.ok()) << d.status();
    daemon_ = std::move(*d);
    stub_ = test::RestartableStub(daemon_->address());
  }

  // A session with the most labels, each of the largest size the daemon
  // accepts (32 labels, keys and values of 256 bytes): about 16 KB.
  uint64_t FatSession(int n) {
    grpc::ClientContext ctx;
    ctx.set_deadline(DeadlineIn(std::chrono::seconds(10)));
    ctx.set_wait_for_ready(true);
    v1::CreateSessionRequest req;
    req.set_ttl_ms(kTtlMs);
    req.set_client_name(std::string(256, 'n'));
    for (int i = 0; i < 32; ++i) {
      std::string k = absl::StrCat(n, "-", i, "-");
      k.resize(256, 'k');
      (*req.mutable_labels())[k] = std::string(256, 'v');
    }
    v1::CreateSessionResponse resp;
    grpc::Status s = stub_->CreateSession(&ctx, req, &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return resp.session_id();
  }

  void Take(uint64_t session, const std::string& key,
            v1::LockMode mode = v1::LOCK_MODE_EXCLUSIVE) {
    grpc::ClientContext ctx;
    ctx.set_deadline(DeadlineIn(std::chrono::seconds(10)));
    v1::AcquireRequest req;
    req.set_session_id(session);
    req.set_key(key);
    req.set_mode(mode);
    v1::AcquireResponse resp;
    grpc::Status s = stub_->Acquire(&ctx, req, &resp);
    ASSERT_TRUE(s.ok()) << s.error_message();
    ASSERT_EQ(resp.result(), v1::AcquireResponse::ACQUIRED) << key;
  }

  // A key of the largest length allowed (1024 bytes), numbered.
  static std::string LongKey(int i) {
    std::string k = absl::StrCat("leak/", i, "-");
    k.resize(1024, 'x');
    return k;
  }

  // Sends `bytes` as the request of `method` over the generic stub.
  grpc::Status RawCall(const std::string& method, const std::string& bytes) {
    auto channel = grpc::CreateChannel(daemon_->address(),
                                       grpc::InsecureChannelCredentials());
    grpc::GenericStub generic(channel);
    grpc::ClientContext ctx;
    ctx.set_deadline(DeadlineIn(std::chrono::seconds(10)));
    grpc::Slice slice(bytes);
    grpc::ByteBuffer request(&slice, 1);
    grpc::ByteBuffer response;
    grpc::Status status;
    absl::Notification done;
    generic.UnaryCall(&ctx, "/taala.v1.LockService/" + method,
                      grpc::StubOptions(), &request, &response,
                      [&](grpc::Status s) {
                        status = std::move(s);
                        done.Notify();
                      });
    EXPECT_TRUE(done.WaitForNotificationWithTimeout(absl::Seconds(20)));
    return status;
  }

  std::unique_ptr<TaaladProcess> daemon_;
  std::unique_ptr<v1::LockService::Stub> stub_;
};

// WRONG: GetLeakSuspects allows limit up to 1000 and copies every suspect's
// session labels (up to ~16 KB) and a key of up to 1 KB twice (grant.key) into
// one reply, with no byte budget. 300 leaked locks of one labelled session
// (a realistic leak: one worker that died holding its batch) make a ~5 MB
// reply, which every client with gRPC's default 4 MB receive limit
// (taalactl, grpcurl, the tests) gets as RESOURCE_EXHAUSTED: the on-call
// engineer cannot see the leak at all, exactly when it matters.
// CORRECT: the reply stays under 4 MB: fewer suspects with `truncated` set
// (or labels shared/omitted), never a failed call.
TEST_F(HostileObservabilityTest, LeakSuspectsReplyNeverExceedsFourMegabytes) {
  const uint64_t s = FatSession(0);
  for (int i = 0; i < 300; ++i) Take(s, LongKey(i));
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  grpc::ClientContext ctx;
  ctx.set_deadline(DeadlineIn(std::chrono::seconds(20)));
  v1::GetLeakSuspectsRequest req;
  req.set_held_longer_than_ms(1);
  req.set_limit(1000);
  v1::GetLeakSuspectsResponse resp;
  grpc::Status st = stub_->GetLeakSuspects(&ctx, req, &resp);
  ASSERT_TRUE(st.ok()) << st.error_code() << ": " << st.error_message();
  EXPECT_GT(resp.suspects_size(), 0);
}

// WRONG: ListLocks pages by key count only (page_size up to 1000) and now
// copies each holder's session labels into every LockSummary. 300 held keys
// of one labelled session in one page are ~5 MB: RESOURCE_EXHAUSTED at a
// default client, so `taalactl list --page-size 1000` (or any listing of a
// shared key with many labelled holders) fails instead of paging.
// CORRECT: a page stops before 4 MB and sets next_page_token.
TEST_F(HostileObservabilityTest, ListLocksPageNeverExceedsFourMegabytes) {
  const uint64_t s = FatSession(0);
  for (int i = 0; i < 300; ++i) Take(s, LongKey(i));
  grpc::ClientContext ctx;
  ctx.set_deadline(DeadlineIn(std::chrono::seconds(20)));
  v1::ListLocksRequest req;
  req.set_prefix("leak/");
  req.set_page_size(1000);
  v1::ListLocksResponse resp;
  grpc::Status st = stub_->ListLocks(&ctx, req, &resp);
  ASSERT_TRUE(st.ok()) << st.error_code() << ": " << st.error_message();
  EXPECT_GT(resp.locks_size(), 0);
}

// WRONG: DescribeLock lists every holder with its session's labels and no
// byte budget: a SHARED key held by 300 labelled sessions (readers of a hot
// config key) gives a ~5 MB reply, RESOURCE_EXHAUSTED at a default client,
// so `taalactl describe KEY` cannot say who holds the key.
// CORRECT: the reply stays under 4 MB (holders truncated with a count, or
// labels left out past a budget).
TEST_F(HostileObservabilityTest, DescribeSharedKeyNeverExceedsFourMegabytes) {
  for (int i = 0; i < 300; ++i) Take(FatSession(i), "hot/config",
                                     v1::LOCK_MODE_SHARED);
  grpc::ClientContext ctx;
  ctx.set_deadline(DeadlineIn(std::chrono::seconds(20)));
  v1::DescribeLockRequest req;
  req.set_key("hot/config");
  v1::DescribeLockResponse resp;
  grpc::Status st = stub_->DescribeLock(&ctx, req, &resp);
  ASSERT_TRUE(st.ok()) << st.error_code() << ": " << st.error_message();
}

// Added with the fix: a page cut by the size budget continues where it
// stopped (no key or session lost or repeated), and DescribeLock says how
// many holders there are when it lists fewer.
TEST_F(HostileObservabilityTest, BudgetCutPagesContinueWithoutLoss) {
  std::vector<uint64_t> sessions;
  for (int i = 0; i < 300; ++i) sessions.push_back(FatSession(i));
  for (int i = 0; i < 300; ++i) Take(sessions[i], LongKey(i));
  for (int i = 0; i < 300; ++i) {
    Take(sessions[i], "hot/config", v1::LOCK_MODE_SHARED);
  }
  std::map<std::string, int> keys;
  std::string token;
  int pages = 0;
  do {
    grpc::ClientContext ctx;
    ctx.set_deadline(DeadlineIn(std::chrono::seconds(20)));
    v1::ListLocksRequest req;
    req.set_prefix("leak/");
    req.set_page_size(1000);
    req.set_page_token(token);
    v1::ListLocksResponse resp;
    grpc::Status st = stub_->ListLocks(&ctx, req, &resp);
    ASSERT_TRUE(st.ok()) << st.error_message();
    ASSERT_GT(resp.locks_size(), 0);
    for (const v1::LockSummary& l : resp.locks()) {
      ++keys[l.key()];
      EXPECT_EQ(l.holder_count(), 1u);
    }
    token = resp.next_page_token();
    ++pages;
  } while (!token.empty() && pages < 20);
  EXPECT_GT(pages, 1);
  EXPECT_EQ(keys.size(), 300u);
  for (const auto& [k, n] : keys) EXPECT_EQ(n, 1) << k;

  std::map<uint64_t, int> seen;
  token.clear();
  pages = 0;
  do {
    grpc::ClientContext ctx;
    ctx.set_deadline(DeadlineIn(std::chrono::seconds(20)));
    v1::ListSessionsRequest req;
    req.set_page_size(1000);
    req.set_page_token(token);
    v1::ListSessionsResponse resp;
    grpc::Status st = stub_->ListSessions(&ctx, req, &resp);
    ASSERT_TRUE(st.ok()) << st.error_message();
    ASSERT_GT(resp.sessions_size(), 0);
    for (const v1::SessionSummary& s : resp.sessions()) ++seen[s.session_id()];
    token = resp.next_page_token();
    ++pages;
  } while (!token.empty() && pages < 20);
  EXPECT_GT(pages, 1);
  for (uint64_t id : sessions) EXPECT_EQ(seen[id], 1) << id;

  grpc::ClientContext ctx;
  ctx.set_deadline(DeadlineIn(std::chrono::seconds(20)));
  v1::DescribeLockRequest req;
  req.set_key("hot/config");
  v1::DescribeLockResponse resp;
  grpc::Status st = stub_->DescribeLock(&ctx, req, &resp);
  ASSERT_TRUE(st.ok()) << st.error_message();
  EXPECT_EQ(resp.holder_count(), 300u);
  EXPECT_GT(resp.holders_size(), 0);
  EXPECT_LT(resp.holders_size(), 300);
}

// WRONG: the new typed RPCs (GetLeakSuspects, GetContention,
// GetRecentDeadlocks, GetMetrics) are not raw-parsed like the others: a
// request that is not a valid message gets UNIMPLEMENTED with an empty
// message (observed on main), which docs/taalactl.md and taalactl read as
// "a taalad older than the command": a hostile or buggy client is told the
// RPC does not exist. docs/api.md: a malformed request is INVALID_ARGUMENT.
// CORRECT: INVALID_ARGUMENT, as GetLockStats (raw-parsed) answers the same
// bytes.
TEST_F(HostileObservabilityTest, GarbageRequestToTypedRpcsIsInvalidArgument) {
  // Field 1, wire type 2 (length-delimited), length 100, then 2 bytes: the
  // length runs past the end.
  const std::string garbage("\x0a\x64\x01\x02", 4);
  EXPECT_EQ(RawCall("GetLockStats", garbage).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);  // The raw-parsed reference.
  for (const char* m : {"GetLeakSuspects", "GetContention",
                        "GetRecentDeadlocks", "GetMetrics"}) {
    grpc::Status st = RawCall(m, garbage);
    EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT)
        << m << ": " << st.error_code() << " " << st.error_message();
  }
}

// WRONG: a negative held_longer_than_ms is silently taken as "use the
// daemon's 10-minute default" by GetLeakSuspects, while ListLocks refuses
// the same field negative with INVALID_ARGUMENT (docs/api.md). A client
// bug (say a signed overflow computing "now - start") silently turns a
// "held longer than 1 s" query into "longer than 10 min" and hides leaks.
// CORRECT: INVALID_ARGUMENT naming held_longer_than_ms, as ListLocks does
// (and likewise a negative or NaN p99_factor).
TEST_F(HostileObservabilityTest, NegativeLeakThresholdIsRefused) {
  for (int64_t ms : {int64_t{-1}, INT64_MIN}) {
    grpc::ClientContext ctx;
    ctx.set_deadline(DeadlineIn(std::chrono::seconds(10)));
    v1::GetLeakSuspectsRequest req;
    req.set_held_longer_than_ms(ms);
    v1::GetLeakSuspectsResponse resp;
    grpc::Status st = stub_->GetLeakSuspects(&ctx, req, &resp);
    EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT)
        << ms << ": answered OK with threshold "
        << resp.held_longer_than_ms();
  }
  grpc::ClientContext ctx;
  ctx.set_deadline(DeadlineIn(std::chrono::seconds(10)));
  v1::ListLocksRequest lreq;
  lreq.set_held_longer_than_ms(-1);
  v1::ListLocksResponse lresp;
  EXPECT_EQ(stub_->ListLocks(&ctx, lreq, &lresp).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
}

// Added with the fix: a p99_factor that is negative, NaN or infinite is
// refused naming the field, rather than silently taken as the default.
TEST_F(HostileObservabilityTest, BadP99FactorIsRefused) {
  for (double f : {-1.0, std::nan(""), std::numeric_limits<double>::infinity()}) {
    grpc::ClientContext ctx;
    ctx.set_deadline(DeadlineIn(std::chrono::seconds(10)));
    v1::GetLeakSuspectsRequest req;
    req.set_p99_factor(f);
    v1::GetLeakSuspectsResponse resp;
    grpc::Status st = stub_->GetLeakSuspects(&ctx, req, &resp);
    EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << f;
    EXPECT_NE(st.error_message().find("p99_factor"), std::string::npos)
        << st.error_message();
  }
}

// WRONG: issue 10 asks that `taalad --help` list the flags; on main it still
// prints Abseil's "No flags matched. Try --helpfull ..." and exits 1, the
// very papercut the issue reports.
// CORRECT: exit 0 with the flags described (at least --listen, --data_dir,
// --leak_threshold, --stats), no "No flags matched".
TEST(HostileTaaladCli, HelpListsTheFlags) {
  auto run = test::RunTaaladToExit({"--help"}, 20000);
  ASSERT_TRUE(run.ok()) << run.status();
  EXPECT_TRUE(run->exited);
  EXPECT_EQ(run->exit_code, 0) << run->output;
  EXPECT_EQ(run->output.find("No flags matched"), std::string::npos)
      << run->output;
  for (const char* flag : {"--listen", "--data_dir", "--leak_threshold",
                           "--stats"}) {
    EXPECT_NE(run->output.find(flag), std::string::npos) << flag << "\n"
                                                         << run->output;
  }
}

// WRONG: docs/api.md says keys have "no control characters", and taalad
// refuses C0 and DEL, but C1 control characters (U+0080..U+009F, e.g. U+0085
// NEXT LINE and U+009B, the one-byte CSI some terminals honour) are accepted
// in keys, and then shown by every introspection RPC and log line.
// CORRECT: INVALID_ARGUMENT "key: control character ..." for C1 too.
TEST_F(HostileObservabilityTest, KeysWithC1ControlCharactersAreRefused) {
  uint64_t s = 0;
  ASSERT_TRUE(test::CreateSession(stub_.get(), kTtlMs, &s).ok());
  for (const std::string& key :
       {std::string("nel/a\xc2\x85" "b"), std::string("csi/\xc2\x9b" "2J")}) {
    grpc::ClientContext ctx;
    ctx.set_deadline(DeadlineIn(std::chrono::seconds(10)));
    v1::AcquireRequest req;
    req.set_session_id(s);
    req.set_key(key);
    v1::AcquireResponse resp;
    grpc::Status st = stub_->Acquire(&ctx, req, &resp);
    EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT)
        << "key accepted: result " << resp.result();
  }
}

// The daemon's peak resident memory (VmHWM), in bytes.
int64_t PeakRss(pid_t pid) {
  std::ifstream in(absl::StrCat("/proc/", pid, "/status"));
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmHWM:", 0) == 0) {
      return std::stoll(line.substr(6)) * 1024;  // "VmHWM:   1234 kB"
    }
  }
  return -1;
}

// WRONG: LeakSuspectsIn (server/core/stats_queries.cc) copies EVERY suspect
// of a shard, with a full copy of its session's labels map, into `found`
// while holding that shard's mutex, and trims to `limit` only between
// shards. A key tree lives in one shard, so 40,000 leaked keys under
// "leak/" held by one session with 16 KB of labels make a single
// GetLeakSuspects{limit: 1} allocate ~700 MB (200k keys: ~3.4 GB, an OOM
// kill) while every acquire on that shard waits. The issue requires
// statistics memory not to grow with the number of keys; a query asking for
// one suspect must not allocate per held key.
// CORRECT: keep at most limit+1 candidates while scanning (a bounded heap),
// copying labels only for those kept; the daemon's peak RSS grows by far
// less than 256 MB.
TEST_F(HostileObservabilityTest, LeakSuspectsScanDoesNotAllocatePerHeldKey) {
  const uint64_t s = FatSession(0);
  constexpr int kKeys = 40000;
  for (int base = 0; base < kKeys; base += 128) {
    grpc::ClientContext ctx;
    ctx.set_deadline(DeadlineIn(std::chrono::seconds(30)));
    v1::AcquireAllRequest req;
    req.set_session_id(s);
    for (int i = base; i < base + 128 && i < kKeys; ++i) {
      req.add_keys()->set_key(absl::StrCat("leak/", i));
    }
    v1::AcquireAllResponse resp;
    grpc::Status st = stub_->AcquireAll(&ctx, req, &resp);
    ASSERT_TRUE(st.ok()) << st.error_message();
    ASSERT_EQ(resp.result(), v1::AcquireResponse::ACQUIRED);
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  const int64_t before = PeakRss(daemon_->pid());
  ASSERT_GT(before, 0);
  grpc::ClientContext ctx;
  ctx.set_deadline(DeadlineIn(std::chrono::seconds(60)));
  v1::GetLeakSuspectsRequest req;
  req.set_held_longer_than_ms(1);
  req.set_limit(1);
  v1::GetLeakSuspectsResponse resp;
  const absl::Time start = absl::Now();
  grpc::Status st = stub_->GetLeakSuspects(&ctx, req, &resp);
  const absl::Duration took = absl::Now() - start;
  ASSERT_TRUE(st.ok()) << st.error_message();
  EXPECT_EQ(resp.suspects_size(), 1);
  EXPECT_TRUE(resp.truncated());
  const int64_t after = PeakRss(daemon_->pid());
  EXPECT_LT(after - before, int64_t{256} << 20)
      << "GetLeakSuspects{limit: 1} over " << kKeys
      << " held keys raised taalad's peak RSS from " << (before >> 20)
      << " MB to " << (after >> 20) << " MB (took " << took << ")";
}

// WRONG: the new log lines (slow waits, deadlock refusals) print the client
// name and key raw (server/rpc/logging_observer.cc), and client names may
// hold any UTF-8 including newlines and ESC. Any client can forge whole
// log lines in taalad's log ("...\n[date] [warn] session 1 (payments)
// expired ...") or put terminal escapes in front of an operator tailing it.
// CORRECT: names and keys in log lines are escaped (\n, \x1b) or quoted,
// so one event is one line.
TEST(HostileTaaladLog, ClientNamesCannotForgeLogLines) {
  auto d = TaaladProcess::Start({"--slow_wait_threshold=50ms"});
  ASSERT_TRUE(d.ok()) << d.status();
  auto stub = test::RestartableStub((*d)->address());
  uint64_t holder = 0, evil = 0;
  ASSERT_TRUE(test::CreateSession(stub.get(), kTtlMs, &holder).ok());
  const std::string forged =
      "x)\n[2026-01-01 00:00:00.000] [warn] FORGED LINE\x1b[2J (y";
  ASSERT_TRUE(test::CreateSession(stub.get(), kTtlMs, &evil, forged).ok());
  v1::AcquireResponse r;
  ASSERT_TRUE(test::Acquire(stub.get(), holder, "slow/k", 0, &r).ok());
  ASSERT_EQ(r.result(), v1::AcquireResponse::ACQUIRED);
  v1::AcquireResponse w;
  ASSERT_TRUE(test::Acquire(stub.get(), evil, "slow/k", 300, &w).ok());
  EXPECT_EQ(w.result(), v1::AcquireResponse::TIMED_OUT);
  std::string log;
  for (int i = 0; i < 50; ++i) {
    log = (*d)->Log();
    if (log.find("slow wait") != std::string::npos) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_NE(log.find("slow wait"), std::string::npos) << log;
  EXPECT_EQ(log.find("\n[2026-01-01 00:00:00.000] [warn] FORGED LINE"),
            std::string::npos)
      << log;
  EXPECT_EQ(log.find("\x1b"), std::string::npos) << log;
}

}  // namespace
}  // namespace taala
