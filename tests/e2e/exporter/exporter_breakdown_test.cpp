// `exporter --breakdown`: the re-entry histogram counted in the kernel, with
// no ring-buffer record per call, checked against the pwait fixture's truth
// (see tests/e2e/trace/breakdown_test.cpp for how pwait makes its calls wait
// for the P).
#include <signal.h>

#include <cstdlib>
#include <map>
#include <string>

#include <gtest/gtest.h>

#include "checks.h"
#include "exporter_harness.h"
#include "harness.h"

namespace cgotrace::e2e {
namespace {

using ExporterBreakdownTest = BpfTest;

// Cumulative count of histogram `family` of `series` ({binary=...,
// function=...} without the closing brace) at the bound `edge` (in the
// family's base unit, e.g. seconds); -1 when there is no such bucket.
double AtBound(const std::map<std::string, double>& m, const std::string& family,
               const std::string& series, double edge) {
  const std::string prefix = family + "_bucket" + series + ",le=\"";
  for (const auto& [key, value] : m) {
    if (key.starts_with(prefix) && std::strtod(key.c_str() + prefix.size(), nullptr) == edge) {
      return value;
    }
  }
  return -1;
}

TEST_F(ExporterBreakdownTest, ReentryWaitIsCountedInTheKernelForEveryCall) {
  const std::string app = PrivateCopy(dir_, "pwait", "pwait-xp");
  RunningExporter ex =
      StartExporter(dir_, "exporter", {"--breakdown", "--binary", app, "--rescan", "300ms"});
  ASSERT_GT(ex.port, 0);
  ASSERT_TRUE(ex.proc.WaitForLine(Stream::kStderr, "cgotrace: waiting for processes of " + app, 5s))
      << ex.proc.Describe();
  const std::string truth_path = dir_.File("truth.json");
  Process run =
      Process::Start({app, "-truth=" + truth_path}, dir_.File("app.out"), dir_.File("app.err"));
  ASSERT_TRUE(run.WaitOrKill(90s).Ok()) << run.Describe();
  std::string error;
  auto truth = ReadTruth(truth_path, &error);
  ASSERT_TRUE(truth) << error;

  const std::string duration = "cgotrace_cgo_call_duration_seconds";
  const std::string reentry = "cgotrace_cgo_reentry_wait_seconds";
  auto series = [](const std::string& func) {
    return R"({binary="pwait-xp",function=")" + func + "\"";
  };
  // Every call the fixture made, counted once, each with its re-entry.
  std::map<std::string, double> want;
  double calls = 0;
  for (const auto& [func, n] : truth->at("calls").items()) {
    want[duration + "_count" + series(func) + "}"] = n.get<double>();
    want[reentry + "_count" + series(func) + "}"] = n.get<double>();
    calls += n.get<double>();
  }
  std::map<std::string, double> m;
  EXPECT_TRUE(WaitForSamples(dir_, ex, want, 10s, &m)) << ex.proc.Describe();
  for (const auto& [key, value] : want) {
    EXPECT_EQ(SampleOr(m, key, -1), value) << key;
  }
  // No record per call crossed the ring buffer: every call and callback was
  // counted in the kernel (the runtime's own calls too, not in the truth).
  EXPECT_EQ(SampleOr(m, "cgotrace_ringbuf_events_total", -1), 0) << "an event per call";
  EXPECT_GE(SampleOr(m, "cgotrace_calls_counted_in_kernel_total", -1), calls);
  EXPECT_EQ(SampleOr(m, "cgotrace_calls_not_counted_total", -1), 0);
  EXPECT_EQ(SampleOr(m, "cgotrace_events_lost_total", -1), 0);

  // Re-entry after a wait for the P is long (nominally 40 ms); with the P
  // free it is the fast path (nominally µs; 13 ms allows for a descheduled
  // thread). The bound 100 ns * 2^17 = 13.1 ms is one of the published `le`.
  const double bound = (100 << 17) / 1e9;
  const double rounds = static_cast<double>(truth->at("rounds").size());
  const double waits = SampleOr(m, reentry + "_count" + series("sleep_then_stop") + "}", -1);
  const double waits_fast = AtBound(m, reentry, series("sleep_then_stop"), bound);
  ASSERT_GE(waits_fast, 0) << "no bucket at " << bound;
  // The machine is shared: a round whose C thread ran late has no wait, but
  // most must have one (as in the trace test).
  EXPECT_GE(waits - waits_fast, rounds / 2) << "too few calls waited for the P";
  const double quiet = SampleOr(m, reentry + "_count" + series("sleep_ms") + "}", -1);
  EXPECT_EQ(AtBound(m, reentry, series("sleep_ms"), bound), quiet) << "a quiet call waited";
  // c_ns of the quiet calls is at least their C sleep: their durations are.
  const double quiet_s = truth->at("quiet_ms").get<double>() / 1e3;
  EXPECT_EQ(AtBound(m, duration, series("sleep_ms"), (100 << 15) / 1e9), 0)
      << "a " << quiet_s << " s sleep took less than 3.3 ms";
  EXPECT_LE(SampleOr(m, reentry + "_sum" + series("sleep_then_stop") + "}", -1),
            SampleOr(m, duration + "_sum" + series("sleep_then_stop") + "}", -1));

  ex.proc.Signal(SIGTERM);
  EXPECT_TRUE(ex.proc.WaitOrKill(15s).Ok()) << ex.proc.Describe();
}

}  // namespace
}  // namespace cgotrace::e2e
