// Exporter aggregation and exposition: `le` bucketing at exact edges, the
// text of a handcrafted aggregation, the label cap, --listen parsing. The
// deploy/ manifests are checked in exporter_deploy_test.cpp.
#include "exporter/exporter.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <unistd.h>
#include <cstdlib>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "exporter_test_util.h"

namespace cgotrace {
namespace {

using prometheus::MetricType;
using test::CommandResult;
using test::KernelRows;
using test::Samples;
using test::Shell;
using ::testing::HasSubstr;
using ::testing::Not;

// The definition of `le`, by brute force: the first k with value <= base*2^k.
int BruteForceBucket(uint64_t value, uint64_t base, int buckets) {
  for (int k = 0; k < buckets; ++k) {
    if (value <= (base << k)) {
      return k;
    }
  }
  return buckets;
}

// The kernel's bucket function (cgt_pow2_bucket), with the exporter's types.
int BucketIndex(uint64_t value, uint64_t base, int buckets) {
  return static_cast<int>(cgt_pow2_bucket(value, base, static_cast<uint32_t>(buckets)));
}

TEST(Pow2BucketTest, ValuesOnAnEdgeBelongToThatEdgesBucket) {
  const uint64_t b = kDurationBaseNs;
  const int n = kDurationBuckets;
  EXPECT_EQ(BucketIndex(0, b, n), 0);
  EXPECT_EQ(BucketIndex(b, b, n), 0);
  EXPECT_EQ(BucketIndex(b + 1, b, n), 1);
  for (int k = 1; k < n; ++k) {
    const uint64_t edge = b << k;
    EXPECT_EQ(BucketIndex(edge, b, n), k) << edge;
    EXPECT_EQ(BucketIndex(edge - 1, b, n), k) << edge - 1;
    EXPECT_EQ(BucketIndex(edge + 1, b, n), k + 1) << edge + 1;
  }
  EXPECT_EQ(BucketIndex(UINT64_MAX, b, n), n);
}

TEST(Pow2BucketTest, MatchesTheDefinitionEverywhere) {
  for (uint64_t base : {kDurationBaseNs, kStackBaseBytes, uint64_t{1}, uint64_t{3}}) {
    for (uint64_t v = 0; v < 200000; ++v) {
      ASSERT_EQ(BucketIndex(v, base, kDurationBuckets), BruteForceBucket(v, base, kDurationBuckets))
          << "base " << base << " value " << v;
    }
  }
  std::mt19937_64 rng(42);
  for (int i = 0; i < 200000; ++i) {
    const uint64_t v = rng() >> (rng() % 64);
    ASSERT_EQ(BucketIndex(v, kDurationBaseNs, kDurationBuckets),
              BruteForceBucket(v, kDurationBaseNs, kDurationBuckets))
        << v;
  }
}

TEST(Pow2HistogramTest, CountsSumAndBoundsSpanTheDocumentedRange) {
  Pow2Histogram h(kDurationBaseNs, kDurationBuckets);
  EXPECT_EQ(h.UpperBound(0), 100u);                                // 0.1 µs
  EXPECT_GE(h.UpperBound(kDurationBuckets - 1), 10'000'000'000u);  // >= 10 s
  std::vector<uint64_t> counts(kDurationBuckets + 1, 0);
  counts[0] = 2;                 // 5, 100
  counts[1] = 1;                 // 101
  counts[kDurationBuckets] = 1;  // UINT64_MAX
  h.Add(counts, 3, 206);
  h.Add({}, 1, UINT64_MAX);
  EXPECT_EQ(h.count(), 4u);
  EXPECT_EQ(h.sum(), UINT64_MAX);  // saturated
  EXPECT_EQ(h.BucketCount(0), 2u);
  EXPECT_EQ(h.BucketCount(1), 1u);
  EXPECT_EQ(h.BucketCount(kDurationBuckets), 1u);
}

std::string Le(uint64_t bound_units, double per_second) {
  std::ostringstream s;
  s.precision(17);
  s << static_cast<double>(bound_units) / per_second;
  return s.str();
}

TEST(ExporterMetricsTest, ExpositionOfAHandcraftedAggregation) {
  ExporterMetrics m(200);
  // Durations exactly on, just below and just above edges, plus the
  // example from the issue: 102400 ns is on the 1.024e-04 s edge.
  const std::vector<uint64_t> durations = {0,      100,    101,    1600,        1601,
                                           102399, 102400, 102401, 13421772800, 13421772801};
  KernelRows rows;
  for (uint64_t d : durations) {
    rows.Call("app", "sqlite3_step", d, 2048);
  }
  rows.Call("app (deleted)", "sqlite3_step", 1600, 129);  // same binary label
  rows.Callback("app", "goCallback").Callback("app", "goCallback");
  m.SetKernelRows(rows.rows());

  ExporterSelfStats self;
  self.processes_traced = 3;
  self.probes_attached = 12;
  self.lost = 7;
  self.bpf_run_time_ns = 1'500'000'000;
  self.bpf_run_count = 99;
  self.binaries = {{"/a/app", "app", 2, 4, "", ""},
                   {"/b/app", "app", 1, 4, "", ""},
                   {"/c/other", "other", 0, 4, "", ""}};
  const std::string text = RenderExpositionText(m.Collect(self));
  const auto samples = Samples(text);
  SCOPED_TRACE(text);

  std::vector<uint64_t> all = durations;
  all.push_back(1600);
  const std::string series = R"(binary="app",function="sqlite3_step")";
  for (int k = 0; k < kDurationBuckets; ++k) {
    const uint64_t edge = kDurationBaseNs << k;
    uint64_t expected = 0;
    for (uint64_t d : all) {
      expected += d <= edge ? 1 : 0;
    }
    bool found = false;
    for (const auto& [name, value] : samples) {
      const std::string prefix = "cgotrace_cgo_call_duration_seconds_bucket{" + series + ",le=\"";
      if (!name.starts_with(prefix)) {
        continue;
      }
      const std::string le = name.substr(prefix.size(), name.size() - prefix.size() - 2);
      if (le == "+Inf" || std::strtod(le.c_str(), nullptr) != static_cast<double>(edge) / 1e9) {
        continue;
      }
      found = true;
      EXPECT_EQ(value, std::to_string(expected)) << "le=" << le << " (" << edge << " ns)";
    }
    EXPECT_TRUE(found) << "no bucket for " << Le(edge, 1e9) << " s";
  }
  EXPECT_EQ(
      samples.at(
          R"(cgotrace_cgo_call_duration_seconds_bucket{binary="app",function="sqlite3_step",le="0.0001024"})"),
      "8");  // 0, 100, 101, 1600, 1601, 1600 (deleted), 102399, 102400
  EXPECT_EQ(samples.at("cgotrace_cgo_call_duration_seconds_bucket{" + series + R"(,le="+Inf"})"),
            std::to_string(all.size()));
  EXPECT_EQ(samples.at("cgotrace_cgo_call_duration_seconds_count{" + series + "}"),
            std::to_string(all.size()));
  uint64_t sum_ns = 0;
  for (uint64_t d : all) {
    sum_ns += d;
  }
  EXPECT_DOUBLE_EQ(std::stod(samples.at("cgotrace_cgo_call_duration_seconds_sum{" + series + "}")),
                   static_cast<double>(sum_ns) / 1e9);

  // Callbacks are counted, not timed as calls.
  EXPECT_EQ(samples.at(R"(cgotrace_cgo_callbacks_total{binary="app",function="goCallback"})"), "2");
  EXPECT_THAT(text, Not(HasSubstr(R"(function="goCallback",le=)")));
  // Stack depth: 129 bytes is just above the first 128-byte edge.
  EXPECT_EQ(samples.at(R"(cgotrace_goroutine_stack_depth_bytes_bucket{binary="app",le="128"})"),
            "0");
  EXPECT_EQ(samples.at(R"(cgotrace_goroutine_stack_depth_bytes_bucket{binary="app",le="256"})"),
            "1");
  EXPECT_EQ(samples.at(R"(cgotrace_goroutine_stack_depth_bytes_bucket{binary="app",le="2048"})"),
            std::to_string(all.size()));
  EXPECT_EQ(samples.at(R"(cgotrace_threads_in_cgo{binary="app"})"), "3");
  EXPECT_EQ(samples.at(R"(cgotrace_threads_in_cgo{binary="other"})"), "0");
  EXPECT_EQ(samples.at("cgotrace_processes_traced"), "3");
  EXPECT_EQ(samples.at("cgotrace_probes_attached"), "12");
  EXPECT_EQ(samples.at("cgotrace_events_lost_total"), "7");
  EXPECT_EQ(samples.at("cgotrace_bpf_program_run_seconds_total"), "1.5");
  EXPECT_EQ(samples.at("cgotrace_bpf_program_runs_total"), "99");
  auto info = samples.lower_bound("cgotrace_build_info{version=\"");
  ASSERT_NE(info, samples.end());
  EXPECT_THAT(info->first, ::testing::MatchesRegex(R"(cgotrace_build_info\{version="[0-9.]+"\})"));
  EXPECT_EQ(info->second, "1");
  EXPECT_THAT(text, HasSubstr("# TYPE cgotrace_cgo_call_duration_seconds histogram"));
  EXPECT_THAT(text, HasSubstr("# TYPE cgotrace_events_lost_total counter"));
  for (const char* banned : {"pid=", "tid=", "goid="}) {
    EXPECT_THAT(text, Not(HasSubstr(banned)));
  }
}

// Every run counter of cgotrace/counters.h is a metric under its own name,
// type and help, with its own value: adding a counter to the list is all it
// takes to export it.
TEST(ExporterMetrics, EveryRunCounterIsAMetric) {
  ExporterMetrics m(10);
  ExporterSelfStats self;
  uint64_t next = 1000;
#define CGOTRACE_SET(name, ...) self.name = next++;
  CGOTRACE_RUN_COUNTERS(CGOTRACE_SET)
#undef CGOTRACE_SET
  const std::string text = RenderExpositionText(m.Collect(self));
  const auto samples = Samples(text);
  SCOPED_TRACE(text);
  uint64_t expected = 1000;
  std::set<std::string> metrics;
#define CGOTRACE_CHECK(name, text_, metric, type, help)                                          \
  {                                                                                              \
    SCOPED_TRACE(#name);                                                                         \
    EXPECT_TRUE(metrics.insert(metric).second) << "two counters share " << metric;               \
    ASSERT_TRUE(samples.contains(metric));                                                       \
    EXPECT_EQ(samples.at(metric), std::to_string(expected++));                                   \
    const std::string type_name = MetricType::type == MetricType::Counter ? "counter" : "gauge"; \
    EXPECT_THAT(text, HasSubstr(std::string("# TYPE ") + metric + " " + type_name + "\n"));      \
    EXPECT_THAT(text, HasSubstr(std::string("# HELP ") + metric + " " + help + "\n"));           \
    EXPECT_EQ(MetricType::type == MetricType::Counter,                                           \
              std::string_view(metric).ends_with("_total"));                                     \
  }
  CGOTRACE_RUN_COUNTERS(CGOTRACE_CHECK)
#undef CGOTRACE_CHECK
  // The BPF side's in-flight overflow count (CGT_STAT_INFLIGHT_OVERFLOW) is
  // one of them.
  EXPECT_TRUE(metrics.contains("cgotrace_inflight_frames_dropped_total"));
}

TEST(ExporterMetricsTest, PromtoolAcceptsTheExposition) {
  ExporterMetrics m(200);
  m.SetKernelRows(
      KernelRows().Call("app", "fast_add", 1234, 512, 300).Callback("app", "goCallback").rows());
  ExporterSelfStats self;
  self.binaries = {{"/a/app", "app", 1, 4, "", ""}};
  char path[] = "/tmp/cgotrace-exposition-XXXXXX";
  int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  const std::string text = RenderExpositionText(m.Collect(self));
  ASSERT_EQ(write(fd, text.data(), text.size()), static_cast<ssize_t>(text.size()));
  close(fd);
  CommandResult r = Shell(std::string("promtool check metrics < ") + path);
  unlink(path);
  EXPECT_EQ(r.status, 0) << r.out << "\n" << text;
}

// Issue 12, item 4: when the last process of a binary is gone the tracer
// releases the binary and its count; the gauge then reads 0 instead of
// vanishing at (or, before, staying at) its last value.
TEST(ExporterMetricsTest, ThreadsInCgoOfABinaryNoLongerTracedReadsZero) {
  ExporterMetrics m(10);
  m.SetKernelRows(KernelRows().Call("gone", "f", 1000, 512).Call("app", "f", 1000, 512).rows());
  ExporterSelfStats self;
  self.binaries = {{"/app", "app", 2, 4, "", ""}};
  const auto samples = Samples(RenderExpositionText(m.Collect(self)));
  EXPECT_EQ(samples.at(R"(cgotrace_threads_in_cgo{binary="gone"})"), "0");
  EXPECT_EQ(samples.at(R"(cgotrace_threads_in_cgo{binary="app"})"), "2");
}

TEST(ExporterMetricsTest, FunctionsBeyondTheCapCountAsOther) {
  ExporterMetrics m(2);
  KernelRows rows;
  for (const char* f : {"a", "b", "c", "d", "a", "c"}) {
    rows.Call("app", f, 1000, 256);
  }
  rows.Call("second", "z", 1000, 256);  // the cap is per binary
  m.SetKernelRows(rows.rows());
  const auto samples = Samples(RenderExpositionText(m.Collect({})));
  EXPECT_EQ(samples.at(R"(cgotrace_cgo_call_duration_seconds_count{binary="app",function="a"})"),
            "2");
  EXPECT_EQ(samples.at(R"(cgotrace_cgo_call_duration_seconds_count{binary="app",function="b"})"),
            "1");
  EXPECT_EQ(
      samples.at(R"(cgotrace_cgo_call_duration_seconds_count{binary="app",function="other"})"),
      "3");
  EXPECT_EQ(samples.count(R"(cgotrace_cgo_call_duration_seconds_count{binary="app",function="c"})"),
            0u);
  EXPECT_EQ(samples.at(R"(cgotrace_cgo_call_duration_seconds_count{binary="second",function="z"})"),
            "1");
}

TEST(ExporterMetricsTest, ReentryWaitOnlyForCallsWithABreakdown) {
  ExporterMetrics m(10);
  m.SetKernelRows(KernelRows()
                      .Call("app", "sleep", 3'000'000, 256, 2'000'000)
                      .Call("app", "fast", 1000, 256)  // no --breakdown
                      .rows());
  const auto samples = Samples(RenderExpositionText(m.Collect({})));
  EXPECT_EQ(samples.at(R"(cgotrace_cgo_reentry_wait_seconds_count{binary="app",function="sleep"})"),
            "1");
  EXPECT_EQ(samples.at(R"(cgotrace_cgo_reentry_wait_seconds_sum{binary="app",function="sleep"})"),
            "0.002");
  EXPECT_EQ(
      samples.count(R"(cgotrace_cgo_reentry_wait_seconds_count{binary="app",function="fast"})"),
      0u);
  EXPECT_EQ(samples.at(R"(cgotrace_cgo_call_duration_seconds_count{binary="app",function="fast"})"),
            "1");
}

// Each scrape replaces the series with the kernel's cumulative rows, never
// adds to them; re-entry rows follow their function into "other" past the
// cap, and a re-entry histogram's buckets are the rows' own.
TEST(ExporterMetricsTest, KernelRowsReplaceTheSeriesAndFollowTheCap) {
  KernelRows rows;
  for (const char* f : {"a", "b", "c"}) {  // "c" is past the cap of 2: "other"
    rows.Call("app", f, 1000, 256, 100).Call("app", f, 5000, 256, 3'000'000);
  }
  rows.Callback("app", "a");
  ExporterMetrics m(2);
  m.SetKernelRows(rows.rows());
  const std::string once = RenderExpositionText(m.Collect({}));
  m.SetKernelRows(rows.rows());
  EXPECT_EQ(RenderExpositionText(m.Collect({})), once);
  const auto samples = Samples(once);
  SCOPED_TRACE(once);
  // The cumulative count of a re-entry series at the bound of `edge_ns`.
  auto at_edge = [&](const std::string& series, uint64_t edge_ns) -> std::string {
    const std::string prefix = "cgotrace_cgo_reentry_wait_seconds_bucket" + series + ",le=\"";
    for (const auto& [name, value] : samples) {
      if (name.starts_with(prefix) && std::strtod(name.c_str() + prefix.size(), nullptr) ==
                                          static_cast<double>(edge_ns) / 1e9) {
        return value;
      }
    }
    return "none";
  };
  for (const char* f : {"a", "b", "other"}) {
    SCOPED_TRACE(f);
    const std::string series = std::string(R"({binary="app",function=")") + f + "\"";
    EXPECT_EQ(samples.at("cgotrace_cgo_reentry_wait_seconds_count" + series + "}"), "2");
    EXPECT_DOUBLE_EQ(std::stod(samples.at("cgotrace_cgo_reentry_wait_seconds_sum" + series + "}")),
                     3'000'100 / 1e9);
    EXPECT_EQ(at_edge(series, 100), "1");         // 100 ns is on the first bound
    EXPECT_EQ(at_edge(series, 100u << 14), "1");  // 1.6384 ms < 3 ms
    EXPECT_EQ(at_edge(series, 100u << 15), "2");  // 3.2768 ms >= 3 ms
    EXPECT_EQ(samples.at("cgotrace_cgo_call_duration_seconds_count" + series + "}"), "2");
  }
  EXPECT_EQ(samples.count(R"(cgotrace_cgo_reentry_wait_seconds_count{binary="app",function="c"})"),
            0u);
  EXPECT_EQ(samples.at(R"(cgotrace_goroutine_stack_depth_bytes_count{binary="app"})"), "6");
}

TEST(ExporterMetricsTest, BinaryLabelDropsDeletedSuffix) {
  EXPECT_EQ(ExporterMetrics::BinaryLabel("server (deleted)"), "server");
  EXPECT_EQ(ExporterMetrics::BinaryLabel("server"), "server");
}

TEST(ListenAddressTest, AcceptsDocumentedForms) {
  auto a = ParseListenAddress("127.0.0.1:9478");
  ASSERT_TRUE(a) << a.error().message;
  EXPECT_EQ(a->host, "127.0.0.1");
  EXPECT_EQ(a->port, 9478);
  EXPECT_EQ(a->CivetSpec(), "127.0.0.1:9478");
  auto any = ParseListenAddress(":9478");
  ASSERT_TRUE(any);
  EXPECT_EQ(any->host, "");
  EXPECT_EQ(any->CivetSpec(), "9478");
  EXPECT_EQ(any->Display(), "0.0.0.0:9478");
  auto bare = ParseListenAddress("9435");
  ASSERT_TRUE(bare);
  EXPECT_EQ(bare->port, 9435);
  auto v6 = ParseListenAddress("[::1]:9478");
  ASSERT_TRUE(v6) << v6.error().message;
  EXPECT_TRUE(v6->ipv6);
  EXPECT_EQ(v6->CivetSpec(), "[::1]:9478");
  auto local = ParseListenAddress("localhost:80");
  ASSERT_TRUE(local);
  EXPECT_EQ(local->host, "127.0.0.1");
}

TEST(ListenAddressTest, RejectsBadInputWithAReason) {
  for (const char* bad : {"", "127.0.0.1", "example.com:9478", "1.2.3.4:99999", "1.2.3.4:",
                          "::1:9478", "[::1]9478", "[nope]:9478", "1.2.3:9478", ":-1"}) {
    auto r = ParseListenAddress(bad);
    EXPECT_FALSE(r) << bad;
    if (!r) {
      EXPECT_THAT(r.error().message, HasSubstr("--listen")) << bad;
      EXPECT_EQ(r.error().message.find('\n'), std::string::npos);
    }
  }
}

}  // namespace
}  // namespace cgotrace
