// The compatibility matrix, live: every binary of the matrix list (see
// tests/matrix/matrix_list.h) - one Go release x one build mode x one
// architecture - goes through the real CLI:
//   launch   `cgotrace trace -- bin`: every cgo call of the process, exactly as
//            the program's own truth counts it (goroutine ids, C function
//            names, callbacks, locked thread, NumCgoCall)
//   attach   `cgotrace trace -p PID`: exactly the calls after the attach
//   inspect  `cgotrace inspect bin` (every architecture): Go version, PIE,
//            symbols, offsets, probe sites (every RET, cross-checked with
//            `go tool objdump`), the program's C functions
//   refuse   binaries older than go1.17: one clean error line, never a trace
// amd64 binaries get all of them; arm64 ones are analysed only (no arm64
// machine, no emulation). scripts/matrix.sh runs these tests on its list and
// turns the recorded results into docs/compatibility.md.
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "../../matrix/matrix_list.h"
#include "checks.h"
#include "gofile/go_buildinfo.h"
#include "harness.h"
#include "offsets/go_offsets.h"

#ifndef CGOTRACE_GO_OBJDUMP
#error "CGOTRACE_GO_OBJDUMP must be defined by the build"
#endif

namespace cgotrace::e2e {
namespace {

using matrix::Entry;

constexpr auto kAttachTimeout = 30s;
// -race and a cold page cache make the first run of a big binary slow.
constexpr auto kRunTimeout = 120s;

// The scenario flags for a live run: every scenario of the program.
std::vector<std::string> LiveArgs(const Entry& e) {
  if (e.Program() == "cxxcalls") return {};  // its defaults are small
  return ModestCgocallsArgs();
}

// The smallest run that still calls every C function once, for the truth
// of which functions the program has.
std::vector<std::string> TinyArgs(const Entry& e) {
  if (e.Program() == "cxxcalls") {
    return {"-keys=1", "-sorts=1", "-sort-size=1", "-divs=3", "-visits=1", "-visit-calls=1"};
  }
  return {"-goroutines=1", "-calls=1",          "-blocking=1",  "-sleep-us=1",     "-depth=1",
          "-deep-calls=1", "-callback-calls=1", "-callbacks=1", "-locked-calls=1", "-cstrings=1"};
}

// Base of every matrix test: records PASS/FAIL for scripts/matrix.sh.
class MatrixTest : public ::testing::TestWithParam<Entry> {
 protected:
  explicit MatrixTest(std::string check) : check_(std::move(check)) {}
  void SetUp() override {
    ASSERT_EQ(access(CgotraceBin().c_str(), X_OK), 0) << CgotraceBin() << " not built";
    ASSERT_EQ(access(GetParam().path.c_str(), X_OK), 0)
        << "matrix binary missing: " << GetParam().Describe()
        << " (scripts/matrix.sh or ninja matrix_fixtures builds it)";
  }
  void TearDown() override { matrix::RecordResult(GetParam(), check_, !HasFailure()); }

  void RequireBpf() {
    const std::string why = BpfUnavailableReason();
    ASSERT_TRUE(why.empty()) << why;
  }

  // Checks the truth describes the binary the list claims.
  void ExpectTruthOfThisBinary(const Json& truth) {
    EXPECT_EQ(truth.value("go_version", ""), GetParam().version)
        << "the binary at " << GetParam().path << " was not built by " << GetParam().version;
  }

  const std::string check_;
  TempDir dir_;
};

std::string ParamName(const ::testing::TestParamInfo<Entry>& info) { return info.param.Name(); }

// ---------------------------------------------------------------------------

TEST(MatrixList, IsUsable) {
  const matrix::List& list = matrix::TheList();
  ASSERT_TRUE(list.error.empty()) << list.error;
  std::cout << "matrix list " << list.source << ": " << list.entries.size() << " binaries\n";
  for (const Entry& e : list.entries) {
    EXPECT_TRUE(e.Supported() || e.arch == "amd64") << "pre-go1.17 binaries are amd64 only";
  }
}

class MatrixLaunchTest : public MatrixTest {
 protected:
  MatrixLaunchTest() : MatrixTest("launch") {}
};

TEST_P(MatrixLaunchTest, EveryCallMatchesTruth) {
  ASSERT_NO_FATAL_FAILURE(RequireBpf());
  const Entry& e = GetParam();
  const std::string truth_path = dir_.File("truth.json");
  const std::string events_path = dir_.File("events.jsonl");
  Process ct = Process::Start(Concat({CgotraceBin(), "trace", "--format", "jsonl", "--output",
                                      events_path, "--", e.path, "-truth=" + truth_path},
                                     LiveArgs(e)),
                              dir_.File("cgotrace.out"), dir_.File("cgotrace.err"));
  ASSERT_TRUE(ct.WaitOrKill(kRunTimeout).Ok()) << ct.Describe();
  EXPECT_NE(ct.Stdout().find("DONE"), std::string::npos) << ct.Describe();

  std::string error;
  auto truth = ReadTruth(truth_path, &error);
  ASSERT_TRUE(truth) << error;
  ExpectTruthOfThisBinary(*truth);
  const auto events = ForPid(ReadEventsOrFail(events_path), truth->at("pid").get<uint64_t>());
  ASSERT_FALSE(events.empty()) << "no events for the program's pid; " << ct.Describe();
  ExpectMatchesCgocallsTruth(*truth, events, Window::kWholeProcess, CommOf(e.path));
}

INSTANTIATE_TEST_SUITE_P(Matrix, MatrixLaunchTest,
                         ::testing::ValuesIn(matrix::EntriesWith("launch", &Entry::Live)),
                         ParamName);

// ---------------------------------------------------------------------------

class MatrixAttachTest : public MatrixTest {
 protected:
  MatrixAttachTest() : MatrixTest("attach") {}
};

TEST_P(MatrixAttachTest, ExactlyTheCallsAfterAttach) {
  ASSERT_NO_FATAL_FAILURE(RequireBpf());
  const Entry& e = GetParam();
  const std::string truth_path = dir_.File("truth.json");
  const std::string events_path = dir_.File("events.jsonl");
  Process fixture = Process::Start(
      Concat({e.path, "-wait-signal", "-truth=" + truth_path, "-linger=1s"}, LiveArgs(e)),
      dir_.File("fixture.out"), dir_.File("fixture.err"));
  ASSERT_TRUE(fixture.WaitForLine(Stream::kStdout, "READY ", 30s)) << fixture.Describe();
  Process ct = Process::Start({CgotraceBin(), "trace", "-p", std::to_string(fixture.pid()),
                               "--format", "jsonl", "--output", events_path},
                              dir_.File("cgotrace.out"), dir_.File("cgotrace.err"));
  ASSERT_TRUE(ct.WaitForLine(Stream::kStderr, "cgotrace: attached", kAttachTimeout))
      << ct.Describe();

  fixture.Signal(SIGUSR1);
  EXPECT_TRUE(fixture.WaitOrKill(kRunTimeout).Ok())
      << "traced program harmed: " << fixture.Describe();
  ASSERT_TRUE(ct.WaitOrKill(kRunTimeout).Ok()) << ct.Describe();

  std::string error;
  auto truth = ReadTruth(truth_path, &error);
  ASSERT_TRUE(truth) << error;
  ExpectTruthOfThisBinary(*truth);
  ASSERT_EQ(truth->at("pid").get<pid_t>(), fixture.pid());
  const auto all = ReadEventsOrFail(events_path);
  const auto events = ForPid(all, fixture.pid());
  EXPECT_EQ(events.size(), all.size()) << "events from processes that were not traced";
  ExpectMatchesCgocallsTruth(*truth, events, Window::kAfterSignal, CommOf(e.path));
}

INSTANTIATE_TEST_SUITE_P(Matrix, MatrixAttachTest,
                         ::testing::ValuesIn(matrix::EntriesWith("attach", &Entry::Live)),
                         ParamName);

// ---------------------------------------------------------------------------
// inspect

// `key:   value` lines of `cgotrace inspect`.
std::string Field(const std::string& out, const std::string& key) {
  for (const std::string& line : Lines(out)) {
    if (line.starts_with(key + ":")) {
      std::string v = line.substr(key.size() + 1);
      v.erase(0, v.find_first_not_of(' '));
      return v;
    }
  }
  return "";
}

struct Sites {
  bool found = false;
  uint64_t function = 0;
  std::vector<uint64_t> entries;
  std::vector<uint64_t> returns;
  std::vector<std::string> return_insns;
};

// The probe sites inspect lists for one function, from its block:
//   "  runtime.cgocall at 0x404b80, 224 bytes (found in .symtab)"
//   "    entry   0x404b80  +0x0    str x30, ..."
//   "    return  0x404c20  +0xa0   ret  c0035fd6  return instruction"
Sites ParseSites(const std::string& out, const std::string& fn) {
  Sites s;
  bool in = false;
  for (const std::string& line : Lines(out)) {
    if (line.starts_with("  ") && !line.starts_with("   ")) {
      in = line.starts_with("  " + fn + " at 0x");
      if (in) {
        s.found = true;
        s.function = std::stoull(line.substr(line.find(" at 0x") + 4), nullptr, 16);
      }
      continue;
    }
    if (!in) continue;
    std::istringstream f(line);
    std::string kind, addr, rel, insn;
    if (!(f >> kind >> addr >> rel >> insn) || !addr.starts_with("0x")) continue;
    const uint64_t a = std::stoull(addr, nullptr, 16);
    if (kind == "entry") s.entries.push_back(a);
    if (kind == "return") {
      s.returns.push_back(a);
      s.return_insns.push_back(insn);
    }
  }
  return s;
}

// RET addresses of one function per `go tool objdump` (the Go toolchain's
// own disassembler, independent of capstone; built by CMake from the
// installed Go); nullopt with *error set if it cannot disassemble the binary
// (it needs .symtab).
std::optional<std::vector<uint64_t>> ObjdumpReturns(const std::string& bin, const std::string& fn,
                                                    const TempDir& dir, std::string* error) {
  RunResult r = RunCommand({CGOTRACE_GO_OBJDUMP, "-s", "^" + fn + "$", bin}, dir, 60s);
  if (!r.status.Ok()) {
    *error = "go tool objdump: " + r.Describe();
    return std::nullopt;
  }
  std::vector<uint64_t> rets;
  bool in = false;
  for (const std::string& line : Lines(r.out)) {
    std::istringstream f(line);
    std::string a, b, c, d;
    f >> a >> b;
    if (a == "TEXT") {
      in = b == fn + "(SB)";
      continue;
    }
    // "  cgocall.go:197  0x404c20  d65f03c0  RET"
    if (in && (f >> c >> d) && b.starts_with("0x") && d == "RET") {
      rets.push_back(std::stoull(b, nullptr, 16));
    }
  }
  if (rets.empty()) *error = "go tool objdump found no RET in " + fn + ": " + r.out.substr(0, 500);
  return rets;
}

// The list entry built the same way except for `mode`/`arch`, if listed.
const Entry* Sibling(const Entry& e, const std::string& mode, const std::string& arch) {
  for (const Entry& o : matrix::TheList().entries) {
    if (o.version == e.version && o.mode == mode && o.arch == arch) return &o;
  }
  return nullptr;
}

std::string CgoFunctionsLine(const std::string& inspect_out) {
  for (const std::string& line : Lines(inspect_out)) {
    if (line.starts_with("cgo functions")) return line;
  }
  return "";
}

class MatrixInspectTest : public MatrixTest {
 protected:
  MatrixInspectTest() : MatrixTest("inspect") {}
};

TEST_P(MatrixInspectTest, DescribesTheBinary) {
  const Entry& e = GetParam();
  RunResult r = RunCommand({CgotraceBin(), "inspect", e.path}, dir_, 60s);
  ASSERT_TRUE(r.status.Ok()) << r.Describe();
  SCOPED_TRACE(r.out);

  EXPECT_EQ(Field(r.out, "go version"), e.version);
  const std::string arch = Field(r.out, "arch");
  EXPECT_TRUE(arch.starts_with(e.arch == "amd64" ? "x86_64" : "arm64")) << arch;
  EXPECT_EQ(arch.find("(PIE)") != std::string::npos, e.mode == "pie") << arch;
  const bool stripped = e.mode == "stripped";
  EXPECT_EQ(Field(r.out, "symbols").starts_with("stripped"), stripped);

  // The offsets cgotrace uses: from DWARF unless stripped, and equal to the
  // version table (which OffsetsMatrix / MatrixAnalysis check against the
  // DWARF of these same binaries).
  const std::string offsets = Field(r.out, "offsets");
  EXPECT_TRUE(offsets.starts_with(stripped ? "type descriptors:" : "dwarf:")) << offsets;
  // Every offset with its source, every other source agreeing.
  for (const RuntimeField& f : RuntimeFields()) {
    EXPECT_NE(r.out.find(fmt::format("  {:<12} ", f.label)), std::string::npos) << f.label;
  }
  EXPECT_EQ(r.out.find("DISAGREES"), std::string::npos);
  EXPECT_EQ(r.err.find("warning"), std::string::npos) << r.err;
  EXPECT_NE(r.out.find(fmt::format("agrees: {}table (go1.{})", stripped ? "" : "type descriptors, ",
                                   e.minor)),
            std::string::npos);
  auto version = GoVersion::Parse(e.version);
  ASSERT_TRUE(version) << version.error().message;
  auto table = RuntimeOffsets::FromTable(*version);
  ASSERT_TRUE(table) << table.error().message;
  const std::string want = fmt::format(
      "g.goid={} g.stack.lo={} g.stack.hi={} g.m={} m.procid={} m.curg={}", table->g_goid,
      table->g_stack_lo, table->g_stack_hi, table->g_m, table->m_procid, table->m_curg);
  EXPECT_NE(offsets.find(want), std::string::npos) << offsets << " vs table " << want;

  // Probe sites: the entry, and every RET - checked against the Go
  // toolchain's disassembler. objdump needs .symtab; a stripped binary's
  // sites are checked against its unstripped sibling (-s -w leaves the text
  // where it was, which the entry addresses below confirm).
  const Entry* reference = &e;
  if (stripped) {
    reference = Sibling(e, "default", e.arch);
    ASSERT_NE(reference, nullptr) << "a stripped binary is checked against the default build of "
                                  << e.version << " " << e.arch << ", which is not in the list";
  }
  std::optional<RunResult> ref_inspect;
  if (reference != &e) {
    ref_inspect = RunCommand({CgotraceBin(), "inspect", reference->path}, dir_, 60s);
    ASSERT_TRUE(ref_inspect->status.Ok()) << ref_inspect->Describe();
  }
  for (const std::string fn : {"runtime.cgocall", "runtime.cgocallbackg"}) {
    SCOPED_TRACE(fn);
    Sites s = ParseSites(r.out, fn);
    ASSERT_TRUE(s.found) << "inspect lists no " << fn;
    EXPECT_EQ(s.entries, std::vector<uint64_t>{s.function}) << "one entry site, at the start";
    ASSERT_FALSE(s.returns.empty());
    for (const std::string& insn : s.return_insns) EXPECT_EQ(insn, "ret");
    if (ref_inspect) {
      Sites rs = ParseSites(ref_inspect->out, fn);
      EXPECT_EQ(s.function, rs.function)
          << "text moved between " << reference->path << " and " << e.path;
    }
    std::string error;
    auto rets = ObjdumpReturns(reference->path, fn, dir_, &error);
    ASSERT_TRUE(rets && !rets->empty()) << error;
    EXPECT_EQ(s.returns, *rets) << "RET sites vs go tool objdump of " << reference->path;
  }

  // The program's C functions, by their Go-source names: from the program's
  // own truth on amd64; an arm64 build must list what its amd64 sibling does.
  const std::string cfuncs = CgoFunctionsLine(r.out);
  if (e.arch == "amd64") {
    const std::string truth_path = dir_.File("tiny.json");
    RunResult run = RunCommand(Concat({e.path, "-truth=" + truth_path}, TinyArgs(e)), dir_, 60s);
    ASSERT_TRUE(run.status.Ok()) << run.Describe();
    std::string error;
    auto truth = ReadTruth(truth_path, &error);
    ASSERT_TRUE(truth) << error;
    ExpectTruthOfThisBinary(*truth);
    for (const auto& g : truth->at("goroutines")) {
      for (const auto& [func, n] : g.at("calls").items()) {
        EXPECT_NE(cfuncs.find(" " + func), std::string::npos) << func << " not in: " << cfuncs;
      }
    }
  } else {
    const Entry* amd64 = Sibling(e, e.mode, "amd64");
    ASSERT_NE(amd64, nullptr) << "an arm64 binary is compared with the amd64 build of " << e.version
                              << " " << e.mode << ", which is not in the list";
    RunResult ref = RunCommand({CgotraceBin(), "inspect", amd64->path}, dir_, 60s);
    ASSERT_TRUE(ref.status.Ok()) << ref.Describe();
    EXPECT_EQ(cfuncs, CgoFunctionsLine(ref.out));
  }
}

INSTANTIATE_TEST_SUITE_P(Matrix, MatrixInspectTest,
                         ::testing::ValuesIn(matrix::EntriesWith("inspect", &Entry::Supported)),
                         ParamName);

// ---------------------------------------------------------------------------
// Before go1.17 (stack ABI, no g register) cgotrace must refuse, in one
// line that names the binary's version and what is needed, and never touch
// a running target.

class MatrixRefuseTest : public MatrixTest {
 protected:
  MatrixRefuseTest() : MatrixTest("refuse") {}
  void ExpectRefusal(const RunResult& r, const std::string& what) {
    ExpectCleanError(r, what);
    EXPECT_NE(r.err.find(GetParam().version), std::string::npos)
        << "the error should name the binary's Go version; " << r.Describe();
    EXPECT_NE(r.err.find("go1.17"), std::string::npos)
        << "the error should name the oldest supported version; " << r.Describe();
  }
};

bool Unsupported(const Entry& e) { return !e.Supported(); }

std::vector<Entry> OldEntries() {
  std::vector<Entry> out;
  for (const Entry& e : matrix::TheList().entries) {
    if (Unsupported(e)) out.push_back(e);
  }
  return out;
}

TEST_P(MatrixRefuseTest, OneClearErrorLine) {
  ASSERT_NO_FATAL_FAILURE(RequireBpf());
  const Entry& e = GetParam();
  ExpectRefusal(RunCommand({CgotraceBin(), "inspect", e.path}, dir_, 30s), "inspect");
  ExpectRefusal(
      RunCommand({CgotraceBin(), "trace", "--", e.path, "-scenarios=fast", "-calls=10"}, dir_, 30s),
      "trace --");
  ExpectRefusal(RunCommand({CgotraceBin(), "trace", "--binary", e.path}, dir_, 30s),
                "trace --binary");

  Process target = Process::Start({e.path, "-wait-signal", "-scenarios=fast", "-calls=10"},
                                  dir_.File("target.out"), dir_.File("target.err"));
  ASSERT_TRUE(target.WaitForLine(Stream::kStdout, "READY ", 20s)) << target.Describe();
  ExpectRefusal(RunCommand({CgotraceBin(), "trace", "-p", std::to_string(target.pid())}, dir_, 30s),
                "trace -p");
  target.Signal(SIGUSR1);
  EXPECT_TRUE(target.WaitOrKill(30s).Ok()) << "target harmed: " << target.Describe();
}

INSTANTIATE_TEST_SUITE_P(Matrix, MatrixRefuseTest, ::testing::ValuesIn(OldEntries()), ParamName);

}  // namespace
}  // namespace cgotrace::e2e
