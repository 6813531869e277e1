#ifndef TAALA_SERVER_CORE_QUANTILE_SKETCH_H_
#define TAALA_SERVER_CORE_QUANTILE_SKETCH_H_

// A quantile sketch of non-negative durations (in seconds), after DDSketch:
// log-spaced buckets, bucket i holding the values in (g^(i-1), g^i] with
// g = (1 + a) / (1 - a) and a = 2%, so that a bucket's midpoint is within 2%
// of every value in it. Count, sum, min and max are exact.
//
// Bounded: at most kMaxBuckets consecutive buckets are kept (about 1 KB of
// counts, covering a range of about 28,000x, say 1 ms to 28 s). When the
// range of values grows past that, the lowest buckets are collapsed into
// the lowest kept one: the upper quantiles, the ones that matter for
// timeouts, keep their accuracy; quantiles that fall in the collapsed part
// are overestimated. Values below 1 microsecond count as zero.
//
// Mergeable (same bucketing everywhere). Thread safety: none; the owner's
// mutex guards it.

#include <cstddef>
#include <cstdint>
#include <vector>

namespace taala {

class QuantileSketch {
 public:
  static constexpr double kRelativeAccuracy = 0.02;
  static constexpr int kMaxBuckets = 256;
  static constexpr double kMinValue = 1e-6;  // Below: counted as zero.

  void Add(double seconds);
  void Merge(const QuantileSketch& other);

  uint64_t count() const { return count_; }
  double sum() const { return sum_; }
  double min() const { return count_ == 0 ? 0 : min_; }
  double max() const { return count_ == 0 ? 0 : max_; }
  // The q-quantile (0 <= q <= 1), interpolated between the two values of
  // the ranks around q * (count - 1), each the midpoint of its bucket
  // clamped to [min, max]. 0 when empty.
  double Quantile(double q) const;
  // Heap bytes held (the bucket counts).
  size_t HeapBytes() const { return counts_.capacity() * sizeof(uint32_t); }
  // Buckets kept now (at most kMaxBuckets).
  size_t buckets() const { return counts_.size(); }

 private:
  static int IndexOf(double seconds);
  static double Midpoint(int index);
  // Adds `n` to bucket `index`, growing (and if need be collapsing) the
  // window of kept buckets.
  void AddToBucket(int index, uint64_t n);
  // The value at rank `rank` (0-based, < count_).
  double ValueAtRank(uint64_t rank) const;

  uint64_t count_ = 0;
  uint64_t zeros_ = 0;  // Values below kMinValue.
  double sum_ = 0;
  double min_ = 0;
  double max_ = 0;
  int offset_ = 0;                // Bucket index of counts_[0].
  std::vector<uint32_t> counts_;  // Consecutive buckets from offset_.
};

}  // namespace taala

#endif  // TAALA_SERVER_CORE_QUANTILE_SKETCH_H_
