// The exporter over a long run, compressed (issue 12): `exporter --all-go`
// while 120 distinct executables come and go, some SIGKILLed with goroutines
// inside C, one redeployed under the same path. Every call of every one is
// counted exactly against its own truth, every gauge comes back to 0, the
// exporter's fds and RSS stay bounded (the figures are printed), and after a
// SIGKILL of the exporter nothing of it is left in the kernel.
//
// CTest label `longrun` (scripts/test.sh runs it; about 1-2 minutes on 2
// cores). The exporter runs in a PID namespace of its own, so no other Go
// program of the host is traced.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "checks.h"
#include "exporter_harness.h"
#include "harness.h"

namespace cgotrace::e2e {
namespace {

using LongRunTest = BpfTest;

constexpr int kExecutables = 120;
constexpr int kWave = 6;          // processes alive at once
constexpr int kKillEvery = 10;    // every 10th executable is SIGKILLed inside C
constexpr int kBlocked = 3;       // its goroutines in C when killed
constexpr int kRedeployedAt = 7;  // this one runs again after a redeploy

struct Figures {
  size_t fds = 0;
  long rss_kb = 0;
};

Figures Measure(pid_t pid) {
  Figures f;
  std::error_code ec;
  for (auto it = std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/fd", ec);
       !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
    ++f.fds;
  }
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.starts_with("VmRSS:")) {
      f.rss_kb = std::stol(line.substr(6));
    }
  }
  return f;
}

// The BPF program and link ids the process holds open (its fdinfo).
std::set<std::string> BpfIds(pid_t pid) {
  std::set<std::string> ids;
  std::error_code ec;
  const std::string dir = "/proc/" + std::to_string(pid) + "/fdinfo";
  for (auto it = std::filesystem::directory_iterator(dir, ec);
       !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
    std::ifstream in(it->path());
    std::string line;
    while (std::getline(in, line)) {
      for (const char* kind : {"prog_id:", "link_id:"}) {
        if (line.starts_with(kind)) {
          ids.insert(std::string(kind) + std::to_string(std::stol(line.substr(strlen(kind)))));
        }
      }
    }
  }
  return ids;
}

// Whether bpftool still finds the program or link (kind "prog_id:N").
bool StillInKernel(const TempDir& dir, const std::string& id) {
  const bool prog = id.starts_with("prog_id:");
  const std::string n = id.substr(id.find(':') + 1);
  RunResult r = RunCommand({"bpftool", prog ? "prog" : "link", "show", "id", n}, dir, 10s);
  return r.status.Ok();
}

std::string CountKey(const std::string& binary, const std::string& function) {
  return R"(cgotrace_cgo_call_duration_seconds_count{binary=")" + binary + R"(",function=")" +
         function + R"("})";
}

// One executable's run inside the exporter's PID namespace.
struct ExeRun {
  std::string label;  // the executable's base name: its `binary` label
  std::string truth;  // "" for a killed one
  bool killed = false;
  Process proc;      // nsenter, whose child is the fixture
  pid_t ns_pid = 0;  // the fixture's PID in the namespace
};

TEST_F(LongRunTest, AllGoExporterOverManyExecutables) {
  NamespacedExporter ns = StartExporterInPidNamespace(dir_, {"--all-go", "--rescan", "100ms"});
  ASSERT_GT(ns.pid, 0);
  RunningExporter& ex = ns.ex;
  const pid_t exporter = ns.pid;
  const Figures at_start = Measure(exporter);
  Figures after_first_wave;

  std::map<std::string, double> expected_calls;      // label -> fast_add calls
  std::map<std::string, double> expected_callbacks;  // label -> goCallback callbacks
  std::set<std::string> labels;
  int killed = 0;
  const std::string redeployed = "lr-redeployed";
  const auto started = std::chrono::steady_clock::now();

  for (int first = 0; first < kExecutables; first += kWave) {
    std::vector<ExeRun> wave;
    for (int k = first; k < first + kWave && k < kExecutables; ++k) {
      ExeRun r;
      r.killed = k % kKillEvery == kKillEvery - 1;
      std::string app;
      if (k == kRedeployedAt || k == kExecutables - 1) {
        // The same path twice; the second time a new file renamed over it.
        r.label = redeployed;
        app = dir_.File(redeployed);
        if (k == kRedeployedAt) {
          app = PrivateCopy(dir_, "cgocalls", redeployed);
        } else {
          PrivateCopy(dir_, "cgocalls", redeployed + ".next");
          ASSERT_EQ(rename(dir_.File(redeployed + ".next").c_str(), app.c_str()), 0);
        }
        r.killed = false;
      } else {
        r.label = (r.killed ? "lr-killed-" : "lr-app-") + std::to_string(k);
        app = PrivateCopy(dir_, r.killed ? "unreturned" : "cgocalls", r.label);
      }
      labels.insert(r.label);
      std::vector<std::string> argv = {"nsenter", "-t", std::to_string(exporter), "-p", "--", app};
      if (r.killed) {
        const std::vector<std::string> args = {"-mode=block", "-wait-start",
                                               "-blocked=" + std::to_string(kBlocked)};
        argv.insert(argv.end(), args.begin(), args.end());
      } else {
        r.truth = dir_.File(r.label + "." + std::to_string(k) + ".truth.json");
        const std::vector<std::string> args = {"-wait-signal",
                                               "-scenarios=fast,callback",
                                               "-goroutines=1",
                                               "-calls=40",
                                               "-callback-calls=2",
                                               "-callbacks=3",
                                               "-truth",
                                               r.truth};
        argv.insert(argv.end(), args.begin(), args.end());
      }
      r.proc = Process::Start(argv, dir_.File(r.label + ".out"), dir_.File(r.label + ".err"));
      wave.push_back(std::move(r));
    }
    // Each process waits until the exporter has attached to it.
    for (ExeRun& r : wave) {
      auto line = r.proc.WaitForLine(Stream::kStdout, r.killed ? "WAITING " : "READY ", 20s);
      ASSERT_TRUE(line) << r.proc.Describe();
      r.ns_pid = std::stoi(line->substr(line->find(' ') + 1));
    }
    for (ExeRun& r : wave) {
      ASSERT_TRUE(WaitUntil(
          [&] {
            return ex.proc.Stderr().find("probes to PID " + std::to_string(r.ns_pid) + " (") !=
                   std::string::npos;
          },
          20s))
          << r.label << " (PID " << r.ns_pid << ") never attached: " << ex.proc.Describe();
      std::vector<pid_t> kid = ChildrenOf(r.proc.pid());
      ASSERT_EQ(kid.size(), 1u) << r.proc.Describe();
      ASSERT_EQ(kill(kid[0], r.killed ? SIGUSR2 : SIGUSR1), 0);
    }
    for (ExeRun& r : wave) {
      if (!r.killed) {
        EXPECT_TRUE(r.proc.WaitOrKill(60s).Ok()) << r.proc.Describe();
        continue;
      }
      ASSERT_TRUE(r.proc.WaitForLine(Stream::kStdout, "READY ", 20s)) << r.proc.Describe();
      std::map<std::string, double> m;
      const std::string gauge = R"(cgotrace_threads_in_cgo{binary=")" + r.label + R"("})";
      EXPECT_TRUE(WaitForSample(dir_, ex, gauge, kBlocked, 10s, &m))
          << r.label << ": " << SampleOr(m, gauge, -1) << " threads in C, not " << kBlocked;
      std::vector<pid_t> kid = ChildrenOf(r.proc.pid());
      ASSERT_EQ(kid.size(), 1u) << r.proc.Describe();
      ASSERT_EQ(kill(kid[0], SIGKILL), 0);
      (void)r.proc.WaitOrKill(20s);
      ++killed;
    }
    for (ExeRun& r : wave) {
      if (r.killed) {
        continue;
      }
      std::string error;
      auto truth = ReadTruth(r.truth, &error);
      ASSERT_TRUE(truth) << error;
      expected_calls[r.label] += static_cast<double>(TruthCalls(*truth, "fast_add"));
      expected_callbacks[r.label] += truth->at("callbacks").at("count").get<double>();
    }
    // Executables whose run is over are removed, as a deploy would: only
    // the files of processes still running stay on disk.
    for (ExeRun& r : wave) {
      if (r.label != redeployed) {
        std::filesystem::remove(dir_.File(r.label));
      }
    }
    if (first == 0) {
      after_first_wave = Measure(exporter);
    }
  }

  std::map<std::string, double> m;
  auto all_exact = [&] {
    m = Scrape(dir_, ex);
    if (SampleOr(m, "cgotrace_processes_traced", -1) != 0 ||
        SampleOr(m, "cgotrace_probes_attached", -1) != 0) {
      return false;
    }
    for (const auto& [label, n] : expected_calls) {
      if (SampleOr(m, CountKey(label, "fast_add"), -1) != n) return false;
    }
    return true;
  };
  WaitUntil(all_exact, 20s);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  for (const auto& [label, n] : expected_calls) {
    SCOPED_TRACE(label);
    EXPECT_EQ(SampleOr(m, CountKey(label, "fast_add"), -1), n);
    EXPECT_EQ(
        SampleOr(m,
                 R"(cgotrace_cgo_callbacks_total{binary=")" + label + R"(",function="goCallback"})",
                 -1),
        expected_callbacks[label]);
  }
  for (const std::string& label : labels) {
    EXPECT_EQ(SampleOr(m, R"(cgotrace_threads_in_cgo{binary=")" + label + R"("})", -1), 0) << label;
  }
  EXPECT_EQ(SampleOr(m, R"(cgotrace_calls_unreturned_total{cause="exit"})", -1), killed * kBlocked);
  EXPECT_EQ(SampleOr(m, R"(cgotrace_calls_unreturned_total{cause="panic"})", -1), 0);
  EXPECT_EQ(SampleOr(m, "cgotrace_events_lost_total", -1), 0);
  EXPECT_EQ(SampleOr(m, "cgotrace_processes_traced", -1), 0);
  EXPECT_EQ(SampleOr(m, "cgotrace_probes_attached", -1), 0);
  EXPECT_EQ(ex.proc.Stderr().find("at most"), std::string::npos) << ex.proc.Describe();

  const Figures at_end = Measure(exporter);
  std::printf(
      "longrun: %d executables (%d killed inside C, 1 redeployed) in %.0f s; exporter fds %zu at "
      "start, %zu after the first %d, %zu at the end; RSS %ld kB at start, %ld kB after the first "
      "%d, %ld kB at the end\n",
      kExecutables, killed, seconds, at_start.fds, after_first_wave.fds, kWave, at_end.fds,
      at_start.rss_kb, after_first_wave.rss_kb, kWave, at_end.rss_kb);
  std::fflush(stdout);
  // Bounded: nothing per executable that has gone is kept open, and memory
  // grows only by the series it keeps (a few kB per executable).
  EXPECT_LE(at_end.fds, after_first_wave.fds);
  EXPECT_LE(at_end.rss_kb, after_first_wave.rss_kb + 16 * 1024);

  // SIGKILL: no cleanup code runs, the kernel must drop everything with the
  // exporter's file descriptors.
  const std::set<std::string> ids = BpfIds(exporter);
  ASSERT_FALSE(ids.empty()) << "the exporter holds its BPF programs and links as fds";
  ASSERT_EQ(kill(exporter, SIGKILL), 0);
  (void)ex.proc.WaitOrKill(15s);
  for (const std::string& id : ids) {
    bool gone = WaitUntil([&] { return !StillInKernel(dir_, id); }, 5s);
    EXPECT_TRUE(gone) << id << " still in the kernel after SIGKILL of the exporter";
  }
  for (const char* events :
       {"/sys/kernel/tracing/uprobe_events", "/sys/kernel/debug/tracing/uprobe_events"}) {
    std::ifstream in(events);
    std::string line;
    while (std::getline(in, line)) {
      EXPECT_EQ(line.find(dir_.path()), std::string::npos) << events << ": " << line;
    }
  }
}

}  // namespace
}  // namespace cgotrace::e2e
