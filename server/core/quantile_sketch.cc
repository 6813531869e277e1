#include "server/core/quantile_sketch.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace taala {
namespace {

constexpr double kGamma = (1 + QuantileSketch::kRelativeAccuracy) /
                          (1 - QuantileSketch::kRelativeAccuracy);
const double kLogGamma = std::log(kGamma);

}  // namespace

int QuantileSketch::IndexOf(double seconds) {
  return static_cast<int>(std::ceil(std::log(seconds) / kLogGamma));
}

double QuantileSketch::Midpoint(int index) {
  // Bucket `index` is (g^(index-1), g^index]: 2 g^index / (g + 1) is within
  // a of both ends.
  return 2 * std::pow(kGamma, index) / (kGamma + 1);
}

void QuantileSketch::Add(double seconds) {
  if (!(seconds >= 0)) seconds = 0;  // Negative or NaN: a clock step.
  if (count_ == 0) {
    min_ = max_ = seconds;
  } else {
    min_ = std::min(min_, seconds);
    max_ = std::max(max_, seconds);
  }
  ++count_;
  sum_ += seconds;
  if (seconds < kMinValue) {
    ++zeros_;
    return;
  }
  // One record's time goes into several sketches in a row (its key's, its
  // segment's, the shard's): its logarithm is taken once.
  thread_local double last_seconds = -1;
  thread_local int last_index = 0;
  if (seconds != last_seconds) {
    last_index = IndexOf(seconds);
    last_seconds = seconds;
  }
  AddToBucket(last_index, 1);
}

void QuantileSketch::AddToBucket(int index, uint64_t n) {
  if (counts_.empty()) {
    offset_ = index;
    counts_.assign(1, 0);
  }
  const int first = std::min(offset_, index);
  const int last = std::max(offset_ + static_cast<int>(counts_.size()) - 1,
                            index);
  if (first != offset_ || last - first + 1 != static_cast<int>(counts_.size())) {
    // Grow to [first, last], keeping at most kMaxBuckets of its top: the
    // buckets below fold into the lowest kept one.
    const int new_first = std::max(first, last - kMaxBuckets + 1);
    std::vector<uint32_t> grown(static_cast<size_t>(last - new_first + 1), 0);
    for (size_t i = 0; i < counts_.size(); ++i) {
      const int at = std::max(offset_ + static_cast<int>(i), new_first);
      grown[static_cast<size_t>(at - new_first)] += counts_[i];
    }
    counts_.swap(grown);  // Exactly the size needed: no slack capacity.
    offset_ = new_first;
  }
  uint32_t& slot = counts_[static_cast<size_t>(std::max(index, offset_) -
                                               offset_)];
  constexpr uint64_t kCap = std::numeric_limits<uint32_t>::max();
  while (slot + n > kCap) {
    // A bucket would overflow: halve every bucket. Quantiles depend only on
    // the proportions; count, sum, min and max stay exact.
    for (uint32_t& c : counts_) c = (c + 1) / 2;
    zeros_ = (zeros_ + 1) / 2;
    n = (n + 1) / 2;
  }
  slot += static_cast<uint32_t>(n);
}

void QuantileSketch::Merge(const QuantileSketch& other) {
  if (other.count_ == 0) return;
  if (count_ == 0) {
    min_ = other.min_;
    max_ = other.max_;
  } else {
    min_ = std::min(min_, other.min_);
    max_ = std::max(max_, other.max_);
  }
  count_ += other.count_;
  sum_ += other.sum_;
  zeros_ += other.zeros_;
  // Highest bucket first, so that the window is placed once.
  for (size_t i = other.counts_.size(); i-- > 0;) {
    if (other.counts_[i] != 0) {
      AddToBucket(other.offset_ + static_cast<int>(i), other.counts_[i]);
    }
  }
}

double QuantileSketch::ValueAtRank(uint64_t rank) const {
  if (rank < zeros_) return 0;
  uint64_t seen = zeros_;
  for (size_t i = 0; i < counts_.size(); ++i) {
    seen += counts_[i];
    if (rank < seen) {
      return std::clamp(Midpoint(offset_ + static_cast<int>(i)), min_, max_);
    }
  }
  return max_;
}

double QuantileSketch::Quantile(double q) const {
  if (count_ == 0) return 0;
  uint64_t total = zeros_;
  for (uint32_t c : counts_) total += c;  // count_ unless halved.
  if (total == 0) return 0;
  q = std::clamp(q, 0.0, 1.0);
  const double rank = q * static_cast<double>(total - 1);
  const uint64_t below = static_cast<uint64_t>(std::floor(rank));
  // The extremes are exact.
  auto at = [&](uint64_t r) {
    return r == 0 ? min_ : r + 1 == total ? max_ : ValueAtRank(r);
  };
  const double lower = at(below);
  if (below + 1 >= total) return lower;
  const double upper = at(below + 1);
  return lower + (upper - lower) * (rank - static_cast<double>(below));
}

}  // namespace taala
