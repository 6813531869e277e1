// taalactl force-release, revoke and release (issue 11): the real taalactl
// against the real taalad; what they print (human and --json), what the
// daemon did, and their exit statuses (docs/taalactl.md).

#include <algorithm>
#include <string>

#include "absl/strings/str_cat.h"
#include "tests/tools/taalactl_fixture.h"
#include "taala/v1/admin_service.pb.h"

namespace taala {
namespace {

using ::taala::test::AsyncAcquire;
using ::taala::test::Eventually;
using ::taala::test::FromJson;
using ::taala::test::Result;
using ::testing::HasSubstr;

class TaalactlAdminTest : public test::TaalactlTest {};

TEST_F(TaalactlAdminTest, ForceReleaseHandsTheKeyToTheWaiterAndSaysWhatItTook) {
  const uint64_t a = CreateSession("stuck");
  const uint64_t b = CreateSession("next");
  const uint64_t token = MustAcquire(a, "jobs/7");
  AsyncAcquire waiter;
  waiter.Start(stub_.get(), b, "jobs/7");
  ASSERT_TRUE(Eventually([&] { return Describe("jobs/7").waiter_count() == 1; }));

  Result r = Run({"force-release", "jobs/7", "--reason", "hung on NFS"},
                 {"USER=carol"});
  ASSERT_EQ(r.code, 0) << r;
  EXPECT_THAT(r.out, HasSubstr("force-released key jobs/7: took 1 grant"));
  EXPECT_THAT(r.out, HasSubstr(absl::StrCat(a)));
  EXPECT_THAT(r.out, HasSubstr(absl::StrCat(token)));
  ASSERT_TRUE(waiter.Wait());
  ASSERT_TRUE(waiter.status.ok()) << waiter.status.error_message();
  EXPECT_GT(waiter.resp.grant().fencing_token(), token);
  EXPECT_THAT(daemon_->Log(), HasSubstr("(requested_by carol@"));
  EXPECT_THAT(daemon_->Log(), HasSubstr("hung on NFS"));

  // --json: the ForceReleaseResponse; only b's grant, with its token.
  const uint64_t b_token = waiter.resp.grant().fencing_token();
  r = Run({"force-release", "jobs/7", "--reason=again", "--session",
           absl::StrCat(b), "--token", absl::StrCat(b_token), "--json"});
  ASSERT_EQ(r.code, 0) << r;
  const auto resp = FromJson<v1::ForceReleaseResponse>(r.out);
  ASSERT_EQ(resp.released_size(), 1);
  EXPECT_EQ(resp.released(0).session_id(), b);
  EXPECT_EQ(resp.released(0).fencing_token(), b_token);
  EXPECT_EQ(Describe("jobs/7").holders_size(), 0);
}

// taalactl lock's holder is told: it stops its command (SIGTERM) and says
// why, as when its session is lost.
TEST_F(TaalactlAdminTest, ForceReleaseStopsTheCommandOfTaalactlLock) {
  auto lock = Start({"lock", "held/by/lock", "--", "sleep", "60"});
  ASSERT_TRUE(
      Eventually([&] { return Describe("held/by/lock").holders_size() == 1; }));
  Result r = Run({"force-release", "held/by/lock", "--reason", "test"});
  ASSERT_EQ(r.code, 0) << r;
  EXPECT_EQ(lock->Wait(), 128 + SIGTERM) << lock->err();
  EXPECT_THAT(lock->err(), HasSubstr("WARNING: lost the lock on key "
                                     "\"held/by/lock\""));
  EXPECT_THAT(lock->err(), HasSubstr("the server revoked the grant"));
}

TEST_F(TaalactlAdminTest, RevokeEndsTheSessionAndFreesItsKeys) {
  const uint64_t a = CreateSession("runaway");
  MustAcquire(a, "r/1");
  MustAcquire(a, "r/2");
  Result r = Run({"revoke", absl::StrCat(a), "--reason", "runaway job",
                  "--skip-lock-delay"});
  ASSERT_EQ(r.code, 0) << r;
  EXPECT_THAT(r.out, HasSubstr(absl::StrCat("revoked session ", a,
                                            ": released 2 grants, cancelled "
                                            "0 waits (lock-delays skipped)")));
  EXPECT_THAT(r.out, HasSubstr("r/1"));
  EXPECT_THAT(r.out, HasSubstr("r/2"));
  EXPECT_EQ(Describe("r/1").holders_size(), 0);
  EXPECT_EQ(Describe("r/2").holders_size(), 0);

  // Gone: NOT_FOUND, exit 1, the message on stderr and nothing on stdout.
  r = Run({"revoke", absl::StrCat(a), "--reason", "again", "--json"});
  EXPECT_EQ(r.code, 1) << r;
  EXPECT_THAT(r.err, HasSubstr("NOT_FOUND"));
  EXPECT_EQ(r.out, "");

  const uint64_t c = CreateSession("c");
  MustAcquire(c, "r/3");
  r = Run({"revoke", absl::StrCat(c), "--reason", "json", "--json"});
  ASSERT_EQ(r.code, 0) << r;
  const auto resp = FromJson<v1::RevokeSessionResponse>(r.out);
  ASSERT_EQ(resp.released_size(), 1);
  EXPECT_EQ(resp.released(0).key(), "r/3");
}

TEST_F(TaalactlAdminTest, ReleaseOnBehalfOfASession) {
  const uint64_t a = CreateSession("gone");
  const uint64_t token = MustAcquire(a, "k");
  // The wrong token: FAILED_PRECONDITION, exit 1.
  Result r = Run({"release", "k", "--session", absl::StrCat(a), "--token",
                  absl::StrCat(token + 1)});
  EXPECT_EQ(r.code, 1) << r;
  EXPECT_THAT(r.err, HasSubstr("FAILED_PRECONDITION"));
  r = Run({"release", "k", "--session", absl::StrCat(a), "--token",
           absl::StrCat(token)});
  ASSERT_EQ(r.code, 0) << r;
  EXPECT_EQ(r.out, absl::StrCat("released key k (session ", a, ", token ",
                                token, ")\n"));
  EXPECT_EQ(Describe("k").holders_size(), 0);
}

TEST_F(TaalactlAdminTest, RefusalsAndUsageErrorsHaveTheirExitStatus) {
  const uint64_t a = CreateSession("holder");
  const uint64_t token = MustAcquire(a, "held");
  struct Case {
    std::vector<std::string> args;
    int code;
    std::string err;
  };
  const Case cases[] = {
      {{"force-release", "held"}, 64, "needs --reason"},
      {{"force-release", "held", "--reason", ""}, 64, "--reason"},
      {{"force-release", "--reason", "r"}, 64, "needs exactly one KEY"},
      {{"force-release", "held", "--reason", "r", "--token", "x"}, 64,
       "--token"},
      {{"revoke", "abc", "--reason", "r"}, 64, "not a session id"},
      {{"revoke", "5", "--reason", "r", "--session", "5"}, 64,
       "--session is only for"},
      {{"release", "held", "--session", "5"}, 64, "--token"},
      {{"force-release", "free", "--reason", "r"}, 1, "NOT_FOUND"},
      {{"force-release", "held", "--reason", "r", "--token",
        absl::StrCat(token + 1)},
       1, "FAILED_PRECONDITION"},
      {{"force-release", "a//b", "--reason", "r"}, 1, "INVALID_ARGUMENT"},
      {{"force-release", "held", "--reason", std::string(1025, 'x')}, 1,
       "reason"},
      {{"revoke", "999999999", "--reason", "r"}, 1, "NOT_FOUND"},
  };
  for (const Case& c : cases) {
    Result r = Run(c.args);
    EXPECT_EQ(r.code, c.code) << absl::StrJoin(c.args, " ") << "\n" << r;
    EXPECT_THAT(r.err, HasSubstr(c.err)) << absl::StrJoin(c.args, " ");
    EXPECT_EQ(r.out, "") << absl::StrJoin(c.args, " ");
  }
  // Nothing was taken.
  ASSERT_EQ(Describe("held").holders_size(), 1);
  // Help names each command.
  for (const char* command : {"force-release", "revoke", "release"}) {
    Result r = Run({command, "--help"});
    EXPECT_EQ(r.code, 0);
    EXPECT_THAT(r.out, HasSubstr(absl::StrCat("Usage: taalactl ", command)));
  }
}

// A session with very many grants: the table shows the first 100 and says
// how many more; --json still has every one.
TEST_F(TaalactlAdminTest, RevokeCapsTheGrantsTableButNotJson) {
  constexpr int kKeys = 103;
  const uint64_t a = CreateSession("many");
  for (int i = 0; i < kKeys; ++i) MustAcquire(a, absl::StrCat("m/", i));
  Result r = Run({"revoke", absl::StrCat(a), "--reason", "many"});
  ASSERT_EQ(r.code, 0) << r;
  EXPECT_THAT(r.out, HasSubstr("released 103 grants"));
  EXPECT_THAT(r.out, HasSubstr("\n... and 3 more (--json lists them all)\n"));
  // Summary, header, 100 rows, the "... and" line.
  EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 103) << r;

  const uint64_t b = CreateSession("many-json");
  for (int i = 0; i < kKeys; ++i) MustAcquire(b, absl::StrCat("n/", i));
  r = Run({"revoke", absl::StrCat(b), "--reason", "many", "--json"});
  ASSERT_EQ(r.code, 0) << r;
  EXPECT_EQ(FromJson<v1::RevokeSessionResponse>(r.out).released_size(), kKeys);
}

}  // namespace
}  // namespace taala
