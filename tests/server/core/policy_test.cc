#include "server/core/policy.h"

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace taala {
namespace {

using ::testing::HasSubstr;

PolicySet MustParse(absl::string_view text, PolicyLimits limits = {}) {
  absl::StatusOr<PolicySet> set = PolicySet::Parse(text, limits);
  EXPECT_TRUE(set.ok()) << set.status();
  return set.ok() ? *std::move(set) : PolicySet();
}

std::string ParseError(absl::string_view text, PolicyLimits limits = {}) {
  absl::StatusOr<PolicySet> set = PolicySet::Parse(text, limits);
  EXPECT_FALSE(set.ok()) << text;
  if (set.ok()) return "";
  EXPECT_EQ(set.status().code(), absl::StatusCode::kInvalidArgument);
  return std::string(set.status().message());
}

// The prefix Find answers for `key`, or "<none>".
std::string Found(const PolicySet& set, absl::string_view key) {
  const KeyPolicy* p = set.Find(key);
  return p == nullptr ? "<none>" : p->prefix;
}

TEST(PolicyParseTest, ReadsEverySettingCommentsAndBlankLines) {
  PolicySet set = MustParse(
      "# payments\n"
      "\n"
      "payments/  max_hold=30s lock_delay=2s wait_timeout=10s  # trailing\n"
      "   \t\n"
      "jobs/ wait_timeout=forever semaphore_size=4\n"
      "slow/ max_hold=1m30s wait_timeout=500ms\r\n");
  ASSERT_EQ(set.policies().size(), 3u);
  const KeyPolicy& jobs = set.policies()[0];  // Sorted by prefix.
  EXPECT_EQ(jobs.prefix, "jobs/");
  EXPECT_EQ(jobs.line, 5);
  EXPECT_EQ(jobs.wait_timeout_ms, -1);
  EXPECT_EQ(jobs.semaphore_size, 4u);
  EXPECT_FALSE(jobs.max_hold_ms.has_value());
  EXPECT_FALSE(jobs.lock_delay_ms.has_value());
  const KeyPolicy& payments = set.policies()[1];
  EXPECT_EQ(payments.prefix, "payments/");
  EXPECT_EQ(payments.line, 3);
  EXPECT_EQ(payments.max_hold_ms, 30000);
  EXPECT_EQ(payments.lock_delay_ms, 2000);
  EXPECT_EQ(payments.wait_timeout_ms, 10000);
  EXPECT_FALSE(payments.semaphore_size.has_value());
  EXPECT_EQ(set.policies()[2].max_hold_ms, 90000);
  EXPECT_EQ(set.policies()[2].wait_timeout_ms, 500);
}

TEST(PolicyParseTest, EmptyTextHasNoPolicies) {
  EXPECT_TRUE(MustParse("").empty());
  EXPECT_TRUE(MustParse("# nothing\n\n").empty());
  EXPECT_EQ(Found(MustParse(""), "a"), "<none>");
}

TEST(PolicyParseTest, ZeroValuesAreKept) {
  PolicySet set = MustParse("a/ max_hold=0 lock_delay=0s wait_timeout=0ms\n");
  EXPECT_EQ(set.policies()[0].max_hold_ms, 0);
  EXPECT_EQ(set.policies()[0].lock_delay_ms, 0);
  EXPECT_EQ(set.policies()[0].wait_timeout_ms, 0);
}

TEST(PolicyParseTest, QuotedPrefixes) {
  PolicySet set = MustParse(
      "\"\" max_hold=1s\n"
      "\"with space/\" max_hold=2s\n"
      "\"q\\\"uote\\\\d\" max_hold=3s\n"
      "\"#hash\" max_hold=4s\n"
      "\"a=b\" max_hold=5s\n");
  ASSERT_EQ(set.policies().size(), 5u);
  EXPECT_EQ(Found(set, "with space/x"), "with space/");
  EXPECT_EQ(Found(set, "q\"uote\\d/1"), "q\"uote\\d");
  EXPECT_EQ(Found(set, "#hash/1"), "#hash");
  EXPECT_EQ(Found(set, "a=b/1"), "a=b");
  EXPECT_EQ(Found(set, "other"), "");
}

TEST(PolicyParseTest, EveryErrorNamesItsLine) {
  struct Case {
    std::string text;
    std::string error;
  };
  const std::vector<Case> cases = {
      {"a/ max_hold=1s\n\n# c\npayments/ max_hld=3s\n",
       "line 4: unknown setting \"max_hld\" (want max_hold, lock_delay, "
       "wait_timeout or semaphore_size)"},
      {"a/\n", "line 1: prefix \"a/\" has no settings"},
      {"a/ # only a comment\n", "line 1: prefix \"a/\" has no settings"},
      {"\n\"a/ max_hold=1s\n", "line 2: unterminated quoted prefix"},
      {"\"a\\n\" max_hold=1s", "line 1: in a quoted prefix only"},
      {"\"a\"max_hold=1s", "line 1: the quoted prefix must be followed"},
      {"max_hold=1s\n", "line 1: the line starts with \"max_hold=1s\", not a "
                        "prefix"},
      {"a/ max_hold\n", "line 1: \"max_hold\" is not setting=value"},
      {"a/ max_hold=1s max_hold=2s\n", "line 1: max_hold set twice"},
      {"a/ lock_delay=1s lock_delay=2s\n", "line 1: lock_delay set twice"},
      {"a/ wait_timeout=1s wait_timeout=forever\n",
       "line 1: wait_timeout set twice"},
      {"a/ semaphore_size=1 semaphore_size=2\n",
       "line 1: semaphore_size set twice"},
      {"a/ max_hold=soon\n", "line 1: max_hold: \"soon\" is not a duration"},
      {"a/ max_hold=30\n", "line 1: max_hold: \"30\" is not a duration"},
      {"a/ max_hold=inf\n", "line 1: max_hold: \"inf\" is not a duration"},
      {"a/ max_hold=forever\n", "line 1: max_hold: \"forever\" is not a"},
      {"a/ max_hold=-1s\n", "line 1: max_hold: -1s must not be negative"},
      {"a/ lock_delay=-5ms\n", "line 1: lock_delay: -5ms must not be negative"},
      {"a/ wait_timeout=-1s\n",
       "line 1: wait_timeout: -1s must not be negative"},
      {"a/ max_hold=9000h\n", "line 1: max_hold: 9000h is longer than"},
      {"a/ max_hold=1.5ms\n", "line 1: max_hold: 1.5ms is not a whole number"},
      {"a/ lock_delay=2h\n",
       "line 1: lock_delay: 2h exceeds the daemon's --max_lock_delay (1h)"},
      {"a/ semaphore_size=0\n",
       "line 1: semaphore_size: \"0\" is not an integer between 1 and 1000000"},
      {"a/ semaphore_size=1000001\n", "line 1: semaphore_size: \"1000001\""},
      {"a/ semaphore_size=-1\n", "line 1: semaphore_size: \"-1\""},
      {"a/ semaphore_size=2x\n", "line 1: semaphore_size: \"2x\""},
      {"a/ max_hold=1s\nb/ max_hold=1s\na/ lock_delay=1s\n",
       "line 3: prefix \"a/\" is already set on line 1"},
      {"\"\" max_hold=1s\n\"\" max_hold=2s\n",
       "line 2: prefix \"\" is already set on line 1"},
      {"\"\xff\" max_hold=1s\n", "line 1: prefix \"\\xff\" is not valid UTF-8"},
  };
  for (const Case& c : cases) {
    EXPECT_THAT(ParseError(c.text), HasSubstr(c.error)) << c.text;
    EXPECT_EQ(ParseError(c.text).rfind(c.error.substr(0, 7), 0), 0u)
        << "starts with the line: " << c.text;
  }
}

TEST(PolicyParseTest, LockDelayUpToTheDaemonsMaximum) {
  PolicyLimits limits;
  limits.max_lock_delay = absl::Seconds(10);
  EXPECT_EQ(MustParse("a/ lock_delay=10s", limits).policies()[0].lock_delay_ms,
            10000);
  EXPECT_THAT(ParseError("a/ lock_delay=10001ms", limits),
              HasSubstr("exceeds the daemon's --max_lock_delay (10s)"));
}

TEST(PolicyFindTest, LongestPrefixWins) {
  PolicySet set = MustParse(
      "pay max_hold=1s\n"
      "payments/ max_hold=2s\n"
      "payments/eu/ max_hold=3s\n"
      "payroll/ max_hold=4s\n"
      "q/ max_hold=5s\n");
  EXPECT_EQ(Found(set, "payments/eu/42"), "payments/eu/");
  EXPECT_EQ(Found(set, "payments/eu/"), "payments/eu/");
  EXPECT_EQ(Found(set, "payments/us/1"), "payments/");
  EXPECT_EQ(Found(set, "payments/"), "payments/");
  EXPECT_EQ(Found(set, "payments"), "pay");
  EXPECT_EQ(Found(set, "payroll/x"), "payroll/");
  EXPECT_EQ(Found(set, "paypal"), "pay");
  EXPECT_EQ(Found(set, "pa"), "<none>");
  EXPECT_EQ(Found(set, "orders/1"), "<none>");
  EXPECT_EQ(Found(set, "q"), "<none>");
  EXPECT_EQ(Found(set, "zzz"), "<none>");
  EXPECT_EQ(Found(set, ""), "<none>");
  EXPECT_EQ(set.Find("payments/eu/1")->max_hold_ms, 3000);
}

TEST(PolicyFindTest, CatchAllMatchesEveryKey) {
  PolicySet set = MustParse("\"\" max_hold=1m\npayments/ max_hold=30s\n");
  EXPECT_EQ(Found(set, "payments/1"), "payments/");
  EXPECT_EQ(Found(set, "orders/1"), "");
  EXPECT_EQ(Found(set, ""), "");
  EXPECT_EQ(Found(set, "a"), "");
  EXPECT_EQ(Found(set, "zzzz"), "");
}

TEST(PolicyFindTest, BytewisePrefixNotPathSegments) {
  PolicySet set = MustParse("a/b max_hold=1s\n");
  EXPECT_EQ(Found(set, "a/bc"), "a/b");
  EXPECT_EQ(Found(set, "a/b/c"), "a/b");
  EXPECT_EQ(Found(set, "a/"), "<none>");
}

// Against a linear scan, over deep nestings (a, aa, aaa, ...) and siblings,
// so that the binary-lifting walk is exercised at every depth.
TEST(PolicyFindTest, MatchesALinearScan) {
  std::string text;
  std::vector<std::string> prefixes;
  for (int depth = 1; depth <= 40; ++depth) {
    prefixes.push_back(std::string(depth, 'a'));
    if (depth % 3 == 0) prefixes.push_back(std::string(depth, 'a') + "b");
    if (depth % 7 == 0) prefixes.push_back(std::string(depth, 'a') + "ba");
  }
  prefixes.push_back("b");
  prefixes.push_back("ab/");
  for (const std::string& p : prefixes) {
    absl::StrAppend(&text, "\"", p, "\" max_hold=1s\n");
  }
  PolicySet set = MustParse(text);
  std::vector<std::string> keys = {"", "b", "c", "ab", "ab/x", "aab"};
  for (int n = 0; n <= 45; ++n) {
    keys.push_back(std::string(n, 'a'));
    keys.push_back(std::string(n, 'a') + "b");
    keys.push_back(std::string(n, 'a') + "bb");
    keys.push_back(std::string(n, 'a') + "bac");
    keys.push_back(std::string(n, 'a') + "c");
    keys.push_back(std::string(n, 'a') + "0");
  }
  for (const std::string& key : keys) {
    std::string want = "<none>";
    for (const std::string& p : prefixes) {
      if (key.rfind(p, 0) == 0 && (want == "<none>" || p.size() > want.size())) {
        want = p;
      }
    }
    EXPECT_EQ(Found(set, key), want) << key;
  }
}

TEST(PolicyHolderTest, GetSeesEverySetAndTwoHoldersStayApart) {
  PolicyHolder a;
  PolicyHolder b;
  EXPECT_TRUE(a.Get().set->empty());
  EXPECT_EQ(a.Get().generation, 0u);
  auto state = std::make_shared<PolicyState>();
  state->set = std::make_shared<PolicySet>(MustParse("x/ max_hold=1s\n"));
  state->generation = 1;
  a.Set(state);
  EXPECT_EQ(a.Get().generation, 1u);
  EXPECT_EQ(b.Get().generation, 0u);  // Another holder, another cache key.
  EXPECT_EQ(a.Get().set->Find("x/1")->max_hold_ms, 1000);
  std::shared_ptr<const PolicyState> kept = a.Share();
  auto next = std::make_shared<PolicyState>();
  next->generation = 2;
  a.Set(next);
  EXPECT_EQ(a.Get().generation, 2u);
  EXPECT_TRUE(a.Get().set->empty());
  EXPECT_EQ(kept->generation, 1u);  // Share outlives the swap.
}


}  // namespace
}  // namespace taala
