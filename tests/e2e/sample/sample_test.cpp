// cgotrace top and profile against the incgo fixture: goroutines blocked in C
// since before cgotrace attached, one spinning in C, one making tiny calls.
// Every expectation comes from the fixture's own truth (its goids and thread
// ids) and the known split of its threads.
#include <signal.h>

#include <filesystem>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "checks.h"
#include "exporter_harness.h"
#include "harness.h"

namespace cgotrace::e2e {
namespace {

using SampleTest = BpfTest;
using SampleBadInputTest = CliTest;

constexpr auto kTimeout = 60s;

std::vector<std::string> Cli(std::vector<std::string> args) {
  args.insert(args.begin(), CgotraceBin());
  return args;
}

// The fixture running, all its goroutines in C, and its truth.
struct Incgo {
  Process proc;
  Json truth;
};

Incgo StartIncgo(const TempDir& dir, const std::string& fixture, int blocked) {
  Incgo f;
  const std::string truth = dir.File(fixture + ".truth.json");
  f.proc = Process::Start({Fixture(fixture), "-blocked", std::to_string(blocked), "-truth", truth},
                          dir.File(fixture + ".out"), dir.File(fixture + ".err"));
  EXPECT_TRUE(f.proc.WaitForLine(Stream::kStdout, "READY", kTimeout)) << f.proc.Describe();
  std::string error;
  auto t = ReadTruth(truth, &error);
  EXPECT_TRUE(t) << error;
  if (t) {
    f.truth = *t;
  }
  return f;
}

// Runs the CLI with `args` and parses its output as one JSON document: an
// empty object, with the failure reported, when the command or its JSON
// fails.
Json CliJson(const TempDir& dir, const std::vector<std::string>& args) {
  RunResult r = RunCommand(Cli(args), dir, kTimeout);
  EXPECT_TRUE(r.status.Ok()) << r.Describe();
  std::string error;
  auto j = ParseJson(r.out, &error);
  EXPECT_TRUE(j) << error << "\n" << r.Describe();
  return j ? *j : Json::object();
}

Json TopOnce(const TempDir& dir, pid_t pid, const std::string& interval = "300ms") {
  return CliJson(dir, {"top", "-p", std::to_string(pid), "--once", "--format", "json", "--interval",
                       interval});
}

// `profile -p PID -F 49 --format json` for `duration`.
Json ProfileJson(const TempDir& dir, pid_t pid, const std::string& duration) {
  return CliJson(dir, {"profile", "-p", std::to_string(pid), "-F", "49", "--duration", duration,
                       "--format", "json"});
}

const Json* CallOf(const Json& top, uint64_t goid) {
  for (const Json& c : top["calls"]) {
    if (c["goid"].get<uint64_t>() == goid) {
      return &c;
    }
  }
  return nullptr;
}

std::vector<std::string> CFrameNames(const Json& call) {
  std::vector<std::string> out;
  for (const Json& f : call["c_frames"]) {
    out.push_back(f["func"].get<std::string>());
  }
  return out;
}

// `c_symbols`: whether the binary has the .symtab that names its own C code
// (a stripped binary's C frames are addresses; the chain is still walked).
void ExpectTopMatchesTruth(const Json& top, const Json& truth, const std::string& what,
                           bool c_symbols) {
  SCOPED_TRACE(what);
  ASSERT_TRUE(top.contains("calls")) << top.dump();
  EXPECT_EQ(top["pid"].get<int>(), truth["pid"].get<int>());
  const size_t blocked = truth["blocked"].size();
  // blocked + the spinner, maybe the tiny caller caught inside C.
  EXPECT_GE(top["threads_in_c"].get<size_t>(), blocked + 1) << top.dump();
  EXPECT_LE(top["threads_in_c"].get<size_t>(), blocked + 2) << top.dump();
  EXPECT_GE(top["threads"].get<size_t>(), blocked + 2);
  for (const Json& g : truth["blocked"]) {
    const Json* c = CallOf(top, g["goid"].get<uint64_t>());
    ASSERT_NE(c, nullptr) << "goroutine " << g["goid"] << " not listed: " << top.dump();
    EXPECT_EQ((*c)["func"], "block_outer");
    EXPECT_EQ((*c)["state"], "blocked");
    EXPECT_EQ((*c)["tid"], g["tid"]);
    EXPECT_EQ((*c)["site"], "main.blockedWorker");
    EXPECT_GT((*c)["stack_depth"].get<uint64_t>(), 0u);
    // The C frames the thread is really in, innermost first; the chain
    // reached Go (the cgo trampoline tail-calls block_outer at -O2, so it
    // has no frame of its own).
    std::vector<std::string> frames = CFrameNames(*c);
    ASSERT_EQ(frames.size(), 2u) << c->dump();
    if (c_symbols) {
      EXPECT_EQ(frames[0], "block_inner");
      EXPECT_EQ(frames[1], "block_outer");
    }
    EXPECT_TRUE((*c)["c_frames_complete"].get<bool>()) << c->dump();
    // In C since before cgotrace attached: a lower bound.
    EXPECT_FALSE((*c)["age_exact"].get<bool>());
  }
  const Json& spinner = truth["spinner"];
  const Json* s = CallOf(top, spinner["goid"].get<uint64_t>());
  ASSERT_NE(s, nullptr) << "spinner not listed: " << top.dump();
  EXPECT_EQ((*s)["func"], "spin_outer");
  // On a CPU, or waiting for one on a loaded machine: never blocked.
  EXPECT_NE((*s)["state"], "blocked") << s->dump();
  EXPECT_EQ((*s)["tid"], spinner["tid"]);
  EXPECT_EQ((*s)["site"], "main.spinWorker");
  std::vector<std::string> frames = CFrameNames(*s);
  ASSERT_EQ(frames.size(), 2u) << s->dump();
  if (c_symbols) {
    EXPECT_EQ(frames[0], "spin_inner");
    EXPECT_EQ(frames[1], "spin_outer");
  }
}

TEST_F(SampleTest, TopListsCallsThatBeganBeforeAttach) {
  for (const char* fixture : {"incgo", "incgo-stripped", "incgo-pie"}) {
    Incgo f = StartIncgo(dir_, fixture, 3);
    ASSERT_FALSE(f.truth.is_null());
    Json top = TopOnce(dir_, f.proc.pid());
    const bool stripped = std::string(fixture) == "incgo-stripped";
    ExpectTopMatchesTruth(top, f.truth, fixture, !stripped);
    // Runtime globals need .symtab.
    EXPECT_EQ(top["thread_limit"].is_null(), stripped) << top.dump();
    if (!stripped) {
      EXPECT_EQ(top["thread_limit"].get<int64_t>(), 10000);
      EXPECT_GE(top["goroutines"].get<int64_t>(), 6);
    }
    f.proc.Signal(SIGTERM);
    EXPECT_TRUE(f.proc.WaitOrKill(20s).Ok())
        << "the fixture must survive sampling and exit 0; " << f.proc.Describe();
  }
}

// go1.20 and go1.22: g has no syscallbp, the runtime's layout differs
// (offsets, cgocall's frame), and the Go side of each call is found from
// g.syscallsp and cgocall's prologue. Same exact truths as the current
// release: each goroutine by its own goid, function, thread, call site and C
// frames; the profile attributes every round to each blocked goroutine.
TEST_F(SampleTest, TopAndProfileOnReleasesBeforeGo123) {
  for (const char* fixture : {"incgo-go1.20", "incgo-go1.22"}) {
    SCOPED_TRACE(fixture);
    const int blocked = 3;
    Incgo f = StartIncgo(dir_, fixture, blocked);
    ASSERT_FALSE(f.truth.is_null());
    RunResult inspect = RunCommand(Cli({"inspect", Fixture(fixture)}), dir_, kTimeout);
    ASSERT_TRUE(inspect.status.Ok()) << inspect.Describe();
    EXPECT_NE(inspect.out.find("cgocall frame: g.syscallsp+"), std::string::npos) << inspect.out;
    Json top = TopOnce(dir_, f.proc.pid());
    ExpectTopMatchesTruth(top, f.truth, fixture, true);

    Json j = ProfileJson(dir_, f.proc.pid(), "1s");
    ASSERT_TRUE(j.contains("rounds")) << j.dump();
    const double rounds = j["rounds"].get<double>();
    ASSERT_GE(rounds, 20) << j.dump();
    std::map<uint64_t, Json> by_goid;
    for (const Json& g : j["goroutines"]) {
      by_goid[g["goid"].get<uint64_t>()] = g;
    }
    for (const Json& g : f.truth["blocked"]) {
      const uint64_t goid = g["goid"].get<uint64_t>();
      ASSERT_TRUE(by_goid.count(goid)) << "goroutine " << goid << ": " << j.dump();
      EXPECT_EQ(by_goid[goid]["func"], "block_outer");
      EXPECT_NEAR(by_goid[goid]["samples"].get<double>() / rounds, 1.0, 0.02) << j.dump();
    }
    const uint64_t spinner = f.truth["spinner"]["goid"].get<uint64_t>();
    ASSERT_TRUE(by_goid.count(spinner)) << j.dump();
    EXPECT_EQ(by_goid[spinner]["func"], "spin_outer");
    f.proc.Signal(SIGTERM);
    EXPECT_TRUE(f.proc.WaitOrKill(20s).Ok()) << f.proc.Describe();
  }
}

// Thread ids by namespace: /proc/HOSTPID/task/*/status "NSpid: host ns".
std::map<int64_t, int64_t> HostTidsByNamespaceTid(pid_t host_pid) {
  std::map<int64_t, int64_t> out;
  const std::string task = "/proc/" + std::to_string(host_pid) + "/task";
  for (const auto& entry : std::filesystem::directory_iterator(task)) {
    for (const std::string& line : Lines(ReadFile(entry.path().string() + "/status"))) {
      if (line.starts_with("NSpid:")) {
        std::istringstream in(line.substr(6));
        int64_t host = 0;
        int64_t ns = 0;
        in >> host >> ns;
        out[ns] = host;
      }
    }
  }
  return out;
}

// A target in a PID namespace of its own (a container): PIDs and thread ids
// are shown as the namespace cgotrace runs in numbers them. From the host,
// the host's (what host `ps`/`top` show); from inside the container, the
// container's, which are the ids the fixture itself reports.
TEST_F(SampleTest, ThreadIdsAreThoseOfTheReadersPidNamespace) {
  const std::string truth_path = dir_.File("ns.truth.json");
  Process app = Process::Start({"unshare", "--pid", "--fork", "--mount-proc", "--kill-child",
                                Fixture("incgo"), "-blocked", "2", "-truth", truth_path},
                               dir_.File("ns.out"), dir_.File("ns.err"));
  ASSERT_TRUE(app.WaitForLine(Stream::kStdout, "READY", kTimeout)) << app.Describe();
  std::string error;
  auto truth = ReadTruth(truth_path, &error);
  ASSERT_TRUE(truth) << error;
  std::vector<pid_t> kids = ChildrenOf(app.pid());
  ASSERT_EQ(kids.size(), 1u) << "unshare's child, the fixture";
  const pid_t host_pid = kids[0];
  ASSERT_NE(host_pid, (*truth)["pid"].get<pid_t>()) << "the fixture must see another PID";
  std::map<int64_t, int64_t> host_tid = HostTidsByNamespaceTid(host_pid);

  // From the host.
  Json top = TopOnce(dir_, host_pid);
  EXPECT_EQ(top["pid"].get<pid_t>(), host_pid);
  for (const Json& g : (*truth)["blocked"]) {
    const Json* c = CallOf(top, g["goid"].get<uint64_t>());
    ASSERT_NE(c, nullptr) << top.dump();
    const int64_t ns_tid = g["tid"].get<int64_t>();
    ASSERT_TRUE(host_tid.count(ns_tid)) << ns_tid;
    EXPECT_EQ((*c)["tid"].get<int64_t>(), host_tid[ns_tid]) << c->dump();
    EXPECT_EQ((*c)["func"], "block_outer");
  }

  // From inside the container's PID (and mount, for its /proc) namespace.
  RunResult in = RunCommand({"nsenter", "-t", std::to_string(host_pid), "-p", "-m", "--",
                             CgotraceBin(), "top", "-p", std::to_string((*truth)["pid"].get<int>()),
                             "--once", "--format", "json", "--interval", "300ms"},
                            dir_, kTimeout);
  ASSERT_TRUE(in.status.Ok()) << in.Describe();
  auto inner = ParseJson(in.out, &error);
  ASSERT_TRUE(inner) << error << in.Describe();
  EXPECT_EQ((*inner)["pid"], (*truth)["pid"]);
  ExpectTopMatchesTruth(*inner, *truth, "inside the namespace", true);

  ASSERT_EQ(kill(host_pid, SIGTERM), 0);
  EXPECT_TRUE(app.WaitOrKill(20s).Ok()) << app.Describe();
}

TEST_F(SampleTest, AgesOfCallsThatNeverReturnGrow) {
  Incgo f = StartIncgo(dir_, "incgo", 2);
  ASSERT_FALSE(f.truth.is_null());
  const uint64_t goid = f.truth["blocked"][0]["goid"].get<uint64_t>();
  // Live mode with JSON: one snapshot per line, every 200 ms.
  Process top = Process::Start(
      Cli({"top", "-p", std::to_string(f.proc.pid()), "--format", "json", "--interval", "200ms"}),
      dir_.File("top.out"), dir_.File("top.err"));
  std::this_thread::sleep_for(1500ms);
  top.Signal(SIGINT);
  ExitStatus st = top.WaitOrKill(20s);
  ASSERT_TRUE(st.Ok()) << top.Describe();
  std::vector<uint64_t> ages;
  for (const std::string& line : Lines(top.Stdout())) {
    std::string error;
    auto j = ParseJson(line, &error);
    ASSERT_TRUE(j) << error << ": " << line;
    const Json* c = CallOf(*j, goid);
    ASSERT_NE(c, nullptr) << line;
    EXPECT_FALSE((*c)["age_exact"].get<bool>()) << "began before attach: " << line;
    ages.push_back((*c)["age_ns"].get<uint64_t>());
  }
  ASSERT_GE(ages.size(), 4u) << top.Describe();
  EXPECT_EQ(ages.front(), 0u) << "the first sample is when cgotrace first saw the call";
  for (size_t i = 1; i < ages.size(); ++i) {
    // Each snapshot is ~200 ms after the previous one.
    EXPECT_GE(ages[i], ages[i - 1] + 150'000'000u) << "snapshot " << i;
    EXPECT_LE(ages[i], ages[i - 1] + 1'000'000'000u) << "snapshot " << i;
  }
  f.proc.Signal(SIGTERM);
  EXPECT_TRUE(f.proc.WaitOrKill(20s).Ok()) << f.proc.Describe();
}

TEST_F(SampleTest, ProfileSharesMatchTheKnownSplit) {
  const int blocked = 4;
  Incgo f = StartIncgo(dir_, "incgo", blocked);
  ASSERT_FALSE(f.truth.is_null());
  Json j = ProfileJson(dir_, f.proc.pid(), "2s");
  ASSERT_TRUE(j.contains("rounds")) << j.dump();
  const double rounds = j["rounds"].get<double>();
  ASSERT_GE(rounds, 40) << j.dump();  // 2 s at 49 Hz, on a loaded machine
  std::map<std::string, Json> by_func;
  for (const Json& fn : j["functions"]) {
    by_func[fn["func"].get<std::string>()] = fn;
  }
  ASSERT_TRUE(by_func.count("block_outer")) << j.dump();
  ASSERT_TRUE(by_func.count("spin_outer")) << j.dump();
  // Every round sees each blocked thread and the spinner in C: exactly
  // `blocked` and 1 thread(s) per round. Tolerance 2%: a round can race with
  // nothing here, since none of these calls return.
  const Json& blk = by_func["block_outer"];
  const Json& spn = by_func["spin_outer"];
  EXPECT_NEAR(blk["samples"].get<double>() / rounds, blocked, 0.02 * blocked) << j.dump();
  EXPECT_NEAR(spn["samples"].get<double>() / rounds, 1.0, 0.02) << j.dump();
  // Blocked threads sleep: on-CPU share ~0 (a sample can land in the wake-up
  // of a 500 ms sleep); the spinner always wants a CPU: ~1. "Wants": on a
  // shared machine it waits for a CPU part of the time (runnable).
  auto active = [](const Json& fn) {
    return (fn["on_cpu_samples"].get<double>() + fn["runnable_samples"].get<double>()) /
           fn["samples"].get<double>();
  };
  EXPECT_LE(active(blk), 0.10) << j.dump();
  EXPECT_GE(active(spn), 0.95) << j.dump();
  // Goroutines: each blocked goroutine and the spinner, by their own goids.
  std::map<uint64_t, double> goroutine_samples;
  for (const Json& g : j["goroutines"]) {
    goroutine_samples[g["goid"].get<uint64_t>()] = g["samples"].get<double>();
  }
  for (const Json& g : f.truth["blocked"]) {
    EXPECT_NEAR(goroutine_samples[g["goid"].get<uint64_t>()] / rounds, 1.0, 0.02)
        << "goroutine " << g["goid"] << ": " << j.dump();
  }
  f.proc.Signal(SIGTERM);
  EXPECT_TRUE(f.proc.WaitOrKill(20s).Ok()) << f.proc.Describe();
}

TEST_F(SampleTest, ProfileFoldedAndPprofStacksAreMixedCOverGo) {
  Incgo f = StartIncgo(dir_, "incgo", 2);
  ASSERT_FALSE(f.truth.is_null());
  RunResult r = RunCommand(Cli({"profile", "-p", std::to_string(f.proc.pid()), "--duration",
                                "500ms", "--format", "folded"}),
                           dir_, kTimeout);
  ASSERT_TRUE(r.status.Ok()) << r.Describe();
  bool found = false;
  for (const std::string& line : Lines(r.out)) {
    // root; Go callers outermost first; the _Cfunc_ wrapper; then C frames.
    if (line.find("main.blockedWorker;main._Cfunc_block_outer;") != std::string::npos &&
        line.find(";block_outer;block_inner ") != std::string::npos) {
      found = true;
    }
  }
  EXPECT_TRUE(found) << r.out;

  // pprof: the same stacks, leaf first, as `go tool pprof` shows them.
  const std::string pb = dir_.File("incgo.pb.gz");
  RunResult p = RunCommand(Cli({"profile", "-p", std::to_string(f.proc.pid()), "--duration",
                                "500ms", "--format", "pprof", "-o", pb}),
                           dir_, kTimeout);
  ASSERT_TRUE(p.status.Ok()) << p.Describe();
  RunResult traces = RunCommand({CGOTRACE_GO, "tool", "pprof", "-traces", pb}, dir_);
  ASSERT_TRUE(traces.status.Ok()) << traces.Describe();
  const std::string chain =
      "block_inner\n             block_outer\n             main._Cfunc_block_outer\n"
      "             main.blockedWorker\n";
  EXPECT_NE(traces.out.find(chain), std::string::npos) << traces.out;
  for (const Json& g : f.truth["blocked"]) {
    EXPECT_NE(traces.out.find("goid:  " + std::to_string(g["goid"].get<uint64_t>()) + "\n"),
              std::string::npos)
        << traces.out;
  }
  f.proc.Signal(SIGTERM);
  EXPECT_TRUE(f.proc.WaitOrKill(20s).Ok()) << f.proc.Describe();
}

TEST_F(SampleTest, ProfileLaunchesACommand) {
  const std::string truth = dir_.File("launched.truth.json");
  RunResult r = RunCommand(Cli({"profile", "--duration", "1500ms", "--format", "json", "--",
                                Fixture("incgo"), "-blocked", "2", "-truth", truth}),
                           dir_, kTimeout);
  ASSERT_TRUE(r.status.Ok()) << r.Describe();
  // The launched program shares stdout ("READY ..."): the profile is the
  // JSON line.
  std::string json_line;
  for (const std::string& line : Lines(r.out)) {
    if (!line.empty() && line[0] == '{') json_line = line;
  }
  std::string error;
  auto j = ParseJson(json_line, &error);
  ASSERT_TRUE(j) << error << r.Describe();
  ASSERT_TRUE(WaitForFile(truth, 5s));
  bool blocked_seen = false;
  for (const Json& fn : (*j)["functions"]) {
    blocked_seen |= fn["func"] == "block_outer";
  }
  EXPECT_TRUE(blocked_seen) << j->dump();
}

TEST_F(SampleBadInputTest, BadInput) {
  const pid_t dead = DeadPid();
  for (const std::vector<std::string>& args : std::vector<std::vector<std::string>>{
           {"top", "-p", std::to_string(dead), "--once"},
           {"top"},
           {"top", "-p", "-3", "--once"},
           {"top", "-p", "1", "--sort", "nonsense"},
           {"top", "-p", "1", "--format", "xml"},
           {"profile", "-p", std::to_string(dead), "--duration", "1s"},
           {"profile"},
           {"profile", "-p", "1", "-F", "0"},
           {"profile", "-p", "1", "--format", "xml"},
           {"profile", "-p", "1", "--duration", "soon"},
           {"profile", "--", dir_.File("no-such-program")},
           {"profile", "--binary", dir_.File("no-such-program")},
       }) {
    std::string what;
    for (const std::string& a : args) {
      what += a + " ";
    }
    RunResult r = RunCommand(Cli(args), dir_, kTimeout);
    ExpectCleanError(r, what);
  }
  // A process that is not Go: the error names the PID.
  RunResult r = RunCommand(Cli({"top", "-p", "1", "--once"}), dir_, kTimeout);
  ExpectCleanError(r, "top -p 1");
  EXPECT_NE(r.err.find("PID 1"), std::string::npos) << r.Describe();
}

}  // namespace
}  // namespace cgotrace::e2e
