// StatAggregator: groups CgoEvents by a key and summarizes their durations.
//
// Backs `cgotrace stat`. Group keys are the C function, the goroutine id, or
// the OS thread id. Callbacks are counted separately from calls. Also carries
// the number of events lost in the kernel (ring buffer full), reported as-is,
// never dropped.
//
// Memory is bounded: goroutine (and thread) ids are unbounded over a
// program's life, so each table keeps at most `max_rows` keys; events of
// keys first seen after that are summed into one kOtherKey row, never
// dropped. A row costs its key plus one LogLinearHistogram (a few KiB for
// typical calls, 30 KiB at worst); Snapshot() copies the rows once.
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
#include "cgotrace/tracer.h"
#include "stats/histogram.h"

namespace cgotrace {

enum class GroupBy { kFunc, kGoid, kTid };

Result<GroupBy> ParseGroupBy(const std::string& text);  // "func"|"goid"|"tid"
const char* GroupByName(GroupBy by);                    // inverse of ParseGroupBy

// Key of the row that sums every key beyond max_rows.
inline constexpr const char* kOtherKey = "(other)";

// The latency breakdown of a row's calls (CgoEvent::c_ns / sched_ns), over
// the calls where each part was measured.
struct StatSplit {
  uint64_t c_count = 0, c_total_ns = 0;
  uint64_t sched_count = 0, sched_total_ns = 0, sched_max_ns = 0;
  void Add(const CgoEvent& event);
  // The split the kernel summed (AggregateRow::split_count calls, each with
  // both parts measured).
  void Add(const AggregateRow& row);
};

struct StatRow {
  std::string key;  // function name, or goid / tid as decimal text
  uint64_t count = 0;
  uint64_t total_ns = 0;
  double mean_ns = 0;
  uint64_t p50_ns = 0, p90_ns = 0, p99_ns = 0, max_ns = 0;
  LogLinearHistogram hist;
  StatSplit split;
};

struct StatSnapshot {
  GroupBy by = GroupBy::kFunc;
  // Sorted by total_ns descending, then the kOtherKey row (if any) last.
  std::vector<StatRow> calls;
  std::vector<StatRow> callbacks;  // same, for cgo_callback events
  size_t max_rows = 0;             // the aggregator's row cap
  uint64_t events = 0;
  uint64_t lost = 0;  // kernel-side drops (ring buffer full, aggregation map full)
  // Calls that never saw their return (process exit, panic through C,
  // eviction, still in C): missing from the rows like lost events.
  uint64_t unreturned = 0;
  uint64_t interval_ns = 0;
};

class StatAggregator {
 public:
  static constexpr size_t kDefaultMaxRows = 1000;

  // max_rows >= 1: keys per table (calls, callbacks) before kOtherKey.
  explicit StatAggregator(GroupBy by, size_t max_rows = kDefaultMaxRows)
      : by_(by), max_rows_(max_rows < 1 ? 1 : max_rows) {}
  void Add(const CgoEvent& event);
  // Adds a row counted in the kernel (TracerOptions::aggregate), its
  // latency breakdown included: only for GroupBy::kFunc, whose key is the
  // function name, which the kernel's rows carry; rows of one name (several
  // binaries) add up.
  void AddAggregate(const AggregateRow& row);
  void SetLost(uint64_t lost) { lost_ = lost; }
  void SetUnreturned(uint64_t unreturned) { unreturned_ = unreturned; }
  StatSnapshot Snapshot(uint64_t interval_ns) const;
  void Reset();  // clears rows (for --interval), keeps lost total

 private:
  struct Acc {
    LogLinearHistogram hist;
    StatSplit split;
    void Add(const CgoEvent& event);
  };
  struct Table {
    std::map<std::string, Acc> rows;
    Acc other;  // keys beyond max_rows_
  };

  GroupBy by_;
  size_t max_rows_;
  Table calls_;
  Table callbacks_;
  uint64_t events_ = 0;
  uint64_t lost_ = 0;
  uint64_t unreturned_ = 0;
};

// Text table: per row count, total, mean, p50/p90/p99/max in human units
// (plus, when any call's re-entry was measured (--breakdown), total time in
// C, total and longest re-entry into Go), then (when `histograms`) an ASCII
// histogram per row; a final line with events, lost and unreturned counts.
std::string FormatStatText(const StatSnapshot& snap, bool histograms);
// One JSON object with the same numbers (ns integers) plus the histogram
// buckets as [lower_ns, upper_ns, count] triples (non-empty ones), and the
// breakdown: c_total_ns, sched_count, sched_total_ns, sched_max_ns (0 where
// not measured).
std::string FormatStatJson(const StatSnapshot& snap);

}  // namespace cgotrace
