#ifndef TAALA_SERVER_WAL_HISTOGRAM_H_
#define TAALA_SERVER_WAL_HISTOGRAM_H_

// A histogram with fixed bucket bounds for the log's writer thread (fsync
// latency, records per fsync), read by anyone (GetMetrics, /metrics).
//
// Thread safety: Observe from one thread at a time (the writer); Read from
// any thread, concurrently with Observe. Each bucket is a relaxed atomic: a
// reader may see one observation counted and the next not yet, never a torn
// count. Read derives the total from the buckets it read, so a snapshot's
// buckets always add up to its count.

#include <atomic>
#include <cstdint>
#include <memory>
#include <vector>

namespace taala::wal {

class FixedHistogram {
 public:
  struct Snapshot {
    std::vector<uint64_t> bounds;      // Upper bounds (inclusive), ascending.
    std::vector<uint64_t> cumulative;  // Observations <= bounds[i].
    uint64_t count = 0;                // All, including those above the last.
    uint64_t sum = 0;
  };

  // `bounds`: ascending upper bounds; values above the last are counted in
  // an overflow bucket.
  explicit FixedHistogram(std::vector<uint64_t> bounds);
  FixedHistogram(const FixedHistogram&) = delete;
  FixedHistogram& operator=(const FixedHistogram&) = delete;

  void Observe(uint64_t value);  // One thread at a time.
  Snapshot Read() const;

 private:
  const std::vector<uint64_t> bounds_;
  // bounds_.size() + 1 buckets: the last one takes what is above every bound.
  const std::unique_ptr<std::atomic<uint64_t>[]> counts_;
  std::atomic<uint64_t> sum_{0};
};

}  // namespace taala::wal

#endif  // TAALA_SERVER_WAL_HISTOGRAM_H_
