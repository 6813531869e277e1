#ifndef TAALA_SERVER_MEMORY_MONITOR_H_
#define TAALA_SERVER_MEMORY_MONITOR_H_

// --memory_budget (docs/security.md): a thread that reads taalad's resident
// set size every `interval` and reports when it crosses the budget, so that
// new sessions and waits can be refused above it while keepalives, releases
// and holders are still served. It also hands memory that the allocator
// keeps but no longer uses back to the OS (malloc_trim), so that RSS falls
// again after a burst of waiters is gone.

#include <cstdint>
#include <functional>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace taala {

// "8GiB", "512MiB", "64KiB", "1048576" (bytes) or "50%" (of
// `physical_bytes`). INVALID_ARGUMENT for anything else or a zero budget.
absl::StatusOr<uint64_t> ParseMemoryBudget(absl::string_view text,
                                           uint64_t physical_bytes);
// The machine's physical memory (sysconf).
uint64_t PhysicalMemoryBytes();
// The memory limit of the cgroup this process runs in (a container's or a
// systemd unit's MemoryMax): the smallest cgroup v2 memory.max or v1
// memory.limit_in_bytes on the path from its cgroup up to `cgroup_root`,
// read from `proc_self_cgroup` (the text of /proc/self/cgroup). 0: none.
uint64_t CgroupMemoryLimitBytes(absl::string_view proc_self_cgroup,
                                const std::string& cgroup_root);
// What a percentage --memory_budget is of: physical memory, or this
// process's cgroup limit if that is smaller.
uint64_t AvailableMemoryBytes();
// This process's resident set size (/proc/self/statm); 0 if unreadable.
uint64_t ReadRssBytes();
// Bytes the allocator holds free (glibc mallinfo2: fordblks).
uint64_t AllocatorFreeBytes();

class MemoryMonitor {
 public:
  struct Options {
    uint64_t budget_bytes = 0;
    absl::Duration interval = absl::Milliseconds(100);
    // Called from the monitor thread when RSS crosses the budget either way
    // (and once at the first reading if over). Must not block for long.
    std::function<void(bool over, uint64_t rss_bytes)> on_change;
    // RSS source (tests inject one); ReadRssBytes by default.
    std::function<uint64_t()> read_rss;
    // Trim (malloc_trim(0) by default) when the allocator's free bytes
    // (mallinfo2's fordblks by default) grew this much since the last trim;
    // looked at every trim_interval. After a burst of waiters is cancelled,
    // their memory goes back to the OS within about trim_interval.
    uint64_t trim_above_bytes = 32ull << 20;
    absl::Duration trim_interval = absl::Seconds(1);
    std::function<uint64_t()> read_free;
    std::function<void()> trim;
  };

  explicit MemoryMonitor(Options options);
  ~MemoryMonitor();  // Stops.
  MemoryMonitor(const MemoryMonitor&) = delete;
  MemoryMonitor& operator=(const MemoryMonitor&) = delete;

  void Start();
  void Stop();
  // One reading (the thread calls it every interval; tests call it).
  void Tick(absl::Time now);

  bool over() const;
  int64_t trims() const;

 private:
  Options options_;
  mutable absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool started_ = false;
  // Monitor thread (or the test calling Tick) only.
  bool first_ = true;
  bool over_ ABSL_GUARDED_BY(mu_) = false;
  int64_t trims_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t free_mark_ = 0;
  absl::Time last_trim_check_ = absl::InfinitePast();
  std::thread thread_;
};

// "limit --memory_budget=<flag value> reached: RSS <n> bytes" (the message
// that refusals above the budget carry).
std::string MemoryBudgetMessage(absl::string_view flag_value,
                                uint64_t rss_bytes);

}  // namespace taala

#endif  // TAALA_SERVER_MEMORY_MONITOR_H_
