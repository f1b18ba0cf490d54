// `cgotrace stat`: aggregated counts and latency statistics, checked against
// the fixture's truth.
#include <signal.h>

#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "checks.h"
#include "harness.h"

namespace cgotrace::e2e {
namespace {

using StatTest = BpfTest;

constexpr auto kRunTimeout = 60s;

// In launch mode the app's own stdout ("DONE") shares cgotrace's stdout, so
// the report is the JSON document starting at the first line opening with
// '{'.
std::optional<Json> StatReport(const std::string& out, std::string* error) {
  size_t pos = out.starts_with("{") ? 0 : out.find("\n{");
  if (pos == std::string::npos) {
    *error = "no JSON object in stdout: " + out;
    return std::nullopt;
  }
  return ParseJson(std::string_view(out).substr(pos), error);
}

std::string KeyString(const Json& key) {
  return key.is_string() ? key.get<std::string>() : key.dump();
}

const Json* FindRow(const Json& report, const std::string& key) {
  if (!report.contains("calls") || !report["calls"].is_array()) return nullptr;
  for (const auto& row : report["calls"]) {
    if (row.contains("key") && KeyString(row["key"]) == key) return &row;
  }
  return nullptr;
}

// A row's statistics must be internally consistent whatever the latencies.
void ExpectConsistentRow(const Json& row) {
  SCOPED_TRACE(row.dump());
  for (const char* k : {"count", "total_ns", "mean_ns", "p50_ns", "p90_ns", "p99_ns", "max_ns"}) {
    ASSERT_TRUE(row.contains(k) && row[k].is_number()) << k;
  }
  const double count = row["count"].get<double>();
  ASSERT_GT(count, 0);
  EXPECT_NEAR(row["mean_ns"].get<double>(), row["total_ns"].get<double>() / count,
              1 + row["mean_ns"].get<double>() * 1e-6);
  EXPECT_LE(row["p50_ns"].get<double>(), row["p90_ns"].get<double>());
  EXPECT_LE(row["p90_ns"].get<double>(), row["p99_ns"].get<double>());
  EXPECT_LE(row["mean_ns"].get<double>(), row["max_ns"].get<double>());
  EXPECT_LE(row["max_ns"].get<double>(), row["total_ns"].get<double>());
  ASSERT_TRUE(row.contains("buckets") && row["buckets"].is_array());
  // Buckets are [lo_ns, hi_ns, count], ascending; together they hold every
  // call, and the last one holds the maximum.
  const Json& buckets = row["buckets"];
  ASSERT_FALSE(buckets.empty());
  double in_buckets = 0;
  double prev_hi = -1;
  for (const auto& b : buckets) {
    ASSERT_TRUE(b.is_array() && b.size() == 3 && b[0].is_number() && b[1].is_number() &&
                b[2].is_number())
        << "bucket " << b.dump();
    EXPECT_LE(b[0].get<double>(), b[1].get<double>()) << b.dump();
    EXPECT_GT(b[0].get<double>(), prev_hi) << "buckets ascending and disjoint";
    prev_hi = b[1].get<double>();
    in_buckets += b[2].get<double>();
  }
  EXPECT_EQ(in_buckets, count) << "histogram buckets hold every call";
  EXPECT_GE(row["max_ns"].get<double>(), buckets.back()[0].get<double>());
  EXPECT_LE(row["max_ns"].get<double>(), buckets.back()[1].get<double>());
}

TEST_F(StatTest, ByFuncJsonCountsEveryFastAddCall) {
  const std::string truth_path = dir_.File("truth.json");
  RunResult r = RunCommand(
      {CgotraceBin(), "stat", "--format", "json", "--", Fixture("cgocalls"), "-truth=" + truth_path,
       "-scenarios=fast,blocking", "-goroutines=4", "-calls=1000", "-blocking=3"},
      dir_, kRunTimeout);
  ASSERT_TRUE(r.status.Ok()) << r.Describe();
  std::string error;
  auto truth = ReadTruth(truth_path, &error);
  ASSERT_TRUE(truth) << error;
  auto report = StatReport(r.out, &error);
  ASSERT_TRUE(report) << error;
  SCOPED_TRACE(report->dump());

  EXPECT_EQ(report->value("by", ""), "func");
  EXPECT_EQ(report->value("lost", int64_t{-1}), 0) << "no event may be lost at this rate";
  const Json* fast = FindRow(*report, "fast_add");
  ASSERT_NE(fast, nullptr) << "no fast_add row";
  EXPECT_EQ(fast->value("count", int64_t{0}), TruthCalls(*truth, "fast_add"));
  ExpectConsistentRow(*fast);

  const Json* sleep = FindRow(*report, "sleep_us");
  ASSERT_NE(sleep, nullptr) << "no sleep_us row";
  EXPECT_EQ(sleep->value("count", int64_t{0}), TruthCalls(*truth, "sleep_us"));
  ExpectConsistentRow(*sleep);
  // Every sleep_us call lasts at least its sleep, so even its p50 does.
  EXPECT_GE(sleep->value("p50_ns", 0.0), truth->at("sleep_us").get<double>() * 1000);
  EXPECT_GT(sleep->value("p50_ns", 0.0), fast->value("p99_ns", 0.0));

  // Events counts every call (and callback) the report covers.
  int64_t rows = 0;
  for (const auto& row : report->at("calls")) rows += row.value("count", int64_t{0});
  EXPECT_EQ(
      report->value("events", int64_t{-1}), rows + [&] {
        int64_t n = 0;
        for (const auto& row : report->value("callbacks", Json::array())) {
          n += row.value("count", int64_t{0});
        }
        return n;
      }());
}

TEST_F(StatTest, ByGoidMatchesEachGoroutine) {
  const std::string truth_path = dir_.File("truth.json");
  RunResult r = RunCommand({CgotraceBin(), "stat", "--by", "goid", "--format", "json", "--",
                            Fixture("cgocalls"), "-truth=" + truth_path, "-scenarios=fast,locked",
                            "-goroutines=3", "-calls=500", "-locked-calls=100"},
                           dir_, kRunTimeout);
  ASSERT_TRUE(r.status.Ok()) << r.Describe();
  std::string error;
  auto truth = ReadTruth(truth_path, &error);
  ASSERT_TRUE(truth) << error;
  auto report = StatReport(r.out, &error);
  ASSERT_TRUE(report) << error;
  SCOPED_TRACE(report->dump());

  EXPECT_EQ(report->value("by", ""), "goid");
  for (const auto& g : truth->at("goroutines")) {
    const std::string goid = std::to_string(g.at("goid").get<uint64_t>());
    int64_t want = 0;
    for (const auto& [func, n] : g.at("calls").items()) want += n.get<int64_t>();
    const Json* row = FindRow(*report, goid);
    ASSERT_NE(row, nullptr) << "no row for goroutine " << goid;
    EXPECT_EQ(row->value("count", int64_t{0}), want) << "goroutine " << goid;
  }
}

TEST_F(StatTest, AttachedByPidCountsEveryCall) {
  const std::string truth_path = dir_.File("truth.json");
  Process fixture =
      Process::Start({Fixture("cgocalls"), "-wait-signal", "-truth=" + truth_path,
                      "-scenarios=fast", "-goroutines=2", "-calls=1000", "-linger=500ms"},
                     dir_.File("fixture.out"), dir_.File("fixture.err"));
  ASSERT_TRUE(fixture.WaitForLine(Stream::kStdout, "READY ", 20s)) << fixture.Describe();
  Process ct = Process::Start(
      {CgotraceBin(), "stat", "-p", std::to_string(fixture.pid()), "--format", "json"},
      dir_.File("cgotrace.out"), dir_.File("cgotrace.err"));
  ASSERT_TRUE(ct.WaitForLine(Stream::kStderr, "cgotrace: attached", 30s)) << ct.Describe();
  fixture.Signal(SIGUSR1);
  EXPECT_TRUE(fixture.WaitOrKill(kRunTimeout).Ok()) << fixture.Describe();
  ASSERT_TRUE(ct.WaitOrKill(kRunTimeout).Ok()) << ct.Describe();

  std::string error;
  auto truth = ReadTruth(truth_path, &error);
  ASSERT_TRUE(truth) << error;
  auto report = StatReport(ct.Stdout(), &error);
  ASSERT_TRUE(report) << error;
  SCOPED_TRACE(report->dump());
  const Json* fast = FindRow(*report, "fast_add");
  ASSERT_NE(fast, nullptr);
  EXPECT_EQ(fast->value("count", int64_t{0}), TruthCalls(*truth, "fast_add"));
  // Nothing but the window's calls happened after the attach.
  EXPECT_EQ(report->value("events", int64_t{-1}),
            truth->at("num_cgo_call_after").get<int64_t>() -
                truth->at("num_cgo_call_before").get<int64_t>());
}

// `stat -p PID --duration D` ends after D by itself, with a report, and the
// target keeps running.
TEST_F(StatTest, DurationEndsStatAndLeavesTargetRunning) {
  Process demo = Process::Start({Fixture("demo"), "-duration=60s"}, dir_.File("demo.out"),
                                dir_.File("demo.err"));
  ASSERT_TRUE(demo.WaitForLine(Stream::kStdout, "demo: pid", 10s)) << demo.Describe();
  const auto started = std::chrono::steady_clock::now();
  Process ct = Process::Start({CgotraceBin(), "stat", "-p", std::to_string(demo.pid()),
                               "--duration", "1s", "--format", "json"},
                              dir_.File("cgotrace.out"), dir_.File("cgotrace.err"));
  ASSERT_TRUE(ct.WaitForLine(Stream::kStderr, "cgotrace: attached", 30s)) << ct.Describe();
  const auto attached = std::chrono::steady_clock::now();
  ExitStatus st = ct.WaitOrKill(15s);
  const auto ended = std::chrono::steady_clock::now();
  ASSERT_TRUE(st.Ok()) << ct.Describe();
  // Whether the clock starts at launch or at attach is the tool's choice;
  // either way it measured for the duration and then stopped promptly.
  EXPECT_GE(ended - started, 1s);
  EXPECT_LT(ended - attached, 10s);
  std::string error;
  auto report = StatReport(ct.Stdout(), &error);
  ASSERT_TRUE(report) << error;
  const Json* compress = FindRow(*report, "compress_block");
  ASSERT_NE(compress, nullptr) << report->dump();
  ExpectConsistentRow(*compress);

  EXPECT_TRUE(demo.Running()) << "the target must outlive the measurement: " << demo.Describe();
  // The demo stops cleanly on SIGTERM; exit status 0 shows it was unharmed.
  demo.Signal(SIGTERM);
  EXPECT_TRUE(demo.WaitOrKill(10s).Ok()) << demo.Describe();
}

TEST_F(StatTest, TextReportNamesFunctionsWithCounts) {
  const std::string truth_path = dir_.File("truth.json");
  RunResult r =
      RunCommand({CgotraceBin(), "stat", "--", Fixture("cgocalls"), "-truth=" + truth_path,
                  "-scenarios=fast", "-goroutines=3", "-calls=211"},
                 dir_, kRunTimeout);
  ASSERT_TRUE(r.status.Ok()) << r.Describe();
  std::string error;
  auto truth = ReadTruth(truth_path, &error);
  ASSERT_TRUE(truth) << error;
  // A user reads the table: fast_add and its count appear on one line (the
  // count is kept under 1000 so no digit grouping can get in the way).
  const std::string count = std::to_string(TruthCalls(*truth, "fast_add"));
  bool found = false;
  for (const auto& line : Lines(r.out)) {
    found = found ||
            (line.find("fast_add") != std::string::npos && line.find(count) != std::string::npos);
  }
  EXPECT_TRUE(found) << "no line with fast_add and " << count << "; " << r.Describe();
}

}  // namespace
}  // namespace cgotrace::e2e
