// `cgotrace exporter`: a real Prometheus server scrapes it while fixtures
// make known cgo calls; counts must equal the fixtures' own truth exactly.
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "checks.h"
#include "exporter_harness.h"
#include "harness.h"

namespace cgotrace::e2e {
namespace {

using ExporterTest = BpfTest;

std::string CallbacksKey(const std::string& binary) {
  return R"(cgotrace_cgo_callbacks_total{binary=")" + binary + R"(",function="goCallback"})";
}

int64_t TruthCallbacks(const Json& truth) {
  return truth.contains("callbacks") && truth["callbacks"].is_object()
             ? truth["callbacks"]["count"].get<int64_t>()
             : 0;
}

double WallSeconds() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

double ResultValue(const Json& sample) { return std::stod(sample["value"][1].get<std::string>()); }

TEST_F(ExporterTest, PrometheusScrapesExactCountsOfAProcess) {
  const std::string truth_path = dir_.File("truth.json");
  Process app = Process::Start({Fixture("cgocalls"), "-wait-signal", "-scenarios=fast",
                                "-goroutines=2", "-calls=500", "-truth", truth_path, "-linger=30s"},
                               dir_.File("app.out"), dir_.File("app.err"));
  ASSERT_TRUE(app.WaitForLine(Stream::kStdout, "READY", 10s)) << app.Describe();
  RunningExporter ex =
      StartExporter(dir_, "exporter", {"-p", std::to_string(app.pid()), "--rescan", "500ms"});
  ASSERT_GT(ex.port, 0);
  ASSERT_TRUE(ex.proc.WaitForLine(Stream::kStderr, "cgotrace: attached", 5s)) << ex.proc.Describe();

  PrometheusServer prom;
  ASSERT_NO_FATAL_FAILURE(prom.Start(dir_, ex.port));
  std::string error;
  // The target is up (Prometheus scraped it) before the calls start.
  ASSERT_TRUE(WaitUntil(
      [&] {
        auto r = prom.Query(dir_, "up", &error);
        return r && r->size() == 1 && ResultValue((*r)[0]) == 1;
      },
      30s))
      << error << prom.process().Describe();

  app.Signal(SIGUSR1);
  ASSERT_TRUE(app.WaitForLine(Stream::kStdout, "DONE", 30s)) << app.Describe();
  const double done_at = WallSeconds();
  auto truth = ReadTruth(truth_path, &error);
  ASSERT_TRUE(truth) << error;
  const int64_t expected = TruthCalls(*truth, "fast_add");
  ASSERT_GT(expected, 0) << truth->dump();

  // A scrape taken a second after DONE sees every call: the exporter drains
  // the ring buffer every 100 ms.
  const std::string series = R"(cgotrace_cgo_call_duration_seconds_count{function="fast_add"})";
  ASSERT_TRUE(WaitUntil(
      [&] {
        auto r = prom.Query(dir_, "timestamp(" + series + ")", &error);
        return r && r->size() == 1 && ResultValue((*r)[0]) >= done_at + 1.0;
      },
      30s))
      << "no scrape after the fixture finished: " << error << "\n"
      << ex.proc.Describe();
  auto result = prom.Query(dir_, series, &error);
  ASSERT_TRUE(result) << error;
  ASSERT_EQ(result->size(), 1u) << result->dump();
  const Json& sample = (*result)[0];
  EXPECT_EQ(ResultValue(sample), static_cast<double>(expected)) << sample.dump();
  EXPECT_EQ(sample["metric"].value("binary", ""), "cgocalls") << sample.dump();
  for (const char* banned : {"pid", "tid", "goid"}) {
    EXPECT_FALSE(sample["metric"].contains(banned)) << sample.dump();
  }
  // The +Inf bucket holds every call, and a quantile can be computed.
  auto inf = prom.Query(
      dir_, R"(cgotrace_cgo_call_duration_seconds_bucket{function="fast_add",le="+Inf"})", &error);
  ASSERT_TRUE(inf && inf->size() == 1) << error;
  EXPECT_EQ(ResultValue((*inf)[0]), static_cast<double>(expected));
  auto p99 = prom.Query(
      dir_,
      R"(histogram_quantile(0.99, cgotrace_cgo_call_duration_seconds_bucket{function="fast_add"}))",
      &error);
  ASSERT_TRUE(p99 && p99->size() == 1) << error;
  EXPECT_GT(ResultValue((*p99)[0]), 0);

  // Every query of the shipped Grafana dashboard runs against real data.
  auto dash =
      ParseJson(ReadFile(CGOTRACE_SOURCE_DIR "/deploy/grafana/cgotrace-dashboard.json"), &error);
  ASSERT_TRUE(dash) << error;
  for (const Json& panel : (*dash)["panels"]) {
    for (const Json& target : panel["targets"]) {
      std::string expr = target["expr"].get<std::string>();
      for (const auto& [var, value] : std::vector<std::pair<std::string, std::string>>{
               {"$binary", ".*"}, {"$function", ".*"}, {"$__rate_interval", "1m"}}) {
        for (size_t at = expr.find(var); at != std::string::npos; at = expr.find(var)) {
          expr.replace(at, var.size(), value);
        }
      }
      auto r = prom.Query(dir_, expr, &error);
      EXPECT_TRUE(r) << panel.value("title", "") << ": " << error;
      if (r && expr.find("cgotrace_cgo_call_duration") != std::string::npos) {
        EXPECT_FALSE(r->empty()) << panel.value("title", "") << ": " << expr;
      }
    }
  }

  RunResult lint = RunCommand(
      {"sh", "-c", "curl -sS --fail " + ex.url() + " | promtool check metrics"}, dir_, 30s);
  EXPECT_TRUE(lint.status.Ok()) << "promtool check metrics: " << lint.Describe();

  // The process exits: probes go, the series stay, the exporter keeps serving.
  app.Signal(SIGTERM);
  ASSERT_TRUE(app.Wait(10s)) << app.Describe();
  ASSERT_TRUE(ex.proc.WaitForLine(Stream::kStderr,
                                  "cgotrace: PID " + std::to_string(app.pid()) + " exited", 10s))
      << ex.proc.Describe();
  std::map<std::string, double> after;
  ASSERT_TRUE(WaitForSamples(
      dir_, ex, {{"cgotrace_probes_attached", 0}, {"cgotrace_processes_traced", 0}}, 10s, &after))
      << ex.proc.Describe();
  EXPECT_EQ(SampleOr(after, FastCountKey("cgocalls"), -1), static_cast<double>(expected));
  EXPECT_EQ(SampleOr(after, "cgotrace_events_lost_total", -1), 0);

  ex.proc.Signal(SIGTERM);
  ExitStatus st = ex.proc.WaitOrKill(15s);
  EXPECT_TRUE(st.Ok()) << ex.proc.Describe();
  EXPECT_NE(ex.proc.Stderr().find("cgotrace: stopping"), std::string::npos) << ex.proc.Describe();
}

// The steady state (no /debug/pprof/cgo window open) counts every call in the
// kernel: exact counts with not one record through the ring buffer, and the
// stack-depth histogram holds one observation per call.
TEST_F(ExporterTest, SteadyStateCountsInTheKernelWithoutAnEventPerCall) {
  const std::string truth_path = dir_.File("truth.json");
  Process app = Process::Start(
      {Fixture("cgocalls"), "-wait-signal", "-scenarios=fast,callback", "-goroutines=3",
       "-calls=400", "-callbacks=3", "-callback-calls=4", "-truth", truth_path, "-linger=30s"},
      dir_.File("app.out"), dir_.File("app.err"));
  ASSERT_TRUE(app.WaitForLine(Stream::kStdout, "READY", 10s)) << app.Describe();
  RunningExporter ex =
      StartExporter(dir_, "exporter", {"-p", std::to_string(app.pid()), "--rescan", "500ms"});
  ASSERT_GT(ex.port, 0);
  ASSERT_TRUE(ex.proc.WaitForLine(Stream::kStderr, "cgotrace: attached", 5s)) << ex.proc.Describe();
  app.Signal(SIGUSR1);
  ASSERT_TRUE(app.WaitForLine(Stream::kStdout, "DONE", 30s)) << app.Describe();
  std::string error;
  auto truth = ReadTruth(truth_path, &error);
  ASSERT_TRUE(truth) << error;
  const int64_t fast = TruthCalls(*truth, "fast_add");
  const int64_t callbacks = TruthCallbacks(*truth);
  ASSERT_GT(fast, 0);
  ASSERT_GT(callbacks, 0);

  std::map<std::string, double> m;
  ASSERT_TRUE(WaitUntil(
      [&] {
        m = Scrape(dir_, ex);
        return SampleOr(m, FastCountKey("cgocalls"), -1) == static_cast<double>(fast);
      },
      10s))
      << SampleOr(m, FastCountKey("cgocalls"), -1) << " != " << fast << "\n"
      << ex.proc.Describe();
  EXPECT_EQ(SampleOr(m, CallbacksKey("cgocalls"), -1), static_cast<double>(callbacks));
  double calls = 0;
  for (const auto& [key, value] : m) {
    if (key.starts_with("cgotrace_cgo_call_duration_seconds_count{binary=\"cgocalls\"")) {
      calls += value;
    }
  }
  EXPECT_EQ(SampleOr(m, R"(cgotrace_goroutine_stack_depth_bytes_count{binary="cgocalls"})", -1),
            calls);
  EXPECT_EQ(SampleOr(m, "cgotrace_calls_counted_in_kernel_total", -1),
            calls + static_cast<double>(callbacks));
  EXPECT_EQ(SampleOr(m, "cgotrace_ringbuf_events_total", -1), 0) << "an event per call";
  EXPECT_EQ(SampleOr(m, "cgotrace_calls_not_counted_total", -1), 0);
  EXPECT_EQ(SampleOr(m, "cgotrace_events_lost_total", -1), 0);
  EXPECT_EQ(SampleOr(m, R"(cgotrace_threads_in_cgo{binary="cgocalls"})", -1), 0);

  ex.proc.Signal(SIGTERM);
  EXPECT_TRUE(ex.proc.WaitOrKill(15s).Ok()) << ex.proc.Describe();
  app.Signal(SIGTERM);
  EXPECT_TRUE(app.Wait(10s)) << app.Describe();
}

// --binary: processes of the file start and exit; every call is counted once,
// the gauges follow, and probes do not pile up.
TEST_F(ExporterTest, BinaryTargetFollowsProcessChurn) {
  const std::string app = PrivateCopy(dir_, "cgocalls", "churn-app");
  RunningExporter ex = StartExporter(dir_, "exporter", {"--binary", app, "--rescan", "300ms"});
  ASSERT_GT(ex.port, 0);
  ASSERT_TRUE(ex.proc.WaitForLine(Stream::kStderr, "cgotrace: waiting for processes of " + app, 5s))
      << ex.proc.Describe();
  auto before = Scrape(dir_, ex);
  const double baseline = SampleOr(before, "cgotrace_probes_attached", -1);
  ASSERT_GT(baseline, 0) << "whole-binary probes are attached up front";
  EXPECT_EQ(SampleOr(before, "cgotrace_processes_traced", -1), 0);

  std::vector<std::string> truths;
  // Round 0 holds two processes at the starting gate, so the process gauge
  // can be seen at 2; later rounds run straight through.
  for (int round = 0; round < 3; ++round) {
    std::vector<Process> procs;
    for (int i = 0; i < 2; ++i) {
      const std::string name = "app" + std::to_string(round) + "_" + std::to_string(i);
      truths.push_back(dir_.File(name + ".truth.json"));
      std::vector<std::string> argv = {
          app, "-scenarios=fast,callback", "-goroutines=2", "-calls=300", "-truth", truths.back()};
      if (round == 0) {
        argv.push_back("-wait-signal");
      }
      procs.push_back(Process::Start(argv, dir_.File(name + ".out"), dir_.File(name + ".err")));
    }
    if (round == 0) {
      for (Process& p : procs) {
        ASSERT_TRUE(p.WaitForLine(Stream::kStdout, "READY", 10s)) << p.Describe();
      }
      EXPECT_TRUE(WaitUntil(
          [&] { return SampleOr(Scrape(dir_, ex), "cgotrace_processes_traced", -1) == 2; }, 10s))
          << ex.proc.Describe();
      for (Process& p : procs) {
        p.Signal(SIGUSR1);
      }
    }
    for (Process& p : procs) {
      EXPECT_TRUE(p.WaitOrKill(60s).Ok()) << p.Describe();
    }
  }
  int64_t expected_calls = 0;
  int64_t expected_callbacks = 0;
  for (const std::string& path : truths) {
    std::string error;
    auto truth = ReadTruth(path, &error);
    ASSERT_TRUE(truth) << error;
    expected_calls += TruthCalls(*truth, "fast_add");
    expected_callbacks += TruthCallbacks(*truth);
  }
  ASSERT_GT(expected_calls, 0);
  ASSERT_GT(expected_callbacks, 0);

  std::map<std::string, double> after;
  WaitForSamples(dir_, ex,
                 {{"cgotrace_processes_traced", 0}, {FastCountKey("churn-app"), expected_calls}},
                 15s, &after);
  EXPECT_EQ(SampleOr(after, FastCountKey("churn-app"), -1), static_cast<double>(expected_calls));
  EXPECT_EQ(SampleOr(after, CallbacksKey("churn-app"), -1),
            static_cast<double>(expected_callbacks));
  EXPECT_EQ(SampleOr(after, "cgotrace_processes_traced", -1), 0);
  EXPECT_EQ(SampleOr(after, "cgotrace_probes_attached", -1), baseline);
  EXPECT_EQ(SampleOr(after, R"(cgotrace_threads_in_cgo{binary="churn-app"})", -1), 0);
  EXPECT_EQ(SampleOr(after, "cgotrace_events_lost_total", -1), 0);

  ex.proc.Signal(SIGTERM);
  EXPECT_TRUE(ex.proc.WaitOrKill(15s).Ok()) << ex.proc.Describe();
}

TEST_F(ExporterTest, PortInUseIsOneClearError) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(sa);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)), 0);
  ASSERT_EQ(listen(fd, 1), 0);
  ASSERT_EQ(getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len), 0);
  const std::string addr = "127.0.0.1:" + std::to_string(ntohs(sa.sin_port));
  RunResult r = RunCommand({CgotraceBin(), "exporter", "--listen", addr, "--all-go"}, dir_, 30s);
  close(fd);
  ExpectCleanError(r, "port in use");
  EXPECT_NE(r.err.find("cannot listen on " + addr), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("in use"), std::string::npos) << r.err;
}

TEST_F(ExporterTest, BadInputIsOneClearError) {
  struct Case {
    std::vector<std::string> args;
    std::string says;
  };
  const std::vector<Case> cases = {
      {{"--listen", "300.1.2.3:9478", "--all-go"}, "not an IP address"},
      {{"--listen", "127.0.0.1:70000", "--all-go"}, "invalid port"},
      {{"--listen", "example.com:9478", "--all-go"}, "not an IP address"},
      {{"--listen", "192.0.2.1:9478", "--all-go"}, "cannot listen on 192.0.2.1:9478"},
      {{"--listen", "127.0.0.1:0"}, "no target"},
      {{"--listen", "127.0.0.1:0", "--binary", Fixture("nocgo")}, "without cgo"},
      {{"--listen", "127.0.0.1:0", "--binary", dir_.File("missing")}, "missing"},
      {{"--listen", "127.0.0.1:0", "-p", std::to_string(DeadPid())}, "PID"},
      {{"--listen", "127.0.0.1:0", "--all-go", "--rescan", "1ms"}, "--rescan"},
      {{"--listen", "127.0.0.1:0", "--all-go", "--max-functions", "0"}, "--max-functions"},
  };
  for (const Case& c : cases) {
    std::vector<std::string> argv = {CgotraceBin(), "exporter"};
    argv.insert(argv.end(), c.args.begin(), c.args.end());
    RunResult r = RunCommand(argv, dir_, 30s);
    ExpectCleanError(r, c.args[1] + " " + c.says);
    EXPECT_NE(r.err.find(c.says), std::string::npos) << r.err;
  }
}

}  // namespace
}  // namespace cgotrace::e2e
