// Who may read taalad's HTTP admin listener once auth is configured
// (docs/security.md): the dashboard and /api/v1/... need a bearer token of
// an identity with `admin` on every key, /metrics one with `read` on every
// key; /healthz and /readyz stay open; 401 without a known token, 403
// without the permission, both as the listener's JSON errors.

#include <httplib.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <memory>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/auth/token_file.h"
#include "tests/integration/taalad_process.h"

namespace taala {
namespace {

using ::testing::HasSubstr;

struct Reply {
  int status = 0;
  std::string body;
  std::string www_authenticate;
};

// GET `path` with `token` as a bearer token (none if empty).
Reply Get(int port, const std::string& path, const std::string& token) {
  httplib::Client client("127.0.0.1", port);
  client.set_connection_timeout(10);
  client.set_read_timeout(30);
  httplib::Headers headers;
  if (!token.empty()) headers.emplace("Authorization", "Bearer " + token);
  httplib::Result r = client.Get(path, headers);
  Reply reply;
  if (!r) return reply;
  reply.status = r->status;
  reply.body = r->body;
  reply.www_authenticate = r->get_header_value("WWW-Authenticate");
  return reply;
}

// The hex SHA-256 of `text`, by sha256sum (not by the code under test).
std::string Sha256(const std::string& text) {
  const std::string cmd = absl::StrCat("printf '%s' '", text, "' | sha256sum");
  FILE* pipe = popen(cmd.c_str(), "r");
  EXPECT_NE(pipe, nullptr);
  char out[128] = {0};
  EXPECT_NE(fgets(out, sizeof(out), pipe), nullptr);
  pclose(pipe);
  return std::string(absl::StripAsciiWhitespace(std::string(out).substr(0, 64)));
}

std::string WriteTemp(const std::string& text) {
  std::string path = "/tmp/taala_admin_auth_XXXXXX";
  const int fd = mkstemp(path.data());
  EXPECT_GE(fd, 0);
  close(fd);
  std::ofstream(path, std::ios::trunc) << text;
  return path;
}

constexpr char kOps[] = "ops-token-0123";
constexpr char kScraper[] = "scraper-token-4567";
constexpr char kNobody[] = "nobody-token-89ab";

class AdminAuthTest : public ::testing::Test {
 protected:
  void SetUp() override {
    acl_ = WriteTemp(
        "allow ops \"\" admin\n"
        "allow scraper \"\" read\n"
        "allow nobody jobs/ admin   # not every key\n"
        "allow anonymous@127.0.0.1 \"\" client\n");
    tokens_ = WriteTemp(absl::StrCat("ops sha256:", Sha256(kOps), "\n",
                                     "scraper sha256:", Sha256(kScraper), "\n",
                                     "nobody sha256:", Sha256(kNobody), "\n"));
    // The listener's calls are taalad's own (in-process): its HTTP callers
    // need tokens whatever gRPC callers need.
    auto started = test::TaaladProcess::Start(
        {"--acl_file=" + acl_, "--auth_tokens_file=" + tokens_});
    ASSERT_TRUE(started.ok()) << started.status();
    daemon_ = std::move(*started);
    ASSERT_GT(daemon_->admin_port(), 0);
  }
  void TearDown() override {
    if (HasFailure() && daemon_ != nullptr) {
      std::cerr << "---- taalad log ----\n" << daemon_->Log();
    }
    daemon_.reset();
    std::remove(acl_.c_str());
    std::remove(tokens_.c_str());
  }
  Reply Get(const std::string& path, const std::string& token = "") {
    return taala::Get(daemon_->admin_port(), path, token);
  }
  // The token file reads `IDENTITY sha256:HEX` with this test's hashes.
  static bool TokensWork() {
    absl::StatusOr<auth::TokenFile> f =
        auth::TokenFile::Parse(absl::StrCat("probe sha256:", Sha256("t"), "\n"));
    return f.ok() && f->IdentityFor("t") == "probe";
  }

  std::string acl_;
  std::string tokens_;
  std::unique_ptr<test::TaaladProcess> daemon_;
};

TEST_F(AdminAuthTest, ProbesStayOpen) {
  EXPECT_EQ(Get("/healthz").status, 200);
  EXPECT_EQ(Get("/readyz").status, 200);
  EXPECT_EQ(Get("/healthz", "not-a-token").status, 200);
}

TEST_F(AdminAuthTest, NoTokenOrAnUnknownOneIs401) {
  for (const char* path :
       {"/", "/metrics", "/api/v1/status", "/api/v1/locks", "/nowhere"}) {
    SCOPED_TRACE(path);
    const Reply none = Get(path);
    EXPECT_EQ(none.status, 401);
    EXPECT_THAT(none.body, HasSubstr("\"status\":\"UNAUTHENTICATED\""));
    EXPECT_THAT(none.body, HasSubstr("Authorization: Bearer"));
    EXPECT_THAT(none.www_authenticate, HasSubstr("Bearer"));
    const Reply bad = Get(path, "not-a-token");
    EXPECT_EQ(bad.status, 401);
    EXPECT_THAT(bad.body, HasSubstr("bearer token unknown"));
  }
  // Not even a bearer scheme.
  httplib::Client client("127.0.0.1", daemon_->admin_port());
  httplib::Result r =
      client.Get("/api/v1/status", {{"Authorization", "Basic b3BzOng="}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 401);
}

TEST_F(AdminAuthTest, TokensOfPermittedIdentitiesAre200AndOthers403) {
  ASSERT_TRUE(TokensWork());
  // admin on every key: everything.
  EXPECT_EQ(Get("/", kOps).status, 200);
  EXPECT_EQ(Get("/api/v1/status", kOps).status, 200);
  EXPECT_EQ(Get("/api/v1/sessions", kOps).status, 200);
  EXPECT_EQ(Get("/metrics", kOps).status, 200);
  // read on every key: /metrics only.
  EXPECT_EQ(Get("/metrics", kScraper).status, 200);
  const Reply dashboard = Get("/", kScraper);
  EXPECT_EQ(dashboard.status, 403);
  EXPECT_THAT(dashboard.body, HasSubstr("\"status\":\"PERMISSION_DENIED\""));
  EXPECT_THAT(dashboard.body, HasSubstr("identity \\\"scraper\\\""));
  EXPECT_THAT(dashboard.body, HasSubstr("permission 'admin'"));
  EXPECT_EQ(Get("/api/v1/locks", kScraper).status, 403);
  // admin on a prefix is not admin on every key.
  EXPECT_EQ(Get("/api/v1/status", kNobody).status, 403);
  const Reply metrics = Get("/metrics", kNobody);
  EXPECT_EQ(metrics.status, 403);
  EXPECT_THAT(metrics.body, HasSubstr("permission 'read'"));
}

// Issue 13: a container's probes reach the admin listener on the pod's
// address (0.0.0.0:7071). With auth configured that needs no
// --insecure_allow_remote: only the probes answer without a token.
TEST(AdminRemoteTest, NonLoopbackAdminListenIsAllowedOnceAuthCloses) {
  const std::string tokens =
      WriteTemp(absl::StrCat("ops sha256:", Sha256(kOps), "\n"));
  auto daemon = test::TaaladProcess::Start(
      {"--auth_tokens_file=" + tokens, "--admin_listen=0.0.0.0:0"});
  ASSERT_TRUE(daemon.ok()) << daemon.status();
  const int port = (*daemon)->admin_port();
  EXPECT_EQ(taala::Get(port, "/healthz", "").status, 200);
  EXPECT_EQ(taala::Get(port, "/readyz", "").status, 200);
  EXPECT_EQ(taala::Get(port, "/api/v1/status", "").status, 401);
  EXPECT_EQ(taala::Get(port, "/metrics", "").status, 401);
  EXPECT_EQ(taala::Get(port, "/api/v1/status", kOps).status, 200);
  // Without auth it is still refused, naming the ways out.
  auto open = test::RunTaaladToExit(
      {"--listen=127.0.0.1:0", "--admin_listen=0.0.0.0:0",
       "--data_dir=/tmp/taala_admin_remote_open"},
      10000);
  ASSERT_TRUE(open.ok()) << open.status();
  EXPECT_EQ(open->exit_code, 1) << open->output;
  EXPECT_THAT(open->output, HasSubstr("--auth_tokens_file"));
  EXPECT_THAT(open->output, HasSubstr("--insecure_allow_remote"));
  std::remove(tokens.c_str());
}

}  // namespace
}  // namespace taala
