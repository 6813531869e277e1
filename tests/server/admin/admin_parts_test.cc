// The admin listener's parts alone: the Prometheus renderer (checked by the
// tests' strict parser, which is itself checked against broken input), the
// health score, the query parameters, and the JSON log escaping.

#include <cmath>
#include <limits>
#include <map>
#include <string>

#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/admin/health.h"
#include "server/admin/prometheus.h"
#include "server/admin/query_params.h"
#include "server/json_log_formatter.h"
#include "tests/integration/prometheus_parser.h"

namespace taala::admin {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

TEST(PrometheusTest, ValuesAndLabelValues) {
  EXPECT_EQ(PrometheusValue(0), "0");
  EXPECT_EQ(PrometheusValue(42), "42");
  EXPECT_EQ(PrometheusValue(0.1), "0.1");
  EXPECT_EQ(PrometheusValue(50000 * 1e-9), "5e-05");
  EXPECT_EQ(PrometheusValue(2.5), "2.5");
  EXPECT_EQ(std::stod(PrometheusValue(1.0 / 3)), 1.0 / 3);  // Round trips.
  EXPECT_EQ(PrometheusValue(std::numeric_limits<double>::infinity()), "+Inf");
  EXPECT_EQ(PrometheusValue(-std::numeric_limits<double>::infinity()), "-Inf");
  EXPECT_EQ(PrometheusValue(std::nan("")), "NaN");
  EXPECT_EQ(EscapeLabelValue("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
}

v1::Metrics SomeMetrics() {
  v1::Metrics m;
  m.mutable_acquires()->set_acquired(7);
  m.mutable_acquires()->set_timed_out(1);
  for (auto* h : {m.mutable_wait_seconds(), m.mutable_hold_seconds()}) {
    uint64_t c = 0;
    for (double le : {0.001, 0.01, 0.1, 1.0}) {
      auto* b = h->add_buckets();
      b->set_le(le);
      b->set_count(c += 2);
    }
    h->set_count(c + 1);
    h->set_sum(3.25);
  }
  m.set_held_locks(3);
  for (int i = 0; i < 150; ++i) {
    v1::KeyCounter* k = m.add_top_keys();
    k->set_key("orders/" + std::to_string(i) + (i == 0 ? "\"q\\\n" : ""));
    k->set_acquires(150 - i);
    k->set_wait_seconds(0.5);
  }
  return m;
}

TEST(PrometheusTest, RenderedTextParsesStrictlyWithAtMost100TopKeys) {
  v1::ServerStatus status;
  status.set_wal_records(10);
  status.set_grants_refused_for_ms(1500);
  const std::string text = RenderPrometheus(SomeMetrics(), status);
  absl::StatusOr<test::PromExposition> e = test::ParsePrometheus(text);
  ASSERT_TRUE(e.ok()) << e.status() << "\n" << text;
  EXPECT_EQ(e->Get("taala_acquires_total", {{"outcome", "acquired"}}), 7);
  EXPECT_EQ(e->Get("taala_wait_seconds_bucket", {{"le", "0.01"}}), 4);
  EXPECT_EQ(e->Get("taala_wait_seconds_bucket", {{"le", "+Inf"}}), 9);
  EXPECT_EQ(e->Get("taala_wait_seconds_count"), 9);
  EXPECT_EQ(e->Get("taala_grants_refused_window_seconds"), 1.5);
  EXPECT_EQ(e->Get("taala_top_key_acquires_total",
                   {{"key", "orders/0\"q\\\n"}}),
            150);
  int top = 0;
  for (const test::PromSample& s : e->samples) {
    if (s.name == "taala_top_key_acquires_total") ++top;
  }
  EXPECT_EQ(top, kMaxTopKeys);
}

TEST(PrometheusTest, AnUnreadableSourceIsACommentNotAFamily) {
  const std::string text = RenderPrometheus(
      absl::UnimplementedError("GetMetrics: not yet"), v1::ServerStatus());
  absl::StatusOr<test::PromExposition> e = test::ParsePrometheus(text);
  ASSERT_TRUE(e.ok()) << e.status() << "\n" << text;
  EXPECT_THAT(text, HasSubstr("# taala: GetMetrics failed: UNIMPLEMENTED"));
  EXPECT_EQ(e->types.count("taala_acquires_total"), 0u);
  EXPECT_EQ(e->types.count("taala_build_info"), 1u);
  EXPECT_EQ(e->types.count("taala_wal_records_total"), 1u);
}

TEST(PrometheusParserTest, RefusesBrokenExpositions) {
  const std::string ok =
      "# HELP a_total A.\n# TYPE a_total counter\na_total 1\n";
  ASSERT_TRUE(test::ParsePrometheus(ok).ok());
  const std::string h = "# TYPE h histogram\n";
  for (const std::string& bad : {
           std::string("a_total 1\n"),                           // No TYPE.
           std::string("# TYPE a counter\na 1\n"),               // No _total.
           std::string("# TYPE g gauge\ng{l=\"a\\x\"} 1\n"),     // Escape.
           std::string("# TYPE g gauge\ng{l=\"a} 1\n"),          // Unclosed.
           std::string("# TYPE g gauge\ng 1\ng 2\n"),            // Twice.
           std::string("# TYPE g gauge\ng one\n"),               // Value.
           std::string("# TYPE g gauge\n# TYPE f gauge\ng 1\nf 1\ng{a=\"b\"} "
                       "1\n"),                                   // Apart.
           std::string("# TYPE g gauge\ng 1"),                   // No \n.
           std::string("# TYPE g gauge\n\ng 1\n"),               // Empty.
           std::string("# TYPE 1g gauge\n"),                     // Name.
           h + "h_bucket{le=\"1\"} 2\nh_bucket{le=\"2\"} 1\n"
               "h_bucket{le=\"+Inf\"} 2\nh_sum 1\nh_count 2\n",  // Not cum.
           h + "h_bucket{le=\"1\"} 2\nh_sum 1\nh_count 2\n",     // No +Inf.
           h + "h_bucket{le=\"+Inf\"} 3\nh_sum 1\nh_count 2\n",  // != count.
           h + "h_bucket{le=\"+Inf\"} 2\nh_count 2\n",           // No sum.
       }) {
    EXPECT_FALSE(test::ParsePrometheus(bad).ok()) << bad;
  }
}

v1::Histogram Fsync(uint64_t under_10ms, uint64_t under_1s, uint64_t above) {
  v1::Histogram h;
  auto* b = h.add_buckets();
  b->set_le(0.01);
  b->set_count(under_10ms);
  b = h.add_buckets();
  b->set_le(1);
  b->set_count(under_10ms + under_1s);
  h.set_count(under_10ms + under_1s + above);
  return h;
}

HealthInputs Healthy(absl::Time now) {
  HealthInputs in;
  in.now = now;
  in.leaks = v1::GetLeakSuspectsResponse();
  in.deadlocks = v1::GetRecentDeadlocksResponse();
  in.fsync = Fsync(1000, 0, 0);
  in.status = v1::ServerStatus();
  return in;
}

int Penalty(const v1::Health& h, const std::string& name) {
  for (const auto& r : h.reasons()) {
    if (r.name() == name) return r.penalty();
  }
  return -1;
}

TEST(HealthTest, EachInputCostsItsPenalty) {
  const absl::Time now = absl::FromUnixSeconds(1'800'000'000);
  v1::Health h = ComputeHealth(Healthy(now));
  EXPECT_EQ(h.score(), 100);
  EXPECT_EQ(h.status(), "ok");
  EXPECT_EQ(h.reasons_size(), 5);

  HealthInputs in = Healthy(now);
  for (int i = 0; i < 3; ++i) in.leaks->add_suspects();
  for (int i = 0; i < 12; ++i) {
    // 10 in the last minute, 2 older.
    in.deadlocks->add_deadlocks()->set_at_unix_ms(
        absl::ToUnixMillis(now - absl::Seconds(i < 10 ? 5 * i : 70 + i)));
  }
  in.fsync = Fsync(90, 20, 0);  // p99 in the (10 ms, 1 s] bucket.
  in.status->set_grants_refused_for_ms(5000);
  h = ComputeHealth(in);
  EXPECT_EQ(Penalty(h, "leak_suspects"), 20);
  EXPECT_EQ(Penalty(h, "deadlock_refusals_per_minute"), 25);
  EXPECT_EQ(Penalty(h, "wal_fsync_p99_ms"), 25);
  EXPECT_EQ(Penalty(h, "grants_refused_window_ms"), 30);
  EXPECT_EQ(Penalty(h, "limits_hit"), 0);
  EXPECT_EQ(h.score(), 0);
  EXPECT_EQ(h.status(), "critical");

  // An input that cannot be read costs nothing and says why.
  in = Healthy(now);
  in.leaks = absl::UnimplementedError("GetLeakSuspects: not yet");
  in.fsync = Fsync(0, 0, 5);  // Above the last bound.
  h = ComputeHealth(in);
  EXPECT_EQ(Penalty(h, "leak_suspects"), 0);
  EXPECT_THAT(h.reasons(0).detail(), HasSubstr("UNIMPLEMENTED"));
  EXPECT_EQ(Penalty(h, "wal_fsync_p99_ms"), 40);
  EXPECT_EQ(h.score(), 60);
  EXPECT_EQ(h.status(), "degraded");
}

TEST(HealthTest, QuantileIsTheUpperBoundOfItsBucket) {
  EXPECT_EQ(HistogramQuantile(Fsync(99, 1, 0), 0.99), 0.01);
  EXPECT_EQ(HistogramQuantile(Fsync(98, 2, 0), 0.99), 1);
  EXPECT_TRUE(std::isinf(HistogramQuantile(Fsync(50, 0, 50), 0.99)));
  EXPECT_EQ(HistogramQuantile(v1::Histogram(), 0.99), 0);
}

TEST(HealthTest, FsyncWindowSubtractsTheCopyAMinuteOld) {
  FsyncWindow window;
  const absl::Time t0 = absl::FromUnixSeconds(1'800'000'000);
  absl::Duration length;
  // Nothing a minute old yet: since start.
  EXPECT_EQ(window.Window(Fsync(100, 0, 0), t0, &length).count(), 100u);
  EXPECT_EQ(length, absl::ZeroDuration());
  window.Window(Fsync(200, 0, 0), t0 + absl::Seconds(30), &length);
  const v1::Histogram w =
      window.Window(Fsync(200, 5, 0), t0 + absl::Seconds(65), &length);
  EXPECT_EQ(length, absl::Seconds(65));
  EXPECT_EQ(w.count(), 105u);  // Since t0's copy.
  EXPECT_EQ(w.buckets(1).count(), 105u);
  const v1::Histogram later =
      window.Window(Fsync(300, 5, 0), t0 + absl::Seconds(95), &length);
  EXPECT_EQ(length, absl::Seconds(65));  // Since the copy at +30 s.
  EXPECT_EQ(later.count(), 105u);
}

TEST(QueryParamsTest, KnownNamesOnceWithWellFormedValues) {
  absl::StatusOr<QueryParams> q = QueryParams::Parse(
      "/api/v1/x?n=12&b&s=pay%2F&d=2.5", {"n", "b", "s", "d", "z"});
  ASSERT_TRUE(q.ok()) << q.status();
  int64_t n = 0;
  EXPECT_TRUE(q->Int64("n", 0, 100, &n).ok());
  EXPECT_EQ(n, 12);
  EXPECT_FALSE(q->Int64("n", 0, 10, &n).ok());
  bool b = false;
  EXPECT_TRUE(q->Bool("b", &b).ok());
  EXPECT_TRUE(b);
  std::string s = "default";
  q->String("z", &s);
  EXPECT_EQ(s, "default");  // Absent: unchanged.
  q->String("s", &s);
  EXPECT_EQ(s, "pay/");
  double d = 0;
  EXPECT_TRUE(q->Double("d", 0, 10, &d).ok());
  EXPECT_EQ(d, 2.5);

  EXPECT_THAT(QueryParams::Parse("/p?x=1", {"n"}).status().message(),
              HasSubstr("unknown query parameter \"x\""));
  EXPECT_THAT(QueryParams::Parse("/p?n=1&n=2", {"n"}).status().message(),
              HasSubstr("given twice"));
  EXPECT_THAT(QueryParams::Parse("/p?n=%ff", {"n"}).status().message(),
              HasSubstr("not valid UTF-8"));
  q = QueryParams::Parse("/p?b=maybe&n=-1", {"b", "n"});
  ASSERT_TRUE(q.ok());
  EXPECT_FALSE(q->Bool("b", &b).ok());
  uint32_t u = 0;
  EXPECT_FALSE(q->Uint32("n", 10, &u).ok());
}

// Review C: cpp-httplib's own split kept only the text after a pair's last
// '=', so "key=team=a/x" asked about "a/x", "?=5" named a parameter "5" and
// "page_size==5" read as 5. A pair splits at its first '='.
TEST(QueryParamsTest, APairSplitsAtItsFirstEqualsSign) {
  absl::StatusOr<QueryParams> q =
      QueryParams::Parse("/d?key=team=a/x&p=a+b%2Bc", {"key", "p"});
  ASSERT_TRUE(q.ok()) << q.status();
  std::string key, p;
  q->String("key", &key);
  q->String("p", &p);
  EXPECT_EQ(key, "team=a/x");
  EXPECT_EQ(p, "a b+c");
  EXPECT_THAT(QueryParams::Parse("/d?=5", {"n"}).status().message(),
              HasSubstr("has no name"));
  q = QueryParams::Parse("/d?n==5", {"n"});
  ASSERT_TRUE(q.ok());
  int64_t n = 0;
  EXPECT_FALSE(q->Int64("n", 0, 100, &n).ok());  // The value is "=5".
  for (const char* bad : {"/d?n=%", "/d?n=%4", "/d?n=%zz"}) {
    EXPECT_THAT(QueryParams::Parse(bad, {"n"}).status().message(),
                HasSubstr("malformed percent-encoding"))
        << bad;
  }
  EXPECT_TRUE(QueryParams::Parse("/d", {"n"}).ok());
  EXPECT_TRUE(QueryParams::Parse("/d?", {"n"}).ok());
}

TEST(JsonLogTest, EscapesWhatWouldBreakTheLine) {
  EXPECT_EQ(JsonEscape("plain"), "plain");
  EXPECT_EQ(JsonEscape("a\"b\\c\nd\te\r"), "a\\\"b\\\\c\\nd\\te\\r");
  EXPECT_EQ(JsonEscape(std::string("x\x01y", 3)), "x\\u0001y");
  EXPECT_EQ(JsonEscape("caf\xc3\xa9 \xe2\x82\xac"), "caf\xc3\xa9 \xe2\x82\xac");
  EXPECT_EQ(JsonEscape("bad \xff end"), "bad \\ufffd end");
  EXPECT_EQ(JsonEscape("cut \xe2\x82"), "cut \\ufffd\\ufffd");
  EXPECT_EQ(JsonEscape("overlong \xc0\xaf"), "overlong \\ufffd\\ufffd");
  EXPECT_THAT(JsonEscape("surrogate \xed\xa0\x80"), Not(HasSubstr("\xed")));
}

}  // namespace
}  // namespace taala::admin
