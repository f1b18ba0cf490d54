// `cgotrace exporter --sample`: in-C gauges from sampling, with no per-call
// probe, against the incgo fixture, whose goroutines are blocked in C since
// before the exporter started. Gauges must equal the fixture's own truth.
#include <signal.h>
#include <unistd.h>

#include <filesystem>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "checks.h"
#include "exporter_harness.h"
#include "harness.h"

namespace cgotrace::e2e {
namespace {

using ExporterSampleTest = BpfTest;

std::string ThreadsKey(const std::string& binary, const std::string& func) {
  return R"(cgotrace_threads_in_cgo_sampled{binary=")" + binary + R"(",function=")" + func +
         R"("})";
}

std::string AgeKey(const std::string& binary, const std::string& func) {
  return R"(cgotrace_oldest_cgo_call_age_seconds{binary=")" + binary + R"(",function=")" + func +
         R"("})";
}

// incgo with `blocked` goroutines blocked in C.block_outer (plus one spinning
// in C.spin_outer and one making tiny calls), started from `exe`; waits until
// all are in C. `prefix` wraps the command (nsenter).
Process StartIncgo(const TempDir& dir, const std::string& exe, const std::string& name, int blocked,
                   Json* truth, const std::vector<std::string>& prefix = {}) {
  const std::string truth_path = dir.File(name + ".truth.json");
  std::vector<std::string> argv = prefix;
  for (const std::string& a :
       {exe, std::string("-blocked"), std::to_string(blocked), std::string("-truth"), truth_path}) {
    argv.push_back(a);
  }
  Process p = Process::Start(argv, dir.File(name + ".out"), dir.File(name + ".err"));
  EXPECT_TRUE(p.WaitForLine(Stream::kStdout, "READY", 60s)) << p.Describe();
  std::string error;
  auto t = ReadTruth(truth_path, &error);
  EXPECT_TRUE(t) << error;
  if (t) {
    *truth = *t;
  }
  return p;
}

// What the kernel says process `pid` holds: its BPF links by type
// ("iter", "perf", "uprobe_multi", from /proc/PID/fdinfo) and its perf
// events ("perf_event": a uprobe attached without a link).
std::map<std::string, int> AttachmentsOf(pid_t pid) {
  std::map<std::string, int> out;
  const std::filesystem::path fds = "/proc/" + std::to_string(pid) + "/fd";
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(fds, ec)) {
    std::string target = std::filesystem::read_symlink(entry.path(), ec).string();
    if (target == "anon_inode:[perf_event]") {
      ++out["perf_event"];
    } else if (target == "anon_inode:bpf_link") {
      const std::string info =
          ReadFile("/proc/" + std::to_string(pid) + "/fdinfo/" + entry.path().filename().string());
      const std::string key = "link_type:\t";
      const size_t at = info.find(key);
      ++out[at == std::string::npos
                ? "?"
                : info.substr(at + key.size(), info.find('\n', at) - at - key.size())];
    }
  }
  EXPECT_FALSE(ec) << fds << ": " << ec.message();
  return out;
}

// -p with --sample alone: a real Prometheus server scrapes the gauges; every
// blocked goroutine is counted in its function, the oldest call's age grows
// between scrapes, and nothing is probed.
TEST_F(ExporterSampleTest, SampleAloneGaugesCallsThatBeganBeforeAttachWithoutProbes) {
  const int kBlocked = 3;
  Json truth;
  Process app = StartIncgo(dir_, Fixture("incgo"), "incgo", kBlocked, &truth);
  ASSERT_EQ(truth["blocked"].size(), static_cast<size_t>(kBlocked)) << truth.dump();
  RunningExporter ex =
      StartExporter(dir_, "exporter", {"-p", std::to_string(app.pid()), "--sample", "-F", "19"});
  ASSERT_GT(ex.port, 0);
  ASSERT_TRUE(ex.proc.WaitForLine(Stream::kStderr, "cgotrace: sampling at 19 Hz; no probes", 10s))
      << ex.proc.Describe();

  std::map<std::string, double> first;
  ASSERT_TRUE(WaitForSample(dir_, ex, ThreadsKey("incgo", "block_outer"), kBlocked, 10s, &first))
      << ex.proc.Describe();
  EXPECT_EQ(SampleOr(first, ThreadsKey("incgo", "spin_outer"), -1), 1);
  EXPECT_EQ(SampleOr(first, "cgotrace_processes_sampled", -1), 1);
  EXPECT_EQ(SampleOr(first, "cgotrace_probes_attached", -1), 0);
  EXPECT_EQ(ex.proc.Stderr().find("probes to"), std::string::npos) << ex.proc.Describe();
  // The kernel's view: the exporter holds its sampler's task iterator and
  // no uprobe of any kind (no perf or uprobe_multi link, no perf event).
  std::map<std::string, int> held = AttachmentsOf(ex.proc.pid());
  EXPECT_EQ(held, (std::map<std::string, int>{{"iter", 1}}));

  // In C since before the exporter started, and never returning: the
  // oldest age grows with wall time between two scrapes.
  const double age1 = SampleOr(first, AgeKey("incgo", "block_outer"), -1);
  ASSERT_GE(age1, 0);
  std::this_thread::sleep_for(1500ms);
  auto second = Scrape(dir_, ex);
  const double age2 = SampleOr(second, AgeKey("incgo", "block_outer"), -1);
  EXPECT_GE(age2, age1 + 1.2) << age1 << " -> " << age2;
  EXPECT_LE(age2, age1 + 5.0) << age1 << " -> " << age2;
  EXPECT_EQ(SampleOr(second, ThreadsKey("incgo", "block_outer"), -1), kBlocked);

  // A real Prometheus stores the same gauge, with no pid/tid/goid label.
  PrometheusServer prom;
  ASSERT_NO_FATAL_FAILURE(prom.Start(dir_, ex.port));
  std::string error;
  std::optional<Json> result;
  ASSERT_TRUE(WaitUntil(
      [&] {
        result =
            prom.Query(dir_, R"(cgotrace_threads_in_cgo_sampled{function="block_outer"})", &error);
        return result && result->size() == 1;
      },
      30s))
      << error << prom.process().Describe();
  const Json& sample = (*result)[0];
  EXPECT_EQ(std::stod(sample["value"][1].get<std::string>()), kBlocked) << sample.dump();
  EXPECT_EQ(sample["metric"].value("binary", ""), "incgo");
  for (const char* banned : {"pid", "tid", "goid"}) {
    EXPECT_FALSE(sample["metric"].contains(banned)) << sample.dump();
  }
  RunResult lint = RunCommand(
      {"sh", "-c", "curl -sS --fail " + ex.url() + " | promtool check metrics"}, dir_, 30s);
  EXPECT_TRUE(lint.status.Ok()) << "promtool check metrics: " << lint.Describe();
  // No exact mode, no cgo-call profiles.
  RunResult pprof =
      RunCommand({"curl", "-s", "-o", "/dev/null", "-w", "%{http_code}",
                  "http://127.0.0.1:" + std::to_string(ex.port) + "/debug/pprof/cgo?seconds=1"},
                 dir_, 30s);
  EXPECT_EQ(pprof.out, "404") << pprof.Describe();

  // The process exits: sampling stops, the gauges drop to 0.
  app.Signal(SIGTERM);
  ASSERT_TRUE(app.WaitOrKill(20s).Ok()) << app.Describe();
  std::map<std::string, double> after;
  ASSERT_TRUE(WaitForSample(dir_, ex, "cgotrace_processes_sampled", 0, 10s, &after))
      << ex.proc.Describe();
  EXPECT_EQ(SampleOr(after, ThreadsKey("incgo", "block_outer"), -1), 0);
  EXPECT_EQ(SampleOr(after, AgeKey("incgo", "block_outer"), -1), 0);
  EXPECT_NE(ex.proc.Stderr().find("cgotrace: PID " + std::to_string(app.pid()) +
                                  " exited; stopped sampling it"),
            std::string::npos)
      << ex.proc.Describe();

  ex.proc.Signal(SIGTERM);
  EXPECT_TRUE(ex.proc.WaitOrKill(15s).Ok()) << ex.proc.Describe();
  EXPECT_NE(ex.proc.Stderr().find("cgotrace: stopping;"), std::string::npos) << ex.proc.Describe();
}

// --sample --exact: the sampled gauges beside the exact per-call metrics of
// the same process.
TEST_F(ExporterSampleTest, SampleBesideExactMode) {
  const int kBlocked = 2;
  Json truth;
  Process app = StartIncgo(dir_, Fixture("incgo"), "incgo", kBlocked, &truth);
  RunningExporter ex = StartExporter(
      dir_, "exporter", {"-p", std::to_string(app.pid()), "--sample", "--exact", "-F", "29"});
  ASSERT_GT(ex.port, 0);
  ASSERT_TRUE(ex.proc.WaitForLine(Stream::kStderr, "cgotrace: sampling at 29 Hz", 10s))
      << ex.proc.Describe();
  std::map<std::string, double> s;
  const std::string tiny_count =
      R"(cgotrace_cgo_call_duration_seconds_count{binary="incgo",function="tiny_add"})";
  ASSERT_TRUE(WaitUntil(
      [&] {
        s = Scrape(dir_, ex);
        return SampleOr(s, ThreadsKey("incgo", "block_outer"), -1) == kBlocked &&
               SampleOr(s, tiny_count, 0) > 0;
      },
      // A scrape may take seconds under ASan while exact mode drains
      // millions of events a second on a loaded machine.
      60s))
      << ex.proc.Describe();
  EXPECT_GT(SampleOr(s, "cgotrace_probes_attached", -1), 0);
  EXPECT_EQ(SampleOr(s, ThreadsKey("incgo", "spin_outer"), -1), 1);
  std::map<std::string, int> held = AttachmentsOf(ex.proc.pid());
  EXPECT_EQ(held["iter"], 1);
  EXPECT_EQ(held["perf"] + held["uprobe_multi"] + held["perf_event"] > 0, true);
  // The blocked calls began before the probes were attached: exact mode
  // never sees them start (nor return), sampling does.
  EXPECT_EQ(
      SampleOr(s,
               R"(cgotrace_cgo_call_duration_seconds_count{binary="incgo",function="block_outer"})",
               0),
      0);
  app.Signal(SIGTERM);
  EXPECT_TRUE(app.WaitOrKill(20s).Ok()) << app.Describe();
  ex.proc.Signal(SIGTERM);
  EXPECT_TRUE(ex.proc.WaitOrKill(15s).Ok()) << ex.proc.Describe();
  EXPECT_NE(ex.proc.Stderr().find("sampling rounds"), std::string::npos) << ex.proc.Describe();
}

// --binary with --sample: processes of the file started after the exporter
// are sampled as they appear.
TEST_F(ExporterSampleTest, SampleFollowsProcessesOfABinary) {
  const std::string exe = PrivateCopy(dir_, "incgo", "sample-app");
  RunningExporter ex =
      StartExporter(dir_, "exporter", {"--binary", exe, "--sample", "--rescan", "200ms"});
  ASSERT_GT(ex.port, 0);
  ASSERT_TRUE(
      ex.proc.WaitForLine(Stream::kStderr, "cgotrace: sampling every process of " + exe, 10s))
      << ex.proc.Describe();
  Json t1;
  Json t2;
  Process a = StartIncgo(dir_, exe, "a", 2, &t1);
  Process b = StartIncgo(dir_, exe, "b", 3, &t2);
  std::map<std::string, double> s;
  ASSERT_TRUE(WaitForSample(dir_, ex, ThreadsKey("sample-app", "block_outer"), 5, 10s, &s))
      << ex.proc.Describe();
  EXPECT_EQ(SampleOr(s, "cgotrace_processes_sampled", -1), 2);
  EXPECT_EQ(SampleOr(s, ThreadsKey("sample-app", "spin_outer"), -1), 2);
  EXPECT_EQ(SampleOr(s, "cgotrace_probes_attached", -1), 0);
  a.Signal(SIGTERM);
  EXPECT_TRUE(a.WaitOrKill(20s).Ok()) << a.Describe();
  ASSERT_TRUE(WaitForSample(dir_, ex, "cgotrace_processes_sampled", 1, 10s, &s))
      << ex.proc.Describe();
  EXPECT_EQ(SampleOr(s, ThreadsKey("sample-app", "block_outer"), -1), 3);
  b.Signal(SIGTERM);
  EXPECT_TRUE(b.WaitOrKill(20s).Ok()) << b.Describe();
  ex.proc.Signal(SIGTERM);
  EXPECT_TRUE(ex.proc.WaitOrKill(15s).Ok()) << ex.proc.Describe();
}

// --all-go with --sample in a PID namespace of its own (no other Go program
// of the host is touched).
TEST_F(ExporterSampleTest, SampleAllGoInAPidNamespace) {
  const std::string exe = PrivateCopy(dir_, "incgo", "allgo-sample");
  NamespacedExporter ns =
      StartExporterInPidNamespace(dir_, {"--all-go", "--sample", "--rescan", "200ms"});
  ASSERT_GT(ns.pid, 0);
  RunningExporter& ex = ns.ex;
  const pid_t exporter_pid = ns.pid;
  Json truth;
  Process app = StartIncgo(dir_, exe, "app", 4, &truth,
                           {"nsenter", "-t", std::to_string(exporter_pid), "-p", "--"});
  std::map<std::string, double> s;
  ASSERT_TRUE(WaitForSample(dir_, ex, ThreadsKey("allgo-sample", "block_outer"), 4, 10s, &s))
      << ex.proc.Describe();
  EXPECT_EQ(SampleOr(s, "cgotrace_processes_sampled", -1), 1);
  std::vector<pid_t> kid = ChildrenOf(app.pid());
  ASSERT_EQ(kid.size(), 1u) << app.Describe();
  ASSERT_EQ(kill(kid[0], SIGTERM), 0);
  EXPECT_TRUE(app.WaitOrKill(20s).Ok()) << app.Describe();
  ASSERT_TRUE(WaitForSample(dir_, ex, "cgotrace_processes_sampled", 0, 10s)) << ex.proc.Describe();
  ASSERT_EQ(kill(exporter_pid, SIGTERM), 0);
  EXPECT_TRUE(ex.proc.WaitOrKill(15s).Ok()) << ex.proc.Describe();
}

TEST_F(ExporterSampleTest, BadSampleFlagsAreOneClearError) {
  struct Case {
    std::vector<std::string> args;
    std::string says;
  };
  const std::vector<Case> cases = {
      {{"--all-go", "--exact"}, "--exact needs --sample"},
      {{"--all-go", "-F", "19"}, "-F needs --sample"},
      {{"--all-go", "--sample", "-F", "0"}, "frequency must be 1-1000 Hz"},
      {{"--all-go", "--sample", "-F", "5000"}, "frequency must be 1-1000 Hz"},
      {{"--sample", "--binary", Fixture("nocgo")}, "without cgo"},
      {{"--sample", "-p", std::to_string(DeadPid())}, "PID"},
  };
  for (const Case& c : cases) {
    std::vector<std::string> argv = {CgotraceBin(), "exporter", "--listen", "127.0.0.1:0"};
    argv.insert(argv.end(), c.args.begin(), c.args.end());
    RunResult r = RunCommand(argv, dir_, 30s);
    ExpectCleanError(r, c.says);
    EXPECT_NE(r.err.find(c.says), std::string::npos) << r.err;
  }
}

}  // namespace
}  // namespace cgotrace::e2e
