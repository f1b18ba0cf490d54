#include "stats/aggregator.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cgotrace_abi.h"

namespace cgotrace {
namespace {

using testing::HasSubstr;

CgoEvent Event(const std::string& func, uint64_t duration_ns, uint64_t goid = 1, uint32_t tid = 100,
               EventKind kind = EventKind::kCall) {
  CgoEvent e;
  e.kind = kind;
  e.pid = 100;
  e.tid = tid;
  e.goid = goid;
  e.func = func;
  e.comm = "app";
  e.duration_ns = duration_ns;
  return e;
}

// A row as the kernel counts it (TracerOptions::aggregate): the calls'
// buckets by the ABI's math, count, sum, min, max.
AggregateRow KernelRow(const std::string& func, const std::vector<uint64_t>& durations,
                       EventKind kind = EventKind::kCall) {
  AggregateRow row;
  row.kind = kind;
  row.func = func;
  row.comm = "app";
  row.buckets.assign(CGT_HIST_BUCKETS, 0);
  row.min_ns = UINT64_MAX;
  for (uint64_t d : durations) {
    ++row.buckets[cgt_hist_bucket_bounded(d)];
    ++row.count;
    row.sum_ns += d;
    row.min_ns = std::min(row.min_ns, d);
    row.max_ns = std::max(row.max_ns, d);
  }
  return row;
}

// stat's figures do not depend on whether calls were counted in the kernel
// or came as events; rows of one name (two binaries, or one function keyed
// by fn and by caller PC) add up, and callbacks stay apart.
TEST(StatAggregatorTest, KernelRowsGiveTheSameReportAsEvents) {
  const std::vector<uint64_t> a1 = {500, 700, 90'000};
  const std::vector<uint64_t> a2 = {650, 3'000'000};
  const std::vector<uint64_t> b = {40, 63, 64, 65};
  const std::vector<uint64_t> cb = {1'200};
  StatAggregator from_events(GroupBy::kFunc);
  for (uint64_t d : a1) from_events.Add(Event("sqlite3_step", d));
  for (uint64_t d : a2) from_events.Add(Event("sqlite3_step", d));
  for (uint64_t d : b) from_events.Add(Event("free", d));
  for (uint64_t d : cb) from_events.Add(Event("goCallback", d, 1, 100, EventKind::kCallback));
  StatAggregator from_kernel(GroupBy::kFunc);
  from_kernel.AddAggregate(KernelRow("sqlite3_step", a1));
  from_kernel.AddAggregate(KernelRow("sqlite3_step", a2));
  from_kernel.AddAggregate(KernelRow("free", b));
  from_kernel.AddAggregate(KernelRow("goCallback", cb, EventKind::kCallback));
  EXPECT_EQ(FormatStatJson(from_kernel.Snapshot(1000)), FormatStatJson(from_events.Snapshot(1000)));
  EXPECT_EQ(FormatStatText(from_kernel.Snapshot(1000), true),
            FormatStatText(from_events.Snapshot(1000), true));
}

// With --breakdown the kernel sums each row's split (time in C, re-entry
// into Go, the longest re-entry): the report is the one its events give,
// columns and JSON fields included.
TEST(StatAggregatorTest, KernelRowsWithABreakdownGiveTheSameReportAsEvents) {
  struct Call {
    uint64_t c_ns, sched_ns;
  };
  const std::vector<Call> waits = {{2'000'000, 10}, {2'000'000, 5'000'000}, {2'100'000, 30}};
  const std::vector<Call> quick = {{500, 40}, {650, 45'000}};
  StatAggregator from_events(GroupBy::kFunc);
  StatAggregator from_kernel(GroupBy::kFunc);
  for (const auto& [func, calls] : {std::pair{"sleep", waits}, std::pair{"fast", quick}}) {
    std::vector<uint64_t> durations;
    uint64_t c_sum = 0, sched_sum = 0, sched_max = 0;
    for (const Call& c : calls) {
      CgoEvent e = Event(func, c.c_ns + c.sched_ns);
      e.c_ns = c.c_ns;
      e.sched_ns = c.sched_ns;
      from_events.Add(e);
      durations.push_back(e.duration_ns);
      c_sum += c.c_ns;
      sched_sum += c.sched_ns;
      sched_max = std::max(sched_max, c.sched_ns);
    }
    AggregateRow row = KernelRow(func, durations);
    row.split_count = calls.size();
    row.c_sum_ns = c_sum;
    row.sched_sum_ns = sched_sum;
    row.sched_max_ns = sched_max;
    from_kernel.AddAggregate(row);
  }
  from_events.Add(Event("goCallback", 1'200, 1, 100, EventKind::kCallback));
  from_kernel.AddAggregate(KernelRow("goCallback", {1'200}, EventKind::kCallback));
  const StatSnapshot snap = from_kernel.Snapshot(1000);
  EXPECT_EQ(FormatStatJson(snap), FormatStatJson(from_events.Snapshot(1000)));
  EXPECT_EQ(FormatStatText(snap, true), FormatStatText(from_events.Snapshot(1000), true));
  EXPECT_THAT(FormatStatText(snap, false), HasSubstr("RE-ENTRY MAX"));
  ASSERT_EQ(snap.calls.size(), 2u);
  EXPECT_EQ(snap.calls[0].key, "sleep");
  EXPECT_EQ(snap.calls[0].split.sched_count, 3u);
  EXPECT_EQ(snap.calls[0].split.sched_max_ns, 5'000'000u);
  EXPECT_EQ(snap.calls[0].split.c_total_ns, 6'100'000u);
}

TEST(StatAggregatorTest, KernelRowsBeyondMaxRowsAreSummedIntoOther) {
  StatAggregator agg(GroupBy::kFunc, 1);
  agg.AddAggregate(KernelRow("a", {100, 200}));
  agg.AddAggregate(KernelRow("b", {300}));
  agg.AddAggregate(KernelRow("c", {400, 500}));
  StatSnapshot snap = agg.Snapshot(0);
  ASSERT_EQ(snap.calls.size(), 2u);
  EXPECT_EQ(snap.calls[0].key, "a");
  EXPECT_EQ(snap.calls[1].key, kOtherKey);
  EXPECT_EQ(snap.calls[1].count, 3u);
  EXPECT_EQ(snap.calls[1].max_ns, 500u);
  EXPECT_EQ(snap.events, 5u);
}

TEST(ParseGroupByTest, AcceptsKnownRejectsUnknown) {
  ASSERT_TRUE(ParseGroupBy("func").ok());
  EXPECT_EQ(*ParseGroupBy("func"), GroupBy::kFunc);
  EXPECT_EQ(*ParseGroupBy("goid"), GroupBy::kGoid);
  EXPECT_EQ(*ParseGroupBy("tid"), GroupBy::kTid);
  const auto bad = ParseGroupBy("pid");
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.error().message, HasSubstr("'pid'"));
  EXPECT_THAT(bad.error().message, HasSubstr("func, goid or tid"));
  EXPECT_FALSE(ParseGroupBy("").ok());
  EXPECT_FALSE(ParseGroupBy("FUNC").ok());
  for (GroupBy by : {GroupBy::kFunc, GroupBy::kGoid, GroupBy::kTid}) {
    EXPECT_EQ(*ParseGroupBy(GroupByName(by)), by);
  }
}

TEST(StatAggregatorTest, SummarizesOneFunction) {
  StatAggregator agg(GroupBy::kFunc);
  for (uint64_t d : {1000, 2000, 3000}) {
    agg.Add(Event("A", d));
  }
  agg.SetLost(7);
  const StatSnapshot snap = agg.Snapshot(1'000'000'000);
  EXPECT_EQ(snap.by, GroupBy::kFunc);
  EXPECT_EQ(snap.events, 3u);
  EXPECT_EQ(snap.lost, 7u);
  EXPECT_EQ(snap.interval_ns, 1'000'000'000u);
  EXPECT_TRUE(snap.callbacks.empty());
  ASSERT_EQ(snap.calls.size(), 1u);
  const StatRow& row = snap.calls[0];
  EXPECT_EQ(row.key, "A");
  EXPECT_EQ(row.count, 3u);
  EXPECT_EQ(row.total_ns, 6000u);
  EXPECT_DOUBLE_EQ(row.mean_ns, 2000.0);
  EXPECT_EQ(row.max_ns, 3000u);
  EXPECT_NEAR(static_cast<double>(row.p50_ns), 2000.0, 40.0);
  EXPECT_NEAR(static_cast<double>(row.p90_ns), 3000.0, 60.0);
  EXPECT_EQ(row.hist.count(), 3u);
}

TEST(StatAggregatorTest, SplitsTimeInCAndReEntryPerFunction) {
  StatAggregator agg(GroupBy::kFunc);
  for (uint64_t wait : {10, 5'000'000, 30}) {
    CgoEvent e = Event("sleep", 2'000'000 + wait);
    e.c_ns = 2'000'000;
    e.sched_ns = wait;
    agg.Add(e);
  }
  CgoEvent exact = Event("fast", 500);
  exact.c_ns = 500;
  agg.Add(exact);
  agg.Add(Event("fast", 400));  // a fallback site: nothing measured
  const StatSnapshot snap = agg.Snapshot(0);
  ASSERT_EQ(snap.calls.size(), 2u);
  const StatSplit& sleep = snap.calls[0].split;
  EXPECT_EQ(snap.calls[0].key, "sleep");
  EXPECT_EQ(sleep.c_count, 3u);
  EXPECT_EQ(sleep.c_total_ns, 6'000'000u);
  EXPECT_EQ(sleep.sched_count, 3u);
  EXPECT_EQ(sleep.sched_total_ns, 5'000'040u);
  EXPECT_EQ(sleep.sched_max_ns, 5'000'000u);
  const StatSplit& fast = snap.calls[1].split;
  EXPECT_EQ(fast.c_count, 1u);
  EXPECT_EQ(fast.c_total_ns, 500u);
  EXPECT_EQ(fast.sched_count, 0u);

  const std::string text = FormatStatText(snap, false);
  EXPECT_THAT(text, testing::HasSubstr("IN C"));
  EXPECT_THAT(text, testing::HasSubstr("RE-ENTRY MAX"));
  const auto j = nlohmann::json::parse(FormatStatJson(snap));
  EXPECT_EQ(j["calls"][0]["c_total_ns"], 6'000'000u);
  EXPECT_EQ(j["calls"][0]["sched_count"], 3u);
  EXPECT_EQ(j["calls"][0]["sched_total_ns"], 5'000'040u);
  EXPECT_EQ(j["calls"][0]["sched_max_ns"], 5'000'000u);
  EXPECT_EQ(j["calls"][1]["sched_count"], 0u);

  // Without --breakdown the table keeps its columns.
  StatAggregator plain(GroupBy::kFunc);
  plain.Add(exact);
  EXPECT_THAT(FormatStatText(plain.Snapshot(0), false),
              testing::Not(testing::HasSubstr("RE-ENTRY")));
}

TEST(StatAggregatorTest, SortsByTotalThenKeyAndSeparatesCallbacks) {
  StatAggregator agg(GroupBy::kFunc);
  agg.Add(Event("small", 10));
  agg.Add(Event("big", 5000));
  agg.Add(Event("tie_b", 100));
  agg.Add(Event("tie_a", 100));
  agg.Add(Event("goCb", 700, 1, 100, EventKind::kCallback));
  agg.Add(Event("big", 900, 1, 100, EventKind::kCallback));
  const StatSnapshot snap = agg.Snapshot(0);
  ASSERT_EQ(snap.calls.size(), 4u);
  EXPECT_EQ(snap.calls[0].key, "big");
  EXPECT_EQ(snap.calls[0].count, 1u);  // the callback named "big" is not merged in
  EXPECT_EQ(snap.calls[1].key, "tie_a");
  EXPECT_EQ(snap.calls[2].key, "tie_b");
  EXPECT_EQ(snap.calls[3].key, "small");
  ASSERT_EQ(snap.callbacks.size(), 2u);
  EXPECT_EQ(snap.callbacks[0].key, "big");
  EXPECT_EQ(snap.callbacks[1].key, "goCb");
  EXPECT_EQ(snap.events, 6u);
}

TEST(StatAggregatorTest, GroupsByGoidAndTidAsNumbers) {
  StatAggregator by_goid(GroupBy::kGoid);
  by_goid.Add(Event("x", 50, 10));
  by_goid.Add(Event("y", 50, 9));
  by_goid.Add(Event("z", 50, 9));
  auto snap = by_goid.Snapshot(0);
  ASSERT_EQ(snap.calls.size(), 2u);
  EXPECT_EQ(snap.calls[0].key, "9");
  EXPECT_EQ(snap.calls[0].count, 2u);
  EXPECT_EQ(snap.calls[1].key, "10");

  StatAggregator by_tid(GroupBy::kTid);
  by_tid.Add(Event("x", 50, 1, 200));
  by_tid.Add(Event("x", 50, 2, 30));
  snap = by_tid.Snapshot(0);
  ASSERT_EQ(snap.calls.size(), 2u);
  EXPECT_EQ(snap.calls[0].key, "30");  // equal totals: numeric, not text, order
  EXPECT_EQ(snap.calls[1].key, "200");
}

TEST(StatAggregatorTest, ResetClearsRowsButKeepsLost) {
  StatAggregator agg(GroupBy::kFunc);
  agg.Add(Event("A", 1));
  agg.SetLost(3);
  agg.Reset();
  const StatSnapshot snap = agg.Snapshot(0);
  EXPECT_TRUE(snap.calls.empty());
  EXPECT_EQ(snap.events, 0u);
  EXPECT_EQ(snap.lost, 3u);
}

// `stat --by goid` on a server: goroutine ids never stop coming. Rows are
// capped and the rest summed into "(other)", so memory stays bounded and no
// call is dropped from the totals.
TEST(StatAggregatorTest, TenThousandGoroutinesStayBoundedAndNothingIsDropped) {
  constexpr uint64_t kGoroutines = 10'000;
  constexpr uint64_t kCallsEach = 3;
  StatAggregator agg(GroupBy::kGoid);
  for (uint64_t g = 1; g <= kGoroutines; ++g) {
    for (uint64_t c = 0; c < kCallsEach; ++c) {
      agg.Add(Event("fast_add", 100 + 300 * c + g % 500, g));
    }
  }
  agg.Add(Event("goCallback", 5000, 7, 100, EventKind::kCallback));
  const StatSnapshot snap = agg.Snapshot(0);
  ASSERT_EQ(snap.calls.size(), StatAggregator::kDefaultMaxRows + 1);
  EXPECT_EQ(snap.max_rows, StatAggregator::kDefaultMaxRows);
  const StatRow& other = snap.calls.back();
  EXPECT_EQ(other.key, kOtherKey);
  EXPECT_EQ(other.count, (kGoroutines - StatAggregator::kDefaultMaxRows) * kCallsEach);
  uint64_t counted = 0;
  size_t bytes = 0;
  for (const StatRow& row : snap.calls) {
    counted += row.count;
    bytes += row.hist.MemoryBytes() + row.key.capacity();
    // The first goroutines seen keep their rows.
    if (row.key != kOtherKey) {
      EXPECT_LE(std::stoull(row.key), StatAggregator::kDefaultMaxRows) << row.key;
    }
  }
  EXPECT_EQ(counted, kGoroutines * kCallsEach);
  EXPECT_EQ(snap.events, kGoroutines * kCallsEach + 1);
  ASSERT_EQ(snap.callbacks.size(), 1u);
  EXPECT_EQ(snap.callbacks[0].key, "7");
  // Calls of 100 ns - 1.5 us span 5 octaves of 512 B: 1001 rows hold a few MB,
  // where a full histogram per row held 30 KiB each.
  EXPECT_LE(bytes, (StatAggregator::kDefaultMaxRows + 1) * 3 * 1024);

  const std::string text = FormatStatText(snap, false);
  EXPECT_THAT(text, HasSubstr("\n(other)  "));
  EXPECT_THAT(text, HasSubstr("(other): calls of every goid after the first 1000 seen"));
  const auto j = nlohmann::json::parse(FormatStatJson(snap));
  EXPECT_EQ(j["max_rows"].get<size_t>(), StatAggregator::kDefaultMaxRows);
  EXPECT_EQ(j["calls"].back()["key"], "(other)");
}

TEST(StatAggregatorTest, MaxRowsIsTheCallersAndResetFreesTheCap) {
  StatAggregator agg(GroupBy::kTid, 2);
  for (uint32_t tid : {5u, 6u, 7u, 8u, 5u}) {
    agg.Add(Event("f", 10, 1, tid));
  }
  StatSnapshot snap = agg.Snapshot(0);
  ASSERT_EQ(snap.calls.size(), 3u);
  EXPECT_EQ(snap.calls[0].key, "5");
  EXPECT_EQ(snap.calls[0].count, 2u);
  EXPECT_EQ(snap.calls[1].key, "6");
  EXPECT_EQ(snap.calls[2].key, kOtherKey);
  EXPECT_EQ(snap.calls[2].count, 2u);
  agg.Reset();
  agg.Add(Event("f", 10, 1, 8));
  snap = agg.Snapshot(0);
  ASSERT_EQ(snap.calls.size(), 1u);
  EXPECT_EQ(snap.calls[0].key, "8");
  EXPECT_EQ(FormatStatText(snap, false).find("(other)"), std::string::npos);
}

StatSnapshot SampleSnapshot() {
  StatAggregator agg(GroupBy::kFunc);
  for (int i = 0; i < 1200; ++i) {
    agg.Add(Event("sqlite3_step", 10'000));
  }
  agg.Add(Event("free", 500));
  agg.Add(Event("goCallback", 1'500'000, 1, 100, EventKind::kCallback));
  return agg.Snapshot(2'000'000'000);
}

TEST(FormatStatTextTest, ExactTable) {
  const std::string expected =
      "FUNC                 COUNT      TOTAL       MEAN        P50        P90        P99        "
      "MAX\n"
      "sqlite3_step          1200     12.0ms     10.0µs     10.0µs     10.0µs     10.0µs     "
      "10.0µs\n"
      "free                     1      500ns      500ns      500ns      500ns      500ns      "
      "500ns\n"
      "\n"
      "callbacks (C -> Go):\n"
      "FUNC                 COUNT      TOTAL       MEAN        P50        P90        P99        "
      "MAX\n"
      "goCallback               1     1.50ms     1.50ms     1.50ms     1.50ms     1.50ms     "
      "1.50ms\n"
      "\n"
      "events: 1202  lost: 0  unreturned: 0\n";
  EXPECT_EQ(FormatStatText(SampleSnapshot(), false), expected);
}

TEST(FormatStatTextTest, HistogramsAndGroupTitles) {
  const std::string text = FormatStatText(SampleSnapshot(), true);
  EXPECT_THAT(text, HasSubstr("\nsqlite3_step:\n     usecs               : count     distribution\n"
                              "         8 -> 15         : 1200     |"));
  EXPECT_THAT(text, HasSubstr("\nfree:\n     usecs               : count     distribution\n"
                              "         0 -> 1          : 1        |"));
  EXPECT_THAT(text, HasSubstr("\ngoCallback (callback):\n"));
  EXPECT_THAT(text, testing::EndsWith("\nevents: 1202  lost: 0  unreturned: 0\n"));

  StatAggregator agg(GroupBy::kGoid);
  agg.Add(Event("x", 1, 42));
  agg.SetLost(9);
  const std::string goid_text = FormatStatText(agg.Snapshot(0), false);
  EXPECT_THAT(goid_text, testing::StartsWith("GOID "));
  EXPECT_THAT(goid_text, HasSubstr("\n42 "));
  EXPECT_THAT(goid_text, HasSubstr("lost: 9"));
  EXPECT_THAT(goid_text, testing::Not(HasSubstr("callbacks")));
  StatAggregator tid_agg(GroupBy::kTid);
  EXPECT_THAT(FormatStatText(tid_agg.Snapshot(0), false), testing::StartsWith("TID "));
}

TEST(FormatStatTextTest, LongKeysAndCountsKeepColumnsSeparated) {
  StatAggregator agg(GroupBy::kFunc);
  const std::string long_name(30, 'f');
  for (int i = 0; i < 3; ++i) {
    agg.Add(Event(long_name, 1'000'000'000'000'000));
  }
  const std::string text = FormatStatText(agg.Snapshot(0), false);
  EXPECT_THAT(text, HasSubstr("\n" + long_name + "     3   3000000s   1000000s"));
}

TEST(FormatStatTextTest, ExtremeDurations) {
  StatAggregator agg(GroupBy::kFunc);
  agg.Add(Event("huge", UINT64_MAX));
  agg.Add(Event("huge", UINT64_MAX));
  agg.Add(Event("zero", 0));
  const StatSnapshot snap = agg.Snapshot(0);
  EXPECT_EQ(snap.calls[0].total_ns, UINT64_MAX);  // saturated
  const std::string text = FormatStatText(snap, true);
  EXPECT_THAT(text, HasSubstr("\nhuge                     2"));
  EXPECT_THAT(text, HasSubstr("18446744074s"));
  // The widest cell (12 columns) widens every duration column to 14.
  EXPECT_THAT(text, HasSubstr("\nzero                     1" + std::string(11, ' ') + "0ns "));
  const auto j = nlohmann::json::parse(FormatStatJson(snap));
  EXPECT_EQ(j["calls"][0]["max_ns"].get<uint64_t>(), UINT64_MAX);
  EXPECT_EQ(j["calls"][1]["buckets"], nlohmann::json::parse("[[0,0,1]]"));
}

TEST(FormatStatJsonTest, ParsesWithSameNumbers) {
  StatAggregator agg(GroupBy::kFunc);
  for (uint64_t d : {1000, 2000, 3000}) {
    agg.Add(Event("A", d));
  }
  agg.Add(Event("cb\"\n\xff", 64, 1, 100, EventKind::kCallback));
  agg.SetLost(5);
  const auto j = nlohmann::json::parse(FormatStatJson(agg.Snapshot(1'000'000'000)));
  EXPECT_EQ(j["by"], "func");
  EXPECT_EQ(j["interval_ns"], 1'000'000'000u);
  EXPECT_EQ(j["events"], 4u);
  EXPECT_EQ(j["lost"], 5u);
  ASSERT_EQ(j["calls"].size(), 1u);
  const auto& a = j["calls"][0];
  EXPECT_EQ(a["key"], "A");
  EXPECT_EQ(a["count"], 3u);
  EXPECT_EQ(a["total_ns"], 6000u);
  EXPECT_DOUBLE_EQ(a["mean_ns"].get<double>(), 2000.0);
  EXPECT_EQ(a["max_ns"], 3000u);
  EXPECT_NEAR(a["p50_ns"].get<double>(), 2000.0, 40.0);
  EXPECT_TRUE(a["p90_ns"].is_number_unsigned());
  EXPECT_TRUE(a["p99_ns"].is_number_unsigned());
  EXPECT_EQ(a["buckets"], nlohmann::json::parse("[[1000,1007,1],[2000,2015,1],[2976,3007,1]]"));
  ASSERT_EQ(j["callbacks"].size(), 1u);
  EXPECT_EQ(j["callbacks"][0]["key"], "cb\"\n\xEF\xBF\xBD");
  EXPECT_EQ(j["callbacks"][0]["buckets"], nlohmann::json::parse("[[64,64,1]]"));
}

TEST(FormatStatJsonTest, EmptySnapshotStillReportsLost) {
  StatAggregator agg(GroupBy::kTid);
  agg.SetLost(0);
  EXPECT_EQ(
      FormatStatJson(agg.Snapshot(0)),
      R"({"by":"tid","interval_ns":0,"events":0,"lost":0,"unreturned":0,"max_rows":1000,"calls":[],"callbacks":[]})");
}

}  // namespace
}  // namespace cgotrace
