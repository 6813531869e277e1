// End-to-end tests of taalactl's observability commands and papercuts: the
// real taalactl binary against the real taalad. leaks, contention, stats,
// list filters, recent deadlocks, tree blockers and holder labels in
// describe, the holder named when `lock` is not acquired, --version and
// COMMAND --help. --json output is read back into the response messages.

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "taala/v1/lock_service.grpc.pb.h"
#include "tests/tools/taalactl_fixture.h"
#include "taala/tools/taalactl_output.pb.h"

namespace taala {
namespace {

using ::taala::test::AsyncAcquire;
using ::taala::test::Eventually;
using ::taala::test::FromJson;
using ::taala::test::Result;
using ::taala::test::Taalactl;
using ::taala::test::TaalactlTest;
using ::testing::ContainsRegex;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

const std::vector<std::string> kCommands = {
    "lock",  "describe",   "list", "sessions", "deadlocks",
    "health", "leaks", "contention", "stats", "policies", "watch"};

TEST_F(TaalactlTest, VersionNamesTheVersionAndCommit) {
  Taalactl t(dir_, {"--version"});
  EXPECT_EQ(t.Wait(), 0) << t.err();
  EXPECT_THAT(t.out(), ContainsRegex("^taalactl [0-9]+\\.[0-9]+\\.[0-9]+ "
                                     "\\(commit [^)]+\\)\n$"));
  Taalactl v(dir_, {"version"});
  EXPECT_EQ(v.Wait(), 0);
  EXPECT_EQ(v.out(), t.out());
}

TEST_F(TaalactlTest, EveryCommandHasItsOwnHelp) {
  Taalactl general(dir_, {"--help"});
  EXPECT_EQ(general.Wait(), 0);
  for (const std::string& c : kCommands) {
    EXPECT_THAT(general.out(), HasSubstr(absl::StrCat("\n  ", c, " "))) << c;
    for (const std::vector<std::string>& args :
         std::vector<std::vector<std::string>>{
             {c, "--help"}, {"help", c}, {"--json", c, "-h"}}) {
      Taalactl t(dir_, args);
      EXPECT_EQ(t.Wait(), 0) << t.description() << "\n" << t.err();
      EXPECT_THAT(t.out(), StartsWith(absl::StrCat("Usage: taalactl ", c)))
          << t.description();
      EXPECT_NE(t.out(), general.out()) << t.description();
    }
  }
  Taalactl unknown(dir_, {"frobnicate", "--help"});
  EXPECT_EQ(unknown.Wait(), 64);
}

TEST_F(TaalactlTest, NewCommandsExit64OnBadUsageAnd69WhenUnreachable) {
  for (const std::vector<std::string>& args :
       std::vector<std::vector<std::string>>{
           {"leaks", "--held-longer-than", "soon"},
           {"leaks", "--p99-factor", "-1"},
           {"contention", "extra"},
           {"stats", "a", "b"},
           {"list", "--contended=yes"},
           {"describe", "--contended", "k"}}) {
    Taalactl t(dir_, args);
    EXPECT_EQ(t.Wait(), 64) << t.description();
    EXPECT_THAT(t.err(), HasSubstr("taalactl --help")) << t.description();
  }
  // A loopback port nobody listens on: bound, then closed.
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in addr = {};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  socklen_t len = sizeof(addr);
  ASSERT_EQ(getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  close(fd);
  const std::string endpoint = absl::StrCat("127.0.0.1:", ntohs(addr.sin_port));
  for (const std::vector<std::string>& args :
       std::vector<std::vector<std::string>>{
           {"leaks"}, {"contention"}, {"stats", "k"}, {"deadlocks"}}) {
    std::vector<std::string> with = args;
    with.insert(with.begin(), "--endpoint=" + endpoint);
    Taalactl t(dir_, with);
    EXPECT_EQ(t.Wait(), 69) << t.description() << "\n" << t.err();
    EXPECT_THAT(t.err(), HasSubstr(endpoint)) << t.description();
  }
}

TEST_F(TaalactlTest, AnEndpointGivenAsHostnameAndPortIsDialed) {
  // "localhost:PORT" instead of the fixture's "127.0.0.1:PORT": the port is
  // kept. (A bare host dials 7070, which another test run may hold: that
  // part is a unit test of the endpoint normalisation.)
  const std::string address = daemon_->address();
  const std::string port = address.substr(address.rfind(':') + 1);
  Taalactl t(dir_, {"--endpoint", absl::StrCat("localhost:", port), "health"});
  EXPECT_EQ(t.Wait(), 0) << t.err();
  EXPECT_THAT(t.out(), StartsWith(absl::StrCat("localhost:", port, "  SERVING")));
}

TEST_F(TaalactlTest, NotAcquiredNamesTheHolder) {
  const uint64_t holder =
      CreateSession("billing-worker", {{"host", "h1"}, {"pid", "4242"}});
  MustAcquire(holder, "busy/k");
  Result r = Run({"lock", "--wait", "0", "busy/k", "--", "true"});
  EXPECT_EQ(r.code, 75) << r;
  EXPECT_THAT(r.err, HasSubstr(absl::StrCat("\"busy/k\" is held by session ",
                                            holder)));
  EXPECT_THAT(r.err, HasSubstr("\"billing-worker\""));
  EXPECT_THAT(r.err, HasSubstr("host=h1,pid=4242"));
  EXPECT_THAT(r.err, HasSubstr("EXCLUSIVE for "));
  EXPECT_THAT(r.err, HasSubstr("not acquired (--wait 0)"));

  // Held from above: the holder of the ancestor is named.
  MustAcquire(holder, "tree");
  r = Run({"lock", "--wait", "50ms", "tree/leaf", "--", "true"});
  EXPECT_EQ(r.code, 75) << r;
  EXPECT_THAT(r.err, HasSubstr(absl::StrCat(
                         "\"tree/leaf\" is blocked by session ", holder,
                         " (client \"billing-worker\", host=h1,pid=4242)")));
  EXPECT_THAT(r.err, HasSubstr("on ancestor \"tree\"; not acquired within"));
}

TEST_F(TaalactlTest, DescribeShowsTreeBlockersAndHolderLabels) {
  const uint64_t parent = CreateSession("parent", {{"host", "h1"}, {"pid", "1"}});
  const uint64_t child = CreateSession("child", {{"host", "h2"}, {"pid", "2"}});
  MustAcquire(parent, "org/a");
  MustAcquire(child, "org/b/c");

  Result r = Run({"describe", "org/a"});
  ASSERT_EQ(r.code, 0) << r;
  EXPECT_THAT(r.out, HasSubstr("LABELS"));
  EXPECT_THAT(r.out, HasSubstr("host=h1,pid=1"));

  // org/a/x is free itself but held from above by org/a.
  r = Run({"describe", "org/a/x"});
  ASSERT_EQ(r.code, 0) << r;
  EXPECT_THAT(r.out, HasSubstr("blocked from above"));
  EXPECT_THAT(r.out, HasSubstr("BLOCKED FROM ABOVE"));
  EXPECT_THAT(r.out, ContainsRegex(absl::StrCat("\norg/a +", parent,
                                                " +parent +host=h1,pid=1")));
  r = Run({"--json", "describe", "org/a/x"});
  ASSERT_EQ(r.code, 0) << r;
  auto d = FromJson<v1::DescribeLockResponse>(r.out);
  ASSERT_EQ(d.blocked_from_above_size(), 1) << r.out;
  EXPECT_EQ(d.blocked_from_above(0).key(), "org/a");
  EXPECT_EQ(d.blocked_from_above(0).holder().grant().session_id(), parent);
  EXPECT_EQ(d.blocked_from_above(0).holder().labels().at("host"), "h1");

  // org is held from below by both.
  r = Run({"describe", "org"});
  ASSERT_EQ(r.code, 0) << r;
  EXPECT_THAT(r.out, HasSubstr("BLOCKED FROM BELOW"));
  EXPECT_THAT(r.out, HasSubstr("org/b/c"));
  EXPECT_THAT(r.out, HasSubstr("host=h2,pid=2"));
  r = Run({"--json", "describe", "org"});
  d = FromJson<v1::DescribeLockResponse>(r.out);
  ASSERT_EQ(d.blocked_from_below_size(), 2) << r.out;
  EXPECT_EQ(d.blocked_from_below(0).key(), "org/a");
  EXPECT_EQ(d.blocked_from_below(1).key(), "org/b/c");
  EXPECT_EQ(d.blocked_from_below(1).holder().labels().at("pid"), "2");
  EXPECT_EQ(d.blocked_from_below(1).holder().client_name(), "child");
}

TEST_F(TaalactlTest, ListFiltersByAgeAndContention) {
  const uint64_t old_holder = CreateSession("old");
  const uint64_t waiter = CreateSession("waiter");
  MustAcquire(old_holder, "f/old");
  MustAcquire(old_holder, "f/hot");
  AsyncAcquire wait;
  wait.Start(stub_.get(), waiter, "f/hot");
  ASSERT_TRUE(Eventually([&] { return Describe("f/hot").waiter_count() == 1; }));
  // f/old (and f/hot) are held longer than 2s; f/new, taken now, is not.
  ASSERT_TRUE(Eventually([&] {
    const v1::DescribeLockResponse d = Describe("f/old");
    return d.holders_size() == 1 && d.holders(0).grant().held_for_ms() > 2500;
  }));
  const uint64_t fresh = CreateSession("fresh");
  MustAcquire(fresh, "f/new");

  Result r = Run({"list", "--contended", "f/"});
  ASSERT_EQ(r.code, 0) << r;
  EXPECT_THAT(r.out, HasSubstr("f/hot"));
  EXPECT_THAT(r.out, Not(HasSubstr("f/old")));
  EXPECT_THAT(r.out, Not(HasSubstr("f/new")));

  r = Run({"list", "--held-longer-than", "2s", "--json", "f/"});
  ASSERT_EQ(r.code, 0) << r;
  auto listed = FromJson<v1::ListLocksResponse>(r.out);
  ASSERT_EQ(listed.locks_size(), 2) << r.out;
  EXPECT_EQ(listed.locks(0).key(), "f/hot");
  EXPECT_EQ(listed.locks(1).key(), "f/old");

  r = Run({"list", "--held-longer-than=2s", "--contended", "--json"});
  ASSERT_EQ(r.code, 0) << r;
  listed = FromJson<v1::ListLocksResponse>(r.out);
  ASSERT_EQ(listed.locks_size(), 1) << r.out;
  EXPECT_EQ(listed.locks(0).key(), "f/hot");

  r = Run({"list", "--held-longer-than", "1h"});
  ASSERT_EQ(r.code, 0) << r;
  EXPECT_EQ(r.out, "no locks match\n");

  MustRelease(old_holder, "f/hot", Describe("f/hot").holders(0).grant().fencing_token());
  ASSERT_TRUE(wait.Wait());
}

TEST_F(TaalactlTest, LeaksNamesLongHeldGrantsWithTheirHolders) {
  const uint64_t leaker =
      CreateSession("leaky-job", {{"host", "h9"}, {"pid", "99"}});
  MustAcquire(leaker, "leak/k");
  ASSERT_TRUE(Eventually([&] {
    const v1::DescribeLockResponse d = Describe("leak/k");
    return d.holders_size() == 1 && d.holders(0).grant().held_for_ms() > 200;
  }));

  Result r = Run({"leaks", "--held-longer-than", "100ms"});
  ASSERT_EQ(r.code, 0) << r;
  EXPECT_THAT(r.out, HasSubstr("leak/k"));
  EXPECT_THAT(r.out, HasSubstr("leaky-job"));
  EXPECT_THAT(r.out, HasSubstr("host=h9,pid=99"));
  EXPECT_THAT(r.out, HasSubstr(absl::StrCat(leaker)));

  r = Run({"--json", "leaks", "--held-longer-than=100ms", "--p99-factor",
           "3", "--limit", "5"});
  ASSERT_EQ(r.code, 0) << r;
  const auto leaks = FromJson<v1::GetLeakSuspectsResponse>(r.out);
  EXPECT_EQ(leaks.held_longer_than_ms(), 100);
  EXPECT_EQ(leaks.p99_factor(), 3);
  ASSERT_EQ(leaks.suspects_size(), 1) << r.out;
  const v1::LeakSuspect& s = leaks.suspects(0);
  EXPECT_EQ(s.grant().key(), "leak/k");
  EXPECT_EQ(s.grant().session_id(), leaker);
  EXPECT_EQ(s.client_name(), "leaky-job");
  EXPECT_EQ(s.labels().at("host"), "h9");
  EXPECT_GT(s.grant().held_for_ms(), 100);
  EXPECT_FALSE(s.reason().empty());

  r = Run({"leaks", "--held-longer-than", "1h"});
  ASSERT_EQ(r.code, 0) << r;
  EXPECT_THAT(r.out, HasSubstr("no leak suspects"));
}

TEST_F(TaalactlTest, ContentionShowsTheKeysWithTheLongestQueues) {
  const uint64_t holder = CreateSession("holder");
  const uint64_t token = MustAcquire(holder, "hot/k");
  MustAcquire(holder, "warm/k");
  const uint64_t w1 = CreateSession("w1");
  const uint64_t w2 = CreateSession("w2");
  AsyncAcquire a1, a2, a3;
  // a1 must be queued before a2 starts: the two calls race to the daemon,
  // and the release below hands hot/k to whichever arrived first.
  a1.Start(stub_.get(), w1, "hot/k");
  ASSERT_TRUE(Eventually([&] { return Describe("hot/k").waiter_count() == 1; }));
  a2.Start(stub_.get(), w2, "hot/k");
  a3.Start(stub_.get(), w1, "warm/k");
  ASSERT_TRUE(Eventually([&] {
    return Describe("hot/k").waiter_count() == 2 &&
           Describe("warm/k").waiter_count() == 1;
  }));

  Result r = Run({"contention"});
  ASSERT_EQ(r.code, 0) << r;
  EXPECT_THAT(r.out, HasSubstr("BY WAITERS NOW"));
  EXPECT_THAT(r.out, ContainsRegex("\nhot/k +2 +1 "));
  EXPECT_THAT(r.out, HasSubstr("BY TIME WAITED"));

  r = Run({"contention", "--json", "--limit", "1"});
  ASSERT_EQ(r.code, 0) << r;
  const auto c = FromJson<v1::GetContentionResponse>(r.out);
  ASSERT_EQ(c.by_waiters_size(), 1) << r.out;
  EXPECT_EQ(c.by_waiters(0).key(), "hot/k");
  EXPECT_EQ(c.by_waiters(0).waiters(), 2u);
  EXPECT_EQ(c.by_waiters(0).holders(), 1u);
  EXPECT_GT(c.window_ms(), 0);

  MustRelease(holder, "hot/k", token);
  ASSERT_TRUE(a1.Wait());
  CloseSession(w1);
  CloseSession(w2);
  CloseSession(holder);
  ASSERT_TRUE(a2.Wait());
  ASSERT_TRUE(a3.Wait());
}

TEST_F(TaalactlTest, StatsShowOutcomesPercentilesAndSuggestions) {
  const uint64_t s = CreateSession("stats-user");
  for (int i = 0; i < 25; ++i) {
    MustRelease(s, "st/busy", MustAcquire(s, "st/busy"));
  }
  for (int i = 0; i < 2; ++i) {
    MustRelease(s, "st/rare", MustAcquire(s, "st/rare"));
  }

  Result r = Run({"stats", "st/busy"});
  ASSERT_EQ(r.code, 0) << r;
  EXPECT_THAT(r.out, StartsWith("SCOPE        st/busy  (key"));
  EXPECT_THAT(r.out, HasSubstr("ACQUIRES     25 acquired"));
  EXPECT_THAT(r.out, HasSubstr("HOLD         p50 "));
  EXPECT_THAT(r.out, HasSubstr("(25 holds)"));
  EXPECT_THAT(r.out, HasSubstr("revocations"));
  EXPECT_THAT(r.out, HasSubstr("expiries"));
  EXPECT_THAT(r.out, HasSubstr("deadlock refusals"));
  // 25 holds >= 20: a suggested max hold (its value is p95 x 1.5 clamped to
  // the daemon's bounds), with its source and samples; fewer than 20 waits:
  // no wait timeout, and why.
  EXPECT_THAT(r.out, ContainsRegex("SUGGESTED MAX HOLD +[0-9.hms]+  \\(.*p95.*"
                                   "; 25 samples\\)"));
  EXPECT_THAT(r.out, HasSubstr("SUGGESTED WAIT TIMEOUT  none: "));

  r = Run({"--json", "stats", "st/busy"});
  ASSERT_EQ(r.code, 0) << r;
  auto st = FromJson<v1::GetLockStatsResponse>(r.out);
  EXPECT_EQ(st.stats().scope(), "st/busy");
  EXPECT_EQ(st.stats().source(), "key");
  EXPECT_EQ(st.stats().acquires().acquired(), 25u);
  EXPECT_EQ(st.stats().hold().count(), 25u);
  EXPECT_TRUE(st.stats().suggested_max_hold().available());
  EXPECT_GT(st.stats().suggested_max_hold().value_ms(), 0);
  EXPECT_THAT(st.stats().suggested_max_hold().source(), HasSubstr("p95"));
  EXPECT_EQ(st.stats().suggested_max_hold().samples(), 25u);
  EXPECT_FALSE(st.stats().suggested_wait_timeout().available());

  r = Run({"--json", "stats", "st/rare"});
  ASSERT_EQ(r.code, 0) << r;
  st = FromJson<v1::GetLockStatsResponse>(r.out);
  EXPECT_FALSE(st.stats().suggested_max_hold().available());
  EXPECT_FALSE(st.stats().suggested_max_hold().reason().empty());
  r = Run({"stats", "st/rare"});
  EXPECT_THAT(r.out, HasSubstr("SUGGESTED MAX HOLD      none: "));

  // A prefix: a trailing '/', or --prefix.
  for (const std::vector<std::string>& args :
       std::vector<std::vector<std::string>>{{"--json", "stats", "st/"},
                                             {"--json", "stats", "--prefix",
                                              "st"}}) {
    r = Run(args);
    ASSERT_EQ(r.code, 0) << r;
    st = FromJson<v1::GetLockStatsResponse>(r.out);
    EXPECT_NE(st.stats().source(), "key") << r.out;
    EXPECT_NE(st.stats().source(), "untracked") << r.out;
    EXPECT_EQ(st.stats().acquires().acquired(), 27u) << r.out;
  }
}

TEST_F(TaalactlTest, DeadlocksShowsRecentRefusalsWithTheirCycles) {
  const uint64_t a = CreateSession("alice");
  const uint64_t b = CreateSession("bob");
  MustAcquire(a, "dl/1");
  const uint64_t token2 = MustAcquire(b, "dl/2");
  AsyncAcquire a_waits;
  a_waits.Start(stub_.get(), a, "dl/2");
  ASSERT_TRUE(Eventually([&] { return Describe("dl/2").waiter_count() == 1; }));
  {
    // bob asking for dl/1 would close the cycle: ABORTED.
    grpc::ClientContext ctx;
    SetDeadline(&ctx);
    v1::AcquireRequest req;
    req.set_session_id(b);
    req.set_key("dl/1");
    req.set_wait_timeout_ms(-1);
    v1::AcquireResponse resp;
    grpc::Status st = stub_->Acquire(&ctx, req, &resp);
    ASSERT_EQ(st.error_code(), grpc::StatusCode::ABORTED) << st.error_message();
  }

  Result r = Run({"deadlocks"});
  ASSERT_EQ(r.code, 0) << r;
  EXPECT_THAT(r.out, HasSubstr("deadlocks refused since start: 1"));
  EXPECT_THAT(r.out, HasSubstr("RECENT REFUSALS (newest first)"));
  EXPECT_THAT(r.out, HasSubstr(absl::StrCat("session ", b,
                                            " (bob) refused on key \"dl/1\"")));
  EXPECT_THAT(r.out, ContainsRegex(absl::StrCat(
                         "\n  ", a, " \\(alice\\) [A-Z]+ waits for ", b,
                         " \\(bob\\) holding \"dl/2\"")));

  r = Run({"deadlocks", "--json", "--limit", "5"});
  ASSERT_EQ(r.code, 0) << r;
  const auto out = FromJson<tools::DeadlocksOutput>(r.out);
  EXPECT_EQ(out.wait_for_graph().deadlocks_refused(), 1u);
  ASSERT_TRUE(out.has_recent()) << out.recent_error();
  EXPECT_EQ(out.recent().total(), 1u);
  ASSERT_EQ(out.recent().deadlocks_size(), 1);
  const v1::DeadlockRefusal& d = out.recent().deadlocks(0);
  EXPECT_EQ(d.session_id(), b);
  EXPECT_EQ(d.client_name(), "bob");
  EXPECT_EQ(d.key(), "dl/1");
  EXPECT_GE(d.cycle_size(), 2);
  EXPECT_GT(d.at_unix_ms(), 0);
  EXPECT_FALSE(d.message().empty());

  MustRelease(b, "dl/2", token2);
  ASSERT_TRUE(a_waits.Wait());
}

}  // namespace
}  // namespace taala
