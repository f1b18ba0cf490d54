#include "stats/histogram.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <random>
#include <string>
#include <vector>

namespace cgotrace {
namespace {

using H = LogLinearHistogram;

TEST(HistogramTest, SmallValuesHaveExactBuckets) {
  for (uint64_t v = 0; v < 64; ++v) {
    const size_t i = H::BucketOf(v);
    EXPECT_EQ(i, v);
    EXPECT_EQ(H::BucketLower(i), v);
    EXPECT_EQ(H::BucketUpper(i), v);
  }
  EXPECT_EQ(H::BucketOf(64), 64u);
  EXPECT_EQ(H::BucketOf(127), 127u);
  EXPECT_EQ(H::BucketOf(128), 128u);
  EXPECT_EQ(H::BucketLower(128), 128u);
  EXPECT_EQ(H::BucketUpper(128), 129u);
}

TEST(HistogramTest, BucketBoundsAreContiguousAndRoundTrip) {
  EXPECT_EQ(H::BucketLower(0), 0u);
  for (size_t i = 0; i < H::kBuckets; ++i) {
    const uint64_t lo = H::BucketLower(i);
    const uint64_t hi = H::BucketUpper(i);
    ASSERT_LE(lo, hi) << i;
    ASSERT_EQ(H::BucketOf(lo), i);
    ASSERT_EQ(H::BucketOf(hi), i);
    if (i + 1 < H::kBuckets) {
      ASSERT_EQ(hi + 1, H::BucketLower(i + 1)) << i;
    }
    // The width bound that gives the quantile guarantee.
    if (lo >= 64) {
      ASSERT_LE(hi - lo + 1, lo / 64) << i;
    }
  }
  EXPECT_EQ(H::BucketUpper(H::kBuckets - 1), UINT64_MAX);
}

TEST(HistogramTest, ExtremesAndEmpty) {
  H h;
  EXPECT_EQ(h.count(), 0u);
  EXPECT_EQ(h.min(), 0u);
  EXPECT_EQ(h.max(), 0u);
  EXPECT_EQ(h.Quantile(0.5), 0u);
  EXPECT_EQ(h.mean(), 0.0);
  h.Record(0);
  h.Record(UINT64_MAX);
  EXPECT_EQ(h.BucketOf(UINT64_MAX), H::kBuckets - 1);
  EXPECT_EQ(h.BucketCount(0), 1u);
  EXPECT_EQ(h.BucketCount(H::kBuckets - 1), 1u);
  EXPECT_EQ(h.min(), 0u);
  EXPECT_EQ(h.max(), UINT64_MAX);
  EXPECT_EQ(h.sum(), UINT64_MAX);
  EXPECT_EQ(h.Quantile(0), 0u);
  EXPECT_EQ(h.Quantile(1), UINT64_MAX);
  h.Record(5);
  EXPECT_EQ(h.sum(), UINT64_MAX);  // saturated, not wrapped
  EXPECT_EQ(h.count(), 3u);
}

TEST(HistogramTest, SimpleStats) {
  H h;
  for (uint64_t v : {1000, 2000, 3000}) {
    h.Record(v);
  }
  EXPECT_EQ(h.count(), 3u);
  EXPECT_EQ(h.sum(), 6000u);
  EXPECT_DOUBLE_EQ(h.mean(), 2000.0);
  EXPECT_EQ(h.min(), 1000u);
  EXPECT_EQ(h.max(), 3000u);
  EXPECT_NEAR(static_cast<double>(h.Quantile(0.5)), 2000.0, 2000.0 * 0.02);
  EXPECT_EQ(h.Quantile(0.99), 3000u);  // top rank is exactly max
  EXPECT_EQ(h.Quantile(0.2), 1000u);   // bottom rank is exactly min
}

TEST(HistogramTest, MergeEqualsRecordingEverything) {
  H a, b, all;
  std::mt19937_64 rng(7);
  for (int i = 0; i < 1000; ++i) {
    const uint64_t v = rng() >> (rng() % 64);
    (i % 3 ? a : b).Record(v);
    all.Record(v);
  }
  a.Merge(b);
  EXPECT_EQ(a.count(), all.count());
  EXPECT_EQ(a.sum(), all.sum());
  EXPECT_EQ(a.min(), all.min());
  EXPECT_EQ(a.max(), all.max());
  for (size_t i = 0; i < H::kBuckets; ++i) {
    ASSERT_EQ(a.BucketCount(i), all.BucketCount(i));
  }
  for (double q : {0.1, 0.5, 0.9, 0.99}) {
    EXPECT_EQ(a.Quantile(q), all.Quantile(q));
  }

  H empty;
  H c = all;
  c.Merge(empty);
  EXPECT_EQ(c.min(), all.min());
  empty.Merge(all);
  EXPECT_EQ(empty.min(), all.min());
  EXPECT_EQ(empty.count(), all.count());
}

// A kernel aggregation row (BPF buckets with cgt_hist_bucket_bounded, count,
// sum, min, max) read back gives the histogram that recording each value
// would: stat's figures do not depend on where the calls were counted.
TEST(HistogramTest, KernelBucketsEqualRecordingEverything) {
  std::vector<uint64_t> kernel(CGT_HIST_BUCKETS, 0);
  uint64_t count = 0, sum = 0, min = UINT64_MAX, max = 0;
  H all;
  std::mt19937_64 rng(11);
  for (int i = 0; i < 5000; ++i) {
    const uint64_t v = rng() >> (24 + rng() % 40);  // below 2^40: the map's range
    ++kernel[cgt_hist_bucket_bounded(v)];
    ++count;
    sum += v;
    min = std::min(min, v);
    max = std::max(max, v);
    all.Record(v);
  }
  H from_kernel;
  from_kernel.AddBuckets(kernel, count, sum, min, max);
  EXPECT_EQ(from_kernel.count(), all.count());
  EXPECT_EQ(from_kernel.sum(), all.sum());
  EXPECT_EQ(from_kernel.min(), all.min());
  EXPECT_EQ(from_kernel.max(), all.max());
  for (size_t i = 0; i < H::kBuckets; ++i) {
    ASSERT_EQ(from_kernel.BucketCount(i), all.BucketCount(i)) << i;
  }
  for (double q : {0.01, 0.5, 0.9, 0.99}) {
    EXPECT_EQ(from_kernel.Quantile(q), all.Quantile(q));
  }
  H empty;
  empty.AddBuckets(std::vector<uint64_t>(CGT_HIST_BUCKETS, 0), 0, 0, UINT64_MAX, 0);
  EXPECT_EQ(empty.count(), 0u);
  EXPECT_EQ(empty.min(), 0u);
}

// Nearest-rank quantile, the definition Quantile() documents.
uint64_t ExactQuantile(const std::vector<uint64_t>& sorted, double q) {
  const auto rank = static_cast<size_t>(std::ceil(q * static_cast<double>(sorted.size())));
  return sorted[std::clamp<size_t>(rank, 1, sorted.size()) - 1];
}

TEST(HistogramTest, QuantileRelativeErrorWithinTwoPercent) {
  std::mt19937_64 rng(12345);
  std::lognormal_distribution<double> lognormal(10.0, 2.0);
  std::exponential_distribution<double> expo(1.0 / 50000.0);
  std::uniform_int_distribution<uint64_t> uniform(0, 5'000'000);
  std::uniform_int_distribution<uint64_t> wide(0, UINT64_MAX);
  std::uniform_int_distribution<int> shift(0, 63);
  const std::vector<std::pair<const char*, std::function<uint64_t()>>> dists = {
      {"lognormal", [&] { return static_cast<uint64_t>(lognormal(rng)); }},
      {"exponential", [&] { return static_cast<uint64_t>(expo(rng)); }},
      {"uniform", [&] { return uniform(rng); }},
      {"log-uniform", [&] { return wide(rng) >> shift(rng); }},
      {"bimodal", [&] { return rng() % 2 ? 800 + rng() % 100 : 2'000'000 + rng() % 500'000; }},
  };
  for (const auto& [name, draw] : dists) {
    for (size_t n : {1u, 7u, 100u, 10000u}) {
      H h;
      std::vector<uint64_t> samples;
      for (size_t i = 0; i < n; ++i) {
        samples.push_back(draw());
        h.Record(samples.back());
      }
      std::sort(samples.begin(), samples.end());
      for (double q : {0.0, 0.01, 0.25, 0.5, 0.75, 0.9, 0.99, 0.999, 1.0}) {
        const double exact = static_cast<double>(ExactQuantile(samples, q));
        const double got = static_cast<double>(h.Quantile(q));
        EXPECT_LE(std::abs(got - exact), exact * 0.02)
            << name << " n=" << n << " q=" << q << " exact=" << exact << " got=" << got;
      }
    }
  }
}

// Only the octaves between the smallest and largest value are held: what a
// `stat --by goid` row costs (docs/performance.md, Memory).
TEST(HistogramTest, MemoryCoversOnlyTheOctavesSeen) {
  constexpr size_t kOctaveBytes = 64 * sizeof(uint64_t);
  H empty;
  EXPECT_EQ(empty.MemoryBytes(), sizeof(H));
  H narrow;  // 100 ns - 400 ns: octaves 1..3
  for (uint64_t v = 100; v <= 400; ++v) narrow.Record(v);
  EXPECT_EQ(narrow.MemoryBytes(), sizeof(H) + 3 * kOctaveBytes);
  H typical;  // 100 ns - 100 us
  for (uint64_t v = 100; v <= 100'000; v += 7) typical.Record(v);
  EXPECT_LE(typical.MemoryBytes(), sizeof(H) + 11 * kOctaveBytes);
  H widest;
  widest.Record(0);
  widest.Record(UINT64_MAX);
  EXPECT_EQ(widest.MemoryBytes(), sizeof(H) + H::kBuckets * sizeof(uint64_t));
  // Growing downwards keeps every count where it was.
  H down;
  down.Record(1'000'000);
  down.Record(3);
  EXPECT_EQ(down.BucketCount(H::BucketOf(1'000'000)), 1u);
  EXPECT_EQ(down.BucketCount(H::BucketOf(3)), 1u);
  EXPECT_EQ(down.BucketCount(H::BucketOf(4)), 0u);
  EXPECT_EQ(down.BucketCount(H::kBuckets - 1), 0u);
  EXPECT_EQ(down.Quantile(0.5), 3u);
}

TEST(RenderLog2AsciiTest, EmptyHistogramRendersNothing) {
  EXPECT_EQ(RenderLog2Ascii(H{}, "usecs", 1000), "");
}

TEST(RenderLog2AsciiTest, MatchesBccLayout) {
  H h;
  h.Record(500);   // 0 usecs  -> slot "0 -> 1"
  h.Record(1999);  // 1 usec   -> slot "0 -> 1"
  for (int i = 0; i < 4; ++i) {
    h.Record(5000);  // 5 usecs -> "4 -> 7"
  }
  h.Record(16'000);  // 16 usecs -> "16 -> 31"
  const std::string expected =
      "     usecs               : count     distribution\n"
      "         0 -> 1          : 2        |********************                    |\n"
      "         2 -> 3          : 0        |                                        |\n"
      "         4 -> 7          : 4        |****************************************|\n"
      "         8 -> 15         : 0        |                                        |\n"
      "        16 -> 31         : 1        |**********                              |\n";
  EXPECT_EQ(RenderLog2Ascii(h, "usecs", 1000), expected);
}

TEST(RenderLog2AsciiTest, SkipsLeadingEmptySlotsAndFoldsExactlyAtBoundaries) {
  H h;
  h.Record(1'999'999);  // 1999 usecs -> "1024 -> 2047"
  h.Record(2'048'000);  // 2048 usecs -> "2048 -> 4095"
  h.Record(4'095'999);  // 4095 usecs -> "2048 -> 4095"
  const std::string expected =
      "     usecs               : count     distribution\n"
      "      1024 -> 2047       : 1        |********************                    |\n"
      "      2048 -> 4095       : 2        |****************************************|\n";
  EXPECT_EQ(RenderLog2Ascii(h, "usecs", 1000), expected);
}

TEST(RenderLog2AsciiTest, WideRangeUsesWideColumns) {
  H h;
  h.Record(UINT64_MAX);
  const std::string out = RenderLog2Ascii(h, "nsecs", 1, 40);
  EXPECT_EQ(out,
            "               nsecs                         : count     distribution\n"
            " 9223372036854775808 -> 18446744073709551615 : 1        "
            "|********************|\n");
}

}  // namespace
}  // namespace cgotrace
