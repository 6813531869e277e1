// IdentifyCaller (server/rpc/call_identity.h) over real gRPC: a server whose
// only handler answers with the caller's identity, reached over plaintext,
// TLS and mutual TLS with real certificates (made by openssl) and with
// bearer tokens in the call metadata.

#include "server/rpc/call_identity.h"

#include <grpcpp/generic/async_generic_service.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/security/tls_certificate_provider.h>
#include <grpcpp/security/tls_credentials_options.h>
#include <grpcpp/support/server_callback.h>
#include <stdlib.h>

#include <filesystem>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/auth/auth_config.h"
#include "server/auth/token_file.h"
#include "tests/integration/test_certs.h"

namespace taala {
namespace {

using ::testing::HasSubstr;

// Answers every call with "NAME" or "anonymous:NAME", or the error.
class WhoAmIService : public grpc::CallbackGenericService {
 public:
  explicit WhoAmIService(auth::AuthState* state) : state_(state) {}

  grpc::ServerGenericBidiReactor* CreateReactor(
      grpc::GenericCallbackServerContext* ctx) override {
    class Reactor : public grpc::ServerGenericBidiReactor {
     public:
      Reactor(const grpc::ServerContextBase& ctx,
              const auth::AuthConfig& config) {
        absl::StatusOr<auth::Identity> who = IdentifyCaller(ctx, config);
        if (!who.ok()) {
          Finish(grpc::Status(
              static_cast<grpc::StatusCode>(who.status().code()),
              std::string(who.status().message())));
          return;
        }
        grpc::Slice text(
            absl::StrCat(who->anonymous ? "anonymous:" : "", who->name));
        response_ = grpc::ByteBuffer(&text, 1);
        StartWriteAndFinish(&response_, grpc::WriteOptions(),
                            grpc::Status::OK);
      }
      void OnDone() override { delete this; }

     private:
      grpc::ByteBuffer response_;
    };
    return new Reactor(*ctx, *state_->Current());
  }

 private:
  auth::AuthState* state_;
};

struct Answer {
  grpc::StatusCode code;
  std::string text;  // The identity, or the error message.
};

class CallIdentityTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* tmp = getenv("TMPDIR");
    dir_ = absl::StrCat(tmp != nullptr ? tmp : "/tmp", "/identity_XXXXXX");
    ASSERT_NE(mkdtemp(dir_.data()), nullptr);
    pki_ = std::make_unique<test::TestPki>(dir_);
    ASSERT_TRUE(pki_->MakeStandard()) << pki_->log();
    ASSERT_TRUE(pki_->MakeClientCert("ca", "svc", "", "DNS:svc.example"))
        << pki_->log();
  }
  void TearDown() override {
    if (server_ != nullptr) server_->Shutdown();
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }

  void Serve(std::shared_ptr<grpc::ServerCredentials> creds) {
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", creds, &port_);
    builder.RegisterCallbackGenericService(&service_);
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    ASSERT_NE(port_, 0);
  }
  // As taalad builds them (server/security_flags.cc).
  std::shared_ptr<grpc::ServerCredentials> Tls(bool client_ca,
                                               bool require_cert) {
    auto provider =
        std::make_shared<grpc::experimental::FileWatcherCertificateProvider>(
            pki_->key("server"), pki_->pem("server"),
            client_ca ? pki_->pem("ca") : "", 1);
    grpc::experimental::TlsServerCredentialsOptions options(provider);
    options.watch_identity_key_cert_pairs();
    if (client_ca) {
      options.watch_root_certs();
      options.set_cert_request_type(
          require_cert
              ? GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY
              : GRPC_SSL_REQUEST_CLIENT_CERTIFICATE_AND_VERIFY);
    } else {
      options.set_cert_request_type(GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE);
    }
    return grpc::experimental::TlsServerCredentials(options);
  }
  // A TLS client trusting "ca", with client certificate `cert` if given.
  std::shared_ptr<grpc::ChannelCredentials> ClientTls(
      const std::string& cert = "") {
    grpc::SslCredentialsOptions ssl;
    ssl.pem_root_certs = test::TestPki::Read(pki_->pem("ca"));
    if (!cert.empty()) {
      ssl.pem_cert_chain = test::TestPki::Read(pki_->pem(cert));
      ssl.pem_private_key = test::TestPki::Read(pki_->key(cert));
    }
    return grpc::SslCredentials(ssl);
  }

  Answer Ask(std::shared_ptr<grpc::ChannelCredentials> creds,
             const std::string& authorization = "") {
    grpc::ChannelArguments args;
    args.SetInt("taala.test.channel", ++channels_);  // A connection of its own.
    grpc::GenericStub stub(grpc::CreateCustomChannel(
        absl::StrCat("127.0.0.1:", port_), creds, args));
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() +
                     std::chrono::seconds(20));
    if (!authorization.empty()) ctx.AddMetadata("authorization", authorization);
    grpc::Slice empty("");
    grpc::ByteBuffer request(&empty, 1);
    grpc::ByteBuffer response;
    absl::Notification done;
    grpc::Status status;
    stub.UnaryCall(&ctx, "/test.WhoAmI/Ask", grpc::StubOptions(), &request,
                   &response, [&](grpc::Status s) {
                     status = std::move(s);
                     done.Notify();
                   });
    done.WaitForNotification();
    if (!status.ok()) return {status.error_code(), status.error_message()};
    std::vector<grpc::Slice> slices;
    std::string text;
    if (response.Dump(&slices).ok()) {
      for (const grpc::Slice& s : slices) text.append(s.begin(), s.end());
    }
    return {grpc::StatusCode::OK, text};
  }

  void SetConfig(bool tokens, bool client_certificates, bool anonymous) {
    auto config = std::make_shared<auth::AuthConfig>();
    if (tokens) {
      absl::StatusOr<auth::TokenFile> file = auth::TokenFile::Parse(
          absl::StrCat("alice sha256:", auth::HashToken("alice-token"),
                       "\nbob sha256:", auth::HashToken("bob-token"), "\n"));
      ASSERT_TRUE(file.ok()) << file.status();
      config->tokens = *std::move(file);
    }
    config->client_certificates = client_certificates;
    config->allow_anonymous = anonymous;
    state_.Set(std::move(config));
  }

  std::string dir_;
  std::unique_ptr<test::TestPki> pki_;
  auth::AuthState state_;
  WhoAmIService service_{&state_};
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
  int channels_ = 0;
};

TEST_F(CallIdentityTest, WithoutAuthFlagsEveryCallerIsAnonymousByAddress) {
  Serve(grpc::InsecureServerCredentials());
  Answer a = Ask(grpc::InsecureChannelCredentials());
  EXPECT_EQ(a.code, grpc::StatusCode::OK) << a.text;
  EXPECT_EQ(a.text, "anonymous:anonymous@127.0.0.1");
  // A token nobody checks changes nothing.
  a = Ask(grpc::InsecureChannelCredentials(), "Bearer whatever");
  EXPECT_EQ(a.text, "anonymous:anonymous@127.0.0.1");
}

TEST_F(CallIdentityTest, BearerTokensNameTheCaller) {
  Serve(grpc::InsecureServerCredentials());
  SetConfig(/*tokens=*/true, /*client_certificates=*/false,
            /*anonymous=*/false);
  Answer a = Ask(grpc::InsecureChannelCredentials(), "Bearer alice-token");
  EXPECT_EQ(a.code, grpc::StatusCode::OK) << a.text;
  EXPECT_EQ(a.text, "alice");
  a = Ask(grpc::InsecureChannelCredentials(), "Bearer bob-token");
  EXPECT_EQ(a.text, "bob");

  a = Ask(grpc::InsecureChannelCredentials(), "Bearer mallory-token");
  EXPECT_EQ(a.code, grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(a.text, "the bearer token is not in --auth_tokens_file");
  a = Ask(grpc::InsecureChannelCredentials(), "Basic YWxpY2U6eA==");
  EXPECT_EQ(a.code, grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_THAT(a.text, HasSubstr("not \"Bearer <token>\""));
  a = Ask(grpc::InsecureChannelCredentials());
  EXPECT_EQ(a.code, grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_THAT(a.text, HasSubstr("a bearer token"));

  // --allow_anonymous: no token is anonymous, a wrong one is still refused.
  SetConfig(true, false, /*anonymous=*/true);
  a = Ask(grpc::InsecureChannelCredentials());
  EXPECT_EQ(a.code, grpc::StatusCode::OK) << a.text;
  EXPECT_EQ(a.text, "anonymous:anonymous@127.0.0.1");
  a = Ask(grpc::InsecureChannelCredentials(), "Bearer mallory-token");
  EXPECT_EQ(a.code, grpc::StatusCode::UNAUTHENTICATED);
  a = Ask(grpc::InsecureChannelCredentials(), "Bearer alice-token");
  EXPECT_EQ(a.text, "alice");
}

TEST_F(CallIdentityTest, TlsWithoutClientCertificatesCarriesTokens) {
  Serve(Tls(/*client_ca=*/false, false));
  SetConfig(true, false, false);
  Answer a = Ask(ClientTls(), "Bearer bob-token");
  EXPECT_EQ(a.code, grpc::StatusCode::OK) << a.text;
  EXPECT_EQ(a.text, "bob");
  // A plaintext client cannot even connect.
  a = Ask(grpc::InsecureChannelCredentials(), "Bearer bob-token");
  EXPECT_EQ(a.code, grpc::StatusCode::UNAVAILABLE) << a.text;
}

TEST_F(CallIdentityTest, ClientCertificateNamesTheCaller) {
  Serve(Tls(/*client_ca=*/true, /*require_cert=*/true));
  SetConfig(false, /*client_certificates=*/true, false);
  Answer a = Ask(ClientTls("alice"));
  EXPECT_EQ(a.code, grpc::StatusCode::OK) << a.text;
  EXPECT_EQ(a.text, "alice");
  a = Ask(ClientTls("bob"));
  EXPECT_EQ(a.text, "bob");
  // No CN: the first subject alternative name.
  a = Ask(ClientTls("svc"));
  EXPECT_EQ(a.code, grpc::StatusCode::OK) << a.text;
  EXPECT_EQ(a.text, "svc.example");
  // Required: no certificate, or one from another CA, fails the handshake.
  EXPECT_EQ(Ask(ClientTls()).code, grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(Ask(ClientTls("mallory")).code, grpc::StatusCode::UNAVAILABLE);
}

TEST_F(CallIdentityTest, OptionalClientCertificateWithTokensOrAnonymous) {
  // --tls_client_ca with --auth_tokens_file: a certificate is asked for but
  // not required, a token may stand in for it.
  Serve(Tls(/*client_ca=*/true, /*require_cert=*/false));
  SetConfig(/*tokens=*/true, /*client_certificates=*/true, false);
  EXPECT_EQ(Ask(ClientTls("alice")).text, "alice");
  EXPECT_EQ(Ask(ClientTls(), "Bearer bob-token").text, "bob");
  // The token names the caller when both are given.
  EXPECT_EQ(Ask(ClientTls("alice"), "Bearer bob-token").text, "bob");
  Answer a = Ask(ClientTls());
  EXPECT_EQ(a.code, grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_THAT(a.text, HasSubstr("a bearer token"));
  EXPECT_THAT(a.text, HasSubstr("client certificate"));
  // A certificate from another CA is still refused at the handshake.
  EXPECT_EQ(Ask(ClientTls("mallory")).code, grpc::StatusCode::UNAVAILABLE);

  SetConfig(false, true, /*anonymous=*/true);
  a = Ask(ClientTls());
  EXPECT_EQ(a.code, grpc::StatusCode::OK) << a.text;
  EXPECT_EQ(a.text, "anonymous:anonymous@127.0.0.1");
  EXPECT_EQ(Ask(ClientTls("bob")).text, "bob");
}

}  // namespace
}  // namespace taala
