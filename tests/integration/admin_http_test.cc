// taalad's HTTP admin listener against the real daemon: /metrics read by a
// strict exposition-format parser while the test acquires and releases over
// gRPC, /healthz and /readyz, every JSON endpoint parsed back into its
// response message, the read-only rule, and the listener's flags.

#include <grpcpp/grpcpp.h>
#include <signal.h>

#include <atomic>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/version.h"
#include "gmock/gmock.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"
#include "taala/v1/lock_service.grpc.pb.h"
#include "tests/integration/admin_helpers.h"
#include "tests/integration/prometheus_parser.h"
#include "tests/integration/rpc_helpers.h"
#include "tests/integration/taalad_process.h"

namespace taala {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;
using test::HttpGet;
using test::PromExposition;

// Parses `json` into `message` strictly (unknown fields are errors).
template <typename M>
::testing::AssertionResult ParsesAs(const std::string& json, M* message) {
  const auto s = google::protobuf::util::JsonStringToMessage(json, message);
  if (s.ok()) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure()
         << "not a " << message->GetTypeName() << ": " << s.ToString()
         << "\n" << json;
}

class AdminHttpTest : public ::testing::Test {
 protected:
  void SetUp() override { Start({}); }
  void TearDown() override {
    if (HasFailure() && daemon_ != nullptr) {
      std::cerr << "---- taalad log ----\n" << daemon_->Log();
    }
  }
  void Start(std::vector<std::string> args, std::string data_dir = "") {
    daemon_.reset();
    auto started = test::TaaladProcess::Start(std::move(args), data_dir);
    ASSERT_TRUE(started.ok()) << started.status();
    daemon_ = std::move(*started);
    ASSERT_GT(daemon_->admin_port(), 0);
    stub_ = test::RestartableStub(daemon_->address());
  }
  test::HttpReply Get(const std::string& path) {
    return HttpGet(daemon_->admin_port(), path);
  }
  PromExposition Scrape() {
    test::HttpReply r = Get("/metrics");
    EXPECT_EQ(r.status, 200) << r.error << r.body;
    EXPECT_THAT(r.content_type, StartsWith("text/plain; version=0.0.4"));
    absl::StatusOr<PromExposition> e = test::ParsePrometheus(r.body);
    EXPECT_TRUE(e.ok()) << e.status() << "\n" << r.body;
    return e.ok() ? *e : PromExposition();
  }
  uint64_t MustAcquire(uint64_t session, const std::string& key) {
    v1::AcquireResponse resp;
    EXPECT_TRUE(test::Acquire(stub_.get(), session, key, 0, &resp).ok());
    EXPECT_EQ(resp.result(), v1::AcquireResponse::ACQUIRED) << key;
    return resp.grant().fencing_token();
  }

  std::unique_ptr<test::TaaladProcess> daemon_;
  std::unique_ptr<v1::LockService::Stub> stub_;
};

TEST_F(AdminHttpTest, MetricsParseStrictlyAndCountersMoveWithAcquires) {
  const PromExposition before = Scrape();
  // build_info: the version, and the commit the daemon was built from (the
  // one GetServerStatus names; a test binary linked at another commit would
  // know another one).
  std::string commit;
  for (const test::PromSample& sample : before.samples) {
    if (sample.name != "taala_build_info") continue;
    EXPECT_EQ(sample.value, 1);
    ASSERT_EQ(sample.labels.size(), 2u);
    EXPECT_EQ(sample.labels[0], std::make_pair(std::string("version"),
                                               std::string(TaalaVersion())));
    EXPECT_EQ(sample.labels[1].first, "commit");
    commit = sample.labels[1].second;
  }
  EXPECT_THAT(commit, ::testing::MatchesRegex("[0-9a-f]{12}(-dirty)?|unknown"));
  v1::ServerStatus status;
  ASSERT_TRUE(test::ServerStatus(stub_.get(), &status).ok());
  EXPECT_EQ(status.version(),
            absl::StrCat(TaalaVersion(), " (commit ", commit, ")"));
  for (const char* family :
       {"taala_acquires_total", "taala_wait_seconds", "taala_hold_seconds",
        "taala_held_locks", "taala_waiters", "taala_sessions", "taala_keys",
        "taala_sessions_expired_total", "taala_grants_expired_total",
        "taala_revocations_total", "taala_deadlock_refusals_total",
        "taala_wal_fsync_seconds", "taala_wal_batch_records",
        "taala_wal_records_total", "taala_wal_fsyncs_total",
        "taala_wal_bytes_total", "taala_in_flight_calls",
        "taala_grants_refused_window_seconds"}) {
    EXPECT_TRUE(before.types.count(family)) << family;
    EXPECT_TRUE(before.help.count(family)) << family;
  }
  for (const char* outcome :
       {"acquired", "timed_out", "cancelled", "deadlock", "failed"}) {
    EXPECT_GE(before.Get("taala_acquires_total", {{"outcome", outcome}}), 0)
        << outcome;
  }

  const uint64_t s = test::LabelledSession(stub_.get(), "metrics-client", {});
  ASSERT_NE(s, 0u);
  // A key a label value must escape: quote and backslash.
  const std::vector<std::string> keys = {"metrics/a", "metrics/b",
                                         "metrics/q\"uote\\d", "metrics/c"};
  for (const std::string& key : keys) {
    const uint64_t token = MustAcquire(s, key);
    ASSERT_TRUE(test::Release(stub_.get(), s, key, token).ok()) << key;
  }
  // One held and one waiting, while the scrape runs.
  const uint64_t held = MustAcquire(s, "metrics/held");
  const uint64_t other = test::LabelledSession(stub_.get(), "waiter", {});
  auto waiter = std::make_unique<test::BackgroundWaiter>(stub_.get(), other,
                                                         "metrics/held");
  ASSERT_TRUE(test::AwaitWaiters(stub_.get(), "metrics/held", 1));
  const PromExposition during = Scrape();
  // The waiting acquire and the scrape's own call.
  EXPECT_GE(during.Get("taala_in_flight_calls"), 2);
  EXPECT_GE(during.Get("taala_sessions"), 2);
  EXPECT_GE(during.Get("taala_keys"), 1);
  EXPECT_GT(during.Get("taala_wal_records_total"),
            before.Get("taala_wal_records_total"));
  EXPECT_GT(during.Get("taala_wal_fsyncs_total"),
            before.Get("taala_wal_fsyncs_total"));
  EXPECT_GT(during.Get("taala_wal_bytes_total"),
            before.Get("taala_wal_bytes_total"));
  EXPECT_GT(during.Get("taala_wal_fsync_seconds_count"),
            before.Get("taala_wal_fsync_seconds_count"));
  EXPECT_GT(during.Get("taala_wal_batch_records_count"),
            before.Get("taala_wal_batch_records_count"));
  EXPECT_GE(during.Get("taala_wal_batch_records_sum"),
            during.Get("taala_wal_batch_records_count"));
  // The table's statistics, exact for what this test did.
  EXPECT_EQ(during.Get("taala_held_locks"), 1);
  EXPECT_EQ(during.Get("taala_waiters"), 1);
  EXPECT_EQ(during.Get("taala_acquires_total", {{"outcome", "acquired"}}) -
                before.Get("taala_acquires_total", {{"outcome", "acquired"}}),
            keys.size() + 1);
  EXPECT_EQ(during.Get("taala_releases_total") -
                before.Get("taala_releases_total"),
            keys.size());
  EXPECT_EQ(during.Get("taala_hold_seconds_count") -
                before.Get("taala_hold_seconds_count"),
            keys.size());
  EXPECT_EQ(during.Get("taala_sessions_created_total") -
                before.Get("taala_sessions_created_total"),
            2);
  // A per-key series, its label value escaped and read back.
  EXPECT_GE(during.Get("taala_top_key_acquires_total",
                       {{"key", "metrics/q\"uote\\d"}}),
            1);
  ASSERT_TRUE(test::Release(stub_.get(), s, "metrics/held", held).ok());
  waiter.reset();
  // The waiting call is over: only the scrape's own call is in flight.
  double in_flight = -1;
  for (int i = 0; i < 3000 && in_flight != 1; ++i) {
    in_flight = Scrape().Get("taala_in_flight_calls");
    if (in_flight != 1) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(in_flight, 1);
  const PromExposition after = Scrape();
  EXPECT_EQ(after.Get("taala_acquires_total", {{"outcome", "acquired"}}) -
                before.Get("taala_acquires_total", {{"outcome", "acquired"}}),
            keys.size() + 2);  // The waiter was granted on the release.
  EXPECT_EQ(after.Get("taala_acquires_after_wait_total") -
                before.Get("taala_acquires_after_wait_total"),
            1);
  EXPECT_EQ(after.Get("taala_wait_seconds_count") -
                before.Get("taala_wait_seconds_count"),
            1);
  EXPECT_EQ(after.Get("taala_held_locks"), 1);  // The waiter's grant.
  EXPECT_EQ(after.Get("taala_waiters"), 0);
}

// Issue 13: the alert rules' leak-suspects alert reads this gauge.
TEST_F(AdminHttpTest, LeakSuspectsGaugeCountsGrantsHeldPastTheThreshold) {
  Start({"--leak_threshold=1s"});
  EXPECT_EQ(Scrape().Get("taala_leak_suspects"), 0);
  uint64_t session = 0;
  ASSERT_TRUE(test::CreateSession(stub_.get(), 600000, &session).ok());
  const uint64_t token = MustAcquire(session, "leaks/a");
  MustAcquire(session, "leaks/b");
  // Suspects once held past 1 s (polled: no assumption about speed).
  double suspects = 0;
  for (int i = 0; i < 600 && suspects < 2; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    suspects = Scrape().Get("taala_leak_suspects");
  }
  EXPECT_EQ(suspects, 2);
  ASSERT_TRUE(test::Release(stub_.get(), session, "leaks/a", token).ok());
  EXPECT_EQ(Scrape().Get("taala_leak_suspects"), 1);
}

TEST_F(AdminHttpTest, HealthzIsAScoreWithEveryInputAsAReason) {
  for (const char* path : {"/healthz", "/api/v1/health"}) {
    test::HttpReply r = Get(path);
    ASSERT_EQ(r.status, 200) << path << r.error;
    EXPECT_EQ(r.content_type, "application/json");
    v1::Health h;
    ASSERT_TRUE(ParsesAs(r.body, &h));
    std::set<std::string> names;
    int penalties = 0;
    for (const v1::Health::Reason& reason : h.reasons()) {
      names.insert(reason.name());
      EXPECT_GE(reason.penalty(), 0);
      EXPECT_FALSE(reason.detail().empty()) << reason.name();
      penalties += reason.penalty();
    }
    EXPECT_EQ(names, (std::set<std::string>{
                         "leak_suspects", "deadlock_refusals_per_minute",
                         "wal_fsync_p99_ms", "grants_refused_window_ms",
                         "limits_hit"}));
    EXPECT_EQ(h.score(), std::max(0, 100 - penalties));
    EXPECT_EQ(h.status(), h.score() >= 80   ? "ok"
                          : h.score() >= 50 ? "degraded"
                                            : "critical");
  }
}

TEST_F(AdminHttpTest, ReadyzSaysReadyOnceServing) {
  test::HttpReply r = Get("/readyz");
  EXPECT_EQ(r.status, 200) << r.error;
  EXPECT_EQ(r.body, "ready\n");
}

// From SIGTERM on, /readyz says the daemon is going (while it drains: an
// idle client connection keeps the drain going for --drain_timeout).
TEST_F(AdminHttpTest, ReadyzIsUnreadyWhileDraining) {
  Start({});
  ASSERT_NE(test::LabelledSession(stub_.get(), "stays-connected", {}), 0u);
  ASSERT_EQ(kill(daemon_->pid(), SIGTERM), 0);
  test::HttpReply r;
  for (int i = 0; i < 3000; ++i) {
    r = Get("/readyz");
    if (r.status != 200) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_EQ(r.status, 503) << r.error << r.body;
  EXPECT_EQ(r.body, "not ready: shutting down\n");
  stub_.reset();
  EXPECT_EQ(daemon_->WaitForExit(), 0) << daemon_->Log();
}

// Found by a stress run: a page read while the daemon stops must not start
// an in-process call once the gRPC server shuts down (gRPC crashes creating
// it). Pages are read without pause across SIGTERM; every stop is clean.
TEST_F(AdminHttpTest, StoppingWhilePagesAreReadIsClean) {
  for (int round = 0; round < 5; ++round) {
    Start({});
    ASSERT_NE(test::LabelledSession(stub_.get(), "reader", {}), 0u);
    std::atomic<bool> stop{false};
    std::atomic<int> answered{0};
    std::vector<std::thread> readers;
    for (const char* path : {"/healthz", "/metrics", "/api/v1/locks"}) {
      readers.emplace_back([&, path] {
        while (!stop.load()) {
          if (Get(path).status != 0) answered++;
        }
      });
    }
    while (answered.load() < 6) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    ASSERT_EQ(kill(daemon_->pid(), SIGTERM), 0);
    const int status = daemon_->WaitForExit();
    stop.store(true);
    for (std::thread& t : readers) t.join();
    ASSERT_EQ(status, 0) << "round " << round << ":\n" << daemon_->Log();
  }
}

// After an unclean stop in async mode grants are refused for a while: the
// window is reported by /readyz (still 200: clients must reach the daemon
// to renew), /healthz and /metrics.
TEST_F(AdminHttpTest, AGrantsRefusedWindowIsReportedNeverUnready) {
  Start({"--durability=async"});
  const std::string dir = daemon_->data_dir();
  ASSERT_NE(test::LabelledSession(stub_.get(), "before-crash", {}, 120000), 0u);
  // The TTL is persisted before the reply: the next start knows the window.
  std::unique_ptr<test::TaaladProcess> old = std::move(daemon_);
  old->Kill();
  Start({"--durability=async"}, dir);
  old.reset();

  test::HttpReply ready = Get("/readyz");
  EXPECT_EQ(ready.status, 200) << ready.error;
  EXPECT_THAT(ready.body, StartsWith("ready\n"));
  EXPECT_THAT(ready.body, HasSubstr("grants refused for"));

  v1::Health h;
  ASSERT_TRUE(ParsesAs(Get("/healthz").body, &h));
  bool found = false;
  for (const v1::Health::Reason& reason : h.reasons()) {
    if (reason.name() != "grants_refused_window_ms") continue;
    found = true;
    EXPECT_GT(reason.value(), 0);
    EXPECT_EQ(reason.penalty(), 30);
  }
  EXPECT_TRUE(found);
  EXPECT_LE(h.score(), 70);
  EXPECT_GT(Scrape().Get("taala_grants_refused_window_seconds"), 0);
}

TEST_F(AdminHttpTest, JsonEndpointsAnswerTheirResponseMessages) {
  const uint64_t holder = test::LabelledSession(
      stub_.get(), "json-holder", {{"host", "h1"}, {"pid", "42"}});
  const uint64_t other = test::LabelledSession(stub_.get(), "json-waiter", {});
  const uint64_t token = MustAcquire(holder, "json/held");
  test::BackgroundWaiter waiter(stub_.get(), other, "json/held");
  ASSERT_TRUE(test::AwaitWaiters(stub_.get(), "json/held", 1));

  v1::GetServerStatusResponse status;
  test::HttpReply r = Get("/api/v1/status");
  ASSERT_EQ(r.status, 200) << r.body;
  ASSERT_TRUE(ParsesAs(r.body, &status));
  EXPECT_EQ(status.status().durability(), "fsync");
  EXPECT_THAT(status.status().version(),
              StartsWith(absl::StrCat(TaalaVersion(), " (commit ")));

  v1::GetMetricsResponse metrics;
  ASSERT_TRUE(ParsesAs(Get("/api/v1/metrics").body, &metrics));
  EXPECT_GE(metrics.metrics().sessions(), 2u);

  v1::ListLocksResponse locks;
  ASSERT_TRUE(ParsesAs(Get("/api/v1/locks?prefix=json/").body, &locks));
  ASSERT_EQ(locks.locks_size(), 1);
  EXPECT_EQ(locks.locks(0).key(), "json/held");
  ASSERT_EQ(locks.locks(0).holders_size(), 1);
  EXPECT_EQ(locks.locks(0).holders(0).client_name(), "json-holder");
  EXPECT_EQ(locks.locks(0).holders(0).grant().fencing_token(), token);
  EXPECT_EQ(locks.locks(0).holders(0).labels().at("host"), "h1");
  EXPECT_EQ(locks.locks(0).waiter_count(), 1u);
  // The filters reach the RPC.
  ASSERT_TRUE(ParsesAs(
      Get("/api/v1/locks?prefix=json/&contended_only=true&page_size=10&"
          "held_longer_than_ms=0")
          .body,
      &locks));
  EXPECT_EQ(locks.locks_size(), 1);

  // Exactly what gRPC shows (but the ages, which move).
  v1::DescribeLockResponse http_describe, grpc_describe;
  ASSERT_TRUE(ParsesAs(Get("/api/v1/locks/describe?key=json/held").body,
                       &http_describe));
  ASSERT_TRUE(test::Describe(stub_.get(), "json/held", &grpc_describe).ok());
  for (auto* d : {&http_describe, &grpc_describe}) {
    for (auto& h : *d->mutable_holders()) h.mutable_grant()->clear_held_for_ms();
    for (auto& w : *d->mutable_waiters()) {
      w.clear_waited_for_ms();
      w.clear_wait_remaining_ms();
    }
  }
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(
      http_describe, grpc_describe))
      << http_describe.DebugString() << grpc_describe.DebugString();
  ASSERT_EQ(http_describe.waiters_size(), 1);
  EXPECT_EQ(http_describe.waiters(0).client_name(), "json-waiter");

  v1::ListSessionsResponse sessions;
  const std::string sessions_json = Get("/api/v1/sessions?page_size=100").body;
  ASSERT_TRUE(ParsesAs(sessions_json, &sessions));
  // The proto's field names, as taalactl --json prints them; defaults shown.
  EXPECT_THAT(sessions_json, HasSubstr("\"client_name\":\"json-holder\""));
  EXPECT_THAT(sessions_json, HasSubstr("\"waiting_keys\":0"));
  std::set<std::string> names;
  for (const auto& s : sessions.sessions()) names.insert(s.client_name());
  EXPECT_TRUE(names.count("json-holder") && names.count("json-waiter"));

  v1::GetWaitForGraphResponse graph;
  ASSERT_TRUE(ParsesAs(Get("/api/v1/waitgraph").body, &graph));
  ASSERT_EQ(graph.edges_size(), 1);
  EXPECT_EQ(graph.edges(0).waiter_session_id(), other);
  EXPECT_EQ(graph.edges(0).blocker_session_id(), holder);

  // The statistics endpoints.
  const auto check = [&](const std::string& path,
                         google::protobuf::Message* message) {
    test::HttpReply reply = Get(path);
    EXPECT_EQ(reply.status, 200) << path << reply.body;
    const auto s =
        google::protobuf::util::JsonStringToMessage(reply.body, message);
    EXPECT_TRUE(s.ok()) << path << ": " << s.ToString() << reply.body;
  };
  v1::GetRecentDeadlocksResponse deadlocks;
  check("/api/v1/deadlocks?limit=5", &deadlocks);
  v1::GetLeakSuspectsResponse leaks;
  check("/api/v1/leaks?held_longer_than_ms=1&limit=10", &leaks);
  v1::GetContentionResponse contention;
  check("/api/v1/contention?limit=5", &contention);
  v1::GetLockStatsResponse key_stats;
  check("/api/v1/stats?key=json/held", &key_stats);
  v1::GetLockStatsResponse prefix_stats;
  check("/api/v1/stats?prefix=json/", &prefix_stats);
  ASSERT_EQ(leaks.suspects_size(), 1);
  EXPECT_EQ(leaks.suspects(0).client_name(), "json-holder");
  EXPECT_EQ(leaks.suspects(0).labels().at("pid"), "42");
  ASSERT_GE(contention.by_waiters_size(), 1);
  EXPECT_EQ(contention.by_waiters(0).key(), "json/held");
  EXPECT_EQ(key_stats.stats().scope(), "json/held");
  EXPECT_EQ(key_stats.stats().acquires().acquired(), 1u);
  EXPECT_EQ(prefix_stats.stats().scope(), "json/");
  // The same as gRPC says.
  grpc::ClientContext ctx;
  v1::GetLockStatsRequest req;
  req.set_key("json/held");
  v1::GetLockStatsResponse grpc_stats;
  ASSERT_TRUE(stub_->GetLockStats(&ctx, req, &grpc_stats).ok());
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(key_stats,
                                                                 grpc_stats))
      << key_stats.DebugString() << grpc_stats.DebugString();
}

// A deadlock refusal shows in /api/v1/deadlocks with its cycle, costs
// /healthz its penalty, and counts in /metrics.
TEST_F(AdminHttpTest, ADeadlockRefusalIsShownScoredAndCounted) {
  const uint64_t a = test::LabelledSession(stub_.get(), "svc-a", {});
  const uint64_t b = test::LabelledSession(stub_.get(), "svc-b", {});
  MustAcquire(a, "dl/a");
  MustAcquire(b, "dl/b");
  test::BackgroundWaiter a_waits(stub_.get(), a, "dl/b");
  ASSERT_TRUE(test::AwaitWaiters(stub_.get(), "dl/b", 1));
  v1::AcquireResponse refused;
  grpc::Status s = test::Acquire(stub_.get(), b, "dl/a", 60000, &refused);
  ASSERT_EQ(s.error_code(), grpc::StatusCode::ABORTED) << s.error_message();

  v1::GetRecentDeadlocksResponse deadlocks;
  ASSERT_TRUE(ParsesAs(Get("/api/v1/deadlocks").body, &deadlocks));
  EXPECT_EQ(deadlocks.total(), 1u);
  ASSERT_EQ(deadlocks.deadlocks_size(), 1);
  EXPECT_EQ(deadlocks.deadlocks(0).client_name(), "svc-b");
  EXPECT_EQ(deadlocks.deadlocks(0).key(), "dl/a");
  EXPECT_EQ(deadlocks.deadlocks(0).cycle_size(), 2);

  v1::Health h;
  ASSERT_TRUE(ParsesAs(Get("/healthz").body, &h));
  for (const v1::Health::Reason& reason : h.reasons()) {
    if (reason.name() != "deadlock_refusals_per_minute") continue;
    EXPECT_EQ(reason.value(), 1);
    EXPECT_EQ(reason.penalty(), 10);
  }
  EXPECT_LE(h.score(), 90);

  const PromExposition e = Scrape();
  EXPECT_EQ(e.Get("taala_deadlock_refusals_total"), 1);
  EXPECT_EQ(e.Get("taala_acquires_total", {{"outcome", "deadlock"}}), 1);
}

TEST_F(AdminHttpTest, BadQueryParametersAre400WithAMessage) {
  for (const auto& [path, names] :
       std::vector<std::pair<std::string, std::string>>{
           {"/api/v1/locks?page_size=ten", "page_size"},
           {"/api/v1/locks?held_longer_than_ms=-1", "held_longer_than_ms"},
           {"/api/v1/locks?contended_only=maybe", "contended_only"},
           {"/api/v1/locks?colour=red", "colour"},
           {"/api/v1/locks?prefix=a&prefix=b", "prefix"},
           {"/api/v1/locks/describe", "key"},
           {"/api/v1/leaks?held_longer_than_ms=soon", "held_longer_than_ms"},
           {"/api/v1/contention?limit=-3", "limit"},
           {"/api/v1/status?verbose=1", "verbose"},
           {"/metrics?x=1", "x"},
           {"/api/v1/waitgraph?max_edges=99999999999", "max_edges"},
           {"/api/v1/locks?prefix=%FF", "not valid UTF-8"}}) {
    test::HttpReply r = Get(path);
    EXPECT_EQ(r.status, 400) << path << r.body;
    google::protobuf::Struct error;
    ASSERT_TRUE(ParsesAs(r.body, &error)) << path;
    EXPECT_EQ(error.fields().at("status").string_value(), "INVALID_ARGUMENT");
    EXPECT_THAT(error.fields().at("message").string_value(), HasSubstr(names))
        << path;
  }
  // A key the RPC refuses: the RPC's own INVALID_ARGUMENT, as 400.
  EXPECT_EQ(Get("/api/v1/locks/describe?key=a//b").status, 400);
}

TEST_F(AdminHttpTest, OnlyGetIsAllowed) {
  for (const char* path : {"/", "/metrics", "/healthz", "/api/v1/locks"}) {
    for (const char* method : {"POST", "PUT", "DELETE", "OPTIONS"}) {
      test::HttpReply r = test::Http(daemon_->admin_port(), method, path);
      EXPECT_EQ(r.status, 405) << method << " " << path << r.error;
    }
    EXPECT_EQ(test::Http(daemon_->admin_port(), "HEAD", path).status, 200)
        << path;
  }
  EXPECT_EQ(Get("/no/such/page").status, 404);
}

TEST(AdminListenerFlagsTest, NonLoopbackAddressNeedsTheExplicitFlag) {
  auto run = test::RunTaaladToExit(
      {"--listen=127.0.0.1:0", "--admin_listen=0.0.0.0:0",
       "--data_dir=/tmp/taala_admin_not_loopback"},
      10000);
  ASSERT_TRUE(run.ok()) << run.status();
  EXPECT_TRUE(run->exited) << run->output;
  EXPECT_EQ(run->exit_code, 1) << run->output;
  EXPECT_THAT(run->output, HasSubstr("--admin_listen=0.0.0.0:0"));
  EXPECT_THAT(run->output, HasSubstr("is not a loopback address"));
  EXPECT_THAT(run->output, HasSubstr("--insecure_allow_remote"));

  auto allowed = test::TaaladProcess::Start(
      {"--admin_listen=0.0.0.0:0", "--insecure_allow_remote"});
  ASSERT_TRUE(allowed.ok()) << allowed.status();
  EXPECT_EQ(HttpGet((*allowed)->admin_port(), "/readyz").status, 200);
}

TEST(AdminListenerFlagsTest, ABusyAdminPortFailsStartup) {
  auto first = test::TaaladProcess::Start();
  ASSERT_TRUE(first.ok()) << first.status();
  auto second = test::RunTaaladToExit(
      {"--listen=127.0.0.1:0",
       absl::StrCat("--admin_listen=", (*first)->admin_address()),
       "--data_dir=" + (*first)->data_dir() + "-second"},
      10000);
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_TRUE(second->exited) << second->output;
  EXPECT_EQ(second->exit_code, 1) << second->output;
  EXPECT_THAT(second->output,
              HasSubstr(absl::StrCat("cannot listen on --admin_listen=",
                                     (*first)->admin_address())));
  EXPECT_THAT(second->output, HasSubstr("address in use"));
  // The first one still serves its own.
  EXPECT_EQ(HttpGet((*first)->admin_port(), "/readyz").status, 200);
}

TEST(AdminListenerFlagsTest, AnEmptyAdminListenTurnsTheListenerOff) {
  auto daemon = test::TaaladProcess::Start({"--admin_listen="});
  ASSERT_TRUE(daemon.ok()) << daemon.status();
  EXPECT_EQ((*daemon)->admin_port(), 0);
  EXPECT_THAT((*daemon)->Log(), Not(HasSubstr("admin listener")));
}

}  // namespace
}  // namespace taala
