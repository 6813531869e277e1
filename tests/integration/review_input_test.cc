// Review of issue 12's hardened input and durable owners (rev-input),
// against the real taalad: what a hostile client can make the daemon log,
// what identity names a certificate can claim, what startup accepts as a
// TLS key pair, and that an owner survives a crash in fsync mode and shows
// in --dump_wal.

#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <stdlib.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "taala/v1/lock_service.grpc.pb.h"
#include "tests/integration/rpc_helpers.h"
#include "tests/integration/taalad_process.h"
#include "tests/integration/test_certs.h"

namespace taala {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using test::DeadlineIn;
using v1::LockService;

constexpr std::chrono::seconds kCallTime(20);

size_t Count(const std::string& text, const std::string& needle) {
  size_t n = 0;
  for (size_t at = text.find(needle); at != std::string::npos;
       at = text.find(needle, at + needle.size())) {
    ++n;
  }
  return n;
}

grpc::Status RawUnary(const std::shared_ptr<grpc::Channel>& channel,
                      const std::string& method, const std::string& bytes) {
  grpc::GenericStub generic(channel);
  grpc::ClientContext ctx;
  ctx.set_deadline(DeadlineIn(kCallTime));
  grpc::Slice slice(bytes);
  grpc::ByteBuffer request(&slice, 1);
  grpc::ByteBuffer response;
  grpc::Status status;
  absl::Notification done;
  generic.UnaryCall(&ctx, method, grpc::StubOptions(), &request, &response,
                    [&](grpc::Status s) {
                      status = std::move(s);
                      done.Notify();
                    });
  done.WaitForNotification();
  return status;
}

// Review finding (fixed; this test guards it): every request with a non-UTF-8 string field makes libprotobuf write an ERROR line to taalad's log, unthrottled (the audit log caps refusals at 10 lines/s per identity).
TEST(ReviewInputLogTest, InvalidUtf8RequestsDoNotFloodTheDaemonLog) {
  auto started = test::TaaladProcess::Start({}, "");
  ASSERT_TRUE(started.ok()) << started.status();
  auto daemon = std::move(*started);
  auto channel = grpc::CreateChannel(daemon->address(),
                                     grpc::InsecureChannelCredentials());
  ASSERT_TRUE(channel->WaitForConnected(DeadlineIn(kCallTime)));
  // CreateSessionRequest{client_name (field 2) = "\xff\xfe"}: well-formed
  // protobuf framing, a string that is not UTF-8.
  const std::string bytes("\x12\x02\xff\xfe", 4);
  constexpr int kCalls = 200;
  for (int i = 0; i < kCalls; ++i) {
    const grpc::Status s =
        RawUnary(channel, "/taala.v1.LockService/CreateSession", bytes);
    ASSERT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT)
        << s.error_message();
    ASSERT_THAT(s.error_message(), HasSubstr("client_name: not valid UTF-8"));
  }
  const std::string log = daemon->Log();
  // A client may be refused as often as it likes; what the daemon writes
  // about it must stay bounded (the audit log's budget is 10 lines per
  // second per identity, and this ran in well under 20 s).
  EXPECT_LT(Count(log, "invalid UTF-8"), 20u)
      << "taalad wrote " << Count(log, "\n") << " log lines for " << kCalls
      << " refused calls; the first ones:\n"
      << log.substr(0, 2000);
}

class ReviewInputTlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern =
        (std::filesystem::temp_directory_path() / "taala_rev_input.XXXXXX")
            .string();
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
    pki_ = std::make_unique<test::TestPki>(dir_);
    ASSERT_TRUE(pki_->MakeStandard()) << pki_->log();
  }
  void TearDown() override {
    if (HasFailure() && daemon_ != nullptr) {
      std::cerr << "---- taalad log ----\n" << daemon_->Log();
    }
    daemon_.reset();
    std::error_code ignored;
    if (!HasFailure()) std::filesystem::remove_all(dir_, ignored);
  }

  // A channel with TLS, presenting client certificate `cert` (none if
  // empty).
  std::unique_ptr<LockService::Stub> Stub(const std::string& cert) {
    grpc::SslCredentialsOptions ssl;
    ssl.pem_root_certs = test::TestPki::Read(pki_->pem("ca"));
    if (!cert.empty()) {
      ssl.pem_cert_chain = test::TestPki::Read(pki_->pem(cert));
      ssl.pem_private_key = test::TestPki::Read(pki_->key(cert));
    }
    grpc::ChannelArguments args;
    args.SetString("taala.test.identity", cert.empty() ? "none" : cert);
    return LockService::NewStub(grpc::CreateCustomChannel(
        daemon_->address(), grpc::SslCredentials(ssl), args));
  }

  static void Prepare(grpc::ClientContext* ctx) {
    ctx->set_deadline(DeadlineIn(std::chrono::seconds(40)));
    ctx->set_wait_for_ready(true);
  }

  std::string dir_;
  std::unique_ptr<test::TestPki> pki_;
  std::unique_ptr<test::TaaladProcess> daemon_;
};

// Review finding (fixed; this test guards it): a client certificate whose CN is "anonymous@127.0.0.1" is that anonymous identity: it keeps alive, releases and closes the sessions of every certificate-less client on 127.0.0.1 (identity names are not namespaced).
TEST_F(ReviewInputTlsTest, CertificateNamedLikeAnAnonymousIdentityOwnsNothing) {
  ASSERT_TRUE(pki_->MakeClientCert("ca", "impostor", "anonymous@127.0.0.1"))
      << pki_->log();
  auto started = test::TaaladProcess::Start(
      {"--tls_cert=" + pki_->pem("server"), "--tls_key=" + pki_->key("server"),
       "--tls_client_ca=" + pki_->pem("ca"), "--allow_anonymous"},
      "");
  ASSERT_TRUE(started.ok()) << started.status();
  daemon_ = std::move(*started);
  auto victim = Stub("");  // TLS without a certificate: anonymous.
  auto impostor = Stub("impostor");

  uint64_t session = 0;
  std::string owner;
  {
    grpc::ClientContext ctx;
    Prepare(&ctx);
    v1::CreateSessionRequest req;
    req.set_ttl_ms(600000);
    req.set_client_name("victim");
    v1::CreateSessionResponse resp;
    const grpc::Status s = victim->CreateSession(&ctx, req, &resp);
    ASSERT_TRUE(s.ok()) << s.error_message();
    session = resp.session_id();
    owner = resp.owner();
  }
  ASSERT_EQ(owner, "anonymous@127.0.0.1");
  uint64_t token = 0;
  {
    v1::AcquireResponse resp;
    const grpc::Status s =
        test::Acquire(victim.get(), session, "victim/key", 0, &resp);
    ASSERT_TRUE(s.ok()) << s.error_message();
    ASSERT_EQ(resp.result(), v1::AcquireResponse::ACQUIRED);
    token = resp.grant().fencing_token();
  }
  // The impostor's certificate is verified; its name merely looks like an
  // anonymous caller's.
  {
    grpc::ClientContext ctx;
    Prepare(&ctx);
    v1::KeepAliveRequest req;
    req.set_session_id(session);
    v1::KeepAliveResponse resp;
    const grpc::Status s = impostor->KeepAliveOnce(&ctx, req, &resp);
    // The fix refuses the reserved name itself, before any session is
    // looked at (the impostor owns nothing): UNAUTHENTICATED.
    EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAUTHENTICATED)
        << "KeepAliveOnce: " << s.error_code() << " " << s.error_message();
    EXPECT_NE(s.error_message().find("reserved"), std::string::npos);
  }
  {
    grpc::ClientContext ctx;
    Prepare(&ctx);
    v1::ReleaseRequest req;
    req.set_session_id(session);
    req.set_key("victim/key");
    req.set_fencing_token(token);
    v1::ReleaseResponse resp;
    const grpc::Status s = impostor->Release(&ctx, req, &resp);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAUTHENTICATED)
        << "Release: " << s.error_code() << " " << s.error_message();
  }
  // The victim still holds its key.
  v1::DescribeLockResponse described;
  ASSERT_TRUE(test::Describe(victim.get(), "victim/key", &described).ok());
  ASSERT_EQ(described.holders_size(), 1);
  EXPECT_EQ(described.holders(0).grant().fencing_token(), token);
}

// Review finding (fixed; this test guards it): taalad starts and says "listening" with a --tls_key that is not --tls_cert's key; every handshake then fails (only gRPC's log says why).
TEST_F(ReviewInputTlsTest, KeyThatIsNotTheCertificatesIsRefusedAtStartup) {
  absl::StatusOr<test::TaaladExit> run = test::RunTaaladToExit(
      {"--data_dir=" + dir_ + "/data", "--listen=127.0.0.1:0",
       "--admin_listen=", "--tls_cert=" + pki_->pem("server"),
       "--tls_key=" + pki_->key("alice")},
      10000);
  ASSERT_TRUE(run.ok()) << run.status();
  EXPECT_TRUE(run->exited) << "still running after 10 s:\n" << run->output;
  EXPECT_NE(run->exit_code, 0) << run->output;
  EXPECT_THAT(run->output, HasSubstr("--tls_key")) << run->output;
}

// Review finding (fixed; this test guards it): an encrypted --tls_key makes OpenSSL prompt "Enter PEM pass phrase:" (on a terminal taalad waits for it), and the error then says "no PEM private key in the file".
TEST_F(ReviewInputTlsTest, EncryptedKeyIsRefusedSayingSoWithoutPrompting) {
  const std::string encrypted = dir_ + "/encrypted.key";
  ASSERT_EQ(std::system(absl::StrCat("openssl ec -in ", pki_->key("server"),
                                     " -aes256 -passout pass:secret -out ",
                                     encrypted, " >/dev/null 2>&1 </dev/null")
                            .c_str()),
            0);
  absl::StatusOr<test::TaaladExit> run = test::RunTaaladToExit(
      {"--data_dir=" + dir_ + "/data", "--listen=127.0.0.1:0",
       "--admin_listen=", "--tls_cert=" + pki_->pem("server"),
       "--tls_key=" + encrypted},
      10000);
  ASSERT_TRUE(run.ok()) << run.status();
  ASSERT_TRUE(run->exited) << run->output;
  EXPECT_NE(run->exit_code, 0);
  EXPECT_THAT(run->output, Not(HasSubstr("pass phrase:"))) << run->output;
  EXPECT_THAT(run->output, HasSubstr("encrypted")) << run->output;
}

// Edge that held (regression): an anonymous owner survives a kill -9 in
// fsync mode, the dump of the log shows it, and the same identity keeps
// using its session after the restart.
TEST(ReviewInputDurabilityTest, OwnerSurvivesACrashAndShowsInTheDump) {
  auto started = test::TaaladProcess::Start({}, "");
  ASSERT_TRUE(started.ok()) << started.status();
  auto daemon = std::move(*started);
  const std::string data_dir = daemon->data_dir();
  uint64_t session = 0;
  {
    auto stub = LockService::NewStub(grpc::CreateChannel(
        daemon->address(), grpc::InsecureChannelCredentials()));
    ASSERT_TRUE(test::CreateSession(stub.get(), 600000, &session).ok());
    v1::AcquireResponse resp;
    ASSERT_TRUE(test::Acquire(stub.get(), session, "crash/key", 0, &resp).ok());
    ASSERT_EQ(resp.result(), v1::AcquireResponse::ACQUIRED);
  }
  daemon->Kill();
  absl::StatusOr<test::TaaladExit> dump =
      test::RunTaaladToExit({"--dump_wal=" + data_dir}, 20000);
  ASSERT_TRUE(dump.ok()) << dump.status();
  EXPECT_THAT(dump->output,
              HasSubstr(absl::StrCat("SESSION_CREATED lsn=")));
  EXPECT_THAT(dump->output, HasSubstr(absl::StrCat(
                                "session=", session,
                                " owner=\"anonymous@127.0.0.1\"")))
      << dump->output;

  auto restarted = test::TaaladProcess::Start({}, data_dir);
  ASSERT_TRUE(restarted.ok()) << restarted.status();
  daemon = std::move(*restarted);
  auto stub = LockService::NewStub(grpc::CreateChannel(
      daemon->address(), grpc::InsecureChannelCredentials()));
  EXPECT_TRUE(test::KeepAliveOnce(stub.get(), session).ok());
  grpc::ClientContext ctx;
  ctx.set_deadline(DeadlineIn(kCallTime));
  ctx.set_wait_for_ready(true);
  v1::ListSessionsRequest req;
  v1::ListSessionsResponse resp;
  ASSERT_TRUE(stub->ListSessions(&ctx, req, &resp).ok());
  ASSERT_EQ(resp.sessions_size(), 1);
  EXPECT_EQ(resp.sessions(0).owner(), "anonymous@127.0.0.1");
}

// Review finding (fixed; this test guards it): after a clean stop the owners live only in the snapshot, and --dump_wal prints the snapshot as counts (no session, no owner), although security.md says the dump prints owner="...".
TEST(ReviewInputDurabilityTest, DumpAfterACleanStopShowsTheOwner) {
  auto started = test::TaaladProcess::Start({}, "");
  ASSERT_TRUE(started.ok()) << started.status();
  auto daemon = std::move(*started);
  const std::string data_dir = daemon->data_dir();
  uint64_t session = 0;
  {
    auto stub = LockService::NewStub(grpc::CreateChannel(
        daemon->address(), grpc::InsecureChannelCredentials()));
    ASSERT_TRUE(test::CreateSession(stub.get(), 600000, &session).ok());
  }
  ASSERT_EQ(daemon->Stop(), 0);
  absl::StatusOr<test::TaaladExit> dump =
      test::RunTaaladToExit({"--dump_wal=" + data_dir}, 20000);
  ASSERT_TRUE(dump.ok()) << dump.status();
  EXPECT_THAT(dump->output, HasSubstr("owner=\"anonymous@127.0.0.1\""))
      << dump->output;
}

}  // namespace
}  // namespace taala

namespace taala {
namespace {

// Edges that held (regression): names that are loopback only by some
// resolver's reading are refused for plaintext, with the flag named.
TEST(ReviewInputListenTest, LoopbackLookalikesAreRefusedWithoutTls) {
  for (const std::string host :
       {"localhost.", "0x7f.0.0.1", "127.1", "[::ffff:127.0.0.1]",
        "LOCALHOST", "2130706433", "127.0.0.1%lo"}) {
    SCOPED_TRACE(host);
    std::string pattern =
        (std::filesystem::temp_directory_path() / "taala_rev_listen.XXXXXX")
            .string();
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    absl::StatusOr<test::TaaladExit> run = test::RunTaaladToExit(
        {"--data_dir=" + pattern, "--listen=" + host + ":0",
         "--admin_listen="},
        10000);
    ASSERT_TRUE(run.ok()) << run.status();
    EXPECT_TRUE(run->exited) << run->output;
    EXPECT_NE(run->exit_code, 0) << run->output;
    EXPECT_THAT(run->output, HasSubstr("is not a loopback address"))
        << run->output;
    std::error_code ignored;
    std::filesystem::remove_all(pattern, ignored);
  }
}

// Review finding (fixed; this test guards it): --listen=127.0.0.1:65536 is not refused: gRPC takes the port modulo 65536 and taalad serves on another port (65536 -> a random one, 99999 -> 34463), a check taalactl makes for --endpoint but taalad does not.
TEST(ReviewInputListenTest, PortOutOfRangeIsRefused) {
  for (const std::string flag : {"--listen=127.0.0.1:65536",
                                 "--admin_listen=127.0.0.1:65536"}) {
    SCOPED_TRACE(flag);
    std::string pattern =
        (std::filesystem::temp_directory_path() / "taala_rev_listen.XXXXXX")
            .string();
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    std::vector<std::string> args = {"--data_dir=" + pattern};
    if (absl::StartsWith(flag, "--listen")) {
      args.push_back(flag);
      args.push_back("--admin_listen=");
    } else {
      args.push_back("--listen=127.0.0.1:0");
      args.push_back(flag);
    }
    absl::StatusOr<test::TaaladExit> run =
        test::RunTaaladToExit(args, 8000);
    ASSERT_TRUE(run.ok()) << run.status();
    EXPECT_TRUE(run->exited) << "still serving after 8 s:\n" << run->output;
    EXPECT_NE(run->exit_code, 0) << run->output;
    std::error_code ignored;
    std::filesystem::remove_all(pattern, ignored);
  }
}

}  // namespace
}  // namespace taala

#include "server/core/durable_state.h"
#include "server/wal/files.h"
#include "server/wal/snapshot_file.h"
#include "taala/v1/admin_service.grpc.pb.h"

namespace taala {
namespace {

// Review finding (fixed; this test guards it): a lock on a key with a C1 control character (accepted by the previous release, so present in an upgraded data dir) is restored, but Release, DescribeLock and ForceRelease now refuse the key (INVALID_ARGUMENT): its holder cannot release it, an operator cannot force it free; only the session's end frees it.
TEST(ReviewInputUpgradeTest, LegacyKeyWithAC1ControlCanStillBeReleased) {
  std::string pattern =
      (std::filesystem::temp_directory_path() / "taala_rev_upgrade.XXXXXX")
          .string();
  ASSERT_NE(mkdtemp(pattern.data()), nullptr);
  const std::string dir = pattern;
  const std::string legacy_key = "jobs/a\xC2\x85" "b";  // U+0085 (NEL).
  constexpr uint64_t kSession = 1;
  constexpr uint64_t kToken = 3;
  {
    // The state the previous release's snapshot holds: a session with no
    // owner and its grant on the legacy key.
    DurableState state;
    state.lsn = 3;
    state.max_events = 64;
    DurableSession s;
    s.id = kSession;
    s.client_name = "old client";
    s.ttl = absl::Hours(1);
    state.sessions.emplace(kSession, s);
    DurableKey k;
    DurableGrant g;
    g.session_id = kSession;
    g.token = kToken;
    g.granted_at = absl::Now();
    k.holders.push_back(g);
    state.keys.emplace(legacy_key, k);
    ASSERT_TRUE(wal::MakeDir(dir).ok());
    ASSERT_TRUE(wal::MakeDir(wal::WalDir(dir)).ok());
    ASSERT_TRUE(wal::WriteSnapshot(dir, state, 3, true, 0).ok());
  }
  auto started = test::TaaladProcess::Start({}, dir);
  ASSERT_TRUE(started.ok()) << started.status();
  auto daemon = std::move(*started);
  auto channel = grpc::CreateChannel(daemon->address(),
                                     grpc::InsecureChannelCredentials());
  auto stub = LockService::NewStub(channel);
  auto admin = v1::AdminService::NewStub(channel);
  // Restored: the session (anonymous callers may use an ownerless one)
  // holds the key.
  ASSERT_TRUE(test::KeepAliveOnce(stub.get(), kSession).ok());
  {
    grpc::ClientContext ctx;
    ctx.set_deadline(DeadlineIn(kCallTime));
    v1::ListLocksRequest req;
    v1::ListLocksResponse resp;
    ASSERT_TRUE(stub->ListLocks(&ctx, req, &resp).ok());
    ASSERT_EQ(resp.locks_size(), 1);
    EXPECT_EQ(resp.locks(0).key(), legacy_key);
  }
  const grpc::Status release =
      test::Release(stub.get(), kSession, legacy_key, kToken);
  EXPECT_TRUE(release.ok()) << "Release: " << release.error_code() << " "
                            << release.error_message();
  if (!release.ok()) {
    grpc::ClientContext ctx;
    ctx.set_deadline(DeadlineIn(kCallTime));
    v1::ForceReleaseRequest req;
    req.set_key(legacy_key);
    req.set_reason("legacy key");
    v1::ForceReleaseResponse resp;
    const grpc::Status s = admin->ForceRelease(&ctx, req, &resp);
    EXPECT_TRUE(s.ok()) << "ForceRelease: " << s.error_code() << " "
                        << s.error_message();
  }
  std::error_code ignored;
  daemon.reset();
  if (!::testing::Test::HasFailure()) std::filesystem::remove_all(dir, ignored);
}

}  // namespace
}  // namespace taala

namespace taala {
namespace {

// Edges that held (regression): non-UTF-8 bytes inside nested and map
// fields are named by their path; C1 and newlines in the admin service's
// free-text fields are refused; unknown fields are ignored.
TEST(ReviewInputFieldsTest, BadBytesInEveryKindOfFieldAreRefusedNamingIt) {
  auto started = test::TaaladProcess::Start({}, "");
  ASSERT_TRUE(started.ok()) << started.status();
  auto daemon = std::move(*started);
  auto channel = grpc::CreateChannel(daemon->address(),
                                     grpc::InsecureChannelCredentials());
  ASSERT_TRUE(channel->WaitForConnected(DeadlineIn(kCallTime)));
  struct Case {
    const char* method;
    std::string bytes;
    const char* message;
  };
  const std::vector<Case> cases = {
      // labels {"k": "\xff"}.
      {"/taala.v1.LockService/CreateSession",
       std::string("\x1a\x06\x0a\x01k\x12\x01\xff", 8), "labels.value"},
      // session_id 1, keys [{key: "\xff"}].
      {"/taala.v1.LockService/AcquireAll",
       std::string("\x08\x01\x12\x03\x0a\x01\xff", 7), "keys.key"},
      // RevokeSession{session_id 1, requested_by "\xff"}.
      {"/taala.v1.AdminService/RevokeSession",
       std::string("\x08\x01\x22\x01\xff", 5), "requested_by"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.method);
    const grpc::Status s = RawUnary(channel, c.method, c.bytes);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT)
        << s.error_message();
    EXPECT_THAT(s.error_message(), HasSubstr(c.message));
    EXPECT_THAT(s.error_message(), HasSubstr("not valid UTF-8"));
  }
  auto admin = v1::AdminService::NewStub(channel);
  auto stub = LockService::NewStub(channel);
  uint64_t session = 0;
  ASSERT_TRUE(test::CreateSession(stub.get(), 600000, &session).ok());
  for (const std::string text : {"a\xC2\x85" "b", "a\nb", "a\x1b[2Jb"}) {
    for (bool in_reason : {true, false}) {
      grpc::ClientContext ctx;
      ctx.set_deadline(DeadlineIn(kCallTime));
      v1::RevokeSessionRequest req;
      req.set_session_id(session);
      req.set_reason(in_reason ? text : "fine");
      req.set_requested_by(in_reason ? "ops" : text);
      v1::RevokeSessionResponse resp;
      const grpc::Status s = admin->RevokeSession(&ctx, req, &resp);
      EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT)
          << (in_reason ? "reason " : "requested_by ") << s.error_message();
    }
  }
  // Unknown fields (number 99, every wire type) are ignored, as proto3
  // does: the session is still there.
  v1::KeepAliveRequest ka;
  ka.set_session_id(session);
  std::string bytes = ka.SerializeAsString();
  bytes += std::string("\x98\x06\x01", 3);         // 99: varint 1.
  bytes += std::string("\x9a\x06\x02hi", 5);       // 99: "hi".
  bytes += std::string("\x9d\x06\x01\x02\x03\x04", 6);  // 99: fixed32.
  const grpc::Status s =
      RawUnary(channel, "/taala.v1.LockService/KeepAliveOnce", bytes);
  EXPECT_TRUE(s.ok()) << s.error_code() << " " << s.error_message();
}

}  // namespace
}  // namespace taala
