// Review of issue 11's lock policies (server/core/policy.{h,cc}): the
// parser at its edges, the longest-prefix lookup against a brute-force
// scan, and PolicyHolder's per-thread cache with two holders and a reload
// racing readers.

#include <atomic>
#include <cstdint>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/core/key.h"
#include "server/core/policy.h"

namespace taala {
namespace {

using ::testing::HasSubstr;

absl::StatusOr<PolicySet> Parse(absl::string_view text,
                                PolicyLimits limits = {}) {
  return PolicySet::Parse(text, limits);
}

// ---------------------------------------------------------------------------
// Longest-prefix lookup against a brute-force scan.

const KeyPolicy* BruteForce(const PolicySet& set, absl::string_view key) {
  const KeyPolicy* best = nullptr;
  for (const KeyPolicy& p : set.policies()) {
    if (absl::StartsWith(key, p.prefix) &&
        (best == nullptr || p.prefix.size() > best->prefix.size())) {
      best = &p;
    }
  }
  return best;
}

// A quoted policy-file prefix for `s` (escapes " and \).
std::string QuoteForFile(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out.push_back('\\');
    out.push_back(c);
  }
  return out + "\"";
}

TEST(ReviewPolicyFindTest, MatchesABruteForceScanOnRandomNestedPrefixSets) {
  std::mt19937 rng(20261202);
  // A small alphabet makes nesting and overlap common; '.', '-' and ' ' sort
  // below '/', '~' and a two-byte UTF-8 letter above it.
  const std::vector<std::string> alphabet = {"a", "b", "/", ".", "-",
                                             " ", "~", "\xc3\xa9"};
  auto random_string = [&](int max_len) {
    std::string s;
    const int len = std::uniform_int_distribution<int>(0, max_len)(rng);
    for (int i = 0; i < len; ++i) {
      s += alphabet[std::uniform_int_distribution<size_t>(
          0, alphabet.size() - 1)(rng)];
    }
    return s;
  };
  for (int round = 0; round < 300; ++round) {
    std::set<std::string> prefixes;
    const int n = std::uniform_int_distribution<int>(0, 40)(rng);
    for (int i = 0; i < n; ++i) prefixes.insert(random_string(6));
    // Chains of nested prefixes too.
    if (round % 3 == 0) {
      std::string chain;
      for (int i = 0; i < 8; ++i) {
        chain += random_string(2);
        prefixes.insert(chain);
      }
    }
    std::string text;
    int line = 0;
    for (const std::string& p : prefixes) {
      absl::StrAppend(&text, QuoteForFile(p), " max_hold=", ++line, "ms\n");
    }
    absl::StatusOr<PolicySet> set = Parse(text);
    ASSERT_TRUE(set.ok()) << set.status();
    ASSERT_EQ(set->policies().size(), prefixes.size());
    std::vector<std::string> keys;
    for (int i = 0; i < 200; ++i) keys.push_back(random_string(9));
    // Keys equal to a prefix, and a prefix plus a byte.
    for (const std::string& p : prefixes) {
      keys.push_back(p);
      keys.push_back(p + "a");
      keys.push_back(p + "\x01");
      if (!p.empty()) keys.push_back(p.substr(0, p.size() - 1));
    }
    for (const std::string& key : keys) {
      const KeyPolicy* want = BruteForce(*set, key);
      const KeyPolicy* got = set->Find(key);
      ASSERT_EQ(got, want) << "key \"" << key << "\" round " << round
                           << ": got "
                           << (got ? "\"" + got->prefix + "\"" : "none")
                           << ", want "
                           << (want ? "\"" + want->prefix + "\"" : "none");
    }
  }
}

// ---------------------------------------------------------------------------
// Parser edges that hold.

TEST(ReviewPolicyParseTest, CrlfTabsAndTrailingSpacesAreWhitespace) {
  absl::StatusOr<PolicySet> set = Parse(
      "a/\tmax_hold=1s\t \r\n"
      "b/ max_hold=2s   \r\n"
      "   # comment\r\n"
      "\r\n"
      "\"c d/\"\tlock_delay=0\r\n");
  ASSERT_TRUE(set.ok()) << set.status();
  ASSERT_EQ(set->policies().size(), 3u);
  EXPECT_EQ(set->Find("a/x")->max_hold_ms, 1000);
  EXPECT_EQ(set->Find("b/x")->max_hold_ms, 2000);
  EXPECT_EQ(set->Find("c d/x")->lock_delay_ms, 0);
  EXPECT_EQ(set->Find("c d/x")->line, 5);
}

TEST(ReviewPolicyParseTest, AQuotedPrefixMayHoldAHashAndAnEquals) {
  absl::StatusOr<PolicySet> set =
      Parse("\"a#b/\" max_hold=1s # a comment\n\"x=y/\" max_hold=2s\n");
  ASSERT_TRUE(set.ok()) << set.status();
  EXPECT_EQ(set->Find("a#b/1")->max_hold_ms, 1000);
  EXPECT_EQ(set->Find("x=y/1")->max_hold_ms, 2000);
  // A bare word starting with '#' is a comment, so the line is blank.
  set = Parse("#a/ max_hold=1s\n");
  ASSERT_TRUE(set.ok()) << set.status();
  EXPECT_TRUE(set->empty());
}

TEST(ReviewPolicyParseTest, DuplicatesThatDifferOnlyInQuotingAreRefused) {
  absl::StatusOr<PolicySet> set =
      Parse("a/ max_hold=1s\n\"a/\" max_hold=2s\n");
  ASSERT_FALSE(set.ok());
  EXPECT_THAT(set.status().message(),
              HasSubstr("line 2: prefix \"a/\" is already set on line 1"));
  set = Parse("\"\" max_hold=1s\n\"\" lock_delay=1s\n");
  ASSERT_FALSE(set.ok());
  EXPECT_THAT(set.status().message(), HasSubstr("line 2"));
}

TEST(ReviewPolicyParseTest, DurationsAtTheirEdges) {
  struct Case {
    const char* value;
    int64_t want_ms;  // -2: refused.
  };
  const Case cases[] = {
      {"1.5s", 1500},
      {"0", 0},
      {"-0", 0},
      {"+0", 0},
      {"0s", 0},
      {"1h1ms", 3600001},
      {"8760h", 8760LL * 3600 * 1000},
      {"8760h1ms", -2},
      {"9999999h", -2},
      {"99999999999999999999h", -2},
      {"9223372036854775807ms", -2},
      {"1.5ms", -2},
      {"1500us", -2},
      {"30", -2},
      {"-1s", -2},
      {"inf", -2},
      {"-inf", -2},
      {"forever", -2},
      {"", -2},
      {"1s ", -2},  // Never reached: words end at whitespace (see below).
  };
  for (const Case& c : cases) {
    if (std::string(c.value) == "1s ") continue;
    absl::StatusOr<PolicySet> set =
        Parse(absl::StrCat("a/ max_hold=", c.value, "\n"));
    if (c.want_ms == -2) {
      EXPECT_FALSE(set.ok()) << c.value;
      if (!set.ok()) EXPECT_THAT(set.status().message(), HasSubstr("line 1"));
    } else {
      ASSERT_TRUE(set.ok()) << c.value << ": " << set.status();
      EXPECT_EQ(set->Find("a/x")->max_hold_ms, c.want_ms) << c.value;
    }
  }
  // `forever` is only a wait timeout.
  EXPECT_FALSE(Parse("a/ lock_delay=forever\n").ok());
  EXPECT_TRUE(Parse("a/ wait_timeout=forever\n").ok());
  EXPECT_FALSE(Parse("a/ wait_timeout=FOREVER\n").ok());
  // lock_delay is bounded by --max_lock_delay.
  PolicyLimits limits;
  limits.max_lock_delay = absl::Seconds(10);
  EXPECT_TRUE(Parse("a/ lock_delay=10s\n", limits).ok());
  absl::StatusOr<PolicySet> over = Parse("a/ lock_delay=10001ms\n", limits);
  ASSERT_FALSE(over.ok());
  EXPECT_THAT(over.status().message(), HasSubstr("--max_lock_delay"));
}

TEST(ReviewPolicyParseTest, SemaphoreSizeAtItsEdges) {
  EXPECT_FALSE(Parse("a/ semaphore_size=0\n").ok());
  EXPECT_FALSE(Parse("a/ semaphore_size=-1\n").ok());
  EXPECT_FALSE(Parse("a/ semaphore_size=-0\n").ok());
  EXPECT_FALSE(Parse("a/ semaphore_size=1000001\n").ok());
  EXPECT_FALSE(Parse("a/ semaphore_size=4294967297\n").ok());  // 2^32 + 1
  EXPECT_FALSE(Parse("a/ semaphore_size=0x10\n").ok());
  EXPECT_FALSE(Parse("a/ semaphore_size=1.0\n").ok());
  absl::StatusOr<PolicySet> set = Parse("a/ semaphore_size=1000000\n");
  ASSERT_TRUE(set.ok()) << set.status();
  EXPECT_EQ(set->Find("a/x")->semaphore_size, 1000000u);
}

TEST(ReviewPolicyParseTest, ATenMegabyteFileAndAVeryLongLineParse) {
  std::string text;
  int n = 0;
  while (text.size() < 10 * 1000 * 1000) {
    absl::StrAppend(&text, "p", n++, "/ max_hold=1s lock_delay=0\n");
  }
  absl::StatusOr<PolicySet> set = Parse(text);
  ASSERT_TRUE(set.ok()) << set.status();
  EXPECT_EQ(set->policies().size(), static_cast<size_t>(n));
  EXPECT_EQ(set->Find("p12345/x")->prefix, "p12345/");
  EXPECT_EQ(set->Find("p12345/x")->line, 12346);
  // A one-line 1 MB prefix.
  const std::string long_prefix(1 << 20, 'x');
  set = Parse(absl::StrCat(long_prefix, " max_hold=1s\n"));
  ASSERT_TRUE(set.ok()) << set.status();
  EXPECT_EQ(set->Find(long_prefix + "/1")->prefix.size(), long_prefix.size());
}

TEST(ReviewPolicyParseTest, InvalidUtf8PrefixesAreRefusedWithTheirLine) {
  absl::StatusOr<PolicySet> set =
      Parse("ok/ max_hold=1s\n\"\xff\xfe/\" max_hold=1s\n");
  ASSERT_FALSE(set.ok());
  EXPECT_THAT(set.status().message(), HasSubstr("line 2"));
  EXPECT_THAT(set.status().message(), HasSubstr("not valid UTF-8"));
  // The message quotes the bytes escaped, not raw.
  EXPECT_FALSE(absl::StrContains(set.status().message(), "\xff"));
}

// A UTF-8 BOM is skipped, not part of the first prefix.
TEST(ReviewPolicyParseTest, AUtf8ByteOrderMarkIsNotSilentlyPartOfThePrefix) {
  absl::StatusOr<PolicySet> set =
      Parse("\xEF\xBB\xBFpayments/ max_hold=30s\norders/ max_hold=1m\n");
  EXPECT_TRUE(set.ok()) << set.status();  // taalad skips it.
  if (set.ok()) {
    // Either skip the BOM...
    std::string line1;
    for (const KeyPolicy& q : set->policies()) {
      if (q.line == 1) line1 = q.prefix;
    }
    const KeyPolicy* p = set->Find("payments/1");
    ASSERT_NE(p, nullptr) << "the BOM was kept in line 1's prefix: \""
                          << absl::CHexEscape(line1) << "\" (" << line1.size()
                          << " bytes)";
    EXPECT_EQ(p->prefix, "payments/");
  } else {
    // ...or refuse the file, naming line 1.
    EXPECT_THAT(set.status().message(), HasSubstr("line 1"));
  }
}

// A prefix holding a control character (which no key may hold) is refused.
TEST(ReviewPolicyParseTest, APrefixWithAControlCharacterIsRefused) {
  const std::string nul_line = std::string("a\0b/ max_hold=1s\n", 17);
  for (const std::string& text :
       {nul_line, std::string("\"\x1b[31mred/\" max_hold=1s\n"),
        std::string("\"tab\there/\" max_hold=1s\n"),
        std::string("\"c1\xc2\x9b/\" max_hold=1s\n")}) {
    absl::StatusOr<PolicySet> set = Parse(text);
    EXPECT_FALSE(set.ok()) << "accepted prefix \""
                           << (set.ok() && !set->empty()
                                   ? EscapeControl(set->policies()[0].prefix,
                                                   false)
                                   : "")
                           << "\", which no valid key can start with";
    if (!set.ok()) {
      EXPECT_THAT(set.status().message(), HasSubstr("line 1: prefix"));
      EXPECT_THAT(set.status().message(), HasSubstr("control character"));
    }
  }
}

TEST(ReviewPolicyParseTest, TheCountLimitNamesTheLine) {
  PolicyLimits limits;
  limits.max_policies = 2;
  EXPECT_TRUE(Parse("# two\na/ max_hold=1s\nb/ max_hold=1s\n", limits).ok());
  absl::StatusOr<PolicySet> set =
      Parse("# three\na/ max_hold=1s\nb/ max_hold=1s\n\nc/ max_hold=1s\n",
            limits);
  ASSERT_FALSE(set.ok());
  EXPECT_THAT(set.status().message(),
              HasSubstr("line 5: more than 2 policies (the limit)"));
}

// ---------------------------------------------------------------------------
// PolicyHolder.

std::shared_ptr<const PolicyState> StateWith(const std::string& text,
                                             uint64_t generation) {
  auto state = std::make_shared<PolicyState>();
  absl::StatusOr<PolicySet> set = PolicySet::Parse(text, {});
  EXPECT_TRUE(set.ok()) << set.status();
  state->set = std::make_shared<const PolicySet>(*std::move(set));
  state->generation = generation;
  return state;
}

TEST(ReviewPolicyHolderTest, TwoHoldersOnOneThreadEachAnswerTheirOwn) {
  PolicyHolder a;
  PolicyHolder b;
  a.Set(StateWith("a/ max_hold=1s\n", 7));
  b.Set(StateWith("b/ max_hold=2s\n", 9));
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(a.Get().generation, 7u);
    EXPECT_EQ(b.Get().generation, 9u);
    EXPECT_NE(a.Get().set->Find("a/1"), nullptr);
    EXPECT_EQ(a.Get().set->Find("b/1"), nullptr);
    EXPECT_NE(b.Get().set->Find("b/1"), nullptr);
  }
  // A holder destroyed and another made (possibly at the same address)
  // never answers the old one's cached state.
  auto c = std::make_unique<PolicyHolder>();
  c->Set(StateWith("c/ max_hold=1s\n", 3));
  EXPECT_EQ(c->Get().generation, 3u);
  c.reset();
  c = std::make_unique<PolicyHolder>();
  EXPECT_EQ(c->Get().generation, 0u);
  EXPECT_TRUE(c->Get().set->empty());
}

TEST(ReviewPolicyHolderTest, ReadersRacingReloadsSeeWholeStates) {
  PolicyHolder holder;
  holder.Set(StateWith("k/ max_hold=1ms\n", 1));
  std::atomic<bool> stop{false};
  std::atomic<int> bad{0};
  std::atomic<int64_t> reads{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 4; ++t) {
    readers.emplace_back([&] {
      uint64_t last = 0;
      while (!stop.load()) {
        const PolicyState& s = holder.Get();
        const KeyPolicy* p = s.set->Find("k/x");
        // Each state's max_hold equals its generation: a torn read or a
        // freed state would break that, and generations never go back.
        if (p == nullptr || *p->max_hold_ms != static_cast<int64_t>(
                                                   s.generation) ||
            s.generation < last) {
          bad.fetch_add(1);
        }
        last = s.generation;
        reads.fetch_add(1, std::memory_order_relaxed);
      }
    });
  }
  // Reloads until the readers have read a good many states between them.
  uint64_t g = 2;
  for (; g < 2000 || (reads.load() < 200000 && g < 1000000); ++g) {
    holder.Set(StateWith(absl::StrCat("k/ max_hold=", g, "ms\n"), g));
  }
  stop = true;
  for (std::thread& t : readers) t.join();
  EXPECT_EQ(bad.load(), 0);
  EXPECT_EQ(holder.Get().generation, g - 1);
  EXPECT_GT(reads.load(), 0);
}

}  // namespace
}  // namespace taala
