// The write-ahead log of the real taalad: damaged logs, --dump_wal, a clean
// restart seen from a KeepAlive stream, failing disks (fault injection) and
// a data directory of the format before the log.

#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "taala/v1/lock_service.grpc.pb.h"
#include "tests/integration/rpc_helpers.h"
#include "tests/integration/taalad_process.h"

namespace taala {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using v1::AcquireResponse;

class DurabilityTest : public ::testing::Test {
 protected:
  void TearDown() override {
    if (HasFailure() && daemon_ != nullptr) {
      std::cerr << "---- taalad log ----\n" << daemon_->Log();
    }
  }

  void StartDaemon(std::vector<std::string> args = {},
                   std::string data_dir = "") {
    args.push_back("--min_session_ttl=100ms");
    auto started = test::TaaladProcess::Start(std::move(args), data_dir);
    ASSERT_TRUE(started.ok()) << started.status();
    daemon_ = std::move(*started);
    stub_ = test::RestartableStub(daemon_->address());
  }

  uint64_t NewSession(int64_t ttl_ms = 20000) {
    uint64_t id = 0;
    grpc::Status s = test::CreateSession(stub_.get(), ttl_ms, &id);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return id;
  }

  uint64_t MustAcquire(uint64_t session, const std::string& key) {
    AcquireResponse resp;
    grpc::Status s = test::Acquire(stub_.get(), session, key, 0, &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();
    EXPECT_EQ(resp.result(), AcquireResponse::ACQUIRED) << key;
    return resp.grant().fencing_token();
  }

  // The key's holders as (session, token).
  std::vector<std::pair<uint64_t, uint64_t>> Holders(const std::string& key) {
    v1::DescribeLockResponse resp;
    grpc::Status s = test::Describe(stub_.get(), key, &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();
    std::vector<std::pair<uint64_t, uint64_t>> out;
    for (const auto& h : resp.holders()) {
      out.emplace_back(h.grant().session_id(), h.grant().fencing_token());
    }
    return out;
  }

  // The newest log segment of the daemon's data directory.
  std::string LastSegment() {
    std::vector<std::string> names;
    for (const auto& e :
         std::filesystem::directory_iterator(daemon_->data_dir() + "/wal")) {
      if (e.path().extension() == ".log") names.push_back(e.path().string());
    }
    std::sort(names.begin(), names.end());
    return names.empty() ? "" : names.back();
  }

  std::unique_ptr<test::TaaladProcess> daemon_;
  std::unique_ptr<v1::LockService::Stub> stub_;
};

using Pair = std::pair<uint64_t, uint64_t>;

TEST_F(DurabilityTest, TornTailIsCutWithAWarningAndEarlierStateSurvives) {
  StartDaemon();
  const uint64_t s = NewSession();
  const uint64_t ta = MustAcquire(s, "torn/a");
  const uint64_t tb = MustAcquire(s, "torn/b");
  const uint64_t tc = MustAcquire(s, "torn/c");  // The record torn below.
  const std::string dir = daemon_->data_dir();
  daemon_->Kill();
  const std::string segment = LastSegment();
  ASSERT_FALSE(segment.empty());
  const auto size = std::filesystem::file_size(segment);
  std::filesystem::resize_file(segment, size - 3);

  StartDaemon({}, dir);
  const std::string log = daemon_->Log();
  EXPECT_THAT(log, HasSubstr("torn tail"));
  EXPECT_THAT(log, HasSubstr(segment + " at offset "));
  // Everything acknowledged before the torn record is there.
  EXPECT_TRUE(test::KeepAliveOnce(stub_.get(), s).ok());
  EXPECT_THAT(Holders("torn/a"), ::testing::ElementsAre(Pair(s, ta)));
  EXPECT_THAT(Holders("torn/b"), ::testing::ElementsAre(Pair(s, tb)));
  // The torn grant was cut off: the key is free, and a new grant's token is
  // above every token issued before.
  EXPECT_THAT(Holders("torn/c"), ::testing::IsEmpty());
  const uint64_t tc2 = MustAcquire(s, "torn/c");
  EXPECT_GT(tc2, tc);  // Tokens never repeat, not even a lost one.

  // The repaired log goes on: more records, another kill -9, all there.
  const uint64_t closed = NewSession();
  const uint64_t td = MustAcquire(closed, "torn/d");
  ASSERT_TRUE(test::Release(stub_.get(), s, "torn/a", ta).ok());
  {
    grpc::ClientContext ctx;
    v1::CloseSessionRequest req;
    req.set_session_id(closed);
    v1::CloseSessionResponse resp;
    ASSERT_TRUE(stub_->CloseSession(&ctx, req, &resp).ok());
  }
  const uint64_t te = MustAcquire(s, "torn/e");
  EXPECT_GT(td, tc2);
  daemon_->Kill();
  StartDaemon({}, dir);
  EXPECT_THAT(daemon_->Log(), Not(HasSubstr("torn")));
  EXPECT_TRUE(test::KeepAliveOnce(stub_.get(), s).ok());
  EXPECT_EQ(test::KeepAliveOnce(stub_.get(), closed).error_code(),
            grpc::StatusCode::NOT_FOUND);
  EXPECT_THAT(Holders("torn/a"), ::testing::IsEmpty());
  EXPECT_THAT(Holders("torn/b"), ::testing::ElementsAre(Pair(s, tb)));
  EXPECT_THAT(Holders("torn/c"), ::testing::ElementsAre(Pair(s, tc2)));
  EXPECT_THAT(Holders("torn/d"), ::testing::IsEmpty());
  EXPECT_THAT(Holders("torn/e"), ::testing::ElementsAre(Pair(s, te)));
}

TEST_F(DurabilityTest, CorruptMiddleRefusesToStartNamingTheFile) {
  StartDaemon();
  const uint64_t s = NewSession();
  for (int i = 0; i < 10; ++i) {
    const std::string key = absl::StrCat("mid/", i);
    const uint64_t t = MustAcquire(s, key);
    ASSERT_TRUE(test::Release(stub_.get(), s, key, t).ok());
  }
  const std::string dir = daemon_->data_dir();
  daemon_->Kill();
  const std::string segment = LastSegment();
  ASSERT_FALSE(segment.empty());
  ASSERT_GT(std::filesystem::file_size(segment), 400u);
  {
    // A byte inside the first record's payload (after the 16-byte segment
    // header and the 8-byte frame header).
    std::fstream f(segment, std::ios::in | std::ios::out | std::ios::binary);
    f.seekg(16 + 8 + 5);
    char c = 0;
    f.read(&c, 1);
    c = static_cast<char>(c ^ 0x5a);
    f.seekp(16 + 8 + 5);
    f.write(&c, 1);
  }
  auto run = test::RunTaaladToExit(
      {"--listen=127.0.0.1:0", "--data_dir=" + dir}, 30000);
  ASSERT_TRUE(run.ok()) << run.status();
  EXPECT_TRUE(run->exited) << run->output;
  EXPECT_EQ(run->exit_code, 1) << run->output;
  EXPECT_THAT(run->output, HasSubstr("corrupt"));
  EXPECT_THAT(run->output,
              HasSubstr(std::filesystem::path(segment).filename()));
}

TEST_F(DurabilityTest, DumpWalPrintsTheGrantOfAHeldLock) {
  StartDaemon();
  const uint64_t s = NewSession();
  const uint64_t t = MustAcquire(s, "dump/held");
  const std::string dir = daemon_->data_dir();
  daemon_->Kill();
  auto run = test::RunTaaladToExit({"--dump_wal=" + dir}, 30000);
  ASSERT_TRUE(run.ok()) << run.status();
  EXPECT_TRUE(run->exited);
  EXPECT_EQ(run->exit_code, 0) << run->output;
  bool found = false;
  std::istringstream lines(run->output);
  for (std::string line; std::getline(lines, line);) {
    if (line.find("GRANT_MADE") != std::string::npos &&
        line.find("key=\"dump/held\"") != std::string::npos &&
        line.find(absl::StrCat("token=", t, " ")) != std::string::npos &&
        line.find(absl::StrCat("session=", s)) != std::string::npos) {
      found = true;
    }
  }
  EXPECT_TRUE(found) << run->output;
}

TEST_F(DurabilityTest, SigtermEndsKeepAliveStreamAndTheSessionIsKept) {
  StartDaemon();
  const uint64_t s = NewSession(20000);
  const uint64_t t = MustAcquire(s, "term/k");
  grpc::ClientContext ctx;
  auto stream = stub_->KeepAlive(&ctx);
  v1::KeepAliveRequest ka;
  ka.set_session_id(s);
  ka.set_acked_event_sequence(0);
  ka.set_request_sequence(1);
  ASSERT_TRUE(stream->Write(ka));
  v1::KeepAliveResponse msg;
  ASSERT_TRUE(stream->Read(&msg));
  EXPECT_EQ(msg.session_id(), s);

  const std::string dir = daemon_->data_dir();
  EXPECT_EQ(daemon_->Stop(), 0);
  while (stream->Read(&msg)) {
  }
  const grpc::Status end = stream->Finish();
  EXPECT_EQ(end.error_code(), grpc::StatusCode::UNAVAILABLE)
      << end.error_message();
  EXPECT_THAT(end.error_message(), HasSubstr("your session is kept"));

  StartDaemon({}, dir);
  grpc::Status renewed = test::KeepAliveOnce(stub_.get(), s);
  EXPECT_TRUE(renewed.ok()) << renewed.error_message();
  EXPECT_THAT(Holders("term/k"), ::testing::ElementsAre(Pair(s, t)));
}

TEST_F(DurabilityTest, NoneModeKeepsStateOnlyAcrossACleanStop) {
  const std::vector<std::string> flags = {
      "--durability=none", "--max_session_ttl=1500ms",
      "--default_session_ttl=1s"};
  StartDaemon(flags);
  const uint64_t s = NewSession(1500);
  const uint64_t t = MustAcquire(s, "none/k");
  const std::string dir = daemon_->data_dir();
  ASSERT_EQ(daemon_->Stop(), 0);
  StartDaemon(flags, dir);
  EXPECT_TRUE(test::KeepAliveOnce(stub_.get(), s).ok());
  EXPECT_THAT(Holders("none/k"), ::testing::ElementsAre(Pair(s, t)));
  const uint64_t t2 = MustAcquire(s, "none/k2");
  daemon_->Kill();
  StartDaemon(flags, dir);
  EXPECT_EQ(test::KeepAliveOnce(stub_.get(), s).error_code(),
            grpc::StatusCode::NOT_FOUND);
  v1::ServerStatus status;
  ASSERT_TRUE(test::ServerStatus(stub_.get(), &status).ok());
  EXPECT_EQ(status.durability(), "none");
  EXPECT_LE(status.grants_refused_for_ms(), 1500);
  const uint64_t s2 = NewSession(1500);
  while (true) {
    ASSERT_TRUE(test::KeepAliveOnce(stub_.get(), s2).ok());
    ASSERT_TRUE(test::ServerStatus(stub_.get(), &status).ok());
    if (status.grants_refused_for_ms() == 0) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_THAT(Holders("none/k"), ::testing::IsEmpty());
  EXPECT_GT(MustAcquire(s2, "none/k"), t2);
}

TEST_F(DurabilityTest, RevokeEventAndLockDelaySurviveKillNine) {
  StartDaemon();
  // A grant revoked by its max hold time: the event waits for its session.
  const uint64_t s = NewSession(20000);
  AcquireResponse resp;
  {
    grpc::ClientContext ctx;
    v1::AcquireRequest req;
    req.set_session_id(s);
    req.set_key("ev/k");
    req.set_max_hold_ms(200);
    ASSERT_TRUE(stub_->Acquire(&ctx, req, &resp).ok());
    ASSERT_EQ(resp.result(), AcquireResponse::ACQUIRED);
  }
  const uint64_t revoked = resp.grant().fencing_token();
  // A session that is left to expire while holding a key with a lock-delay.
  const uint64_t lost = NewSession(1000);
  {
    grpc::ClientContext ctx;
    v1::AcquireRequest req;
    req.set_session_id(lost);
    req.set_key("delay/k");
    req.set_lock_delay_ms(60000);
    ASSERT_TRUE(stub_->Acquire(&ctx, req, &resp).ok());
    ASSERT_EQ(resp.result(), AcquireResponse::ACQUIRED);
  }
  while (!Holders("ev/k").empty() || !Holders("delay/k").empty()) {
    ASSERT_TRUE(test::KeepAliveOnce(stub_.get(), s).ok());
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  const std::string dir = daemon_->data_dir();
  daemon_->Kill();
  StartDaemon({}, dir);

  v1::DescribeLockResponse described;
  ASSERT_TRUE(test::Describe(stub_.get(), "delay/k", &described).ok());
  EXPECT_GT(described.lock_delay_remaining_ms(), 0);
  EXPECT_EQ(test::Acquire(stub_.get(), s, "delay/k", 0, &resp).error_code(),
            grpc::StatusCode::OK);
  EXPECT_EQ(resp.result(), AcquireResponse::TIMED_OUT) << "lock-delay lost";
  EXPECT_EQ(test::KeepAliveOnce(stub_.get(), lost).error_code(),
            grpc::StatusCode::NOT_FOUND);

  // The unacknowledged GRANT_REVOKED is sent again on the next stream.
  grpc::ClientContext ctx;
  auto stream = stub_->KeepAlive(&ctx);
  v1::KeepAliveRequest ka;
  ka.set_session_id(s);
  ka.set_acked_event_sequence(0);
  ka.set_request_sequence(1);
  ASSERT_TRUE(stream->Write(ka));
  bool got_event = false;
  v1::KeepAliveResponse msg;
  for (int i = 0; i < 2 && stream->Read(&msg); ++i) {
    if (msg.has_event()) {
      got_event = true;
      EXPECT_EQ(msg.event().type(), v1::SessionEvent::GRANT_REVOKED);
      EXPECT_EQ(msg.event().key(), "ev/k");
      EXPECT_EQ(msg.event().fencing_token(), revoked);
      EXPECT_EQ(msg.event().sequence(), 1u);
      break;
    }
  }
  EXPECT_TRUE(got_event);
  ctx.TryCancel();
}

TEST_F(DurabilityTest, KillNineDuringTheCleanStopLosesNothing) {
  StartDaemon();
  const std::string dir = daemon_->data_dir();
  const uint64_t s = NewSession(20000);
  std::map<std::string, uint64_t> held;
  for (int round = 0; round < 10; ++round) {
    for (int i = 0; i < 5; ++i) {
      const std::string key = absl::StrCat("stop/", round, "/", i);
      held[key] = MustAcquire(s, key);
    }
    const std::string gone = absl::StrCat("stop/", round, "/0");
    ASSERT_TRUE(test::Release(stub_.get(), s, gone, held[gone]).ok());
    held.erase(gone);
    // SIGTERM, then kill -9 somewhere in the drain or the final snapshot.
    ::kill(daemon_->pid(), SIGTERM);
    std::this_thread::sleep_for(std::chrono::milliseconds(round * 25));
    daemon_->Kill();
    StartDaemon({}, dir);
    ASSERT_TRUE(test::KeepAliveOnce(stub_.get(), s).ok()) << "round " << round;
    for (const auto& [key, token] : held) {
      EXPECT_THAT(Holders(key), ::testing::ElementsAre(Pair(s, token)))
          << key << " round " << round;
    }
    EXPECT_THAT(Holders(gone), ::testing::IsEmpty()) << gone;
  }
}

// Acquires distinct keys until one is not acknowledged; returns how many
// were.
int AcquireUntilRefused(v1::LockService::Stub* stub, uint64_t session) {
  for (int i = 0; i < 1000; ++i) {
    AcquireResponse resp;
    grpc::Status s =
        test::Acquire(stub, session, absl::StrCat("disk/", i), 0, &resp);
    if (!s.ok()) {
      EXPECT_TRUE(test::Unknown(s)) << s.error_message();
      return i;
    }
    EXPECT_EQ(resp.result(), AcquireResponse::ACQUIRED);
  }
  ADD_FAILURE() << "the log never failed";
  return -1;
}

TEST_F(DurabilityTest, FailedLogWriteStopsTheDaemonNamingTheSegment) {
  StartDaemon({"--fault_wal_fail_write_after_bytes=1000"});
  const uint64_t s = NewSession();
  const int acquired = AcquireUntilRefused(stub_.get(), s);
  EXPECT_GT(acquired, 2);  // A few acquires went through first.
  EXPECT_EQ(daemon_->WaitForExit(), 1);
  const std::string log = daemon_->Log();
  EXPECT_THAT(log, HasSubstr("No space left on device"));
  EXPECT_THAT(log, HasSubstr("/wal/"));
  EXPECT_THAT(log, HasSubstr(".log"));
}

TEST_F(DurabilityTest, FailedLogFsyncStopsTheDaemonNamingTheSegment) {
  StartDaemon({"--fault_wal_fail_fsync"});
  uint64_t s = 0;
  grpc::Status created = test::CreateSession(stub_.get(), 20000, &s);
  if (created.ok()) {
    // The session record was not the first to be fsynced (it may be, and
    // then nothing was acknowledged at all).
    AcquireUntilRefused(stub_.get(), s);
  } else {
    EXPECT_TRUE(test::Unknown(created)) << created.error_message();
  }
  EXPECT_EQ(daemon_->WaitForExit(), 1);
  const std::string log = daemon_->Log();
  EXPECT_THAT(log, HasSubstr("Input/output error"));
  EXPECT_THAT(log, HasSubstr("/wal/"));
  EXPECT_THAT(log, HasSubstr(".log"));
}

TEST_F(DurabilityTest, DataDirOfTheFormatBeforeTheLogIsAdopted) {
  std::string dir = ::testing::TempDir() + "taala_old_format_XXXXXX";
  ASSERT_NE(mkdtemp(dir.data()), nullptr);
  { std::ofstream(dir + "/token_epoch") << "7\n"; }
  // The old daemon's holders may still believe they hold their keys for as
  // long as its sessions' leases (unknown: at most --max_session_ttl).
  constexpr int64_t kMaxTtlMs = 3000;
  const auto started = std::chrono::steady_clock::now();
  StartDaemon({"--max_session_ttl=3s", "--default_session_ttl=1s"}, dir);
  EXPECT_THAT(daemon_->Log(), HasSubstr("adopted"));
  const uint64_t s = NewSession(kMaxTtlMs);
  EXPECT_GE(s, uint64_t{8} << 40);  // Above every number of epoch 7.
  v1::ServerStatus status;
  ASSERT_TRUE(test::ServerStatus(stub_.get(), &status).ok());
  AcquireResponse resp;
  grpc::Status early = test::Acquire(stub_.get(), s, "old/k", 0, &resp);
  if (std::chrono::steady_clock::now() - started <
      std::chrono::milliseconds(kMaxTtlMs)) {
    // (Only if this client was not too slow to be inside the window.)
    EXPECT_GT(status.grants_refused_for_ms(), 0);
    EXPECT_EQ(early.error_code(), grpc::StatusCode::UNAVAILABLE)
        << "a grant while a holder of the adopted run may still hold it";
    EXPECT_THAT(early.error_message(), HasSubstr("unclean stop"));
  }
  while (true) {
    ASSERT_TRUE(test::KeepAliveOnce(stub_.get(), s).ok());
    ASSERT_TRUE(test::ServerStatus(stub_.get(), &status).ok());
    if (status.grants_refused_for_ms() == 0) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_GT(MustAcquire(s, "old/k"), uint64_t{8} << 40);
  daemon_.reset();
  std::error_code ignored;
  std::filesystem::remove_all(dir, ignored);
}

}  // namespace
}  // namespace taala
