// StatAggregator: groups CgoEvents by a key and summarizes their durations.
//
// Backs `cgotrace stat` (and later the exporter and report). Group keys are
// the C function, the goroutine id, or the OS thread id. Callbacks are
// counted separately from calls. Also carries the number of events lost in
// the kernel (ring buffer full), reported as-is, never dropped.
//
// Thread safety: none; the tracer's single consumer thread feeds it, and
// readers take a Snapshot() under the caller's lock.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "cgotrace/event.h"
#include "cgotrace/result.h"
#include "stats/histogram.h"

namespace cgotrace {

enum class GroupBy { kFunc, kGoid, kTid };

Result<GroupBy> ParseGroupBy(const std::string& text);  // "func"|"goid"|"tid"
const char* GroupByName(GroupBy by);                    // inverse of ParseGroupBy

struct StatRow {
  std::string key;  // function name, or goid / tid as decimal text
  uint64_t count = 0;
  uint64_t total_ns = 0;
  double mean_ns = 0;
  uint64_t p50_ns = 0, p90_ns = 0, p99_ns = 0, max_ns = 0;
  LogLinearHistogram hist;
};

struct StatSnapshot {
  GroupBy by = GroupBy::kFunc;
  std::vector<StatRow> calls;      // sorted by total_ns descending
  std::vector<StatRow> callbacks;  // same, for cgo_callback events
  uint64_t events = 0;
  uint64_t lost = 0;  // kernel-side drops (ring buffer full)
  uint64_t interval_ns = 0;
};

class StatAggregator {
 public:
  explicit StatAggregator(GroupBy by) : by_(by) {}
  void Add(const CgoEvent& event);
  void SetLost(uint64_t lost) { lost_ = lost; }
  StatSnapshot Snapshot(uint64_t interval_ns) const;
  void Reset();  // clears rows (for --interval), keeps lost total

 private:
  GroupBy by_;
  std::map<std::string, LogLinearHistogram> calls_;
  std::map<std::string, LogLinearHistogram> callbacks_;
  uint64_t events_ = 0;
  uint64_t lost_ = 0;
};

// Text table: per row count, total, mean, p50/p90/p99/max in human units,
// then (when `histograms`) an ASCII histogram per row; a final line with
// events and lost counts.
std::string FormatStatText(const StatSnapshot& snap, bool histograms);
// One JSON object with the same numbers (ns integers) plus the histogram
// buckets as [lower_ns, upper_ns, count] triples (non-empty ones).
std::string FormatStatJson(const StatSnapshot& snap);

}  // namespace cgotrace
