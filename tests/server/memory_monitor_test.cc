// --memory_budget: parsing, crossings reported once each way, and
// malloc_trim after the allocator's free memory grows (RSS, free bytes and
// the trim injected).

#include "server/memory_monitor.h"

#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
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

// A cgroup tree on disk, as /sys/fs/cgroup shows it.
class CgroupLimitTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = ::testing::TempDir() + "cgroup_limit_test_" +
            std::to_string(::getpid());
    std::filesystem::remove_all(root_);
  }
  void TearDown() override { std::filesystem::remove_all(root_); }
  void Write(const std::string& relative, const std::string& text) {
    const std::filesystem::path path = root_ + relative;
    std::filesystem::create_directories(path.parent_path());
    std::ofstream(path) << text;
  }
  std::string root_;
};

TEST_F(CgroupLimitTest, V2TakesTheSmallestLimitOnThePathToTheRoot) {
  Write("/system.slice/memory.max", "2147483648\n");
  Write("/system.slice/taalad.service/memory.max", "max\n");
  EXPECT_EQ(CgroupMemoryLimitBytes("0::/system.slice/taalad.service\n", root_),
            2147483648u);
  Write("/system.slice/taalad.service/memory.max", "1073741824\n");
  EXPECT_EQ(CgroupMemoryLimitBytes("0::/system.slice/taalad.service\n", root_),
            1073741824u);
}

TEST_F(CgroupLimitTest, AContainersOwnNamespaceIsItsRoot) {
  // Kubernetes with cgroup namespaces: /proc/self/cgroup says "0::/" and the
  // container's limit is the mount's own memory.max.
  Write("/memory.max", "805306368\n");
  EXPECT_EQ(CgroupMemoryLimitBytes("0::/\n", root_), 805306368u);
}

TEST_F(CgroupLimitTest, V1MemoryControllerAndUnlimited) {
  Write("/memory/memory.limit_in_bytes", "9223372036854771712\n");
  Write("/memory/docker/abc/memory.limit_in_bytes", "536870912\n");
  EXPECT_EQ(CgroupMemoryLimitBytes(
                "4:memory:/docker/abc\n3:cpu,cpuacct:/docker/abc\n", root_),
            536870912u);
  EXPECT_EQ(CgroupMemoryLimitBytes("4:memory:/\n", root_), 0u);
}

TEST_F(CgroupLimitTest, NoLimitNoFileOrGarbage) {
  EXPECT_EQ(CgroupMemoryLimitBytes("", root_), 0u);
  EXPECT_EQ(CgroupMemoryLimitBytes("0::/nowhere\n", root_), 0u);
  Write("/a/memory.max", "lots\n");
  EXPECT_EQ(CgroupMemoryLimitBytes("0::/a\ngarbage\n", root_), 0u);
  EXPECT_EQ(CgroupMemoryLimitBytes("0::/../../etc\n", root_), 0u);
}

TEST(AvailableMemoryTest, NeverMoreThanPhysical) {
  EXPECT_GT(AvailableMemoryBytes(), 0u);
  EXPECT_LE(AvailableMemoryBytes(), PhysicalMemoryBytes());
}

}  // namespace
}  // namespace taala
