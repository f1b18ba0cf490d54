#include "stats/histogram.h"

#include <fmt/format.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <iterator>
#include <string>
#include <utility>

#include "cgotrace_abi.h"

namespace cgotrace {
namespace {

constexpr uint64_t kSubBuckets = uint64_t{1} << LogLinearHistogram::kSubBits;

uint64_t SaturatingAdd(uint64_t a, uint64_t b) {
  uint64_t out = 0;
  return __builtin_add_overflow(a, b, &out) ? UINT64_MAX : out;
}

// bcc's bpf_log2l() slot: 0 and 1 share slot 1, then slot k holds
// [2^(k-1), 2^k - 1]. Slot 0 is never used, as in bcc.
int Log2Slot(uint64_t value) { return value <= 1 ? 1 : 64 - std::countl_zero(value); }

// Same star count as bcc's _stars(): floor(width * val / max), capped at width.
std::string Stars(uint64_t val, uint64_t val_max, int width) {
  if (val_max == 0 || width <= 0) {
    return {};
  }
  const double n = std::floor(static_cast<double>(width) * static_cast<double>(val) /
                              static_cast<double>(val_max));
  return std::string(static_cast<size_t>(std::min(n, static_cast<double>(width))), '*');
}

}  // namespace

// The bucket math is the kernel's (bpf/cgotrace_abi.h): rows aggregated in
// BPF and rows built from events land in the same buckets.
size_t LogLinearHistogram::BucketOf(uint64_t value) {
  return static_cast<size_t>(cgt_hist_bucket(value));
}

uint64_t LogLinearHistogram::BucketLower(size_t index) { return cgt_hist_lower(index); }

uint64_t LogLinearHistogram::BucketUpper(size_t index) { return cgt_hist_upper(index); }

void LogLinearHistogram::Cover(size_t lo, size_t hi) {
  const size_t octave_mask = kSubBuckets - 1;
  lo &= ~octave_mask;
  hi |= octave_mask;
  if (counts_.empty()) {
    base_ = lo;
    counts_.assign(hi - lo + 1, 0);
    return;
  }
  // Exact capacities (no geometric growth): a row holds only its octaves.
  // Growth happens at most once per octave, 59 times in a histogram's life.
  const size_t new_lo = std::min(lo, base_);
  const size_t new_end = std::max(hi + 1, base_ + counts_.size());
  if (new_lo == base_ && new_end == base_ + counts_.size()) {
    return;
  }
  std::vector<uint64_t> grown;
  grown.reserve(new_end - new_lo);
  grown.assign(base_ - new_lo, 0);
  grown.insert(grown.end(), counts_.begin(), counts_.end());
  grown.resize(new_end - new_lo, 0);
  counts_ = std::move(grown);
  base_ = new_lo;
}

void LogLinearHistogram::Record(uint64_t value) {
  const size_t index = BucketOf(value);
  Cover(index, index);
  ++counts_[index - base_];
  ++count_;
  sum_ = SaturatingAdd(sum_, value);
  min_ = std::min(min_, value);
  max_ = std::max(max_, value);
}

void LogLinearHistogram::AddBuckets(std::span<const uint64_t> buckets, uint64_t count, uint64_t sum,
                                    uint64_t min, uint64_t max) {
  if (count == 0) {
    return;
  }
  size_t lo = buckets.size();
  size_t hi = 0;
  for (size_t i = 0; i < buckets.size(); ++i) {
    if (buckets[i] != 0) {
      lo = std::min(lo, i);
      hi = i;
    }
  }
  if (lo <= hi) {
    Cover(lo, hi);
    for (size_t i = lo; i <= hi; ++i) {
      counts_[i - base_] += buckets[i];
    }
  }
  count_ += count;
  sum_ = SaturatingAdd(sum_, sum);
  min_ = std::min(min_, min);
  max_ = std::max(max_, max);
}

void LogLinearHistogram::Merge(const LogLinearHistogram& other) {
  if (!other.counts_.empty()) {
    Cover(other.base_, other.base_ + other.counts_.size() - 1);
    for (size_t i = 0; i < other.counts_.size(); ++i) {
      counts_[other.base_ - base_ + i] += other.counts_[i];
    }
  }
  count_ += other.count_;
  sum_ = SaturatingAdd(sum_, other.sum_);
  min_ = std::min(min_, other.min_);
  max_ = std::max(max_, other.max_);
}

double LogLinearHistogram::mean() const {
  return count_ ? static_cast<double>(sum_) / static_cast<double>(count_) : 0.0;
}

uint64_t LogLinearHistogram::Quantile(double q) const {
  if (count_ == 0) {
    return 0;
  }
  if (!(q > 0)) {
    return min_;  // also catches NaN
  }
  if (q >= 1) {
    return max_;
  }
  // Nearest-rank definition: the ceil(q * n)-th smallest sample.
  const double rank_f = std::ceil(q * static_cast<double>(count_));
  const uint64_t rank =
      std::clamp<uint64_t>(static_cast<uint64_t>(std::max(rank_f, 1.0)), 1, count_);
  // The extreme ranks are known exactly; small samples hit them often.
  if (rank == 1) {
    return min_;
  }
  if (rank == count_) {
    return max_;
  }
  uint64_t seen = 0;
  for (size_t k = 0; k < counts_.size(); ++k) {
    seen += counts_[k];
    if (seen >= rank) {
      const size_t i = base_ + k;
      const uint64_t lo = BucketLower(i);
      const uint64_t mid = lo + (BucketUpper(i) - lo) / 2;
      return std::clamp(mid, min_, max_);
    }
  }
  return max_;
}

std::string RenderLog2Ascii(const LogLinearHistogram& h, const std::string& unit,
                            uint64_t unit_divisor, int width) {
  if (unit_divisor == 0) {
    unit_divisor = 1;
  }
  // Folding by bucket lower bound is exact whenever unit_divisor is m * 2^k
  // with m < 128 (e.g. 1000 = 125 * 8): every power-of-two display boundary
  // is then also a fine-bucket boundary.
  std::array<uint64_t, 65> slots{};
  for (size_t i = 0; i < LogLinearHistogram::kBuckets; ++i) {
    const uint64_t n = h.BucketCount(i);
    if (n == 0) {
      continue;
    }
    slots[Log2Slot(LogLinearHistogram::BucketLower(i) / unit_divisor)] += n;
  }
  int first = -1;
  int last = -1;
  uint64_t val_max = 0;
  for (int i = 0; i < static_cast<int>(slots.size()); ++i) {
    if (slots[i] == 0) {
      continue;
    }
    if (first < 0) {
      first = i;
    }
    last = i;
    val_max = std::max(val_max, slots[i]);
  }
  if (last < 0) {
    return {};
  }

  // bcc switches to wider range columns and half-width bars past 2^32.
  const bool wide = last > 32;
  const int range_width = wide ? 20 : 10;
  const int stars = wide ? width / 2 : width;
  std::string out = wide ? fmt::format("               {:<29} : count     distribution\n", unit)
                         : fmt::format("     {:<19} : count     distribution\n", unit);
  for (int i = first; i <= last; ++i) {
    const uint64_t low = i == 1 ? 0 : uint64_t{1} << (i - 1);
    const uint64_t high = i == 64 ? UINT64_MAX : (uint64_t{1} << i) - 1;
    fmt::format_to(std::back_inserter(out), "{:>{}} -> {:<{}} : {:<8} |{:<{}}|\n", low, range_width,
                   high, range_width, slots[i], Stars(slots[i], val_max, stars), stars);
  }
  return out;
}

}  // namespace cgotrace
