// `cgotrace record` and `cgotrace report` as a user runs them: recordings of
// the cgocalls fixture checked against its own truth (per goroutine and
// function, Go call chains in folded stacks), recordings cut short by
// kill -9, bad input files, and the flame graph and Chrome trace loaded in
// headless Chromium.
#include <signal.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "cgotrace/recording.h"
#include "checks.h"
#include "harness.h"
#include "record_chromium.h"
#include "util/format.h"

namespace cgotrace::e2e {
namespace {

constexpr auto kRunTimeout = 90s;

// The recording's events in the JSONL schema of `cgotrace trace`, read with
// the library's reader, so the trace tests' truth checks apply as they are.
std::vector<Json> RecordedEvents(const std::string& path) {
  auto rec = LoadRecording(path);
  if (!rec.ok()) {
    ADD_FAILURE() << rec.error().message;
    return {};
  }
  std::vector<Json> out;
  for (const RecordedEvent& e : rec->events) {
    out.push_back(Json::parse(FormatEventJson(rec->reader->ToCgoEvent(e))));
  }
  return out;
}

std::map<std::string, uint64_t> ParseFolded(const std::string& text) {
  std::map<std::string, uint64_t> out;
  for (const std::string& line : Lines(text)) {
    const size_t space = line.rfind(' ');
    out[line.substr(0, space)] += std::stoull(line.substr(space + 1));
  }
  return out;
}

// Sum of the folded values of goroutine `goid` whose frames end with `tail`.
uint64_t FoldedFor(const std::map<std::string, uint64_t>& folded, uint64_t goid,
                   const std::string& tail, std::vector<std::string>* lines = nullptr) {
  const std::string root = "g" + std::to_string(goid) + ";";
  uint64_t n = 0;
  for (const auto& [stack, value] : folded) {
    if (stack.starts_with(root) && stack.ends_with(";" + tail)) {
      n += value;
      if (lines != nullptr) lines->push_back(stack);
    }
  }
  return n;
}

// The Go functions of the fixture's source that call each C function.
const std::map<std::string, std::string>& CallerOf() {
  static const std::map<std::string, std::string> m = {
      {"fast_add", "main.runFast"},        {"sleep_us", "main.runBlocking"},
      {"shallow_call", "main.runShallow"}, {"call_back_n", "main.runCallback"},
      {"locked_call", "main.runLocked"},   {"free", "main.runCString"},
      {"deep_call", "main.recurse"},       {"errno_call", "main.runErrno"},
      {"CGT_MACRO_VALUE", "main.runErrno"}};
  return m;
}

// The cgo wrapper between the caller and the C function: _Cfunc_, or the
// errno form's _C2func_ and a macro's _Cmacro_ (gofile/cgo_names.h).
std::string WrapperOf(const std::string& func) {
  if (func == "errno_call") return "main._C2func_" + func;
  if (func == "CGT_MACRO_VALUE") return "main._Cmacro_" + func;
  return "main._Cfunc_" + func;
}

class RecordLaunchTest : public BpfTest, public ::testing::WithParamInterface<const char*> {};

TEST_P(RecordLaunchTest, ReportMatchesFixtureTruthWithGoCallChains) {
  const std::string bin = Fixture(GetParam());
  const std::string truth_path = dir_.File("truth.json");
  const std::string rec = dir_.File("app.cgotrace");
  RunResult r = RunCommand(Concat({CgotraceBin(), "record", "--call-stacks", "-o", rec, "--", bin,
                                   "-truth=" + truth_path},
                                  ModestCgocallsArgs()),
                           dir_, kRunTimeout);
  ASSERT_TRUE(r.status.Ok()) << r.Describe();
  EXPECT_NE(r.err.find("cgotrace: recorded "), std::string::npos) << r.Describe();
  EXPECT_EQ(r.err.find('\r'), std::string::npos) << "progress line without a terminal";
  std::string error;
  auto truth = ReadTruth(truth_path, &error);
  ASSERT_TRUE(truth) << error;
  const uint64_t pid = truth->at("pid").get<uint64_t>();

  // The file holds every call, as `trace` would have shown it.
  const auto all = RecordedEvents(rec);
  ExpectWellFormed(all);
  const auto events = ForPid(all, pid);
  ExpectMatchesCgocallsTruth(*truth, events, Window::kWholeProcess, CommOf(bin));
  auto reader = RecordingReader::Open(rec);
  ASSERT_TRUE(reader.ok()) << reader.error().message;
  auto loaded = LoadRecording(rec);
  ASSERT_TRUE(loaded.ok());
  ASSERT_TRUE(loaded->reader->trailer().has_value());
  EXPECT_EQ(loaded->reader->trailer()->events, all.size());
  EXPECT_EQ(loaded->reader->trailer()->stack_fail, 0u) << "stacks missing: chains cannot match";
  EXPECT_TRUE(loaded->reader->header().call_stacks);
  bool found = false;
  for (const RecordedProcess& p : loaded->reader->processes()) {
    if (p.pid == pid) {
      found = true;
      EXPECT_EQ(p.go_version, truth->at("go_version").get<std::string>());
      EXPECT_FALSE(p.build_id.empty());
    }
  }
  EXPECT_TRUE(found) << "no Process record for pid " << pid;

  // report --sort pid,goid,func: exact counts per goroutine and function.
  RunResult j = RunCommand(
      {CgotraceBin(), "report", "-i", rec, "--format", "json", "--sort", "pid,goid,func"}, dir_);
  ASSERT_TRUE(j.status.Ok()) << j.Describe();
  EXPECT_EQ(j.err, "") << "a complete recording reads without warnings";
  auto report = ParseJson(j.out, &error);
  ASSERT_TRUE(report) << error;
  std::map<std::pair<uint64_t, std::string>, uint64_t> rows;
  for (const Json& row : report->at("calls")) {
    if (row.at("pid") == pid) rows[{row.at("goid"), row.at("func")}] = row.at("count");
  }
  for (const Json& row : report->at("callbacks")) {
    if (row.at("pid") == pid) rows[{row.at("goid"), row.at("func")}] = row.at("count");
  }

  RunResult f = RunCommand(
      {CgotraceBin(), "report", "-i", rec, "--format", "folded", "--weight", "calls"}, dir_);
  ASSERT_TRUE(f.status.Ok()) << f.Describe();
  const auto folded = ParseFolded(f.out);
  for (const Json& g : truth->at("goroutines")) {
    const uint64_t goid = g.at("goid");
    for (const auto& [func, n] : g.at("calls").items()) {
      SCOPED_TRACE("goroutine " + std::to_string(goid) + " " + func);
      EXPECT_EQ((rows[{goid, func}]), n.get<uint64_t>());
      const std::string tail = WrapperOf(func) + ";" + func;
      std::vector<std::string> lines;
      EXPECT_EQ(FoldedFor(folded, goid, CallerOf().at(func) + ";" + tail, &lines),
                n.get<uint64_t>())
          << "folded stacks of the goroutine:\n"
          << f.out;
      for (const std::string& line : lines) {
        if (func == "deep_call") {
          // 2000 frames of recursion: the capture keeps the innermost.
          EXPECT_TRUE(line.starts_with("g" + std::to_string(goid) + ";[truncated];main.recurse;"))
              << line;
        } else {
          EXPECT_NE(line.find(";main.main.func1;"), std::string::npos) << line;
        }
      }
    }
  }
  if (truth->contains("callbacks")) {
    const Json& cb = truth->at("callbacks");
    const uint64_t goid = cb.at("goid");
    EXPECT_EQ((rows[{goid, cb.at("func").get<std::string>()}]), cb.at("count").get<uint64_t>());
    EXPECT_EQ(FoldedFor(folded, goid,
                        "main.runCallback;main._Cfunc_call_back_n;call_back_n;" +
                            cb.at("func").get<std::string>()),
              cb.at("count").get<uint64_t>());
  }
}

INSTANTIATE_TEST_SUITE_P(Builds, RecordLaunchTest,
                         ::testing::Values("cgocalls", "cgocalls-stripped", "cgocalls-pie"),
                         [](const auto& info) {
                           std::string n = info.param;
                           std::replace(n.begin(), n.end(), '-', '_');
                           return n;
                         });

Process StartWaitingFixture(const std::vector<std::string>& args, const TempDir& dir) {
  Process p = Process::Start(Concat({Fixture("cgocalls"), "-wait-signal"}, args),
                             dir.File("fixture.out"), dir.File("fixture.err"));
  EXPECT_TRUE(p.WaitForLine(Stream::kStdout, "READY ", 20s).has_value()) << p.Describe();
  return p;
}

using RecordTest = BpfTest;

TEST_F(RecordTest, AttachByPidStopsAfterDurationWithCompleteFile) {
  const std::string truth_path = dir_.File("truth.json");
  const std::string rec = dir_.File("pid.cgotrace");
  Process fixture = StartWaitingFixture(
      Concat({"-truth=" + truth_path, "-linger=60s"}, ModestCgocallsArgs()), dir_);
  ASSERT_FALSE(HasFailure());
  Process ct = Process::Start(
      {CgotraceBin(), "record", "-p", std::to_string(fixture.pid()), "--duration", "4s", "-o", rec},
      dir_.File("record.out"), dir_.File("record.err"));
  ASSERT_TRUE(ct.WaitForLine(Stream::kStderr, "cgotrace: attached", 30s).has_value())
      << ct.Describe();
  fixture.Signal(SIGUSR1);
  std::string error;
  auto truth = ReadTruth(truth_path, &error);
  ASSERT_TRUE(truth) << error;
  // --duration ends it although the target still runs (it lingers).
  ExitStatus st = ct.WaitOrKill(30s);
  ASSERT_TRUE(st.Ok()) << ct.Describe();
  EXPECT_TRUE(fixture.Running());
  const auto events = RecordedEvents(rec);
  EXPECT_EQ(ForPid(events, fixture.pid()).size(), events.size());
  ExpectMatchesCgocallsTruth(*truth, events, Window::kAfterSignal, "cgocalls");
  RunResult rep = RunCommand({CgotraceBin(), "report", "-i", rec}, dir_);
  ASSERT_TRUE(rep.status.Ok()) << rep.Describe();
  EXPECT_EQ(rep.err, "");
  EXPECT_NE(rep.out.find("# Truncated: no;"), std::string::npos) << rep.out;
}

// kill -9 of the recorder: the file ends mid-stream without a trailer, and
// report shows every complete batch with a one-line warning. The same for
// the file cut at arbitrary offsets (a full disk).
TEST_F(RecordTest, KilledRecorderLeavesAReadableTruncatedFile) {
  const std::string rec = dir_.File("killed.cgotrace");
  Process fixture = StartWaitingFixture({"-scenarios=fast,callback", "-goroutines=2",
                                         "-calls=200000000", "-callback-calls=100000000"},
                                        dir_);
  ASSERT_FALSE(HasFailure());
  Process ct = Process::Start({CgotraceBin(), "record", "-p", std::to_string(fixture.pid()),
                               "--batch-events", "1000", "-o", rec},
                              dir_.File("record.out"), dir_.File("record.err"));
  ASSERT_TRUE(ct.WaitForLine(Stream::kStderr, "cgotrace: attached", 30s).has_value())
      << ct.Describe();
  fixture.Signal(SIGUSR1);
  std::this_thread::sleep_for(3s);
  ct.Signal(SIGKILL);
  ExitStatus st = ct.WaitOrKill(10s);
  EXPECT_FALSE(st.exited);
  EXPECT_EQ(st.signal, SIGKILL);
  fixture.KillGroup();

  const std::regex warning(
      "cgotrace: warning: (.*) is truncated after ([0-9]+) events \\(no trailer\\)");
  auto report_events = [&](const std::string& path) -> int64_t {
    RunResult r = RunCommand({CgotraceBin(), "report", "-i", path, "--format", "json"}, dir_);
    if (!r.status.Ok()) {
      ExpectCleanError(r, "report of " + path);
      EXPECT_NE(r.err.find("truncated before its header"), std::string::npos) << r.err;
      return -1;
    }
    std::smatch m;
    const std::vector<std::string> lines = Lines(r.err);
    EXPECT_EQ(lines.size(), 1u) << r.Describe();
    if (lines.size() != 1 || !std::regex_match(lines[0], m, warning)) {
      ADD_FAILURE() << "no truncation warning: " << r.Describe();
      return -1;
    }
    EXPECT_EQ(m[1].str(), path);
    std::string error;
    auto j = ParseJson(r.out, &error);
    EXPECT_TRUE(j) << error;
    if (!j) return -1;
    const int64_t n = std::stoll(m[2].str());
    EXPECT_EQ(j->at("recording").at("events").get<int64_t>(), n);
    EXPECT_EQ(j->at("recording").at("calls").get<int64_t>() +
                  j->at("recording").at("callbacks").get<int64_t>(),
              n);
    EXPECT_TRUE(j->at("recording").at("truncated").get<bool>());
    return n;
  };
  const int64_t total = report_events(rec);
  ASSERT_GT(total, 1000) << "three seconds of a busy target";
  auto reader = LoadRecording(rec);
  ASSERT_TRUE(reader.ok()) << reader.error().message;
  EXPECT_EQ(static_cast<int64_t>(reader->events.size()), total);

  const std::string full = ReadFile(rec);
  int64_t previous = -1;
  for (int i = 1; i <= 8; ++i) {
    const size_t cut = full.size() * static_cast<size_t>(i) / 9 + static_cast<size_t>(i * 7);
    const std::string path = dir_.File("cut" + std::to_string(i) + ".cgotrace");
    FILE* f = fopen(path.c_str(), "wb");
    ASSERT_NE(f, nullptr);
    fwrite(full.data(), 1, cut, f);
    fclose(f);
    const int64_t n = report_events(path);
    EXPECT_GE(n, previous) << "a longer prefix never holds fewer events";
    EXPECT_LE(n, total);
    previous = n;
  }
  EXPECT_GT(previous, 0);
}

using ReportCliTest = CliTest;

TEST_F(ReportCliTest, ForeignCorruptAndMissingFilesGiveOneLineErrors) {
  const std::string text = dir_.File("notes.txt");
  const std::string empty = dir_.File("empty.cgotrace");
  const std::string header_cut = dir_.File("header-cut.cgotrace");
  for (const auto& [path, bytes] : std::vector<std::pair<std::string, std::string>>{
           {text, "just some text\n"},
           {empty, ""},
           {header_cut, std::string("CGOTRACE\x01\x40", 10)}}) {
    FILE* f = fopen(path.c_str(), "wb");
    ASSERT_NE(f, nullptr);
    fwrite(bytes.data(), 1, bytes.size(), f);
    fclose(f);
  }
  struct Case {
    std::vector<std::string> args;
    std::string says;
  };
  const std::vector<Case> cases = {
      {{"-i", Fixture("cgocalls")}, "is not a cgotrace recording"},
      {{"-i", text}, "is not a cgotrace recording"},
      {{"-i", empty}, "is empty"},
      {{"-i", header_cut, "--format", "folded"}, "is truncated before its header"},
      {{"-i", dir_.File("missing.cgotrace")}, "cannot open"},
      {{"-i", text, "--format", "svg"}, "--format 'svg'"},
      {{"-i", text, "--sort", "func,bogus"}, "--sort 'bogus'"},
      {{"-i", text, "--percent-limit", "120"}, "is not a percentage"},
  };
  for (const Case& c : cases) {
    RunResult r = RunCommand(Concat({CgotraceBin(), "report"}, c.args), dir_);
    ExpectCleanError(r, c.says);
    EXPECT_NE(r.err.find(c.says), std::string::npos) << r.Describe();
  }
}

// The flame graph SVG and the Chrome trace as a browser loads them.
TEST_F(RecordTest, FlameGraphAndChromeTraceLoadInChromium) {
  ASSERT_NE(ChromiumBin(), "") << "chromium is not installed (apt-get install chromium)";
  const std::string truth_path = dir_.File("truth.json");
  const std::string rec = dir_.File("app.cgotrace");
  RunResult r = RunCommand(
      {CgotraceBin(), "record", "--call-stacks", "-o", rec, "--", Fixture("cgocalls"),
       "-truth=" + truth_path, "-scenarios=fast,callback,blocking", "-goroutines=2", "-calls=300",
       "-callbacks=5", "-callback-calls=4", "-blocking=2", "-sleep-us=5000"},
      dir_, kRunTimeout);
  ASSERT_TRUE(r.status.Ok()) << r.Describe();
  std::string error;
  auto truth = ReadTruth(truth_path, &error);
  ASSERT_TRUE(truth) << error;
  const uint64_t pid = truth->at("pid");

  // Flame graph: searching "^fast_add$" on load must highlight exactly the
  // share of time the folded stacks give fast_add.
  const std::string svg = dir_.File("app.svg");
  ASSERT_TRUE(
      RunCommand({CgotraceBin(), "report", "-i", rec, "--format", "flamegraph", "-o", svg}, dir_)
          .status.Ok());
  RunResult f = RunCommand({CgotraceBin(), "report", "-i", rec, "--format", "folded"}, dir_);
  ASSERT_TRUE(f.status.Ok()) << f.Describe();
  uint64_t all = 0, fast = 0;
  for (const auto& [stack, ns] : ParseFolded(f.out)) {
    all += ns;
    fast += stack.ends_with(";fast_add") ? ns : 0;
  }
  auto dom = DumpDom("file://" + svg + "?s=%5Efast_add%24", dir_, &error);
  ASSERT_TRUE(dom) << error;
  EXPECT_NE(dom->find("data-cgotrace-ready=\"1\""), std::string::npos) << "script did not run";
  std::smatch m;
  ASSERT_TRUE(std::regex_search(*dom, m, std::regex("data-frames=\"([0-9]+)\""))) << *dom;
  EXPECT_GT(std::stoi(m[1].str()), 10);
  ASSERT_TRUE(std::regex_search(*dom, m, std::regex("data-matched=\"([0-9.]+)\""))) << *dom;
  EXPECT_NEAR(std::stod(m[1].str()), 100.0 * static_cast<double>(fast) / static_cast<double>(all),
              0.011);
  EXPECT_NE(dom->find("Matched: " + m[1].str() + "%"), std::string::npos);
  for (const Json& g : truth->at("goroutines")) {
    EXPECT_NE(dom->find("data-n=\"g" + std::to_string(g.at("goid").get<uint64_t>()) + "\""),
              std::string::npos);
  }
  for (const char* name : {"fast_add", "call_back_n", "goCallback", "sleep_us", "main.runFast",
                           "main._Cfunc_call_back_n"}) {
    EXPECT_NE(dom->find(std::string("data-n=\"") + name + "\""), std::string::npos) << name;
  }

  // Chrome trace: checked by JavaScript in the browser, and here.
  const std::string trace = dir_.File("app.json");
  ASSERT_TRUE(
      RunCommand({CgotraceBin(), "report", "-i", rec, "--format", "chrome", "-o", trace}, dir_)
          .status.Ok());
  const std::string page = dir_.File("check.html");
  {
    FILE* out = fopen(page.c_str(), "w");
    ASSERT_NE(out, nullptr);
    const std::string html = TraceCheckPage(ReadFile(trace));
    fwrite(html.data(), 1, html.size(), out);
    fclose(out);
  }
  auto check_dom = DumpDom("file://" + page, dir_, &error);
  ASSERT_TRUE(check_dom) << error;
  auto verdict = VerdictFromDom(*check_dom, &error);
  ASSERT_TRUE(verdict) << error << "\n" << *check_dom;
  EXPECT_EQ(verdict->at("errors"), Json::array()) << verdict->dump(1);
  const auto events = RecordedEvents(rec);
  EXPECT_EQ(verdict->at("x").get<size_t>(), events.size());
  EXPECT_EQ(verdict->at("threads"), verdict->at("tracks"));
  const Json& counts = verdict->at("counts");
  for (const Json& g : truth->at("goroutines")) {
    for (const auto& [func, n] : g.at("calls").items()) {
      const std::string key =
          std::to_string(g.at("goid").get<uint64_t>()) + "/" + func + "/cgo_call";
      EXPECT_EQ(counts.value(key, 0), n.get<int>()) << key;
    }
  }
  const Json& cb = truth->at("callbacks");
  EXPECT_EQ(verdict->at("nested_callbacks").get<int64_t>(), cb.at("count").get<int64_t>());

  auto parsed = ParseJson(ReadFile(trace), &error);
  ASSERT_TRUE(parsed) << error;
  size_t x = 0;
  for (const Json& e : parsed->at("traceEvents")) {
    if (e.at("ph") == "X") {
      ++x;
      EXPECT_EQ(e.at("pid").get<uint64_t>(), pid);
    }
  }
  EXPECT_EQ(x, events.size());
}

}  // namespace
}  // namespace cgotrace::e2e
