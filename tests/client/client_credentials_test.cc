// ClientOptions' credentials (client/lock_client.h): TLS files and text,
// the bearer token; Client::Connect checks them without contacting taalad.

#include <stdlib.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "client/lock_client.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace taala {
namespace {

using ::testing::HasSubstr;

std::string TempFile(const std::string& text) {
  const char* tmp = getenv("TMPDIR");
  std::string path =
      absl::StrCat(tmp != nullptr ? tmp : "/tmp", "/client_cred_XXXXXX");
  const int fd = mkstemp(path.data());
  EXPECT_GE(fd, 0);
  close(fd);
  std::ofstream(path) << text;
  return path;
}

absl::Status ConnectWith(const ClientOptions& options) {
  return Client::Connect(options).status();
}

TEST(ClientCredentialsTest, FilesAreReadAndTurnTlsOn) {
  const std::string ca = TempFile("-----BEGIN CERTIFICATE-----\nx\n");
  ClientOptions options;
  options.endpoints = {"127.0.0.1:1"};
  options.tls.root_certs_file = ca;
  absl::StatusOr<std::unique_ptr<Client>> client = Client::Connect(options);
  ASSERT_TRUE(client.ok()) << client.status();
  EXPECT_TRUE((*client)->options().tls.enabled);
  EXPECT_EQ((*client)->options().tls.root_certs_pem,
            "-----BEGIN CERTIFICATE-----\nx\n");
  std::remove(ca.c_str());
}

TEST(ClientCredentialsTest, MistakesAreInvalidArgument) {
  ClientOptions base;
  base.endpoints = {"127.0.0.1:1"};

  ClientOptions missing = base;
  missing.tls.root_certs_file = "/nonexistent/ca.pem";
  absl::Status s = ConnectWith(missing);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("tls.root_certs_file: cannot read "
                                     "/nonexistent/ca.pem"));

  const std::string file = TempFile("pem");
  ClientOptions both = base;
  both.tls.cert_chain_pem = "pem";
  both.tls.cert_chain_file = file;
  both.tls.private_key_pem = "key";
  s = ConnectWith(both);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("both cert_chain_pem and "
                                     "cert_chain_file"));

  ClientOptions no_key = base;
  no_key.tls.cert_chain_file = file;
  s = ConnectWith(no_key);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("needs its private key"));

  ClientOptions bad_token = base;
  bad_token.bearer_token = "line\nbreak";
  s = ConnectWith(bad_token);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("bearer_token: printable ASCII"));

  ClientOptions good_token = base;
  good_token.bearer_token = "abc-DEF_123.~+/=";
  EXPECT_TRUE(ConnectWith(good_token).ok());
  std::remove(file.c_str());
}

}  // namespace
}  // namespace taala
