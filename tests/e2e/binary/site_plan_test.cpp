// `cgotrace inspect` shows the site plan: for go1.26 (function prologue
// `push rbp`) and go1.20 (prologue `sub rsp`, JCC-erratum NOPs) builds, every
// event gets a cheap site at the CALLs of runtime.cgocall /
// runtime.cgocallbackg, never a single-stepped one, and each site is checked
// against the Go toolchain's own disassembler (`go tool objdump`).
#include <iterator>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "../matrix/matrix_list.h"
#include "checks.h"
#include "harness.h"

namespace cgotrace::e2e {
namespace {

struct PlanLine {
  std::string event;  // "call start"
  uint64_t vaddr = 0;
  std::string where;  // "runtime.cgocall+0x70"
  std::string rest;   // instruction, cost, kernel path
};

// "  call start      0x47ee70  runtime.cgocall+0x70    call 0x487660  emulated  ..."
// under the heading "site plan (<mode>):".
std::vector<PlanLine> ParsePlan(const std::string& out, const std::string& mode = "exact mode") {
  std::vector<PlanLine> plan;
  bool in = false;
  for (const std::string& line : Lines(out)) {
    if (line.starts_with("site plan")) {
      in = line.starts_with("site plan (" + mode + ")");
      continue;
    }
    if (!in || !line.starts_with("  ") || line.starts_with("    ")) continue;
    auto addr = line.find(" 0x");
    if (addr == std::string::npos) continue;
    PlanLine p;
    p.event = line.substr(2, line.find_last_not_of(' ', addr) - 1);
    std::istringstream f(line.substr(addr));
    std::string a;
    f >> a >> p.where;
    p.vaddr = std::stoull(a, nullptr, 16);
    std::getline(f, p.rest);
    plan.push_back(p);
  }
  return plan;
}

// "  cgocall.go:185  0x47ee70  e8eb870000  CALL runtime.asmcgocall.abi0(SB)"
// lines of one function per go tool objdump, by address.
std::map<uint64_t, std::string> Objdump(const std::string& bin, const std::string& fn,
                                        const TempDir& dir) {
  std::map<uint64_t, std::string> out;
  RunResult r = RunCommand({CGOTRACE_GO_OBJDUMP, "-s", "^" + fn + "$", bin}, dir, 60s);
  EXPECT_TRUE(r.status.Ok()) << r.Describe();
  for (const std::string& line : Lines(r.out)) {
    std::istringstream f(line);
    std::string pos, addr, bytes;
    if (!(f >> pos >> addr >> bytes) || !addr.starts_with("0x")) continue;
    std::string insn;
    std::getline(f, insn);
    const auto first = insn.find_first_not_of(" \t");
    const auto last = insn.find_last_not_of(" \t");
    if (first == std::string::npos) continue;
    out[std::stoull(addr, nullptr, 16)] = insn.substr(first, last - first + 1);
  }
  return out;
}

const matrix::Entry* Find(const std::string& version_prefix) {
  for (const matrix::Entry& e : matrix::TheList().entries) {
    if (e.version.starts_with(version_prefix) && e.mode == "default" && e.arch == "amd64") {
      return &e;
    }
  }
  return nullptr;
}

class SitePlanTest : public CliTest, public ::testing::WithParamInterface<const char*> {};

TEST_P(SitePlanTest, EveryEventHasACheapSiteAtTheRuntimeCalls) {
  const matrix::Entry* e = Find(GetParam());
  ASSERT_NE(e, nullptr) << GetParam() << " default amd64 is not in the quick matrix list";
  RunResult r = RunCommand({CgotraceBin(), "inspect", e->path}, dir_, 60s);
  ASSERT_TRUE(r.status.Ok()) << r.Describe();
  SCOPED_TRACE(r.out);
  std::vector<PlanLine> plan = ParsePlan(r.out);
  ASSERT_EQ(plan.size(), 4u) << "one site per event";
  EXPECT_EQ(r.out.find("(fallback)"), std::string::npos);

  auto cgocall = Objdump(e->path, "runtime.cgocall", dir_);
  auto callbackg = Objdump(e->path, "runtime.cgocallbackg", dir_);
  // The instruction objdump shows at `vaddr`, and the next CALL from there.
  auto at = [](const std::map<uint64_t, std::string>& fn, uint64_t vaddr) -> std::string {
    auto it = fn.find(vaddr);
    return it == fn.end() ? "(not an instruction boundary)" : it->second;
  };
  auto next_call = [](const std::map<uint64_t, std::string>& fn, uint64_t vaddr) -> std::string {
    for (auto it = fn.find(vaddr); it != fn.end(); ++it) {
      if (it->second.starts_with("CALL")) return it->second;
      if (!it->second.starts_with("NOP")) return "";
    }
    return "";
  };
  for (const PlanLine& p : plan) {
    SCOPED_TRACE(p.event);
    EXPECT_EQ(p.rest.find("single-step"), std::string::npos) << p.rest;
    if (p.event == "call start" && std::string(GetParam()) == "go1.20") {
      // Its entry (`sub rsp`) would be single-stepped.
      EXPECT_TRUE(p.where.starts_with("runtime.cgocall+"));
      EXPECT_EQ(next_call(cgocall, p.vaddr), "CALL runtime.asmcgocall.abi0(SB)")
          << at(cgocall, p.vaddr);
    } else if (p.event == "call start") {
      // go1.21 and later: the entry, `push rbp` (emulated; fn still in RAX).
      EXPECT_EQ(p.where, "runtime.cgocall+0x0");
      ASSERT_FALSE(cgocall.empty());
      EXPECT_EQ(p.vaddr, cgocall.begin()->first);
      EXPECT_EQ(cgocall.begin()->second, "PUSHQ BP");
    } else if (p.event == "call end") {
      EXPECT_EQ(next_call(cgocall, p.vaddr), "CALL runtime.exitsyscall(SB)")
          << at(cgocall, p.vaddr);
    } else if (p.event == "callback start") {
      EXPECT_EQ(next_call(callbackg, p.vaddr), "CALL runtime.cgocallbackg1(SB)")
          << at(callbackg, p.vaddr);
    } else if (p.event == "callback end") {
      EXPECT_TRUE(p.where.starts_with("runtime.cgocallbackg+"));
      EXPECT_NE(callbackg.count(p.vaddr), 0u) << "not an instruction boundary";
    } else {
      ADD_FAILURE() << "unknown event " << p.event;
    }
  }
  if (std::string(GetParam()) == "go1.20") {
    // go1.20's cgocall has a 5-byte NOP right before CALL asmcgocall: the
    // kernel turns a probe there into a call instead of a trap.
    EXPECT_NE(plan[0].rest.find("nop dword ptr [rax + rax]"), std::string::npos) << plan[0].rest;
    EXPECT_NE(plan[0].rest.find("optimized"), std::string::npos) << plan[0].rest;
  } else {
    EXPECT_NE(plan[0].rest.find("emulated"), std::string::npos) << plan[0].rest;
  }
}

// --breakdown: C end at CALL runtime.exitsyscall, the call's end at the
// instruction right after it (single-stepped: the cost of --breakdown), and
// every CALL runtime.mcall of runtime.exitsyscall (its slow path).
TEST_P(SitePlanTest, BreakdownSitesAroundExitsyscall) {
  const matrix::Entry* e = Find(GetParam());
  ASSERT_NE(e, nullptr) << GetParam() << " default amd64 is not in the quick matrix list";
  RunResult r = RunCommand({CgotraceBin(), "inspect", e->path}, dir_, 60s);
  ASSERT_TRUE(r.status.Ok()) << r.Describe();
  SCOPED_TRACE(r.out);
  const std::vector<PlanLine> plan = ParsePlan(r.out, "--breakdown");
  auto cgocall = Objdump(e->path, "runtime.cgocall", dir_);
  auto exitsyscall = Objdump(e->path, "runtime.exitsyscall", dir_);
  size_t mcalls = 0;
  for (const auto& [vaddr, insn] : exitsyscall) {
    mcalls += insn == "CALL runtime.mcall(SB)" ? 1 : 0;
  }
  ASSERT_GT(mcalls, 0u);
  std::map<std::string, int> seen;
  for (const PlanLine& p : plan) {
    SCOPED_TRACE(p.event + " " + p.rest);
    ++seen[p.event];
    if (p.event == "C end") {
      auto it = cgocall.find(p.vaddr);
      ASSERT_NE(it, cgocall.end());
      EXPECT_EQ(it->second, "CALL runtime.exitsyscall(SB)");
    } else if (p.event == "call end") {
      auto it = cgocall.find(p.vaddr);
      ASSERT_NE(it, cgocall.end());
      ASSERT_NE(it, cgocall.begin());
      EXPECT_EQ(std::prev(it)->second, "CALL runtime.exitsyscall(SB)");
      EXPECT_NE(p.rest.find("single-step"), std::string::npos);
    } else if (p.event == "off thread") {
      EXPECT_TRUE(p.where.starts_with("runtime.exitsyscall+"));
      auto it = exitsyscall.find(p.vaddr);
      ASSERT_NE(it, exitsyscall.end());
      EXPECT_EQ(it->second, "CALL runtime.mcall(SB)");
    }
  }
  EXPECT_EQ(seen["call start"], 1);
  EXPECT_EQ(seen["C end"], 1);
  EXPECT_EQ(seen["call end"], 1);
  EXPECT_EQ(seen["off thread"], static_cast<int>(mcalls));
  EXPECT_EQ(seen["callback start"], 1);
  EXPECT_EQ(seen["callback end"], 1);
}

INSTANTIATE_TEST_SUITE_P(Releases, SitePlanTest, ::testing::Values("go1.20", "go1.26"),
                         [](const auto& info) {
                           std::string n = info.param;
                           for (char& c : n) c = c == '.' ? '_' : c;
                           return n;
                         });

}  // namespace
}  // namespace cgotrace::e2e
