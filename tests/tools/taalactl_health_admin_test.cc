// taalactl health --admin (issue 13): the container image's HEALTHCHECK
// asks the real taalad's HTTP admin listener for /healthz (or /readyz)
// through the real taalactl; exit 0 on HTTP 200, 69 otherwise, 64 on a bad
// address (docs/taalactl.md).

#include <string>

#include "tests/tools/taalactl_fixture.h"

namespace taala {
namespace {

using ::taala::test::Result;
using ::testing::HasSubstr;

class TaalactlHealthAdminTest : public test::TaalactlTest {};

TEST_F(TaalactlHealthAdminTest, HealthzAnswers200AndPrintsTheScore) {
  Result r = Run({"health", "--admin", daemon_->admin_address()});
  ASSERT_EQ(r.code, 0) << r;
  EXPECT_THAT(r.out, HasSubstr("\"score\":"));
  EXPECT_THAT(r.out, HasSubstr("\"status\":\"ok\""));
}

TEST_F(TaalactlHealthAdminTest, ReadyAsksReadyz) {
  Result r = Run({"health", "--ready", "--admin=" + daemon_->admin_address()});
  ASSERT_EQ(r.code, 0) << r;
  EXPECT_EQ(r.out, "ready\n");
}

TEST_F(TaalactlHealthAdminTest, NoCredentialsAreNeededEvenIfTheEnvNamesBadOnes) {
  // A HEALTHCHECK inherits the container's environment; the probe paths are
  // open, so a TLS file that cannot be read is no reason to fail.
  Result r = Run({"health", "--admin", daemon_->admin_address()},
                 {"TAALA_TLS_CA=/nonexistent/ca.crt"});
  EXPECT_EQ(r.code, 0) << r;
}

TEST_F(TaalactlHealthAdminTest, AStoppedDaemonIs69) {
  const std::string admin = daemon_->admin_address();
  ASSERT_EQ(daemon_->Stop(), 0);
  Result r = Run({"health", "--admin", admin, "--timeout=2s"});
  EXPECT_EQ(r.code, 69) << r;
  EXPECT_THAT(r.err, HasSubstr("health check at http://" + admin +
                               "/healthz: no answer"));
}

TEST_F(TaalactlHealthAdminTest, AnythingButHttp200Is69) {
  // The gRPC port speaks HTTP/2 only: no HTTP/1.1 200 from it.
  Result r = Run({"health", "--admin", daemon_->address(), "--timeout=5s"});
  EXPECT_EQ(r.code, 69) << r;
  EXPECT_THAT(r.err, HasSubstr("health check at http://"));
}

TEST_F(TaalactlHealthAdminTest, UsageErrors) {
  for (const std::vector<std::string>& args :
       std::vector<std::vector<std::string>>{
           {"health", "--admin", "127.0.0.1"},  // No port: 7070 is not it.
           {"health", "--admin", "127.0.0.1:70000"},
           {"health", "--admin", "http://127.0.0.1:7071"},
           {"health", "--ready"},
           {"health", "--json", "--admin", "127.0.0.1:7071"},
           {"list", "--admin", "127.0.0.1:7071"}}) {
    Result r = Run(args);
    EXPECT_EQ(r.code, 64) << args[1] << " " << r;
  }
}

}  // namespace
}  // namespace taala
