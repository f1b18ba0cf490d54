// The site table and planner on decoded instruction sequences and on real
// fixture binaries; the BPF limits userspace checks before attaching.
#include "binary/site_plan.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fmt/format.h>

#include <cstdint>
#include <initializer_list>
#include <tuple>
#include <vector>

#include "binary/go_binary.h"
#include "binary_fixture_util.h"
#include "trace/site_attach.h"

namespace cgotrace {
namespace {

using testing::HasSubstr;
constexpr uint64_t kBase = 0x401000;

SiteCost X86(std::vector<uint8_t> bytes) { return ClassifyInstruction(Arch::kX86_64, bytes); }

TEST(SiteCostTest, X86KernelPaths) {
  EXPECT_EQ(X86({0x0f, 0x1f, 0x44, 0x00, 0x00}), SiteCost::kOptimizedNop);
  EXPECT_EQ(X86({0x0f, 0x1f, 0x40, 0x00}), SiteCost::kEmulated);  // nopl 4 bytes
  EXPECT_EQ(X86({0x90}), SiteCost::kEmulated);
  EXPECT_EQ(X86({0x55}), SiteCost::kEmulated);                          // push rbp
  EXPECT_EQ(X86({0x41, 0x56}), SiteCost::kEmulated);                    // push r14
  EXPECT_EQ(X86({0xe8, 0x10, 0x20, 0x00, 0x00}), SiteCost::kEmulated);  // call rel32
  EXPECT_EQ(X86({0xeb, 0x05}), SiteCost::kEmulated);                    // jmp rel8
  EXPECT_EQ(X86({0x0f, 0x84, 0, 0, 0, 0}), SiteCost::kEmulated);        // je rel32
  EXPECT_EQ(X86({0xc3}), SiteCost::kSingleStep);                        // ret
  EXPECT_EQ(X86({0x5d}), SiteCost::kSingleStep);                        // pop rbp
  EXPECT_EQ(X86({0x48, 0x83, 0xec, 0x30}), SiteCost::kSingleStep);      // sub rsp, 0x30
  EXPECT_EQ(X86({0x48, 0x89, 0xe5}), SiteCost::kSingleStep);            // mov rbp, rsp
}

TEST(SiteCostTest, Arm64KernelPaths) {
  auto arm = [](uint32_t w) {
    std::vector<uint8_t> b = {uint8_t(w), uint8_t(w >> 8), uint8_t(w >> 16), uint8_t(w >> 24)};
    return ClassifyInstruction(Arch::kArm64, b);
  };
  EXPECT_EQ(arm(0xd65f03c0), SiteCost::kEmulated);    // ret
  EXPECT_EQ(arm(0x94000010), SiteCost::kEmulated);    // bl
  EXPECT_EQ(arm(0xf81f0ffe), SiteCost::kSingleStep);  // str x30, [sp, #-16]!
}

const SiteRule& Rule(Arch arch, SiteWhere where, cgt_site_event event) {
  for (const SiteRule& r : SiteTable(arch)) {
    if (r.where == where && r.event == event) return r;
  }
  ADD_FAILURE() << "no such row";
  return SiteTable(arch)[0];
}

std::string NoNames(uint64_t) { return ""; }

TEST(PlaceRuleTest, EntryAndEveryReturn) {
  // push rbp; mov rbp,rsp; je +2; pop rbp; ret; pop rbp; ret; int3
  const std::vector<uint8_t> code = {0x55, 0x48, 0x89, 0xe5, 0x74, 0x02,
                                     0x5d, 0xc3, 0x5d, 0xc3, 0xcc};
  auto insns = DecodeFunction(Arch::kX86_64, kBase, code);
  ASSERT_TRUE(insns.ok()) << insns.error().message;
  const SiteRule& start = Rule(Arch::kX86_64, SiteWhere::kEntry, CGT_SE_CALL_START);
  auto entry = PlaceRule(Arch::kX86_64, start, 0, kBase, code, *insns, NoNames);
  ASSERT_TRUE(entry.ok()) << entry.error().message;
  ASSERT_EQ(entry->size(), 1u);
  EXPECT_EQ((*entry)[0].vaddr, kBase);
  EXPECT_EQ((*entry)[0].insn, "push rbp");
  EXPECT_EQ((*entry)[0].bytes_hex, "55");
  EXPECT_EQ((*entry)[0].cost, SiteCost::kEmulated);
  EXPECT_EQ((*entry)[0].function, "runtime.cgocall");
  EXPECT_EQ((*entry)[0].sp_to_entry, 0);

  const SiteRule& end = Rule(Arch::kX86_64, SiteWhere::kEachReturn, CGT_SE_CALL_END);
  auto rets = PlaceRule(Arch::kX86_64, end, 1, kBase, code, *insns, NoNames);
  ASSERT_TRUE(rets.ok()) << rets.error().message;
  ASSERT_EQ(rets->size(), 2u);
  EXPECT_EQ((*rets)[0].vaddr, kBase + 7);
  EXPECT_EQ((*rets)[1].vaddr, kBase + 9);
  EXPECT_EQ((*rets)[1].slot, 1u);
  EXPECT_EQ((*rets)[1].cost, SiteCost::kSingleStep);
}

TEST(PlaceRuleTest, NoReturnIsAnError) {
  const std::vector<uint8_t> code = {0x55, 0xeb, 0xfe};  // push rbp; jmp .
  auto insns = DecodeFunction(Arch::kX86_64, kBase, code);
  ASSERT_TRUE(insns.ok());
  const SiteRule& end = Rule(Arch::kX86_64, SiteWhere::kEachReturn, CGT_SE_CALL_END);
  auto rets = PlaceRule(Arch::kX86_64, end, 1, kBase, code, *insns, NoNames);
  ASSERT_FALSE(rets.ok());
  EXPECT_THAT(rets.error().message, HasSubstr("runtime.cgocall at 0x401000"));
}

// Fake runtime functions the sequences below call.
constexpr uint64_t kEntersyscall = 0x500000;
constexpr uint64_t kAsmcgocall = 0x500100;
constexpr uint64_t kExitsyscall = 0x500200;
constexpr uint64_t kThrow = 0x500300;
constexpr uint64_t kCallback1 = 0x500400;
constexpr uint64_t kUnlock = 0x500500;
constexpr uint64_t kMcall = 0x500600;
constexpr uint64_t kExitsyscallFast = 0x500700;

std::string Names(uint64_t target) {
  switch (target) {
    case kEntersyscall:
      return "runtime.entersyscall";
    case kAsmcgocall:
      return "runtime.asmcgocall";
    case kExitsyscall:
      return "runtime.exitsyscall";
    case kThrow:
      return "runtime.throw";
    case kCallback1:
      return "runtime.cgocallbackg1";
    case kUnlock:
      return "runtime.unlockOSThread";
    case kMcall:
      return "runtime.mcall";
    case kExitsyscallFast:
      return "runtime.exitsyscallfast";
    default:
      return "";
  }
}

// A tiny x86-64 assembler for the sequences: raw bytes and rel32 calls.
struct Asm {
  std::vector<uint8_t> code;
  Asm& B(std::initializer_list<uint8_t> bytes) {
    code.insert(code.end(), bytes);
    return *this;
  }
  Asm& Call(uint64_t target) {
    const auto rel = static_cast<uint32_t>(target - (kBase + code.size() + 5));
    return B({0xe8, uint8_t(rel), uint8_t(rel >> 8), uint8_t(rel >> 16), uint8_t(rel >> 24)});
  }
  uint64_t Here() const { return kBase + code.size(); }
};

Result<SitePlan> Plan(const std::vector<uint8_t>& cgocall, const std::vector<uint8_t>& callbackg,
                      std::vector<DecodedFunction>* keep) {
  for (auto [name, entry, code] : {std::tuple{"runtime.cgocall", kBase, &cgocall},
                                   std::tuple{"runtime.cgocallbackg", kBase, &callbackg}}) {
    auto insns = DecodeFunction(Arch::kX86_64, entry, *code);
    if (!insns) return insns.error();
    keep->push_back(DecodedFunction{name, entry, *code, std::move(*insns)});
  }
  return PlanDecoded(Arch::kX86_64, SiteTable(Arch::kX86_64), *keep, Names, true);
}

const PlannedSite* SiteFor(const SitePlan& plan, cgt_site_event event) {
  for (const PlannedSite& s : plan.sites) {
    if (plan.descriptors[s.slot].event == event) return &s;
  }
  return nullptr;
}

// runtime.cgocallbackg's shape: frame, CALL cgocallbackg1, a block after it.
Asm Callbackg() {
  Asm a;
  a.B({0x55}).B({0x48, 0x89, 0xe5}).B({0x48, 0x83, 0xec, 0x58});  // push; mov; sub rsp,0x58
  a.Call(kCallback1);
  a.B({0x48, 0x8b, 0x54, 0x24, 0x48});  // mov rdx, [rsp+0x48]: single-stepped
  a.B({0x66, 0x90});                    // xchg ax, ax (a NOP): emulated
  a.Call(kUnlock);
  a.B({0x48, 0x83, 0xc4, 0x58}).B({0x5d}).B({0xc3});  // add rsp; pop rbp; ret
  return a;
}

TEST(PlanDecodedTest, Go126ShapeStartsAtTheEmulatedEntryAndEndsAtACall) {
  Asm a;
  a.B({0x55}).B({0x48, 0x89, 0xe5}).B({0x48, 0x83, 0xec, 0x28});  // push; mov; sub rsp,0x28
  a.B({0x48, 0x85, 0xc0}).B({0x74, 0x00});                        // test rax,rax; je throw
  const size_t je_at = a.code.size() - 1;
  a.B({0x48, 0x89, 0x44, 0x24, 0x38}).Call(kEntersyscall);          // mov [rsp+0x38],rax
  a.B({0x48, 0x8b, 0x44, 0x24, 0x38}).B({0x48, 0x89, 0x04, 0x24});  // fn to [rsp]
  const uint64_t call_asm = a.Here();
  a.Call(kAsmcgocall);
  a.B({0x0f, 0x1f, 0x40, 0x00});  // 4-byte NOP: emulated, no cheaper than the CALL
  const uint64_t call_exit = a.Here();
  a.Call(kExitsyscall);
  a.B({0x48, 0x83, 0xc4, 0x28}).B({0x5d}).B({0xc3});
  a.code[je_at] = static_cast<uint8_t>(a.code.size() - (je_at + 1));
  a.Call(kThrow).B({0xcc});

  std::vector<DecodedFunction> keep;
  auto plan = Plan(a.code, Callbackg().code, &keep);
  ASSERT_TRUE(plan.ok()) << plan.error().message;
  const PlannedSite* start = SiteFor(*plan, CGT_SE_CALL_START);
  ASSERT_NE(start, nullptr);
  // `push rbp` is emulated, and fn is still in RAX there: no stack read.
  EXPECT_EQ(start->vaddr, kBase);
  EXPECT_NE(start->vaddr, call_asm);
  EXPECT_EQ(start->insn, "push rbp");
  EXPECT_EQ(start->cost, SiteCost::kEmulated);
  EXPECT_EQ(start->sp_to_entry, 0);
  EXPECT_FALSE(start->fallback);
  EXPECT_EQ(plan->descriptors[start->slot].fn_from, CGT_SRC_ARG0);
  EXPECT_EQ(plan->descriptors[start->slot].pc_from, CGT_SRC_NONE) << "the binary has .symtab";
  EXPECT_EQ(plan->descriptors[start->slot].sp_to_entry, 0);
  const PlannedSite* end = SiteFor(*plan, CGT_SE_CALL_END);
  ASSERT_NE(end, nullptr);
  EXPECT_EQ(end->vaddr, call_exit) << "the NOP before it is no cheaper";
  // cgocall's entry and the CALL after C run on one thread (the runtime is
  // not preempted before entersyscall): per-thread in-flight state.
  EXPECT_EQ(plan->descriptors[start->slot].flags & CGT_SITE_F_TASK, CGT_SITE_F_TASK);
  EXPECT_EQ(plan->descriptors[end->slot].flags & CGT_SITE_F_TASK, CGT_SITE_F_TASK);
  EXPECT_EQ(end->sp_to_entry, 0x30);
  // One site per event: CALL asmcgocall and the entry / RET rows are unused.
  EXPECT_EQ(plan->sites.size(), 4u);
  size_t unused = 0;
  for (const cgt_site_desc& d : plan->descriptors) unused += d.event == CGT_SE_NONE;
  EXPECT_EQ(unused, 5u);

  const PlannedSite* cb_start = SiteFor(*plan, CGT_SE_CB_START);
  ASSERT_NE(cb_start, nullptr);
  EXPECT_EQ(cb_start->insn.substr(0, 4), "call");
  EXPECT_EQ(cb_start->sp_to_entry, 0x60);
  const PlannedSite* cb_end = SiteFor(*plan, CGT_SE_CB_END);
  ASSERT_NE(cb_end, nullptr);
  EXPECT_EQ(cb_end->bytes_hex, "6690");  // xchg ax, ax (capstone: "nop")
  EXPECT_EQ(cb_end->cost, SiteCost::kEmulated);
  EXPECT_EQ(cb_end->sp_to_entry, 0x60);
}

TEST(PlanDecodedTest, Go120ShapeUsesTheOptimizableNop) {
  Asm a;
  a.B({0x48, 0x83, 0xec, 0x30});        // sub rsp, 0x30: single-stepped entry
  a.B({0x48, 0x89, 0x6c, 0x24, 0x28});  // mov [rsp+0x28], rbp
  a.B({0x48, 0x8d, 0x6c, 0x24, 0x28});  // lea rbp, [rsp+0x28]
  a.B({0x48, 0x89, 0x04, 0x24});        // mov [rsp], rax
  const uint64_t nop5 = a.Here();
  a.B({0x0f, 0x1f, 0x44, 0x00, 0x00}).Call(kAsmcgocall).Call(kExitsyscall);
  a.B({0x48, 0x8b, 0x6c, 0x24, 0x28}).B({0x48, 0x83, 0xc4, 0x30}).B({0xc3});

  std::vector<DecodedFunction> keep;
  auto plan = Plan(a.code, Callbackg().code, &keep);
  ASSERT_TRUE(plan.ok()) << plan.error().message;
  const PlannedSite* start = SiteFor(*plan, CGT_SE_CALL_START);
  ASSERT_NE(start, nullptr);
  EXPECT_EQ(start->vaddr, nop5);
  EXPECT_EQ(start->cost, SiteCost::kOptimizedNop);
  EXPECT_EQ(start->sp_to_entry, 0x30);
  EXPECT_FALSE(start->fallback);
  EXPECT_THAT(start->not_preferred, HasSubstr("entry (sub rsp, 0x30) is single-stepped"));
  EXPECT_EQ(plan->descriptors[start->slot].fn_from, CGT_SRC_SP_WORD);
}

TEST(PlanDecodedTest, NoCheapSiteFallsBackAndSaysWhy) {
  // Two CALLs to asmcgocall: neither is executed exactly once per call.
  Asm a;
  a.B({0x48, 0x83, 0xec, 0x30});
  a.Call(kAsmcgocall).Call(kAsmcgocall).Call(kExitsyscall);
  a.B({0x48, 0x83, 0xc4, 0x30}).B({0xc3});

  std::vector<DecodedFunction> keep;
  auto plan = Plan(a.code, Callbackg().code, &keep);
  ASSERT_TRUE(plan.ok()) << plan.error().message;
  const PlannedSite* start = SiteFor(*plan, CGT_SE_CALL_START);
  ASSERT_NE(start, nullptr);
  EXPECT_EQ(start->vaddr, kBase);
  EXPECT_EQ(start->insn, "sub rsp, 0x30");
  EXPECT_EQ(start->cost, SiteCost::kSingleStep);
  EXPECT_TRUE(start->fallback);
  EXPECT_THAT(start->not_preferred, HasSubstr("2 CALLs to runtime.asmcgocall"));
  EXPECT_EQ(plan->descriptors[start->slot].fn_from, CGT_SRC_ARG0);
  const PlannedSite* end = SiteFor(*plan, CGT_SE_CALL_END);
  ASSERT_NE(end, nullptr);
  EXPECT_FALSE(end->fallback);
  EXPECT_EQ(end->sp_to_entry, 0x30);
  // The entry start may run on another thread than a RET end would, and a
  // mixed pair is keyed by goroutine: no per-thread state for either.
  EXPECT_EQ(plan->descriptors[start->slot].flags & CGT_SITE_F_TASK, 0u);
  EXPECT_EQ(plan->descriptors[end->slot].flags & CGT_SITE_F_TASK, 0u);
  const PlannedSite* cb_start = SiteFor(*plan, CGT_SE_CB_START);
  ASSERT_NE(cb_start, nullptr);
  EXPECT_EQ(plan->descriptors[cb_start->slot].flags & CGT_SITE_F_TASK, CGT_SITE_F_TASK);
}

TEST(PlanDecodedTest, CallInsideALoopIsNotExactlyOnce) {
  Asm a;
  a.B({0x48, 0x83, 0xec, 0x30});
  const size_t loop = a.code.size();
  a.Call(kAsmcgocall);
  a.B({0x75, static_cast<uint8_t>(loop - (a.code.size() + 2))});  // jne back
  a.Call(kExitsyscall).B({0x48, 0x83, 0xc4, 0x30}).B({0xc3});
  std::vector<DecodedFunction> keep;
  auto plan = Plan(a.code, Callbackg().code, &keep);
  ASSERT_TRUE(plan.ok()) << plan.error().message;
  const PlannedSite* start = SiteFor(*plan, CGT_SE_CALL_START);
  ASSERT_NE(start, nullptr);
  EXPECT_TRUE(start->fallback);
  EXPECT_THAT(start->not_preferred, HasSubstr("inside a loop"));
}

// runtime.cgocall as go1.26 builds it: the block after CALL asmcgocall
// (reload g, bookkeeping, a NOP) ends at CALL exitsyscall; after exitsyscall
// returns, only single-stepped instructions.
Asm Cgocall126() {
  Asm a;
  a.B({0x55}).B({0x48, 0x89, 0xe5}).B({0x48, 0x83, 0xec, 0x28});  // push; mov; sub rsp,0x28
  a.B({0x48, 0x89, 0x04, 0x24}).Call(kEntersyscall);              // mov [rsp],rax
  a.Call(kAsmcgocall);
  a.B({0x31, 0xc0});              // xor eax, eax
  a.B({0x8b, 0x44, 0x24, 0x10});  // mov eax, [rsp+0x10]
  a.B({0x0f, 0x1f, 0x40, 0x00});  // nop dword ptr [rax]
  a.Call(kExitsyscall);
  a.B({0x49, 0x8b, 0x46, 0x30});                      // mov rax, [r14+0x30]
  a.B({0x84, 0x00});                                  // test byte ptr [rax], al
  a.B({0x48, 0x83, 0xc4, 0x28}).B({0x5d}).B({0xc3});  // add rsp; pop rbp; ret
  return a;
}

// runtime.exitsyscall's shape: a fast path that returns, and two CALLs to
// runtime.mcall (the slow path to exitsyscall0, an inlined Gosched).
Asm Exitsyscall() {
  Asm a;
  a.B({0x55}).B({0x48, 0x89, 0xe5}).B({0x48, 0x83, 0xec, 0x68});  // push; mov; sub rsp,0x68
  a.Call(kExitsyscallFast);
  a.B({0x84, 0xc0}).B({0x74, 0x00});  // test al, al; je slow
  const size_t je_at = a.code.size() - 1;
  a.B({0x48, 0x8b, 0x44, 0x24, 0x18}).B({0x48, 0x85, 0xc0}).B({0x74, 0x05});  // mov; test; je +5
  a.Call(kMcall);                                                             // Gosched
  a.B({0x48, 0x83, 0xc4, 0x68}).B({0x5d}).B({0xc3});
  a.code[je_at] = static_cast<uint8_t>(a.code.size() - (je_at + 1));
  a.Call(kMcall);  // exitsyscall0
  a.B({0x48, 0x83, 0xc4, 0x68}).B({0x5d}).B({0xc3});
  return a;
}

TEST(InBlockAfterCallTest, OnlyTheStraightLineAfterTheOneCall) {
  Asm a = Cgocall126();
  auto insns = DecodeFunction(Arch::kX86_64, kBase, a.code);
  ASSERT_TRUE(insns.ok()) << insns.error().message;
  uint64_t call_asm = 0, call_exit = 0, after_exit = 0;
  for (size_t i = 0; i < insns->size(); ++i) {
    const InstructionInfo& in = (*insns)[i];
    if (in.text == fmt::format("call {:#x}", kAsmcgocall)) call_asm = in.vaddr;
    if (in.text == fmt::format("call {:#x}", kExitsyscall)) {
      call_exit = in.vaddr;
      after_exit = (*insns)[i + 1].vaddr;
    }
  }
  ASSERT_NE(call_exit, 0u);
  EXPECT_TRUE(InBlockAfterCall(Arch::kX86_64, *insns, Names, "runtime.asmcgocall", call_exit));
  EXPECT_TRUE(InBlockAfterCall(Arch::kX86_64, *insns, Names, "runtime.asmcgocall", call_asm + 5));
  EXPECT_FALSE(InBlockAfterCall(Arch::kX86_64, *insns, Names, "runtime.asmcgocall", call_asm))
      << "the CALL itself runs before C";
  EXPECT_FALSE(InBlockAfterCall(Arch::kX86_64, *insns, Names, "runtime.asmcgocall", after_exit))
      << "a CALL lies in between";
  EXPECT_FALSE(InBlockAfterCall(Arch::kX86_64, *insns, Names, "runtime.mcall", call_exit))
      << "no such CALL";

  // A jump into the block: the site is reachable without C returning.
  Asm b;
  b.B({0x48, 0x83, 0xec, 0x28}).B({0x74, 0x00});
  const size_t je_at = b.code.size() - 1;
  b.Call(kAsmcgocall);
  const uint64_t target = b.Here();
  b.code[je_at] = static_cast<uint8_t>(b.code.size() - (je_at + 1));
  b.B({0x90}).Call(kExitsyscall).B({0x48, 0x83, 0xc4, 0x28}).B({0xc3});
  auto jumped = DecodeFunction(Arch::kX86_64, kBase, b.code);
  ASSERT_TRUE(jumped.ok()) << jumped.error().message;
  EXPECT_FALSE(InBlockAfterCall(Arch::kX86_64, *jumped, Names, "runtime.asmcgocall", target + 1));
}

Result<SitePlan> PlanBreakdown(const Asm& cgocall, const Asm& exitsyscall,
                               std::vector<DecodedFunction>* keep) {
  const Asm callbackg = Callbackg();
  for (auto [name, code] : {std::pair{"runtime.cgocall", &cgocall.code},
                            std::pair{"runtime.cgocallbackg", &callbackg.code},
                            std::pair{"runtime.exitsyscall", &exitsyscall.code}}) {
    auto insns = DecodeFunction(Arch::kX86_64, kBase, *code);
    if (!insns) return insns.error();
    keep->push_back(DecodedFunction{name, kBase, *code, std::move(*insns)});
  }
  return PlanDecoded(Arch::kX86_64, SiteTable(Arch::kX86_64, true), *keep, Names, true);
}

TEST(PlanDecodedTest, BreakdownSplitsAtExitsyscallAndWatchesItsSlowPath) {
  std::vector<DecodedFunction> keep;
  const Asm cgocall = Cgocall126();
  const Asm exitsyscall = Exitsyscall();
  auto plan = PlanBreakdown(cgocall, exitsyscall, &keep);
  ASSERT_TRUE(plan.ok()) << plan.error().message;
  const PlannedSite* c_end = SiteFor(*plan, CGT_SE_C_END);
  ASSERT_NE(c_end, nullptr);
  EXPECT_EQ(c_end->insn, fmt::format("call {:#x}", kExitsyscall));
  EXPECT_TRUE(c_end->c_end);
  EXPECT_EQ(plan->descriptors[c_end->slot].flags & CGT_SITE_F_C_END, CGT_SITE_F_C_END);
  const PlannedSite* end = SiteFor(*plan, CGT_SE_CALL_END);
  ASSERT_NE(end, nullptr);
  EXPECT_EQ(end->insn, "mov rax, qword ptr [r14 + 0x30]");
  EXPECT_EQ(end->cost, SiteCost::kSingleStep) << "what --breakdown costs";
  EXPECT_EQ(end->sp_to_entry, 0x30);
  EXPECT_EQ(plan->descriptors[end->slot].flags,
            CGT_SITE_F_TASK | CGT_SITE_F_MAY_MOVE);  // no C_END: not where C returned
  std::vector<const PlannedSite*> off;
  for (const PlannedSite& s : plan->sites) {
    if (plan->descriptors[s.slot].event == CGT_SE_CALL_OFF_THREAD) off.push_back(&s);
  }
  ASSERT_EQ(off.size(), 2u) << "every CALL runtime.mcall in exitsyscall";
  for (const PlannedSite* s : off) {
    EXPECT_EQ(s->function, "runtime.exitsyscall");
    EXPECT_EQ(s->cost, SiteCost::kEmulated);
  }
  // The start stays the emulated entry.
  const PlannedSite* start = SiteFor(*plan, CGT_SE_CALL_START);
  ASSERT_NE(start, nullptr);
  EXPECT_EQ(start->insn, "push rbp");
  EXPECT_EQ(plan->descriptors[start->slot].flags & CGT_SITE_F_TASK, CGT_SITE_F_TASK);
}

TEST(PlanDecodedTest, EntryReachedAgainIsNotACheapStart) {
  // An emulated entry that a jump leads back to (a stack-growth prologue's
  // retry) would start a call twice: the start moves to CALL asmcgocall.
  Asm a;
  a.B({0x55}).B({0x48, 0x89, 0xe5}).B({0x48, 0x83, 0xec, 0x28});  // push; mov; sub rsp,0x28
  a.B({0x48, 0x85, 0xc0});                                        // test rax, rax
  a.B({0x75, static_cast<uint8_t>(kBase - (a.Here() + 2))});      // jne back to the entry
  a.B({0x48, 0x89, 0x04, 0x24}).Call(kEntersyscall);              // mov [rsp],rax
  const uint64_t call_asm = a.Here();
  a.Call(kAsmcgocall).Call(kExitsyscall);
  a.B({0x48, 0x83, 0xc4, 0x28}).B({0x5d}).B({0xc3});

  std::vector<DecodedFunction> keep;
  auto plan = Plan(a.code, Callbackg().code, &keep);
  ASSERT_TRUE(plan.ok()) << plan.error().message;
  const PlannedSite* start = SiteFor(*plan, CGT_SE_CALL_START);
  ASSERT_NE(start, nullptr);
  EXPECT_EQ(start->vaddr, call_asm);
  EXPECT_FALSE(start->fallback) << "a preferred row, only not the first";
  EXPECT_THAT(start->not_preferred, HasSubstr("entry is reached again from"));
  EXPECT_EQ(plan->descriptors[start->slot].fn_from, CGT_SRC_SP_WORD);
}

TEST(PlanDecodedTest, BreakdownHasNoFallbackAndSaysWhy) {
  // exitsyscall without a slow path to watch.
  Asm exitsyscall;
  exitsyscall.B({0x48, 0x83, 0xec, 0x08}).Call(kExitsyscallFast);
  exitsyscall.B({0x48, 0x83, 0xc4, 0x08}).B({0xc3});
  std::vector<DecodedFunction> keep;
  auto plan = PlanBreakdown(Cgocall126(), exitsyscall, &keep);
  ASSERT_FALSE(plan.ok());
  EXPECT_THAT(plan.error().message, HasSubstr("no CALL to runtime.mcall"));
}

TEST(PlanDecodedTest, ExactModeEndMeasuresTimeInC) {
  std::vector<DecodedFunction> keep;
  auto plan = Plan(Cgocall126().code, Callbackg().code, &keep);
  ASSERT_TRUE(plan.ok()) << plan.error().message;
  const PlannedSite* end = SiteFor(*plan, CGT_SE_CALL_END);
  ASSERT_NE(end, nullptr);
  EXPECT_EQ(plan->descriptors[end->slot].flags, CGT_SITE_F_TASK | CGT_SITE_F_C_END);
}

TEST(SiteTableTest, RowsFitTheCookieAndProduceEveryEvent) {
  for (Arch arch : {Arch::kX86_64, Arch::kArm64}) {
    std::span<const SiteRule> table = SiteTable(arch);
    ASSERT_LE(table.size(), static_cast<size_t>(CGT_MAX_SITE_SLOTS));
    std::vector<int> fallbacks(CGT_SE_MAX, 0);
    for (const SiteRule& r : table) {
      if (r.where == SiteWhere::kEntry || r.where == SiteWhere::kEachReturn) ++fallbacks[r.event];
    }
    for (int e = CGT_SE_CALL_START; e <= CGT_SE_CB_END; ++e) {
      EXPECT_EQ(fallbacks[e], 1) << "event " << e << " needs exactly one entry/RET fallback";
    }
  }
}

TEST(SiteTableTest, CallerPcReadOnlyWithoutSymtab) {
  const SiteRule& start = Rule(Arch::kX86_64, SiteWhere::kCallTo, CGT_SE_CALL_START);
  EXPECT_EQ(DescriptorFor(Arch::kX86_64, start, 0x30, /*has_symtab=*/true).pc_from, CGT_SRC_NONE);
  cgt_site_desc stripped = DescriptorFor(Arch::kX86_64, start, 0x30, /*has_symtab=*/false);
  EXPECT_EQ(stripped.pc_from, CGT_SRC_SP_WORD);
  EXPECT_EQ(stripped.pc_sp_off, 0x30u) << "the return address is at SP at entry";
  EXPECT_EQ(stripped.fn_from, CGT_SRC_SP_WORD);
  EXPECT_EQ(stripped.sp_to_entry, 0x30);
  EXPECT_EQ(Rule(Arch::kArm64, SiteWhere::kEntry, CGT_SE_CALL_START).pc_from, CGT_SRC_LR);
}

TEST(SiteTableTest, Arm64BeforeGo118TakesArgumentsFromTheStack) {
  EXPECT_TRUE(ArgumentsOnStack(Arch::kArm64, 1, 17));
  EXPECT_FALSE(ArgumentsOnStack(Arch::kArm64, 1, 18));
  EXPECT_FALSE(ArgumentsOnStack(Arch::kX86_64, 1, 17));
  // The go1.17.13 arm64 build of the quick matrix: fn of both start sites
  // comes from SP+8 (the arm64 live tier checks the names it gives).
  const std::string list = CGOTRACE_MATRIX_QUICK_LIST;
  const std::string bin_path =
      list.substr(0, list.find_last_of('/')) + "/go1.17.13/default.arm64/cgocalls";
  auto bin = GoBinary::Analyze(bin_path);
  ASSERT_TRUE(bin.ok()) << bin.error().message;
  auto plan = PlanSites(**bin);
  ASSERT_TRUE(plan.ok()) << plan.error().message;
  for (const cgt_site_desc& d : plan->descriptors) {
    if (d.event == CGT_SE_CALL_START || d.event == CGT_SE_CB_START) {
      EXPECT_EQ(d.fn_from, CGT_SRC_SP_WORD);
      EXPECT_EQ(d.fn_sp_off, 8u);
    }
  }
}

TEST(PlanSitesTest, FixtureBinariesGetEveryRow) {
  for (const char* name : {"cgocalls", "cgocalls-stripped", "cgocalls-pie", "cgocalls-arm64"}) {
    auto bin = GoBinary::Analyze(test::FixturePath(name));
    ASSERT_TRUE(bin.ok()) << bin.error().message;
    auto plan = PlanSites(**bin);
    ASSERT_TRUE(plan.ok()) << plan.error().message;
    std::span<const SiteRule> table = SiteTable((*bin)->elf().arch());
    ASSERT_EQ(plan->descriptors.size(), table.size()) << name;
    std::vector<int> per_event(CGT_SE_MAX, 0);
    for (const PlannedSite& s : plan->sites) {
      ASSERT_LT(s.slot, table.size());
      EXPECT_EQ(plan->descriptors[s.slot].event, table[s.slot].event);
      ++per_event[table[s.slot].event];
      EXPECT_TRUE((*bin)->elf().VaddrToFileOffset(s.vaddr).ok()) << name;
      EXPECT_GE(s.vaddr, s.function_entry);
      // Builds of go1.26 need no fallback: every event has its CALL, and
      // no site is single-stepped (x86-64 and arm64 alike).
      EXPECT_FALSE(s.fallback) << name << ": " << s.why << ": " << s.not_preferred;
      EXPECT_NE(s.cost, SiteCost::kSingleStep) << name << ": " << s.why;
    }
    for (int e = CGT_SE_CALL_START; e <= CGT_SE_CB_END; ++e) {
      EXPECT_GE(per_event[e], 1) << name << " event " << e;
    }
  }
}

TEST(BinaryConfigTest, OffsetsInsideThePrefixAreAccepted) {
  RuntimeOffsets off;
  off.g_goid = 152;
  off.g_stack_hi = 8;
  auto cfg = BinaryConfigFor("/bin/app", off);
  ASSERT_TRUE(cfg.ok()) << cfg.error().message;
  EXPECT_EQ(cfg->valid, 1u);
  EXPECT_EQ(cfg->g_goid, 152u);
  EXPECT_EQ(cfg->g_stack_hi, 8u);
  off.g_goid = CGT_G_PREFIX_BYTES - 8;
  EXPECT_TRUE(BinaryConfigFor("/bin/app", off).ok());
}

TEST(BinaryConfigTest, OffsetOutsideThePrefixNamesBinaryFieldAndOffset) {
  RuntimeOffsets off;
  off.g_goid = CGT_G_PREFIX_BYTES;
  off.g_stack_hi = 8;
  off.source = "dwarf";
  auto cfg = BinaryConfigFor("/bin/app", off);
  ASSERT_FALSE(cfg.ok());
  EXPECT_THAT(cfg.error().message, HasSubstr("/bin/app: runtime.g.goid at offset 192"));
  EXPECT_THAT(cfg.error().message, HasSubstr("CGT_G_PREFIX_WORDS"));
  EXPECT_EQ(cfg.error().message.find('\n'), std::string::npos);

  off.g_goid = 152;
  off.g_stack_hi = 12;  // not a word
  cfg = BinaryConfigFor("/bin/app", off);
  ASSERT_FALSE(cfg.ok());
  EXPECT_THAT(cfg.error().message, HasSubstr("runtime.g.stack.hi at offset 12"));
}

}  // namespace
}  // namespace cgotrace
