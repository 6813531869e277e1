// Review of issue 13 (rev-pkg): --memory_budget as a percentage of the
// cgroup's memory limit (CgroupMemoryLimitBytes, ParseMemoryBudget) on the
// layouts a host can have: cgroup v2, v1, hybrid (this sandbox's), odd
// /proc/self/cgroup lines, huge values. FINDING tests fail on the code they
// were written against; the rest held.

#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>

#include "gtest/gtest.h"
#include "server/memory_monitor.h"

namespace taala {
namespace {

class ReviewPkgCgroupTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = ::testing::TempDir() + "review_pkg_cgroup_" + std::to_string(::getpid());
    std::filesystem::remove_all(root_);
    std::filesystem::create_directories(root_);
  }
  void TearDown() override { std::filesystem::remove_all(root_); }
  void Write(const std::string& relative, const std::string& text) {
    const std::filesystem::path path = root_ + relative;
    std::filesystem::create_directories(path.parent_path());
    std::ofstream(path) << text;
  }
  std::string root_;
};

// Hybrid (systemd's default before v2-only): the unified hierarchy at
// /sys/fs/cgroup/unified has no memory controller; the v1 one holds the
// unit's MemoryLimit.
TEST_F(ReviewPkgCgroupTest, HybridReadsTheV1MemoryHierarchy) {
  Write("/unified/system.slice/taalad.service/cgroup.procs", "");
  Write("/memory/memory.limit_in_bytes", "9223372036854771712\n");
  Write("/memory/system.slice/taalad.service/memory.limit_in_bytes", "1073741824\n");
  const char* proc =
      "12:pids:/system.slice/taalad.service\n"
      "4:memory:/system.slice/taalad.service\n"
      "1:name=systemd:/system.slice/taalad.service\n"
      "0::/system.slice/taalad.service\n";
  EXPECT_EQ(CgroupMemoryLimitBytes(proc, root_), 1073741824u);
}

// v1: a parent's smaller limit counts (v1 files are not hierarchical), a
// path that does not exist in this mount (Docker on v1 without a cgroup
// namespace) falls back to the mount's own root.
TEST_F(ReviewPkgCgroupTest, V1ParentsAndAMissingPath) {
  Write("/memory/kubepods/memory.limit_in_bytes", "2147483648\n");
  Write("/memory/kubepods/pod1/c1/memory.limit_in_bytes", "9223372036854771712\n");
  EXPECT_EQ(CgroupMemoryLimitBytes("7:memory:/kubepods/pod1/c1\n", root_), 2147483648u);
  Write("/memory/memory.limit_in_bytes", "536870912\n");
  EXPECT_EQ(CgroupMemoryLimitBytes("7:memory:/docker/0123abcd\n", root_), 536870912u);
}

// Odd lines: no trailing newline, CRLF-free garbage, colons in the path,
// a v2 "max" with spaces, values at and past 2^62, an empty controller
// list with a non-zero id.
TEST_F(ReviewPkgCgroupTest, OddContentAndHugeValues) {
  Write("/a:b/memory.max", "  max  \n");
  EXPECT_EQ(CgroupMemoryLimitBytes("0::/a:b", root_), 0u);
  Write("/a:b/memory.max", "4611686018427387904\n");  // 2^62.
  EXPECT_EQ(CgroupMemoryLimitBytes("0::/a:b", root_), 0u);
  Write("/a:b/memory.max", "18446744073709551616\n");  // 2^64: not a uint64.
  EXPECT_EQ(CgroupMemoryLimitBytes("0::/a:b", root_), 0u);
  Write("/a:b/memory.max", "4611686018427387903\n");
  EXPECT_EQ(CgroupMemoryLimitBytes("0::/a:b\n", root_), 4611686018427387903u);
  Write("/x/memory.max", "1048576\n");
  EXPECT_EQ(CgroupMemoryLimitBytes("1::/x\n:::\n::\n0:\n", root_), 0u);
  EXPECT_EQ(CgroupMemoryLimitBytes("0::/x/\n", root_), 1048576u);
}

// FINDING: a percentage that rounds to zero bytes is accepted and gives a
// budget of 0, which MemoryMonitor treats as "no budget": --memory_budget=
// 0.0000001% turns the protection off, while --memory_budget=0 is refused
// and memory_monitor.h promises INVALID_ARGUMENT for a zero budget.
TEST(ReviewPkgBudgetTest, APercentageThatRoundsToZeroIsRefused) {
  const uint64_t one_gib = uint64_t{1} << 30;
  EXPECT_FALSE(ParseMemoryBudget("0", one_gib).ok());
  auto tiny = ParseMemoryBudget("0.0000000001%", one_gib);
  EXPECT_FALSE(tiny.ok() && *tiny == 0)
      << "0.0000000001% of 1 GiB accepted as a budget of 0 bytes (no budget)";
  // A percentage of an unknown total (0: no physical memory figure) too.
  auto unknown = ParseMemoryBudget("50%", 0);
  EXPECT_FALSE(unknown.ok() && *unknown == 0)
      << "50% of an unknown total accepted as a budget of 0 bytes (no budget)";
}

// Held: percentages of a large limit do not overflow; 100% is the limit.
TEST(ReviewPkgBudgetTest, HugeTotals) {
  const uint64_t big = uint64_t{1} << 61;
  auto all = ParseMemoryBudget("100%", big);
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(*all, big);
  EXPECT_FALSE(ParseMemoryBudget("100.0001%", big).ok());
  EXPECT_FALSE(ParseMemoryBudget("nan%", big).ok());
  EXPECT_FALSE(ParseMemoryBudget("inf%", big).ok());
  EXPECT_FALSE(ParseMemoryBudget("-5%", big).ok());
  EXPECT_FALSE(ParseMemoryBudget("17179869184GiB", big).ok());  // 2^64 bytes.
}

}  // namespace
}  // namespace taala
