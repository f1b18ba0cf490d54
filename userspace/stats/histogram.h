// LogLinearHistogram: latency distribution with bounded relative error.
//
// Values (nanoseconds, or any non-negative integer) are counted in buckets
// that are linear inside each power of two: 2^kSubBits sub-buckets per
// octave, so any quantile is reported within 1/2^kSubBits (< 2%) of the true
// value. Values below 2^kSubBits are exact. Mergeable.
//
// Memory: only the octaves between the smallest and the largest value seen
// are allocated (512 bytes each), so a row of cgo calls that all take
// 100 ns - 100 us holds about 6 KiB, not the 30 KiB of every octave; the
// worst case (values from 0 to 2^64) is still 30 KiB. MemoryBytes() says.
//
// Thread safety: none; callers serialize (the aggregator owns one per key).
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "cgotrace_abi.h"

namespace cgotrace {

class LogLinearHistogram {
 public:
  // 64 sub-buckets: error <= 1/64. The bucket math is bpf/cgotrace_abi.h's.
  static constexpr int kSubBits = CGT_HIST_SUB_BITS;
  static constexpr int kOctaves = 64 - kSubBits + 1;
  static constexpr size_t kBuckets = static_cast<size_t>(kOctaves) << kSubBits;

  void Record(uint64_t value);
  void Merge(const LogLinearHistogram& other);
  // Adds counts already bucketed by the same math (bucket i of `buckets` is
  // BucketOf's index i: the kernel's aggregation rows) with their summary.
  void AddBuckets(std::span<const uint64_t> buckets, uint64_t count, uint64_t sum, uint64_t min,
                  uint64_t max);

  uint64_t count() const { return count_; }
  uint64_t sum() const { return sum_; }  // saturates at UINT64_MAX
  uint64_t min() const { return count_ ? min_ : 0; }
  uint64_t max() const { return max_; }
  double mean() const;
  // q in [0,1]; returns a value within the bucket holding the q-th ranked
  // sample (the bucket's midpoint, clamped to [min, max]). 0 when empty.
  uint64_t Quantile(double q) const;

  // Bucket index and its inclusive bounds [lower, upper].
  static size_t BucketOf(uint64_t value);
  static uint64_t BucketLower(size_t index);
  static uint64_t BucketUpper(size_t index);
  uint64_t BucketCount(size_t index) const {
    return index >= base_ && index - base_ < counts_.size() ? counts_[index - base_] : 0;
  }
  // Bytes this histogram holds, itself included.
  size_t MemoryBytes() const { return sizeof(*this) + counts_.capacity() * sizeof(uint64_t); }

 private:
  // Makes counts_ cover buckets [lo, hi], in whole octaves.
  void Cover(size_t lo, size_t hi);

  // Counts of buckets [base_, base_ + counts_.size()); base_ and the size are
  // multiples of 2^kSubBits (whole octaves).
  std::vector<uint64_t> counts_;
  size_t base_ = 0;
  uint64_t count_ = 0;
  uint64_t sum_ = 0;
  uint64_t min_ = UINT64_MAX;
  uint64_t max_ = 0;
};

// Renders a bcc/bpftrace-style power-of-two ASCII histogram, e.g.
//      usecs           : count    distribution
//      256 -> 511      : 12       |*****                |
// `unit_divisor` converts recorded units into displayed ones (1000 for ns->us).
std::string RenderLog2Ascii(const LogLinearHistogram& h, const std::string& unit,
                            uint64_t unit_divisor, int width = 40);

}  // namespace cgotrace
