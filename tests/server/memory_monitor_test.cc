// --memory_budget: parsing, crossings reported once each way, and
// malloc_trim after the allocator's free memory grows (RSS, free bytes and
// the trim injected).

#include "server/memory_monitor.h"

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/time/time.h"
#include "gtest/gtest.h"

namespace taala {
namespace {

constexpr uint64_t kMiB = 1ull << 20;

TEST(ParseMemoryBudgetTest, BytesSuffixesAndPercentages) {
  EXPECT_EQ(*ParseMemoryBudget("1048576", 0), kMiB);
  EXPECT_EQ(*ParseMemoryBudget("64KiB", 0), 64u << 10);
  EXPECT_EQ(*ParseMemoryBudget("512MiB", 0), 512 * kMiB);
  EXPECT_EQ(*ParseMemoryBudget("8GiB", 0), 8ull << 30);
  EXPECT_EQ(*ParseMemoryBudget("50%", 24ull << 30), 12ull << 30);
  EXPECT_EQ(*ParseMemoryBudget("12.5%", 8ull << 30), 1ull << 30);
  for (const char* bad : {"", "0", "-1", "0%", "101%", "1TB", "1 GiB x",
                          "GiB", "abc", "99999999999999999999GiB"}) {
    EXPECT_FALSE(ParseMemoryBudget(bad, 24ull << 30).ok()) << bad;
  }
  EXPECT_EQ(*ParseMemoryBudget(" 1 GiB ", 0), 1ull << 30);
}

TEST(MemoryMonitorTest, ReadsThisProcess) {
  EXPECT_GT(ReadRssBytes(), 0u);
  EXPECT_GT(PhysicalMemoryBytes(), ReadRssBytes());
}

TEST(MemoryMonitorTest, ReportsEachCrossingOnce) {
  uint64_t rss = 100 * kMiB;
  std::vector<std::pair<bool, uint64_t>> calls;
  MemoryMonitor::Options options;
  options.budget_bytes = 200 * kMiB;
  options.read_rss = [&] { return rss; };
  options.read_free = [] { return uint64_t{0}; };
  options.on_change = [&](bool over, uint64_t r) { calls.push_back({over, r}); };
  MemoryMonitor monitor(std::move(options));
  absl::Time t = absl::FromUnixSeconds(1000);
  monitor.Tick(t);
  EXPECT_TRUE(calls.empty());  // under at the start: nothing to say
  rss = 250 * kMiB;
  monitor.Tick(t += absl::Milliseconds(100));
  monitor.Tick(t += absl::Milliseconds(100));
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0], std::make_pair(true, 250 * kMiB));
  EXPECT_TRUE(monitor.over());
  rss = 150 * kMiB;
  monitor.Tick(t += absl::Milliseconds(100));
  monitor.Tick(t += absl::Milliseconds(100));
  ASSERT_EQ(calls.size(), 2u);
  EXPECT_EQ(calls[1], std::make_pair(false, 150 * kMiB));
  EXPECT_FALSE(monitor.over());
}

TEST(MemoryMonitorTest, OverAtTheFirstReadingIsReported) {
  std::vector<bool> calls;
  MemoryMonitor::Options options;
  options.budget_bytes = kMiB;
  options.read_rss = [] { return 2 * kMiB; };
  options.read_free = [] { return uint64_t{0}; };
  options.on_change = [&](bool over, uint64_t) { calls.push_back(over); };
  MemoryMonitor monitor(std::move(options));
  monitor.Tick(absl::FromUnixSeconds(1));
  EXPECT_EQ(calls, std::vector<bool>{true});
}

TEST(MemoryMonitorTest, TrimsOnceAfterFreeMemoryGrows) {
  uint64_t rss = 900 * kMiB;
  uint64_t free_bytes = 1 * kMiB;
  int trims = 0;
  MemoryMonitor::Options options;
  options.read_rss = [&] { return rss; };
  options.read_free = [&] { return free_bytes; };
  options.trim = [&] {
    ++trims;
    rss = 250 * kMiB;  // the pages go back to the OS
  };
  MemoryMonitor monitor(std::move(options));
  absl::Time t = absl::FromUnixSeconds(1000);
  monitor.Tick(t);
  EXPECT_EQ(trims, 0);
  // 50,000 waiters cancelled: 650 MiB free in the arenas.
  free_bytes = 651 * kMiB;
  monitor.Tick(t += absl::Milliseconds(100));  // checked once per second
  EXPECT_EQ(trims, 0);
  monitor.Tick(t += absl::Seconds(1));
  EXPECT_EQ(trims, 1);
  EXPECT_EQ(monitor.trims(), 1);
  // The same free memory is not trimmed again and again.
  for (int i = 0; i < 10; ++i) monitor.Tick(t += absl::Seconds(1));
  EXPECT_EQ(trims, 1);
  // Reused, then freed again: a second trim.
  free_bytes = 2 * kMiB;
  monitor.Tick(t += absl::Seconds(1));
  free_bytes = 100 * kMiB;
  monitor.Tick(t += absl::Seconds(1));
  EXPECT_EQ(trims, 2);
}

TEST(MemoryMonitorTest, ThreadStartsAndStops) {
  int reads = 0;
  absl::Mutex mu;
  MemoryMonitor::Options options;
  options.interval = absl::Milliseconds(1);
  options.read_rss = [&] {
    absl::MutexLock lock(&mu);
    return static_cast<uint64_t>(++reads);
  };
  MemoryMonitor monitor(std::move(options));
  monitor.Start();
  {
    absl::MutexLock lock(&mu);
    mu.Await(absl::Condition(
        +[](int* n) { return *n >= 3; }, &reads));
  }
  monitor.Stop();
}

}  // namespace
}  // namespace taala
