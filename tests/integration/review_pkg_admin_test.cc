// Review of issue 13 (rev-pkg): the admin listener on 0.0.0.0, now allowed
// without --insecure_allow_remote once auth closes it. Under every auth
// combination that lets it start there, nothing but /healthz and /readyz
// answers without a bearer token, and a token removed by a SIGHUP reload
// stops working. Edges that held, kept as regression tests.

#include <httplib.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/integration/taalad_process.h"
#include "tests/integration/test_certs.h"

namespace taala {
namespace {

using ::testing::HasSubstr;

constexpr char kOps[] = "review-pkg-ops-token-0123456789abcdef";
constexpr char kOther[] = "review-pkg-other-token-0123456789abc";

int Status(int port, const std::string& path, const std::string& token = "") {
  httplib::Client client("127.0.0.1", port);
  client.set_connection_timeout(10);
  client.set_read_timeout(30);
  httplib::Headers headers;
  if (!token.empty()) headers.emplace("Authorization", "Bearer " + token);
  httplib::Result r = client.Get(path, headers);
  return r ? r->status : 0;
}

std::string Sha256(const std::string& text) {
  const std::string cmd = absl::StrCat("printf '%s' '", text, "' | sha256sum");
  FILE* pipe = popen(cmd.c_str(), "r");
  char out[128] = {0};
  if (pipe == nullptr || fgets(out, sizeof(out), pipe) == nullptr) return "";
  pclose(pipe);
  return std::string(absl::StripAsciiWhitespace(std::string(out).substr(0, 64)));
}

class ReviewPkgAdminTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/review_pkg_admin.XXXXXX";
    dir_ = mkdtemp(tmpl);
    pki_ = std::make_unique<test::TestPki>(dir_);
    ASSERT_TRUE(pki_->MakeStandard()) << pki_->log();
    Write("tokens", absl::StrCat("ops sha256:", Sha256(kOps), "\nother sha256:",
                                 Sha256(kOther), "\n"));
    Write("acl", "allow anonymous@* \"\" client\nallow ops \"\" admin\n");
  }
  void TearDown() override { std::system(("rm -rf '" + dir_ + "'").c_str()); }

  std::string Write(const std::string& name, const std::string& text) {
    const std::string path = dir_ + "/" + name;
    const std::string tmp = path + ".tmp";
    std::ofstream(tmp) << text;
    std::rename(tmp.c_str(), path.c_str());
    return path;
  }
  std::vector<std::string> Tls() const {
    return {"--tls_cert=" + pki_->pem("server"), "--tls_key=" + pki_->key("server")};
  }

  // Nothing but the probes answers without a token (or with an unknown one).
  void ExpectClosed(int port, const std::string& what) {
    for (const char* path : {"/", "/metrics", "/api/v1/status", "/api/v1/locks",
                             "/api/v1/sessions", "/api/v1/health",
                             "/api/v1/leak-suspects", "/api/v1/deadlocks",
                             "/index.html", "/metrics?x=1", "//metrics",
                             "/%6detrics", "/healthz/../metrics"}) {
      const int none = Status(port, path);
      EXPECT_TRUE(none == 401 || none == 404 || none == 400)
          << what << ": GET " << path << " without a token: " << none;
      EXPECT_NE(Status(port, path, "not-a-token"), 200)
          << what << ": GET " << path << " with an unknown token";
    }
    EXPECT_EQ(Status(port, "/healthz"), 200) << what;
    EXPECT_EQ(Status(port, "/readyz"), 200) << what;
  }

  std::string dir_;
  std::unique_ptr<test::TestPki> pki_;
};

TEST_F(ReviewPkgAdminTest, MutualTlsOnly) {
  std::vector<std::string> args = Tls();
  args.push_back("--tls_client_ca=" + pki_->pem("ca"));
  args.push_back("--admin_listen=0.0.0.0:0");
  auto daemon = test::TaaladProcess::Start(args);
  ASSERT_TRUE(daemon.ok()) << daemon.status();
  ExpectClosed((*daemon)->admin_port(), "mTLS only");
}

TEST_F(ReviewPkgAdminTest, AclOnlyWithAnonymousAllowed) {
  auto daemon = test::TaaladProcess::Start(
      {"--acl_file=" + dir_ + "/acl", "--allow_anonymous",
       "--admin_listen=0.0.0.0:0"});
  ASSERT_TRUE(daemon.ok()) << daemon.status();
  ExpectClosed((*daemon)->admin_port(), "ACL + --allow_anonymous");
}

TEST_F(ReviewPkgAdminTest, TokensWithAnonymousAllowedAndAReloadThatDropsAToken) {
  auto daemon = test::TaaladProcess::Start(
      {"--auth_tokens_file=" + dir_ + "/tokens", "--allow_anonymous",
       "--admin_listen=0.0.0.0:0"});
  ASSERT_TRUE(daemon.ok()) << daemon.status();
  const int port = (*daemon)->admin_port();
  ExpectClosed(port, "tokens + --allow_anonymous");
  EXPECT_EQ(Status(port, "/api/v1/status", kOther), 200);
  // The reload drops "other": its token no longer opens anything.
  Write("tokens", absl::StrCat("ops sha256:", Sha256(kOps), "\n"));
  ASSERT_EQ(kill((*daemon)->pid(), SIGHUP), 0);
  int status = 200;
  for (int i = 0; i < 600 && status == 200; ++i) {
    status = Status(port, "/api/v1/status", kOther);
    if (status == 200) usleep(50 * 1000);
  }
  EXPECT_EQ(status, 401);
  EXPECT_EQ(Status(port, "/metrics", kOther), 401);
  EXPECT_EQ(Status(port, "/api/v1/status", kOps), 200);
  ExpectClosed(port, "after the reload");
}

// Mutual TLS with --allow_anonymous and no token or ACL file is open to
// anyone, so 0.0.0.0 is refused without --insecure_allow_remote.
TEST_F(ReviewPkgAdminTest, MutualTlsWithAnonymousIsStillRefusedOnAnyAddress) {
  std::vector<std::string> args = Tls();
  args.push_back("--tls_client_ca=" + pki_->pem("ca"));
  args.push_back("--allow_anonymous");
  args.push_back("--admin_listen=0.0.0.0:0");
  args.push_back("--listen=127.0.0.1:0");
  args.push_back("--data_dir=" + dir_ + "/data");
  auto run = test::RunTaaladToExit(args, 30000);
  ASSERT_TRUE(run.ok()) << run.status();
  EXPECT_EQ(run->exit_code, 1) << run->output;
  EXPECT_THAT(run->output, HasSubstr("--admin_listen=0.0.0.0:0"));
  // The advice fits: --tls_client_ca is set already (fix-env).
  EXPECT_THAT(run->output, HasSubstr("--allow_anonymous"));
  EXPECT_THAT(run->output, ::testing::Not(HasSubstr("Configure authentication")));
}

}  // namespace
}  // namespace taala
