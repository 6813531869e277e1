#include "server/wal/histogram.h"

#include <thread>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace taala::wal {
namespace {

using ::testing::ElementsAre;

TEST(FixedHistogramTest, CountsAreCumulativeAndTheOverflowIsInTheTotal) {
  FixedHistogram h({1, 4, 16});
  for (uint64_t v : {0, 1, 2, 4, 5, 16, 17, 1000}) h.Observe(v);
  const FixedHistogram::Snapshot s = h.Read();
  EXPECT_THAT(s.bounds, ElementsAre(1, 4, 16));
  EXPECT_THAT(s.cumulative, ElementsAre(2, 4, 6));  // <= is inclusive.
  EXPECT_EQ(s.count, 8u);
  EXPECT_EQ(s.sum, 0u + 1 + 2 + 4 + 5 + 16 + 17 + 1000);
}

// One writer, one reader at once: every snapshot is consistent (buckets
// never decrease and add up to the count).
TEST(FixedHistogramTest, ReadsWhileTheWriterObservesAreConsistent) {
  FixedHistogram h({10, 100});
  std::thread writer([&h] {
    for (int i = 0; i < 200000; ++i) h.Observe(static_cast<uint64_t>(i % 150));
  });
  uint64_t last = 0;
  for (int i = 0; i < 2000; ++i) {
    const FixedHistogram::Snapshot s = h.Read();
    ASSERT_LE(s.cumulative[0], s.cumulative[1]);
    ASSERT_LE(s.cumulative[1], s.count);
    ASSERT_GE(s.count, last);
    last = s.count;
  }
  writer.join();
  EXPECT_EQ(h.Read().count, 200000u);
}

}  // namespace
}  // namespace taala::wal
