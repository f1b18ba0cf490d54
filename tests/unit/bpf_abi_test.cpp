// The BPF ABI is shared by clang -target bpf and g++: sizes and offsets are
// checked by the header's own static assertions (both compilers see them);
// here the cookie must round-trip every field, and the histogram bucket math
// (run by BPF and by stats/histogram.cpp) must hold its contract.
#include <gtest/gtest.h>

#include <bit>
#include <cstddef>
#include <random>

#include "cgotrace_abi.h"

namespace {

TEST(BpfAbiTest, CookieRoundTripsSiteBinaryAndAddress) {
  const cgt_u64 vaddr = 0x7fff'1234'5678ULL;
  const cgt_u64 cookie = CGT_COOKIE(vaddr, CGT_MAX_BINARIES - 1, CGT_MAX_SITE_SLOTS - 1);
  EXPECT_EQ(CGT_COOKIE_VADDR(cookie), vaddr);
  EXPECT_EQ(CGT_COOKIE_BINARY(cookie), CGT_MAX_BINARIES - 1u);
  EXPECT_EQ(CGT_COOKIE_SLOT(cookie), CGT_MAX_SITE_SLOTS - 1u);
  EXPECT_EQ(CGT_COOKIE_VADDR(CGT_COOKIE(CGT_MAX_VADDR, 0, 0)), CGT_MAX_VADDR);
}

TEST(BpfAbiTest, SiteKeysAreDistinctPerBinaryAndSlot) {
  EXPECT_EQ(CGT_SITE_KEY(0, CGT_MAX_SITE_SLOTS - 1) + 1, CGT_SITE_KEY(1, 0));
  EXPECT_EQ(CGT_SITE_KEY(CGT_MAX_BINARIES - 1, CGT_MAX_SITE_SLOTS - 1) + 1,
            static_cast<cgt_u32>(CGT_MAX_SITES));
}

// The msb search BPF runs (no clz instruction) agrees with the CPU's.
TEST(BpfAbiTest, Msb64MatchesCountLeadingZeros) {
  for (int bit = 0; bit < 64; ++bit) {
    const cgt_u64 p = cgt_u64{1} << bit;
    EXPECT_EQ(cgt_msb64(p), static_cast<cgt_u32>(bit));
    EXPECT_EQ(cgt_msb64(p | (p - 1)), static_cast<cgt_u32>(bit));
    if (bit > 0) {
      EXPECT_EQ(cgt_msb64(p + 1), static_cast<cgt_u32>(bit));
    }
  }
  std::mt19937_64 rng(42);
  for (int i = 0; i < 100000; ++i) {
    const cgt_u64 v = rng() >> (rng() % 64) | 1;
    ASSERT_EQ(cgt_msb64(v), static_cast<cgt_u32>(63 - std::countl_zero(v))) << v;
  }
}

// Every value lies in its bucket; buckets tile [0, 2^64) without gaps; no
// bucket is wider than 1/CGT_HIST_SUB_BUCKETS of its lower bound.
TEST(BpfAbiTest, HistogramBucketsTileAllValues) {
  const cgt_u64 last = cgt_hist_bucket(~cgt_u64{0});
  EXPECT_EQ(cgt_hist_upper(last), ~cgt_u64{0});
  EXPECT_EQ(cgt_hist_lower(0), 0u);
  for (cgt_u64 i = 0; i < last; ++i) {
    ASSERT_EQ(cgt_hist_upper(i) + 1, cgt_hist_lower(i + 1)) << "gap after bucket " << i;
    ASSERT_EQ(cgt_hist_bucket(cgt_hist_lower(i)), i);
    ASSERT_EQ(cgt_hist_bucket(cgt_hist_upper(i)), i);
    const cgt_u64 width = cgt_hist_upper(i) - cgt_hist_lower(i) + 1;
    if (cgt_hist_lower(i) >= CGT_HIST_SUB_BUCKETS) {
      ASSERT_LE(width * CGT_HIST_SUB_BUCKETS, cgt_hist_lower(i)) << "bucket " << i;
    } else {
      ASSERT_EQ(width, 1u) << "values below CGT_HIST_SUB_BUCKETS are exact";
    }
  }
  std::mt19937_64 rng(7);
  for (int i = 0; i < 100000; ++i) {
    const cgt_u64 v = rng() >> (rng() % 64);
    const cgt_u64 b = cgt_hist_bucket(v);
    ASSERT_LE(cgt_hist_lower(b), v);
    ASSERT_GE(cgt_hist_upper(b), v);
  }
}

// The kernel map's bucket: exact below 2^CGT_HIST_MAX_BITS, the last map
// bucket beyond, never out of the map's range.
TEST(BpfAbiTest, BoundedBucketFitsTheKernelMap) {
  const cgt_u64 limit = cgt_u64{1} << CGT_HIST_MAX_BITS;
  EXPECT_EQ(cgt_hist_bucket_bounded(limit - 1), CGT_HIST_BUCKETS - 1);
  EXPECT_EQ(cgt_hist_bucket(limit - 1), CGT_HIST_BUCKETS - 1u);
  EXPECT_EQ(cgt_hist_bucket_bounded(limit), CGT_HIST_BUCKETS - 1);
  EXPECT_EQ(cgt_hist_bucket_bounded(~cgt_u64{0}), CGT_HIST_BUCKETS - 1);
  for (cgt_u64 v :
       {cgt_u64{0}, cgt_u64{63}, cgt_u64{64}, cgt_u64{1000}, cgt_u64{123456789}, limit / 3}) {
    EXPECT_EQ(cgt_hist_bucket_bounded(v), cgt_hist_bucket(v)) << v;
  }
}

}  // namespace
