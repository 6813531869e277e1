// Authorization against the real taalad (issue 12, docs/security.md): the
// --acl_file grants lock, read and admin by key prefix; what no rule grants
// is denied, naming the identity, the key and the permission. Loopback
// callers without credentials are "anonymous@127.0.0.1", which the rules
// name (--acl_file alone keeps anonymous callers admitted).

#include <grpcpp/grpcpp.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "taala/v1/admin_service.grpc.pb.h"
#include "taala/v1/lock_service.grpc.pb.h"
#include "tests/integration/rpc_helpers.h"
#include "tests/integration/taalad_process.h"

namespace taala {
namespace {

using ::testing::HasSubstr;
using test::DeadlineIn;

constexpr char kMe[] = "anonymous@127.0.0.1";

// A file of the test's own, removed with it.
class TempFile {
 public:
  explicit TempFile(const std::string& text) {
    path_ = "/tmp/taala_acl_test_XXXXXX";
    const int fd = mkstemp(path_.data());
    EXPECT_GE(fd, 0);
    close(fd);
    Write(text);
  }
  ~TempFile() { std::remove(path_.c_str()); }
  void Write(const std::string& text) {
    std::ofstream(path_, std::ios::trunc) << text;
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

class AclE2eTest : public ::testing::Test {
 protected:
  void Start(const std::string& acl) {
    acl_ = std::make_unique<TempFile>(acl);
    auto started =
        test::TaaladProcess::Start({"--acl_file=" + acl_->path()});
    ASSERT_TRUE(started.ok()) << started.status();
    daemon_ = std::move(*started);
    stub_ = test::RestartableStub(daemon_->address());
    admin_ = v1::AdminService::NewStub(grpc::CreateChannel(
        daemon_->address(), grpc::InsecureChannelCredentials()));
  }
  void TearDown() override {
    if (HasFailure() && daemon_ != nullptr) {
      std::cerr << "---- taalad log ----\n" << daemon_->Log();
    }
  }

  grpc::Status NewSession(uint64_t* id) {
    return test::CreateSession(stub_.get(), 600000, id);
  }
  grpc::Status Acquire(uint64_t session, const std::string& key,
                       uint64_t* token = nullptr) {
    v1::AcquireResponse resp;
    grpc::Status s = test::Acquire(stub_.get(), session, key, 0, &resp);
    if (s.ok()) {
      EXPECT_EQ(resp.result(), v1::AcquireResponse::ACQUIRED) << key;
      if (token != nullptr) *token = resp.grant().fencing_token();
    }
    return s;
  }
  grpc::Status AcquireAll(uint64_t session,
                          const std::vector<std::string>& keys) {
    grpc::ClientContext ctx;
    ctx.set_deadline(DeadlineIn(std::chrono::seconds(10)));
    v1::AcquireAllRequest req;
    req.set_session_id(session);
    for (const std::string& k : keys) req.add_keys()->set_key(k);
    req.set_wait_timeout_ms(0);
    v1::AcquireAllResponse resp;
    return stub_->AcquireAll(&ctx, req, &resp);
  }
  grpc::Status Describe(const std::string& key) {
    v1::DescribeLockResponse resp;
    return test::Describe(stub_.get(), key, &resp);
  }
  grpc::Status ListLocks(const std::string& prefix) {
    grpc::ClientContext ctx;
    ctx.set_deadline(DeadlineIn(std::chrono::seconds(10)));
    v1::ListLocksRequest req;
    req.set_prefix(prefix);
    v1::ListLocksResponse resp;
    return stub_->ListLocks(&ctx, req, &resp);
  }
  grpc::Status CheckFence(const std::string& key, uint64_t token) {
    grpc::ClientContext ctx;
    ctx.set_deadline(DeadlineIn(std::chrono::seconds(10)));
    v1::CheckFenceRequest req;
    req.set_key(key);
    req.set_fencing_token(token);
    v1::CheckFenceResponse resp;
    return stub_->CheckFence(&ctx, req, &resp);
  }
  grpc::Status LockStats(const std::string& key, const std::string& prefix) {
    grpc::ClientContext ctx;
    ctx.set_deadline(DeadlineIn(std::chrono::seconds(10)));
    v1::GetLockStatsRequest req;
    req.set_key(key);
    req.set_prefix(prefix);
    v1::GetLockStatsResponse resp;
    return stub_->GetLockStats(&ctx, req, &resp);
  }
  grpc::Status Policies() {
    grpc::ClientContext ctx;
    ctx.set_deadline(DeadlineIn(std::chrono::seconds(10)));
    v1::GetPoliciesResponse resp;
    return stub_->GetPolicies(&ctx, v1::GetPoliciesRequest(), &resp);
  }
  grpc::Status Metrics() {
    grpc::ClientContext ctx;
    ctx.set_deadline(DeadlineIn(std::chrono::seconds(10)));
    v1::GetMetricsResponse resp;
    return stub_->GetMetrics(&ctx, v1::GetMetricsRequest(), &resp);
  }
  grpc::Status Status() {
    v1::ServerStatus status;
    return test::ServerStatus(stub_.get(), &status);
  }
  grpc::Status ListSessions(int* count) {
    grpc::ClientContext ctx;
    ctx.set_deadline(DeadlineIn(std::chrono::seconds(10)));
    v1::ListSessionsResponse resp;
    grpc::Status s =
        stub_->ListSessions(&ctx, v1::ListSessionsRequest(), &resp);
    *count = resp.sessions_size();
    return s;
  }
  // A watch of `key` or `prefix`: OK once its snapshot arrives (the call
  // is then cancelled), else the stream's status.
  grpc::Status Watch(const std::string& key, const std::string& prefix) {
    grpc::ClientContext ctx;
    ctx.set_deadline(DeadlineIn(std::chrono::seconds(10)));
    v1::WatchRequest req;
    req.set_key(key);
    req.set_prefix(prefix);
    std::unique_ptr<grpc::ClientReader<v1::WatchResponse>> reader =
        stub_->Watch(&ctx, req);
    v1::WatchResponse msg;
    if (reader->Read(&msg)) {
      ctx.TryCancel();
      reader->Finish();
      return grpc::Status::OK;
    }
    return reader->Finish();
  }
  grpc::Status ForceRelease(const std::string& key) {
    grpc::ClientContext ctx;
    ctx.set_deadline(DeadlineIn(std::chrono::seconds(10)));
    v1::ForceReleaseRequest req;
    req.set_key(key);
    req.set_reason("test");
    req.set_requested_by("alice@ops");
    v1::ForceReleaseResponse resp;
    return admin_->ForceRelease(&ctx, req, &resp);
  }
  grpc::Status Revoke(uint64_t session) {
    grpc::ClientContext ctx;
    ctx.set_deadline(DeadlineIn(std::chrono::seconds(10)));
    v1::RevokeSessionRequest req;
    req.set_session_id(session);
    req.set_reason("test");
    v1::RevokeSessionResponse resp;
    return admin_->RevokeSession(&ctx, req, &resp);
  }

  std::unique_ptr<TempFile> acl_;
  std::unique_ptr<test::TaaladProcess> daemon_;
  std::unique_ptr<v1::LockService::Stub> stub_;
  std::unique_ptr<v1::AdminService::Stub> admin_;
};

// Expects PERMISSION_DENIED naming the identity, the key and the permission.
void ExpectDenied(const grpc::Status& s, const std::string& key,
                  const std::string& permission) {
  EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED)
      << s.error_message();
  EXPECT_THAT(s.error_message(), HasSubstr(absl::StrCat("\"", kMe, "\"")));
  EXPECT_THAT(s.error_message(),
              HasSubstr(absl::StrCat("permission '", permission, "'")));
  EXPECT_THAT(s.error_message(), HasSubstr(absl::StrCat("\"", key, "\"")));
}

TEST_F(AclE2eTest, LockAndReadAreGrantedByPrefix) {
  Start(absl::StrCat("allow ", kMe, " jobs/ lock\n",
                     "allow ", kMe, " jobs/pub/ read\n"));
  uint64_t session = 0;
  ASSERT_TRUE(NewSession(&session).ok());
  uint64_t token = 0;
  ASSERT_TRUE(Acquire(session, "jobs/1", &token).ok());
  EXPECT_TRUE(
      test::Release(stub_.get(), session, "jobs/1", token).ok());
  ASSERT_TRUE(Acquire(session, "jobs/pub/1").ok());
  ExpectDenied(Acquire(session, "other/1"), "other/1", "lock");
  ExpectDenied(Acquire(session, "job"), "job", "lock");
  // AcquireAll needs lock on every key; nothing is taken when one is
  // refused.
  ExpectDenied(AcquireAll(session, {"jobs/a", "other/b"}), "other/b", "lock");
  EXPECT_TRUE(AcquireAll(session, {"jobs/a", "jobs/b"}).ok());

  // read: only under jobs/pub/.
  EXPECT_TRUE(Describe("jobs/pub/1").ok());
  ExpectDenied(Describe("jobs/1"), "jobs/1", "read");
  EXPECT_TRUE(ListLocks("jobs/pub/").ok());
  ExpectDenied(ListLocks("jobs/"), "jobs/", "read");
  ExpectDenied(ListLocks(""), "", "read");
  EXPECT_NE(CheckFence("jobs/pub/x", 1).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  ExpectDenied(CheckFence("jobs/1", token), "jobs/1", "read");
  EXPECT_TRUE(Watch("jobs/pub/1", "").ok());
  EXPECT_TRUE(Watch("", "jobs/pub/").ok());
  ExpectDenied(Watch("jobs/1", ""), "jobs/1", "read");
  ExpectDenied(Watch("", "jobs/"), "jobs/", "read");
  ExpectDenied(Watch("", ""), "", "read");
  EXPECT_TRUE(LockStats("jobs/pub/1", "").ok());
  EXPECT_TRUE(LockStats("", "jobs/pub/").ok());
  ExpectDenied(LockStats("jobs/1", ""), "jobs/1", "read");
  ExpectDenied(LockStats("", "jobs/"), "jobs/", "read");
  // Whole-table introspection needs read on every key.
  ExpectDenied(Metrics(), "", "read");
  ExpectDenied(Policies(), "", "read");
  // Authentication only.
  EXPECT_TRUE(Status().ok());
  // No admin anywhere.
  ExpectDenied(ForceRelease("jobs/pub/1"), "jobs/pub/1", "admin");
  ExpectDenied(Revoke(session), "", "admin");
  // The refusals are in the audit log, by identity.
  EXPECT_THAT(daemon_->Log(),
              HasSubstr(absl::StrCat("audit: refused call=Acquire identity=\"",
                                     kMe, "\"")));
}

TEST_F(AclE2eTest, AdminIsGrantedByPrefix) {
  Start(absl::StrCat("allow ", kMe, " \"\" client\n",
                     "group ops ", kMe, "\n",
                     "allow group:ops jobs/ admin\n"));
  uint64_t session = 0;
  ASSERT_TRUE(NewSession(&session).ok());
  ASSERT_TRUE(Acquire(session, "jobs/1").ok());
  ASSERT_TRUE(Acquire(session, "other/1").ok());
  EXPECT_TRUE(Metrics().ok());
  grpc::Status forced = ForceRelease("jobs/1");
  EXPECT_TRUE(forced.ok()) << forced.error_message();
  ExpectDenied(ForceRelease("other/1"), "other/1", "admin");
  // A session may hold any key: revoking one needs admin on every key.
  ExpectDenied(Revoke(session), "", "admin");
  // The audit trail names the caller's identity (and what it says).
  EXPECT_THAT(daemon_->Log(),
              HasSubstr(absl::StrCat("force-release of key \\\"jobs/1\\\" by ",
                                     kMe, " (requested_by alice@ops)")));
}

TEST_F(AclE2eTest, AdminOnEveryKeyRevokesSessions) {
  Start(absl::StrCat("allow * \"\" admin\n"));
  uint64_t session = 0;
  ASSERT_TRUE(NewSession(&session).ok());
  ASSERT_TRUE(Acquire(session, "k").ok());
  grpc::Status s = Revoke(session);
  EXPECT_TRUE(s.ok()) << s.error_message();
  EXPECT_THAT(daemon_->Log(),
              HasSubstr(absl::StrCat("session ", session, " revoked by ",
                                     kMe)));
}

TEST_F(AclE2eTest, AnIdentityWithoutARuleGetsNothing) {
  Start("allow alice \"\" admin\ngroup ops bob\nallow group:ops \"\" read\n");
  uint64_t session = 0;
  grpc::Status s = NewSession(&session);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_THAT(s.error_message(), HasSubstr(kMe));
  EXPECT_THAT(s.error_message(), HasSubstr("permission 'lock' on any key"));
  ExpectDenied(Describe("k"), "k", "read");
  ExpectDenied(ListLocks(""), "", "read");
  ExpectDenied(Watch("", "k"), "k", "read");
  ExpectDenied(Metrics(), "", "read");
  ExpectDenied(ForceRelease("k"), "k", "admin");
  // Authentication only: status, and the caller's own sessions (none).
  EXPECT_TRUE(Status().ok());
  int listed = -1;
  EXPECT_TRUE(ListSessions(&listed).ok());
  EXPECT_EQ(listed, 0);
}

TEST_F(AclE2eTest, AnEmptyFileDeniesEverything) {
  Start("");
  uint64_t session = 0;
  EXPECT_EQ(NewSession(&session).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  ExpectDenied(Describe("k"), "k", "read");
  ExpectDenied(ListLocks("a/"), "a/", "read");
  ExpectDenied(Metrics(), "", "read");
  ExpectDenied(ForceRelease("k"), "k", "admin");
  ExpectDenied(Revoke(12345), "", "admin");
}

TEST_F(AclE2eTest, AnOwnSessionIsListedAndKept) {
  Start(absl::StrCat("allow ", kMe, " jobs/ lock\n"));
  uint64_t session = 0;
  ASSERT_TRUE(NewSession(&session).ok());
  int listed = 0;
  ASSERT_TRUE(ListSessions(&listed).ok());
  EXPECT_EQ(listed, 1);
  EXPECT_TRUE(test::KeepAliveOnce(stub_.get(), session).ok());
  // An unknown session is NOT_FOUND, as another identity's will be.
  EXPECT_EQ(test::KeepAliveOnce(stub_.get(), session ^ 1).error_code(),
            grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(Acquire(session ^ 1, "jobs/1").error_code(),
            grpc::StatusCode::NOT_FOUND);
}

// Reloading is SIGHUP's (docs/security.md): an edit alone changes nothing.
TEST_F(AclE2eTest, AnEditedFileIsNotReadWithoutSighup) {
  Start(absl::StrCat("allow ", kMe, " jobs/ lock\n"));
  uint64_t session = 0;
  ASSERT_TRUE(NewSession(&session).ok());
  ExpectDenied(Acquire(session, "other/1"), "other/1", "lock");
  acl_->Write(absl::StrCat("allow ", kMe, " \"\" admin\n"));
  ExpectDenied(Acquire(session, "other/1"), "other/1", "lock");
  ExpectDenied(Describe("jobs/1"), "jobs/1", "read");
  EXPECT_TRUE(Acquire(session, "jobs/1").ok());
}

TEST_F(AclE2eTest, AMalformedFileStopsTaalad) {
  TempFile acl("# ops\nallow alice jobs/ lok\n");
  std::string dir = "/tmp/taala_acl_dir_XXXXXX";
  ASSERT_NE(mkdtemp(dir.data()), nullptr);
  absl::StatusOr<test::TaaladExit> run = test::RunTaaladToExit(
      {"--acl_file=" + acl.path(), "--listen=127.0.0.1:0", "--admin_listen=",
       "--data_dir=" + dir + "/data"},
      30000);
  std::filesystem::remove_all(dir);
  ASSERT_TRUE(run.ok()) << run.status();
  EXPECT_NE(run->exit_code, 0);
  EXPECT_THAT(run->output, HasSubstr("line 2: unknown permission \"lok\""));
}

}  // namespace
}  // namespace taala
