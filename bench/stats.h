// File: bench/stats.h
// -----------------------------------------------------------------------------
// Small statistics helpers for taala-bench: nearest-rank percentiles of
// latency samples and the median of repeated measurements.

#ifndef TAALA_BENCH_STATS_H_
#define TAALA_BENCH_STATS_H_

#include <cstdint>
#include <vector>

namespace taala::bench {

// The nearest-rank `p`-th percentile (0 < p <= 100) of `sorted` (ascending).
// 0 when `sorted` is empty.
int64_t Percentile(const std::vector<int64_t>& sorted, double p);

// The median of `values` (the mean of the two middle ones for an even
// count); 0 when empty. Takes a copy: the caller's order is kept.
double Median(std::vector<double> values);

}  // namespace taala::bench

#endif  // TAALA_BENCH_STATS_H_
