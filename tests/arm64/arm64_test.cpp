// The arm64 live tier (CTest label `arm64`): checks what scripts/arm64-vm.sh
// collected from an arm64 kernel under qemu, where the cross-built cgotrace
// traced the arm64 fixtures. Each run is compared with the fixture's own
// truth exactly as the amd64 tests compare theirs (tests/e2e/checks.h):
// per-goroutine, per-C-function counts, callbacks on the caller's goid, deep
// vs shallow stack depth, the locked thread, the NumCgoCall total.
//
// A missing or partial result fails: the VM is the only thing that produces
// these files, so "nothing to check" means the tier is broken.
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "breakdown_checks.h"
#include "checks.h"
#include "harness.h"

#ifndef CGOTRACE_ARM64_RESULTS
#error "CGOTRACE_ARM64_RESULTS must be defined by the build"
#endif
#ifndef CGOTRACE_LOCAL_GO
#error "CGOTRACE_LOCAL_GO must be defined by the build"
#endif

namespace cgotrace::e2e {
namespace {

// Must match the cases scripts/arm64-vm.sh writes.
constexpr const char* kOldestGo = "go1.17.13";

struct Arm64Case {
  const char* name;  // results/<name>/
  bool attach;       // trace -p after the fixture's READY, else launch mode
  bool oldest;       // built by kOldestGo, else by the installed Go
};

void PrintTo(const Arm64Case& c, std::ostream* os) { *os << c.name; }

std::string Results(const std::string& rel) {
  return std::string(CGOTRACE_ARM64_RESULTS) + "/" + rel;
}

std::string Trimmed(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

// What cgotrace traced ran on an arm64 kernel, and the VM got to its end.
TEST(Arm64Vm, RanOnAnArm64Kernel) {
  ASSERT_TRUE(FileExists(Results("kernel.txt")))
      << "no results from the arm64 VM in " << CGOTRACE_ARM64_RESULTS
      << "; run scripts/arm64-vm.sh (ctest -L arm64 does)";
  const std::string kernel = Trimmed(ReadFile(Results("kernel.txt")));
  EXPECT_TRUE(kernel.ends_with(" aarch64")) << kernel;
  EXPECT_TRUE(FileExists(Results("complete"))) << "the VM stopped before its last case";
}

class Arm64LiveTest : public ::testing::TestWithParam<Arm64Case> {};

TEST_P(Arm64LiveTest, EveryCallMatchesFixtureTruth) {
  const Arm64Case& c = GetParam();
  const std::string dir = Results(c.name);
  ASSERT_TRUE(FileExists(dir + "/cgotrace.rc"))
      << "case " << c.name << " did not run in the VM; see " << CGOTRACE_ARM64_RESULTS
      << "/../console.log";
  const std::string err = ReadFile(dir + "/cgotrace.err");
  ASSERT_EQ(Trimmed(ReadFile(dir + "/cgotrace.rc")), "0") << "cgotrace failed: " << err;
  EXPECT_NE(err.find("cgotrace: attached"), std::string::npos) << err;
  EXPECT_NE(err.find(", 0 lost"), std::string::npos) << "events were lost: " << err;
  if (c.attach) {
    EXPECT_EQ(Trimmed(ReadFile(dir + "/fixture.rc")), "0")
        << "traced program harmed: " << ReadFile(dir + "/fixture.err");
    EXPECT_NE(ReadFile(dir + "/fixture.out").find("DONE"), std::string::npos);
  } else {
    // The app's stdout passes through cgotrace's.
    EXPECT_NE(ReadFile(dir + "/cgotrace.out").find("DONE"), std::string::npos);
  }

  std::string error;
  auto truth = ParseJson(ReadFile(dir + "/truth.json"), &error);
  ASSERT_TRUE(truth) << "truth.json: " << error;
  EXPECT_EQ(truth->at("go_version").get<std::string>(),
            c.oldest ? std::string(kOldestGo) : std::string(CGOTRACE_LOCAL_GO));
  const auto all = ReadEventsOrFail(dir + "/events.jsonl");
  const auto events = ForPid(all, truth->at("pid").get<uint64_t>());
  ASSERT_FALSE(events.empty()) << "no events for the app's pid; all events: " << FuncSummary(all);
  if (c.attach) EXPECT_EQ(events.size(), all.size()) << "events from processes not traced";
  ExpectMatchesCgocallsTruth(*truth, events,
                             c.attach ? Window::kAfterSignal : Window::kWholeProcess, "cgocalls");
}

INSTANTIATE_TEST_SUITE_P(Vm, Arm64LiveTest,
                         ::testing::Values(Arm64Case{"installed-default", false, false},
                                           Arm64Case{"installed-stripped", false, false},
                                           Arm64Case{"installed-pie", false, false},
                                           Arm64Case{"installed-attach", true, false},
                                           Arm64Case{"installed-short", false, false},
                                           Arm64Case{"oldest-default", false, true},
                                           Arm64Case{"oldest-stripped", false, true},
                                           Arm64Case{"oldest-pie", false, true},
                                           Arm64Case{"oldest-attach", true, true}),
                         [](const auto& info) {
                           std::string n = info.param.name;
                           for (char& ch : n) {
                             if (ch == '-') ch = '_';
                           }
                           return n;
                         });

// `cgotrace trace --breakdown` on pwait in the VM: the arm64 plan's C end at
// `BL runtime.exitsyscall`, call end at the first instruction after it, and
// exitsyscall's `BL runtime.mcall`s, where a call that waits for the P may
// move threads. The same checks as amd64's (tests/e2e/breakdown_checks.h).
TEST(Arm64BreakdownTest, WaitForThePShowsAsSchedTimeAndOnlyThere) {
  const std::string dir = Results("installed-breakdown");
  ASSERT_TRUE(FileExists(dir + "/cgotrace.rc"))
      << "case installed-breakdown did not run in the VM; see " << CGOTRACE_ARM64_RESULTS
      << "/../console.log";
  const std::string err = ReadFile(dir + "/cgotrace.err");
  ASSERT_EQ(Trimmed(ReadFile(dir + "/cgotrace.rc")), "0")
      << "cgotrace failed: " << err << ReadFile(dir + "/cgotrace-verbose.err");
  EXPECT_NE(err.find(", 0 lost"), std::string::npos) << "events were lost: " << err;
  std::string error;
  auto truth = ParseJson(ReadFile(dir + "/truth.json"), &error);
  ASSERT_TRUE(truth) << "truth.json: " << error;
  const auto events =
      ForPid(ReadEventsOrFail(dir + "/events.jsonl"), truth->at("pid").get<uint64_t>());
  ASSERT_FALSE(events.empty());
  ExpectWellFormed(events);
  ExpectExactPwaitCounts(*truth, events);
  ExpectPwaitBreakdown(*truth, events);
}

// `cgotrace top --once` on incgo in the VM: sampling on arm64 (g through
// tpidr_el0 + the decoded TLS slot, cgocall's frame 8 bytes below
// g.syscallsp before go1.23). Each blocked goroutine by its own goid, thread,
// function and call site, its C frames walked to Go, and the spinner never
// blocked.
class Arm64TopTest : public ::testing::TestWithParam<const char*> {};

TEST_P(Arm64TopTest, TopListsEachGoroutineInC) {
  const std::string dir = Results(GetParam());
  ASSERT_TRUE(FileExists(dir + "/cgotrace.rc"))
      << "case " << GetParam() << " did not run in the VM; see " << CGOTRACE_ARM64_RESULTS
      << "/../console.log";
  ASSERT_EQ(Trimmed(ReadFile(dir + "/cgotrace.rc")), "0")
      << "cgotrace top failed: " << ReadFile(dir + "/cgotrace.err")
      << ReadFile(dir + "/cgotrace-verbose.err");
  EXPECT_EQ(Trimmed(ReadFile(dir + "/fixture.rc")), "0")
      << "sampled program harmed: " << ReadFile(dir + "/fixture.err");
  std::string error;
  auto truth = ParseJson(ReadFile(dir + "/truth.json"), &error);
  ASSERT_TRUE(truth) << "truth.json: " << error;
  auto top = ParseJson(ReadFile(dir + "/top.json"), &error);
  ASSERT_TRUE(top) << "top.json: " << error;
  EXPECT_EQ((*top)["pid"], (*truth)["pid"]);
  auto call_of = [&](const Json& g) -> const Json* {
    for (const Json& c : (*top)["calls"]) {
      if (c["goid"] == g["goid"]) return &c;
    }
    return nullptr;
  };
  ASSERT_EQ((*truth)["blocked"].size(), 3u);
  for (const Json& g : (*truth)["blocked"]) {
    const Json* c = call_of(g);
    ASSERT_NE(c, nullptr) << "goroutine " << g["goid"] << " not listed: " << top->dump();
    EXPECT_EQ((*c)["func"], "block_outer");
    EXPECT_EQ((*c)["state"], "blocked");
    EXPECT_EQ((*c)["tid"], g["tid"]);
    EXPECT_EQ((*c)["site"], "main.blockedWorker");
    EXPECT_FALSE((*c)["age_exact"].get<bool>());
    // Innermost first, walked to Go: block_inner sleeps in a raw `svc`, so
    // its own C code is all there is, named by its ELF symbols (any libc
    // frame would be named by address: no BCC in the cross build).
    const Json& frames = (*c)["c_frames"];
    ASSERT_GE(frames.size(), 2u) << c->dump();
    const size_t n = frames.size();
    EXPECT_EQ(frames[n - 2]["func"], "block_inner") << c->dump();
    EXPECT_EQ(frames[n - 1]["func"], "block_outer") << c->dump();
    for (size_t i = 0; i + 2 < n; ++i) {
      EXPECT_NE(frames[i]["module"].get<std::string>().find("libc.so"), std::string::npos)
          << c->dump();
    }
    EXPECT_TRUE((*c)["c_frames_complete"].get<bool>()) << c->dump();
  }
  const Json* s = call_of((*truth)["spinner"]);
  ASSERT_NE(s, nullptr) << "spinner not listed: " << top->dump();
  EXPECT_EQ((*s)["func"], "spin_outer");
  EXPECT_NE((*s)["state"], "blocked");
  EXPECT_EQ((*s)["site"], "main.spinWorker");
  const Json& frames = (*s)["c_frames"];
  ASSERT_EQ(frames.size(), 2u) << s->dump();
  EXPECT_EQ(frames[0]["func"], "spin_inner");
  EXPECT_EQ(frames[1]["func"], "spin_outer");
}

INSTANTIATE_TEST_SUITE_P(Vm, Arm64TopTest, ::testing::Values("installed-top", "go1.22-top"),
                         [](const auto& info) {
                           std::string n = info.param;
                           for (char& ch : n) {
                             if (ch == '-' || ch == '.') ch = '_';
                           }
                           return n;
                         });

}  // namespace
}  // namespace cgotrace::e2e
