// The quantile sketch: accuracy against exact quantiles, merging, and the
// bound on its size when the range of values grows.

#include "server/core/quantile_sketch.h"

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include "gtest/gtest.h"

namespace taala {
namespace {

// The exact q-quantile as the sketch defines it (interpolated ranks).
double Exact(std::vector<double> v, double q) {
  std::sort(v.begin(), v.end());
  const double rank = q * static_cast<double>(v.size() - 1);
  const size_t below = static_cast<size_t>(std::floor(rank));
  if (below + 1 >= v.size()) return v[below];
  return v[below] + (v[below + 1] - v[below]) * (rank - below);
}

void ExpectAccurate(const std::vector<double>& values) {
  QuantileSketch sketch;
  for (double v : values) sketch.Add(v);
  ASSERT_EQ(sketch.count(), values.size());
  for (double q : {0.5, 0.9, 0.95, 0.99}) {
    const double want = Exact(values, q);
    EXPECT_NEAR(sketch.Quantile(q), want,
                want * QuantileSketch::kRelativeAccuracy * 1.001)
        << "q " << q;
  }
  EXPECT_DOUBLE_EQ(sketch.max(), *std::max_element(values.begin(),
                                                   values.end()));
  EXPECT_DOUBLE_EQ(sketch.min(), *std::min_element(values.begin(),
                                                   values.end()));
}

TEST(QuantileSketchTest, UniformValuesAreWithinTwoPercent) {
  std::mt19937_64 rng(1);
  std::uniform_real_distribution<double> d(0.001, 2.0);
  std::vector<double> values(100000);
  for (double& v : values) v = d(rng);
  ExpectAccurate(values);
}

TEST(QuantileSketchTest, ExponentialValuesAreWithinTwoPercent) {
  std::mt19937_64 rng(2);
  std::exponential_distribution<double> d(1 / 0.05);  // Mean 50 ms.
  std::vector<double> values(100000);
  for (double& v : values) v = std::max(d(rng), 1e-5);
  ExpectAccurate(values);
}

TEST(QuantileSketchTest, FewSamplesAreInterpolatedWithinTheirRange) {
  QuantileSketch sketch;
  for (double v : {0.360, 0.400, 0.440}) sketch.Add(v);
  EXPECT_NEAR(sketch.Quantile(0.5), 0.400, 0.400 * 0.02);
  EXPECT_LE(sketch.Quantile(1), 0.440);
  EXPECT_GE(sketch.Quantile(0), 0.360);
  EXPECT_NEAR(sketch.sum(), 1.2, 1e-9);
}

TEST(QuantileSketchTest, ZerosAndEmpty) {
  QuantileSketch sketch;
  EXPECT_EQ(sketch.Quantile(0.99), 0);
  sketch.Add(0);
  sketch.Add(0);
  sketch.Add(1);
  EXPECT_EQ(sketch.Quantile(0.5), 0);
  EXPECT_NEAR(sketch.Quantile(1), 1, 0.02);
}

TEST(QuantileSketchTest, MergedEqualsOneSketchOfAllValues) {
  std::mt19937_64 rng(3);
  std::lognormal_distribution<double> d(-3, 1.5);
  QuantileSketch a, b, all;
  std::vector<double> values;
  for (int i = 0; i < 50000; ++i) {
    const double v = d(rng);
    values.push_back(v);
    (i % 3 == 0 ? a : b).Add(v);
    all.Add(v);
  }
  a.Merge(b);
  EXPECT_EQ(a.count(), all.count());
  EXPECT_NEAR(a.sum(), all.sum(), 1e-6 * all.sum());
  for (double q : {0.5, 0.95, 0.99}) {
    EXPECT_DOUBLE_EQ(a.Quantile(q), all.Quantile(q)) << q;
    EXPECT_NEAR(a.Quantile(q), Exact(values, q), Exact(values, q) * 0.0201);
  }
}

TEST(QuantileSketchTest, ARangeBeyondTheWindowCollapsesTheLowestBuckets) {
  QuantileSketch sketch;
  // 1 us to 1 h: far more than kMaxBuckets buckets of 4%.
  for (double v = 1e-6; v < 3600; v *= 1.01) sketch.Add(v);
  EXPECT_LE(sketch.buckets(), QuantileSketch::kMaxBuckets);
  EXPECT_LE(sketch.HeapBytes(), QuantileSketch::kMaxBuckets * 4);
  EXPECT_LE(sizeof(QuantileSketch) + sketch.HeapBytes(), 1100u);
  // The top of the range keeps its accuracy.
  std::vector<double> values;
  for (double v = 1e-6; v < 3600; v *= 1.01) values.push_back(v);
  EXPECT_NEAR(sketch.Quantile(0.99), Exact(values, 0.99),
              Exact(values, 0.99) * 0.0201);
  EXPECT_NEAR(sketch.Quantile(0.95), Exact(values, 0.95),
              Exact(values, 0.95) * 0.0201);
  // A low quantile in the collapsed part is overestimated, never lost.
  EXPECT_GE(sketch.Quantile(0.01), Exact(values, 0.01));
}

}  // namespace
}  // namespace taala
