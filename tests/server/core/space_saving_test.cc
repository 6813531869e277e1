// The space-saving top-K: heavy hitters survive a flood of distinct names,
// counts overestimate by at most their error bound, memory stays fixed.

#include "server/core/space_saving.h"

#include <map>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace taala {
namespace {

struct Nothing {};

TEST(SpaceSavingTest, HeavyHittersSurviveAMillionDistinctNames) {
  SpaceSaving<Nothing> top(64);
  std::mt19937_64 rng(7);
  std::map<std::string, uint64_t> truth;
  const absl::Time now = absl::UnixEpoch();
  // 1,000,000 distinct names once each, and 5 hot names 2% of the stream
  // each (20,000 occurrences: far above N / 64).
  for (int i = 0; i < 1000000; ++i) {
    top.Count(absl::StrCat("cold-", i), now);
    if (i % 10 == 0) {
      const std::string hot = absl::StrCat("hot-", rng() % 5);
      top.Count(hot, now);
      ++truth[hot];
    }
  }
  EXPECT_EQ(top.entries().size(), 64u);
  for (const auto& [name, n] : truth) {
    const auto* e = top.Find(name);
    ASSERT_NE(e, nullptr) << name << " (" << n << " times) was lost";
    // Never under the truth; over it by at most the error bound.
    EXPECT_GE(e->count, n);
    EXPECT_LE(e->count - e->error, n);
  }
}

TEST(SpaceSavingTest, ANewNameTakesTheLeastCountedPlaceWithItsCountAsError) {
  SpaceSaving<int> top(2);
  const absl::Time t0 = absl::UnixEpoch();
  top.Count("a", t0);
  top.Count("a", t0);
  top.Count("b", t0).figures = 42;
  auto& c = top.Count("c", t0 + absl::Seconds(1));
  EXPECT_EQ(top.Find("b"), nullptr);
  EXPECT_EQ(c.count, 2u);
  EXPECT_EQ(c.error, 1u);
  EXPECT_EQ(c.figures, 0);  // b's figures are not c's.
  EXPECT_EQ(c.since, t0 + absl::Seconds(1));
  EXPECT_EQ(top.Find("a")->count, 2u);
}

TEST(SpaceSavingTest, EveryNameAboveNOverKIsTrackedUnderAnyOrder) {
  // Zipf-like: name i occurs about N / (i + 1) / H times.
  SpaceSaving<Nothing> top(100);
  std::mt19937_64 rng(11);
  std::vector<double> weights(5000);
  for (size_t i = 0; i < weights.size(); ++i) weights[i] = 1.0 / (i + 1);
  std::discrete_distribution<int> zipf(weights.begin(), weights.end());
  std::map<int, uint64_t> truth;
  const int n = 500000;
  for (int i = 0; i < n; ++i) {
    const int name = zipf(rng);
    ++truth[name];
    top.Count(absl::StrCat("k", name), absl::UnixEpoch());
  }
  for (const auto& [name, count] : truth) {
    if (count <= static_cast<uint64_t>(n / 100)) continue;
    const auto* e = top.Find(absl::StrCat("k", name));
    ASSERT_NE(e, nullptr) << "k" << name << " occurred " << count;
    EXPECT_LE(e->count - e->error, count);
    EXPECT_GE(e->count, count);
  }
}

// The cached candidates of the least counted slot (LeastCountedSlot) pick
// a slot with the lowest count every time, as a scan of every entry would,
// under a random mix of repeated and new names.
TEST(SpaceSavingTest, EvictionAlwaysTakesALeastCountedEntry) {
  SpaceSaving<Nothing> top(16);
  std::mt19937_64 rng(7);
  for (int i = 0; i < 200000; ++i) {
    const bool repeat = rng() % 3 != 0;
    const std::string name =
        repeat ? absl::StrCat("hot", rng() % 24) : absl::StrCat("new", i);
    uint64_t least = UINT64_MAX;
    for (const auto& e : top.entries()) least = std::min(least, e.count);
    const bool tracked = top.Find(name) != nullptr;
    const bool full = top.entries().size() == top.capacity();
    const auto& e = top.Count(name, absl::UnixEpoch());
    if (!tracked && full) {
      ASSERT_EQ(e.error, least) << "step " << i;
      ASSERT_EQ(e.count, least + 1);
    }
  }
}

}  // namespace
}  // namespace taala
