#include "server/memory_monitor.h"

#include <malloc.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <string>
#include <utility>
#include <vector>

#include "absl/algorithm/container.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace taala {

absl::StatusOr<uint64_t> ParseMemoryBudget(absl::string_view text,
                                           uint64_t physical_bytes) {
  absl::string_view s = absl::StripAsciiWhitespace(text);
  const auto bad = [&] {
    return absl::InvalidArgumentError(absl::StrCat(
        "--memory_budget=", text,
        ": want bytes with an optional KiB, MiB or GiB suffix, or a "
        "percentage of physical memory such as 50%"));
  };
  if (absl::ConsumeSuffix(&s, "%")) {
    double pct = 0;
    if (!absl::SimpleAtod(s, &pct) || !(pct > 0) || pct > 100) return bad();
    return static_cast<uint64_t>(static_cast<double>(physical_bytes) * pct /
                                 100);
  }
  uint64_t unit = 1;
  if (absl::ConsumeSuffix(&s, "GiB")) {
    unit = 1ull << 30;
  } else if (absl::ConsumeSuffix(&s, "MiB")) {
    unit = 1ull << 20;
  } else if (absl::ConsumeSuffix(&s, "KiB")) {
    unit = 1ull << 10;
  }
  uint64_t n = 0;
  if (!absl::SimpleAtoi(s, &n) || n == 0 || n > (~0ull) / unit) return bad();
  return n * unit;
}

uint64_t PhysicalMemoryBytes() {
  const long pages = sysconf(_SC_PHYS_PAGES);
  const long page = sysconf(_SC_PAGESIZE);
  if (pages <= 0 || page <= 0) return 0;
  return static_cast<uint64_t>(pages) * static_cast<uint64_t>(page);
}

namespace {

// The number in `path` ("max", no file or a v1 "unlimited" 2^63-ish: 0).
uint64_t ReadLimitFile(const std::string& path) {
  std::ifstream in(path);
  std::string text;
  if (!(in >> text)) return 0;
  uint64_t n = 0;
  if (!absl::SimpleAtoi(text, &n) || n >= (uint64_t{1} << 62)) return 0;
  return n;
}

// The smallest limit named `file` in `dir` and its parents up to `root`.
uint64_t SmallestLimitUpTo(const std::string& root, std::string dir,
                           const std::string& file) {
  uint64_t smallest = 0;
  while (true) {
    const uint64_t limit = ReadLimitFile(absl::StrCat(dir, "/", file));
    if (limit > 0 && (smallest == 0 || limit < smallest)) smallest = limit;
    if (dir.size() <= root.size()) return smallest;
    dir.resize(std::max(dir.rfind('/'), root.size()));
  }
}

}  // namespace

uint64_t CgroupMemoryLimitBytes(absl::string_view proc_self_cgroup,
                                const std::string& cgroup_root) {
  uint64_t smallest = 0;
  for (absl::string_view line : absl::StrSplit(proc_self_cgroup, '\n')) {
    // "ID:CONTROLLERS:PATH": "0::/PATH" is v2, "4:memory:/PATH" v1.
    std::vector<absl::string_view> parts = absl::StrSplit(line, absl::MaxSplits(':', 2));
    if (parts.size() != 3) continue;
    std::string path(absl::StripSuffix(parts[2], "/"));
    if (absl::StrContains(path, "..")) continue;
    uint64_t limit = 0;
    if (parts[0] == "0" && parts[1].empty()) {
      limit = SmallestLimitUpTo(cgroup_root, cgroup_root + path, "memory.max");
    } else if (absl::c_linear_search(absl::StrSplit(parts[1], ','), "memory")) {
      const std::string v1_root = cgroup_root + "/memory";
      limit = SmallestLimitUpTo(v1_root, v1_root + path,
                                "memory.limit_in_bytes");
    }
    if (limit > 0 && (smallest == 0 || limit < smallest)) smallest = limit;
  }
  return smallest;
}

uint64_t AvailableMemoryBytes() {
  const uint64_t physical = PhysicalMemoryBytes();
  std::ifstream in("/proc/self/cgroup");
  const std::string text((std::istreambuf_iterator<char>(in)),
                         std::istreambuf_iterator<char>());
  const uint64_t cgroup = CgroupMemoryLimitBytes(text, "/sys/fs/cgroup");
  return cgroup > 0 && (physical == 0 || cgroup < physical) ? cgroup : physical;
}

uint64_t ReadRssBytes() {
  FILE* f = std::fopen("/proc/self/statm", "r");
  if (f == nullptr) return 0;
  unsigned long long size = 0, resident = 0;
  const int n = std::fscanf(f, "%llu %llu", &size, &resident);
  std::fclose(f);
  if (n != 2) return 0;
  return resident * static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
}

uint64_t AllocatorFreeBytes() { return mallinfo2().fordblks; }

std::string MemoryBudgetMessage(absl::string_view flag_value,
                                uint64_t rss_bytes) {
  return absl::StrCat("limit --memory_budget=", flag_value,
                      " reached: RSS ", rss_bytes, " bytes");
}

MemoryMonitor::MemoryMonitor(Options options) : options_(std::move(options)) {
  if (!options_.read_rss) options_.read_rss = ReadRssBytes;
  if (!options_.trim) options_.trim = [] { malloc_trim(0); };
  if (!options_.read_free) options_.read_free = AllocatorFreeBytes;
}

MemoryMonitor::~MemoryMonitor() { Stop(); }

void MemoryMonitor::Start() {
  started_ = true;
  thread_ = std::thread([this] {
    while (true) {
      Tick(absl::Now());
      absl::MutexLock lock(&mu_);
      if (mu_.AwaitWithTimeout(absl::Condition(&stopping_),
                               options_.interval)) {
        return;
      }
    }
  });
}

void MemoryMonitor::Stop() {
  if (!started_) return;
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  thread_.join();
  started_ = false;
}

void MemoryMonitor::Tick(absl::Time now) {
  uint64_t rss = options_.read_rss();
  if (rss == 0) return;
  if (now - last_trim_check_ >= options_.trim_interval) {
    last_trim_check_ = now;
    const uint64_t free_bytes = options_.read_free();
    if (free_bytes > free_mark_ + options_.trim_above_bytes) {
      // glibc keeps what its arenas freed; a burst of 50,000 waiters would
      // otherwise stay resident after they are gone. Trimming does not
      // change the free count, so the mark keeps us from trimming the same
      // free memory every interval.
      options_.trim();
      rss = options_.read_rss();
      free_mark_ = free_bytes;
      absl::MutexLock lock(&mu_);
      ++trims_;
    } else if (free_bytes < free_mark_) {
      // Reused free memory lowers the mark, so the next burst's free counts.
      free_mark_ = free_bytes;
    }
  }
  const bool over = options_.budget_bytes > 0 && rss > options_.budget_bytes;
  bool changed;
  {
    absl::MutexLock lock(&mu_);
    changed = over != over_ || (first_ && over);
    over_ = over;
  }
  first_ = false;
  if (changed && options_.on_change) options_.on_change(over, rss);
}

bool MemoryMonitor::over() const {
  absl::MutexLock lock(&mu_);
  return over_;
}

int64_t MemoryMonitor::trims() const {
  absl::MutexLock lock(&mu_);
  return trims_;
}

}  // namespace taala
