// Least privilege (docs/exporter.md, Capabilities): the exporter run as an
// unprivileged user holding only the capabilities the docs list works (exact
// counts of a fixture's calls), and after attaching holds no more than the
// docs say it keeps, on every thread.
#include <linux/capability.h>
#include <signal.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "checks.h"
#include "exporter_harness.h"
#include "harness.h"

namespace cgotrace::e2e {
namespace {

using ExporterCapsTest = BpfTest;

// The capabilities docs/exporter.md lists for attaching, as setpriv spells
// them.
const char* const kListedCaps = "+sys_admin,+bpf,+perfmon,+sys_ptrace,+dac_read_search";

// Runs the wrapped command as nobody:nogroup with exactly kListedCaps in its
// inheritable, ambient and bounding sets, so after exec they are its
// permitted and effective sets too (what systemd's AmbientCapabilities= or
// a Kubernetes securityContext with runAsUser gives).
std::vector<std::string> AsNobodyWithListedCaps() {
  const std::string caps = std::string("-all,") + kListedCaps;
  return {"setpriv",
          "--reuid=65534",
          "--regid=65534",
          "--clear-groups",
          "--inh-caps=" + caps,
          "--ambient-caps=" + caps,
          "--bounding-set=" + caps};
}

struct ThreadCaps {
  uint64_t eff = 0, prm = 0, inh = 0, amb = 0, bnd = 0;
  int no_new_privs = -1;
  int uid = -1;
};

// Capability sets of every thread of `pid` (capabilities are per thread).
std::map<std::string, ThreadCaps> CapsOfEveryThread(pid_t pid) {
  std::map<std::string, ThreadCaps> out;
  const std::string task_dir = "/proc/" + std::to_string(pid) + "/task";
  std::error_code ec;
  for (const auto& task : std::filesystem::directory_iterator(task_dir, ec)) {
    std::ifstream in(task.path() / "status");
    ThreadCaps caps;
    std::string line;
    while (std::getline(in, line)) {
      auto hex = [&](const char* key, uint64_t* v) {
        if (line.starts_with(key))
          *v = std::stoull(line.substr(std::string(key).size()), nullptr, 16);
      };
      hex("CapEff:", &caps.eff);
      hex("CapPrm:", &caps.prm);
      hex("CapInh:", &caps.inh);
      hex("CapAmb:", &caps.amb);
      hex("CapBnd:", &caps.bnd);
      if (line.starts_with("NoNewPrivs:")) caps.no_new_privs = std::stoi(line.substr(11));
      if (line.starts_with("Uid:")) caps.uid = std::stoi(line.substr(4));
    }
    out[task.path().filename().string()] = caps;
  }
  return out;
}

constexpr uint64_t Bit(int cap) { return uint64_t{1} << cap; }
constexpr uint64_t kListedMask = Bit(CAP_SYS_ADMIN) | Bit(CAP_BPF) | Bit(CAP_PERFMON) |
                                 Bit(CAP_SYS_PTRACE) | Bit(CAP_DAC_READ_SEARCH);

// One exporter mode: its target flags, and what docs/exporter.md says it
// keeps after attaching.
void RunAndCheck(const TempDir& dir, bool by_binary, uint64_t expected_kept) {
  // A private copy in a root-only temp dir, run by root: reading it and its
  // /proc entries is exactly what CAP_DAC_READ_SEARCH and CAP_SYS_PTRACE are
  // listed for.
  const std::string app = PrivateCopy(dir, "cgocalls", "caps-app");
  const std::string truth_path = dir.File("truth.json");
  Process target = Process::Start({app, "-wait-signal", "-scenarios=fast,callback", "-goroutines=2",
                                   "-calls=400", "-truth", truth_path, "-linger=30s"},
                                  dir.File("app.out"), dir.File("app.err"));
  ASSERT_TRUE(target.WaitForLine(Stream::kStdout, "READY", 10s)) << target.Describe();

  const std::vector<std::string> targets =
      by_binary ? std::vector<std::string>{"--binary", app}
                : std::vector<std::string>{"-p", std::to_string(target.pid())};
  std::vector<std::string> args = targets;
  args.insert(args.end(), {"--rescan", "300ms"});
  RunningExporter ex = StartExporter(dir, "exporter", args, AsNobodyWithListedCaps());
  ASSERT_GT(ex.port, 0) << ex.proc.Describe();
  ASSERT_TRUE(WaitForSample(dir, ex, "cgotrace_processes_traced", 1, 10s)) << ex.proc.Describe();

  // It dropped what it no longer needs, on every thread (the HTTP server's
  // included), and cannot regain it.
  const auto threads = CapsOfEveryThread(ex.proc.pid());
  ASSERT_GE(threads.size(), 2u) << "the HTTP server threads are running";
  for (const auto& [tid, caps] : threads) {
    SCOPED_TRACE("exporter thread " + tid);
    EXPECT_EQ(caps.uid, 65534);
    EXPECT_EQ(caps.eff, expected_kept) << std::hex << caps.eff;
    EXPECT_EQ(caps.prm, expected_kept) << std::hex << caps.prm;
    EXPECT_EQ(caps.inh, 0u) << std::hex << caps.inh;
    EXPECT_EQ(caps.amb, 0u) << std::hex << caps.amb;
    // Without CAP_SETPCAP the bounding set stays as given, never wider.
    EXPECT_EQ(caps.bnd & ~kListedMask, 0u) << std::hex << caps.bnd;
    EXPECT_EQ(caps.no_new_privs, 1);
  }

  // And it works: every call of the fixture, counted exactly.
  target.Signal(SIGUSR1);
  ASSERT_TRUE(target.WaitForLine(Stream::kStdout, "DONE", 30s)) << target.Describe();
  std::string error;
  auto truth = ReadTruth(truth_path, &error);
  ASSERT_TRUE(truth) << error;
  int64_t fast = 0;
  for (const auto& g : truth->at("goroutines")) {
    fast += g["calls"].value("fast_add", 0);
  }
  const int64_t callbacks = truth->at("callbacks").at("count").get<int64_t>();
  ASSERT_GT(fast, 0);
  ASSERT_GT(callbacks, 0);
  const std::string calls_key =
      R"(cgotrace_cgo_call_duration_seconds_count{binary="caps-app",function="fast_add"})";
  const std::string callbacks_key =
      R"(cgotrace_cgo_callbacks_total{binary="caps-app",function="goCallback"})";
  std::map<std::string, double> samples;
  WaitForSamples(
      dir, ex,
      {{calls_key, static_cast<double>(fast)}, {callbacks_key, static_cast<double>(callbacks)}},
      10s, &samples);
  EXPECT_EQ(SampleOr(samples, calls_key, -1), static_cast<double>(fast)) << ex.proc.Describe();
  EXPECT_EQ(SampleOr(samples, callbacks_key, -1), static_cast<double>(callbacks));
  EXPECT_EQ(SampleOr(samples, "cgotrace_events_lost_total", -1), 0);

  // Detaching when the target goes needs nothing it dropped.
  target.Signal(SIGTERM);
  ASSERT_TRUE(target.Wait(10s)) << target.Describe();
  EXPECT_TRUE(WaitForSample(dir, ex, "cgotrace_processes_traced", 0, 10s)) << ex.proc.Describe();
  ex.proc.Signal(SIGTERM);
  EXPECT_TRUE(ex.proc.WaitOrKill(15s).Ok()) << ex.proc.Describe();
  EXPECT_NE(ex.proc.Stderr().find("cgotrace: stopping"), std::string::npos) << ex.proc.Describe();
}

// -p attaches again when its process executes another program, --binary
// when a redeploy replaces the file at its path (docs/exporter.md), so both
// keep what attaching needs, like --all-go.
TEST_F(ExporterCapsTest, ByPidWithListedCapabilitiesCountsExactlyAndKeepsWhatAttachNeeds) {
  RunAndCheck(dir_, /*by_binary=*/false, kListedMask);
}

TEST_F(ExporterCapsTest, ByBinaryWithListedCapabilitiesCountsExactlyAndKeepsWhatAttachNeeds) {
  RunAndCheck(dir_, /*by_binary=*/true, kListedMask);
}

}  // namespace
}  // namespace cgotrace::e2e
