// End-to-end tests of taalactl: the real taalactl binary against the real
// taalad on a loopback port, checked by exit status, files the commands
// write, and what taalad itself says (over the generated stub).

#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
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
using ::taala::test::Exists;
using ::taala::test::FromJson;
using ::taala::test::ReadFile;
using ::taala::test::Result;
using ::taala::test::Taalactl;
using ::taala::test::TaalactlTest;
using ::testing::HasSubstr;
using ::testing::Not;

TEST_F(TaalactlTest, TwoConcurrentLockRunsNeverInterleave) {
  const std::string file = Path("markers");
  const std::string script =
      absl::StrCat("echo start >> '", file, "'; sleep 0.3; echo end >> '",
                   file, "'");
  auto first = Start({"lock", "shared/k", "--", "sh", "-c", script});
  auto second = Start({"lock", "shared/k", "--", "sh", "-c", script});
  EXPECT_EQ(first->Wait(), 0) << first->err();
  EXPECT_EQ(second->Wait(), 0) << second->err();
  EXPECT_EQ(ReadFile(file), "start\nend\nstart\nend\n");
  EXPECT_EQ(Describe("shared/k").holders_size(), 0);  // Released.
}

TEST_F(TaalactlTest, PassesTheCommandsExitStatusThrough) {
  Result r = Run({"lock", "k", "--", "sh", "-c", "exit 7"});
  EXPECT_EQ(r.code, 7) << r;
  r = Run({"lock", "k", "--", "true"});
  EXPECT_EQ(r.code, 0) << r;
  EXPECT_EQ(r.out, "");
  // Killed by a signal: 128 + the signal, as in the shell.
  r = Run({"lock", "k", "--", "sh", "-c", "kill -TERM $$"});
  EXPECT_EQ(r.code, 128 + SIGTERM) << r;
  // A command that does not exist: 127, as in the shell.
  r = Run({"lock", "k", "--", "/nonexistent/taala-command"});
  EXPECT_EQ(r.code, 127) << r;
  EXPECT_THAT(r.err, HasSubstr("/nonexistent/taala-command"));
  // Every run released the key.
  EXPECT_EQ(Describe("k").holders_size(), 0);
}

TEST_F(TaalactlTest, WaitZeroOnAHeldKeyExits75WithoutRunningTheCommand) {
  const uint64_t holder = CreateSession("holder");
  const uint64_t token = MustAcquire(holder, "busy");
  const std::string marker = Path("marker");

  Result r = Run({"lock", "--wait", "0", "busy", "--", "touch", marker});
  EXPECT_EQ(r.code, 75) << r;
  EXPECT_FALSE(Exists(marker));
  EXPECT_THAT(r.err, HasSubstr("\"busy\""));

  const absl::Time start = absl::Now();
  r = Run({"lock", "--wait=300ms", "busy", "--", "touch", marker});
  EXPECT_EQ(r.code, 75) << r;
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(300));
  EXPECT_FALSE(Exists(marker));
  EXPECT_EQ(Describe("busy").waiter_count(), 0u);

  MustRelease(holder, "busy", token);
  r = Run({"lock", "--wait", "0", "busy", "--", "touch", marker});
  EXPECT_EQ(r.code, 0) << r;
  EXPECT_TRUE(Exists(marker));
}

TEST_F(TaalactlTest, TheCommandGetsTheKeyAndFencingToken) {
  const uint64_t s = CreateSession("before");
  const uint64_t earlier = MustAcquire(s, "jobs/nightly");
  MustRelease(s, "jobs/nightly", earlier);

  const std::string env_file = Path("env");
  const std::string describe_file = Path("describe.json");
  // Inherited values are replaced; the command can ask taalad about itself.
  Result r = Run(
      {"lock", "jobs/nightly", "--", "sh", "-c",
       absl::StrCat("printf '%s %s' \"$TAALA_KEY\" \"$TAALA_FENCING_TOKEN\" > '",
                    env_file, "' && \"$TAALACTL\" --json describe \"$TAALA_KEY\" > '",
                    describe_file, "'")},
      {"TAALA_KEY=stale", "TAALA_FENCING_TOKEN=1",
       absl::StrCat("TAALACTL=", TAALACTL_PATH),
       absl::StrCat("TAALA_ENDPOINT=", daemon_->address())});
  ASSERT_EQ(r.code, 0) << r;
  std::vector<std::string> parts = absl::StrSplit(ReadFile(env_file), ' ');
  ASSERT_EQ(parts.size(), 2u) << ReadFile(env_file);
  EXPECT_EQ(parts[0], "jobs/nightly");
  uint64_t token = 0;
  ASSERT_TRUE(absl::SimpleAtoi(parts[1], &token)) << parts[1];
  EXPECT_GT(token, earlier);

  const auto d = FromJson<v1::DescribeLockResponse>(ReadFile(describe_file));
  EXPECT_EQ(d.key(), "jobs/nightly");
  ASSERT_EQ(d.holders_size(), 1);
  EXPECT_EQ(absl::StrCat(d.holders(0).grant().fencing_token()), parts[1]);
  EXPECT_EQ(d.holders(0).client_name(), "taalactl lock jobs/nightly");
}

TEST_F(TaalactlTest, DescribeListSessionsAndHealthPrintTablesAndJson) {
  const uint64_t worker =
      CreateSession("worker-7", {{"team", "payments"}, {"host", "h1"}});
  const uint64_t queued = CreateSession("queued");
  const uint64_t token = MustAcquire(worker, "app/a");
  MustAcquire(worker, "app/b");
  MustAcquire(worker, "other/c");
  AsyncAcquire wait;
  wait.Start(stub_.get(), queued, "app/a");
  ASSERT_TRUE(
      Eventually([&] { return Describe("app/a").waiter_count() == 1; }));
  const std::string worker_id = absl::StrCat(worker);
  const std::string token_text = absl::StrCat(token);

  // describe
  Result r = Run({"describe", "app/a"});
  ASSERT_EQ(r.code, 0) << r;
  EXPECT_THAT(r.out, HasSubstr("KEY    app/a\n"));
  EXPECT_THAT(r.out, HasSubstr("STATE  held, 1 waiter\n"));
  EXPECT_THAT(r.out, HasSubstr("SESSION"));
  EXPECT_THAT(r.out, HasSubstr("HELD FOR"));
  EXPECT_THAT(r.out, testing::ContainsRegex(absl::StrCat(
                         "\n", worker_id, " +worker-7 +", token_text,
                         " +EXCLUSIVE  ")));
  EXPECT_THAT(r.out, HasSubstr("WAITERS (queue order)\n"));
  EXPECT_THAT(r.out, HasSubstr("WAITED FOR"));
  EXPECT_THAT(r.out, testing::ContainsRegex(absl::StrCat(
                         "\n1  ", queued, " +queued +EXCLUSIVE  ")));
  EXPECT_THAT(r.out, HasSubstr("until cancelled"));

  r = Run({"--json", "describe", "app/a"});
  ASSERT_EQ(r.code, 0) << r;
  // The proto3 JSON mapping: proto field names, 64-bit integers as strings,
  // enums by name, one line.
  EXPECT_THAT(r.out, HasSubstr(absl::StrCat("\"session_id\":\"", worker_id,
                                            "\"")));
  EXPECT_THAT(r.out, HasSubstr("\"mode\":\"LOCK_MODE_EXCLUSIVE\""));
  EXPECT_THAT(r.out, testing::EndsWith("}\n"));
  EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 1) << r.out;
  auto described = FromJson<v1::DescribeLockResponse>(r.out);
  EXPECT_EQ(described.key(), "app/a");
  ASSERT_EQ(described.holders_size(), 1);
  const v1::Holder& holder = described.holders(0);
  EXPECT_EQ(holder.grant().session_id(), worker);
  EXPECT_EQ(holder.client_name(), "worker-7");
  EXPECT_EQ(holder.grant().fencing_token(), token);
  EXPECT_EQ(holder.grant().mode(), v1::LOCK_MODE_EXCLUSIVE);
  EXPECT_EQ(holder.grant().max_hold_remaining_ms(), 0);
  ASSERT_EQ(described.waiters_size(), 1);
  const v1::Waiter& waiter = described.waiters(0);
  EXPECT_EQ(waiter.session_id(), queued);
  EXPECT_EQ(waiter.client_name(), "queued");
  EXPECT_EQ(waiter.mode(), v1::LOCK_MODE_EXCLUSIVE);
  EXPECT_EQ(waiter.wait_remaining_ms(), -1);
  EXPECT_EQ(described.waiter_count(), 1u);

  r = Run({"describe", "free/key"});
  ASSERT_EQ(r.code, 0) << r;
  EXPECT_EQ(r.out, "KEY    free/key\nSTATE  free\n");
  r = Run({"describe", "free/key", "--json"});
  ASSERT_EQ(r.code, 0) << r;
  EXPECT_THAT(r.out, HasSubstr("\"holders\":[]"));  // Defaults are printed.
  described = FromJson<v1::DescribeLockResponse>(r.out);
  EXPECT_EQ(described.key(), "free/key");
  EXPECT_EQ(described.holders_size(), 0);

  // A malformed key: the server's INVALID_ARGUMENT, exit 1.
  r = Run({"describe", "a//b"});
  EXPECT_EQ(r.code, 1) << r;
  EXPECT_THAT(r.err, HasSubstr("INVALID_ARGUMENT"));

  // list
  r = Run({"list", "app/"});
  ASSERT_EQ(r.code, 0) << r;
  std::vector<std::string> lines = absl::StrSplit(r.out, '\n');
  ASSERT_EQ(lines.size(), 4u) << r.out;  // Header, two keys, "".
  EXPECT_THAT(lines[0], HasSubstr("KEY    SESSION"));
  EXPECT_THAT(lines[0], HasSubstr("WAITERS"));
  EXPECT_THAT(lines[1], testing::ContainsRegex(absl::StrCat(
                            "^app/a  ", worker_id, " +worker-7 +",
                            token_text, " ")));
  EXPECT_THAT(lines[1], testing::EndsWith("  1"));
  EXPECT_THAT(lines[2], testing::StartsWith("app/b  "));
  EXPECT_THAT(lines[2], testing::EndsWith("  0"));
  EXPECT_THAT(r.out, Not(HasSubstr("other/c")));

  r = Run({"list", "--json"});
  ASSERT_EQ(r.code, 0) << r;
  auto listed = FromJson<v1::ListLocksResponse>(r.out);
  ASSERT_EQ(listed.locks_size(), 3);
  EXPECT_EQ(listed.locks(0).key(), "app/a");
  EXPECT_EQ(listed.locks(0).waiter_count(), 1u);
  ASSERT_EQ(listed.locks(0).holders_size(), 1);
  EXPECT_EQ(listed.locks(0).holders(0).grant().fencing_token(), token);
  EXPECT_EQ(listed.locks(2).key(), "other/c");
  EXPECT_EQ(listed.next_page_token(), "");  // Not cut short.

  r = Run({"list", "--json", "--limit", "1", "app/"});
  ASSERT_EQ(r.code, 0) << r;
  listed = FromJson<v1::ListLocksResponse>(r.out);
  ASSERT_EQ(listed.locks_size(), 1);
  EXPECT_NE(listed.next_page_token(), "");  // More follow.

  r = Run({"list", "nothing/"});
  ASSERT_EQ(r.code, 0) << r;
  EXPECT_EQ(r.out, "no locks held under \"nothing/\"\n");

  // sessions
  r = Run({"sessions"});
  ASSERT_EQ(r.code, 0) << r;
  EXPECT_THAT(r.out, HasSubstr("SESSION"));
  EXPECT_THAT(r.out, HasSubstr("EXPIRES IN"));
  EXPECT_THAT(r.out, testing::ContainsRegex(
                         absl::StrCat("\n", worker_id, " +worker-7 +30s")));
  EXPECT_THAT(r.out, HasSubstr("host=h1,team=payments"));

  r = Run({"sessions", "--json"});
  ASSERT_EQ(r.code, 0) << r;
  const auto sessions = FromJson<v1::ListSessionsResponse>(r.out);
  ASSERT_EQ(sessions.sessions_size(), 2);
  // Ids are random: the list is in id order, not in creation order.
  const bool worker_first = sessions.sessions(0).session_id() == worker;
  const v1::SessionSummary& s0 = sessions.sessions(worker_first ? 0 : 1);
  EXPECT_EQ(s0.session_id(), worker);
  EXPECT_EQ(s0.client_name(), "worker-7");
  EXPECT_EQ(s0.labels().at("team"), "payments");
  EXPECT_EQ(s0.ttl_ms(), 30000);
  EXPECT_GT(s0.expires_in_ms(), 0);
  EXPECT_EQ(s0.held_keys(), 3u);
  EXPECT_EQ(s0.waiting_keys(), 0u);
  EXPECT_EQ(sessions.sessions(worker_first ? 1 : 0).waiting_keys(), 1u);

  // health
  r = Run({"health"});
  EXPECT_EQ(r.code, 0) << r;
  EXPECT_THAT(r.out,
              testing::StartsWith(absl::StrCat(daemon_->address(),
                                               "  SERVING\n  durability fsync; ")));
  EXPECT_THAT(r.out, HasSubstr("previous stop clean"));
  EXPECT_THAT(r.out, Not(HasSubstr("GRANTS REFUSED")));
  r = Run({"health", "--json"});
  EXPECT_EQ(r.code, 0) << r;
  const auto health = FromJson<tools::HealthOutput>(r.out);
  EXPECT_EQ(health.status(), "SERVING");
  EXPECT_EQ(health.endpoint(), daemon_->address());
  EXPECT_EQ(health.server().durability(), "fsync");
  EXPECT_EQ(health.server().grants_refused_for_ms(), 0);
  EXPECT_TRUE(health.server().previous_stop_clean());

  // deadlocks: the queued session waits for the worker on app/a.
  r = Run({"deadlocks"});
  EXPECT_EQ(r.code, 0) << r;
  EXPECT_THAT(r.out, HasSubstr("deadlocks refused since start: 0"));
  EXPECT_THAT(r.out, HasSubstr("queued"));
  EXPECT_THAT(r.out, HasSubstr("worker-7"));
  EXPECT_THAT(r.out, HasSubstr("app/a"));
  r = Run({"deadlocks", "--json"});
  EXPECT_EQ(r.code, 0) << r;
  const auto deadlocks = FromJson<tools::DeadlocksOutput>(r.out);
  const v1::GetWaitForGraphResponse& graph = deadlocks.wait_for_graph();
  EXPECT_EQ(graph.deadlocks_refused(), 0u);
  ASSERT_EQ(graph.edges_size(), 1);
  EXPECT_EQ(graph.edges(0).key(), "app/a");
  EXPECT_EQ(graph.edges(0).blocker_session_id(), worker);
  EXPECT_FALSE(graph.edges(0).queued_ahead());

  MustRelease(worker, "app/a", token);
  ASSERT_TRUE(wait.Wait());
  EXPECT_TRUE(wait.status.ok()) << wait.status.error_message();
}

TEST_F(TaalactlTest, BadUsageExits64) {
  const std::vector<std::vector<std::string>> cases = {
      {},
      {"frobnicate"},
      {"--bogus", "health"},
      {"lock"},
      {"lock", "k"},
      {"lock", "--wait", "soon", "k", "--", "true"},
      {"describe"},
      {"sessions", "extra"},
  };
  for (const auto& args : cases) {
    Taalactl t(dir_, args);
    EXPECT_EQ(t.Wait(), 64) << t.description();
    EXPECT_THAT(t.err(), HasSubstr("taalactl --help")) << t.description();
  }
  Taalactl help(dir_, {"--help"});
  EXPECT_EQ(help.Wait(), 0);
  EXPECT_THAT(help.out(), HasSubstr("Usage: taalactl"));
}

TEST_F(TaalactlTest, UnreachableEndpointExits69) {
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
  const std::string marker = Path("never");

  const std::vector<std::vector<std::string>> cases = {
      {"health"},
      {"describe", "k"},
      {"list"},
      {"sessions"},
      {"lock", "k", "--", "touch", marker},
  };
  for (const auto& args : cases) {
    std::vector<std::string> with = args;
    with.insert(with.begin(), "--endpoint=" + endpoint);
    Taalactl t(dir_, with);
    EXPECT_EQ(t.Wait(), 69) << t.description() << "\n" << t.err();
    EXPECT_THAT(t.err(), HasSubstr(endpoint)) << t.description();
  }
  // The environment names the endpoint too.
  Taalactl from_env(dir_, {"health"}, {"TAALA_ENDPOINT=" + endpoint});
  EXPECT_EQ(from_env.Wait(), 69);
  EXPECT_FALSE(Exists(marker));
}

TEST_F(TaalactlTest, SigtermIsForwardedToTheCommandAndTheKeyReleased) {
  const std::string ready = Path("ready");
  auto run = Start({"lock", "sig/k", "--", "sh", "-c",
                    absl::StrCat("trap 'exit 42' TERM; touch '", ready,
                                 "'; while :; do sleep 0.05; done")});
  ASSERT_TRUE(Eventually([&] { return Exists(ready); })) << run->err();
  EXPECT_EQ(Describe("sig/k").holders_size(), 1);
  run->Signal(SIGTERM);
  EXPECT_EQ(run->Wait(), 42) << run->err();
  EXPECT_EQ(Describe("sig/k").holders_size(), 0);
}

TEST_F(TaalactlTest, SignalWhileWaitingGivesUpWithoutRunningTheCommand) {
  const uint64_t holder = CreateSession("holder");
  const uint64_t token = MustAcquire(holder, "queue/k");
  const std::string marker = Path("marker");
  auto run = Start({"lock", "queue/k", "--", "touch", marker});
  ASSERT_TRUE(
      Eventually([&] { return Describe("queue/k").waiter_count() == 1; }))
      << run->err();
  run->Signal(SIGINT);
  EXPECT_EQ(run->Wait(), 128 + SIGINT);
  EXPECT_THAT(run->err(), HasSubstr("while waiting for key \"queue/k\""));
  EXPECT_EQ(Describe("queue/k").waiter_count(), 0u);
  MustRelease(holder, "queue/k", token);
  EXPECT_FALSE(Exists(marker));
}

TEST_F(TaalactlTest, LostSessionWarnsAndStopsTheCommand) {
  const std::string ready = Path("ready");
  auto run = Start({"lock", "--ttl", "500ms", "lost/k", "--", "sh", "-c",
                    absl::StrCat("trap 'exit 3' TERM; touch '", ready,
                                 "'; while :; do sleep 0.05; done")});
  ASSERT_TRUE(Eventually([&] { return Exists(ready); })) << run->err();
  // No more keepalives are answered: the session is lost after its TTL.
  ASSERT_EQ(daemon_->Stop(), 0);
  EXPECT_EQ(run->Wait(), 3);
  EXPECT_THAT(run->err(), HasSubstr("WARNING: lost the lock on key \"lost/k\""));
}

// Two `lock --shared` runs hold the key together: each command waits (up to
// ~10 s) until the other has started and the test says go, so both starts
// come before both ends only if both held the key at once.
TEST_F(TaalactlTest, SharedLockRunsHoldTheKeyTogether) {
  const std::string markers = Path("markers");
  const std::string go = Path("go");
  auto script = [&](const std::string& me, const std::string& other) {
    return absl::StrCat(
        "echo start >> '", markers, "'; touch '", Path(me), "'; i=0; ",
        "while { [ ! -e '", Path(other), "' ] || [ ! -e '", go, "' ]; } && ",
        "[ $i -lt 200 ]; do sleep 0.05; i=$((i+1)); done; ",
        "echo end >> '", markers, "'");
  };
  auto first = Start({"lock", "--shared", "rw/k", "--", "sh", "-c",
                      script("ready.a", "ready.b")});
  auto second = Start({"lock", "--shared", "rw/k", "--", "sh", "-c",
                       script("ready.b", "ready.a")});
  ASSERT_TRUE(Eventually([&] {
    return Exists(Path("ready.a")) && Exists(Path("ready.b"));
  })) << first->err() << second->err();

  // Both hold it now, SHARED; a writer cannot get in.
  v1::DescribeLockResponse d = Describe("rw/k");
  ASSERT_EQ(d.holders_size(), 2);
  for (const v1::Holder& h : d.holders()) {
    EXPECT_EQ(h.grant().mode(), v1::LOCK_MODE_SHARED);
    EXPECT_EQ(h.client_name(), "taalactl lock rw/k");
  }
  Result r = Run({"--json", "describe", "rw/k"});
  ASSERT_EQ(r.code, 0) << r;
  const auto j = FromJson<v1::DescribeLockResponse>(r.out);
  ASSERT_EQ(j.holders_size(), 2);
  EXPECT_EQ(j.holders(0).grant().mode(), v1::LOCK_MODE_SHARED);
  EXPECT_EQ(j.holders(1).grant().mode(), v1::LOCK_MODE_SHARED);
  EXPECT_EQ(j.semaphore_size(), 0u);
  EXPECT_EQ(j.lock_delay_remaining_ms(), 0);
  const std::string marker = Path("writer-ran");
  r = Run({"lock", "--wait", "0", "rw/k", "--", "touch", marker});
  EXPECT_EQ(r.code, 75) << r;
  EXPECT_FALSE(Exists(marker));

  { std::ofstream(go) << "go\n"; }
  EXPECT_EQ(first->Wait(), 0) << first->err();
  EXPECT_EQ(second->Wait(), 0) << second->err();
  EXPECT_EQ(ReadFile(markers), "start\nstart\nend\nend\n");
  EXPECT_EQ(Describe("rw/k").holders_size(), 0);  // Both released.

  // Free again: an exclusive run gets it.
  r = Run({"lock", "--wait", "0", "rw/k", "--", "touch", marker});
  EXPECT_EQ(r.code, 0) << r;
  EXPECT_TRUE(Exists(marker));
}

TEST_F(TaalactlTest, SemaphoreRunsShareTheSlotsAndDescribeShowsTheSize) {
  // One slot of a semaphore of two is taken over the API.
  const uint64_t other = CreateSession("other-slot");
  grpc::ClientContext ctx;
  SetDeadline(&ctx);
  v1::AcquireRequest req;
  req.set_session_id(other);
  req.set_key("pool/k");
  req.set_semaphore_size(2);
  v1::AcquireResponse resp;
  ASSERT_TRUE(stub_->Acquire(&ctx, req, &resp).ok());
  ASSERT_EQ(resp.result(), v1::AcquireResponse::ACQUIRED);
  const uint64_t token = resp.grant().fencing_token();

  // The second slot: taalactl takes it at once and, while it holds it,
  // describes the key.
  const std::string describe_table = Path("describe.txt");
  const std::string describe_json = Path("describe.json");
  Result r = Run(
      {"lock", "--semaphore", "2", "--wait", "0", "pool/k", "--", "sh", "-c",
       absl::StrCat("\"$TAALACTL\" describe pool/k > '", describe_table,
                    "' && \"$TAALACTL\" --json describe pool/k > '",
                    describe_json, "'")},
      {absl::StrCat("TAALACTL=", TAALACTL_PATH),
       absl::StrCat("TAALA_ENDPOINT=", daemon_->address())});
  ASSERT_EQ(r.code, 0) << r;
  const std::string table = ReadFile(describe_table);
  const std::string state = "STATE  semaphore of size 2, 2 held, 0 waiters\n";
  EXPECT_THAT(table, HasSubstr(state)) << table;
  const auto j = FromJson<v1::DescribeLockResponse>(ReadFile(describe_json));
  EXPECT_EQ(j.semaphore_size(), 2u);
  EXPECT_EQ(j.holders_size(), 2);

  // Both slots taken: a third run is not let in.
  const uint64_t third = CreateSession("third-slot");
  grpc::ClientContext ctx2;
  SetDeadline(&ctx2);
  req.set_session_id(third);
  ASSERT_TRUE(stub_->Acquire(&ctx2, req, &resp).ok());
  ASSERT_EQ(resp.result(), v1::AcquireResponse::ACQUIRED);
  const std::string marker = Path("marker");
  r = Run({"lock", "--semaphore", "2", "--wait", "0", "pool/k", "--", "touch",
           marker});
  EXPECT_EQ(r.code, 75) << r;
  EXPECT_THAT(r.err, HasSubstr("semaphore"));
  // Another size, or a plain lock, is refused: FAILED_PRECONDITION, exit 1.
  r = Run({"lock", "--semaphore", "3", "--wait", "0", "pool/k", "--", "touch",
           marker});
  EXPECT_EQ(r.code, 1) << r;
  EXPECT_THAT(r.err, HasSubstr("FAILED_PRECONDITION"));
  EXPECT_THAT(r.err, HasSubstr("size 2"));
  r = Run({"lock", "--wait", "0", "pool/k", "--", "touch", marker});
  EXPECT_EQ(r.code, 1) << r;
  EXPECT_THAT(r.err, HasSubstr("FAILED_PRECONDITION"));
  EXPECT_FALSE(Exists(marker));

  r = Run({"describe", "pool/k"});
  ASSERT_EQ(r.code, 0) << r;
  EXPECT_THAT(r.out, HasSubstr(state));
  MustRelease(other, "pool/k", token);
}

TEST_F(TaalactlTest, DescribeShowsALockDelayAfterTheHolderExpired) {
  uint64_t doomed = 0;
  {
    grpc::ClientContext ctx;
    SetDeadline(&ctx);
    v1::CreateSessionRequest req;
    req.set_ttl_ms(200);  // Never renewed.
    req.set_client_name("doomed");
    v1::CreateSessionResponse resp;
    ASSERT_TRUE(stub_->CreateSession(&ctx, req, &resp).ok());
    doomed = resp.session_id();
  }
  {
    grpc::ClientContext ctx;
    SetDeadline(&ctx);
    v1::AcquireRequest req;
    req.set_session_id(doomed);
    req.set_key("delay/k");
    req.set_lock_delay_ms(20000);
    v1::AcquireResponse resp;
    ASSERT_TRUE(stub_->Acquire(&ctx, req, &resp).ok());
    ASSERT_EQ(resp.result(), v1::AcquireResponse::ACQUIRED);
  }
  ASSERT_TRUE(Eventually([&] {
    v1::DescribeLockResponse d = Describe("delay/k");
    return d.holders_size() == 0 && d.lock_delay_remaining_ms() > 0;
  }));
  Result r = Run({"describe", "delay/k"});
  ASSERT_EQ(r.code, 0) << r;
  EXPECT_THAT(r.out, HasSubstr("STATE  not held, lock-delay "));
  EXPECT_THAT(r.out, HasSubstr(" left, 0 waiters\n"));
  EXPECT_THAT(r.out, Not(HasSubstr("HOLDERS")));

  r = Run({"--json", "describe", "delay/k"});
  ASSERT_EQ(r.code, 0) << r;
  const auto j = FromJson<v1::DescribeLockResponse>(r.out);
  EXPECT_EQ(j.holders_size(), 0);
  EXPECT_GT(j.lock_delay_remaining_ms(), 0);
  EXPECT_LE(j.lock_delay_remaining_ms(), 20000);
  EXPECT_EQ(j.semaphore_size(), 0u);

  // Nobody gets the key meanwhile.
  r = Run({"lock", "--wait", "0", "delay/k", "--", "true"});
  EXPECT_EQ(r.code, 75) << r;
}

}  // namespace
}  // namespace taala
