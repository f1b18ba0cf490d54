// Site table: the rows of SiteTable (binary/site_plan.h) and what the
// kernel does with a uprobe on each kind of instruction (ClassifyInstruction).
#include "binary/site_plan.h"

#include <algorithm>
#include <array>
#include <span>

namespace cgotrace {
namespace {

// Exact mode. A cgo call is timed from runtime.cgocall's entry, where it is
// emulated (`push rbp`, go1.21 and later on x86-64: fn is in RAX, so the
// start reads no user memory for it), else from `CALL runtime.asmcgocall`
// (go1.17-go1.20, whose entry `sub rsp` is single-stepped, and arm64: fn is
// asmcgocall's first ABI0 argument, a user-memory read at [SP]), to `CALL
// runtime.exitsyscall`. Both CALLs are in every Go release 1.17-1.27, in one
// frame (same SP), with g in R14, and both are emulated by the kernel (or a
// 5-byte NOP before them is optimized), where every RET is single-stepped
// (see docs/performance.md). A callback is timed from `CALL
// runtime.cgocallbackg1` (fn still in the argument register) to the block
// after it returns. The entry / RET rows are the fallbacks when a binary
// lacks such a call.
constexpr SiteRule kCallStartAtCheapEntry = {"runtime.cgocall",
                                             SiteWhere::kCheapEntry,
                                             CGT_SE_CALL_START,
                                             CGT_SRC_ARG0,
                                             0,
                                             CGT_SRC_SP_WORD,
                                             0,
                                             "call start: function entry (emulated)"};
constexpr SiteRule kCallStartAtAsmcgocall = {"runtime.cgocall",
                                             SiteWhere::kCallTo,
                                             CGT_SE_CALL_START,
                                             CGT_SRC_SP_WORD,
                                             0,
                                             CGT_SRC_SP_WORD,
                                             0,
                                             "call start: C call begins",
                                             "runtime.asmcgocall"};
constexpr SiteRule kCallEndAtExitsyscall = {"runtime.cgocall",
                                            SiteWhere::kCallTo,
                                            CGT_SE_CALL_END,
                                            CGT_SRC_NONE,
                                            0,
                                            CGT_SRC_NONE,
                                            0,
                                            "call end: C returned",
                                            "runtime.exitsyscall",
                                            true};
// --breakdown. C returned at CALL runtime.exitsyscall, as in exact mode, but
// the event waits until exitsyscall returns to cgocall: the instructions
// after that CALL are single-stepped (mov, test, add rsp, pop, ret: the cost
// of --breakdown). exitsyscall's fast path has no other site that plain
// syscalls (which share exitsyscall) would not pay for too; its slow path,
// the CALLs to runtime.mcall (exitsyscall0 waits for a P; an inlined
// Gosched), runs only when the P was taken, and may resume the goroutine on
// another thread: there the frame moves from task storage to `inflight`.
constexpr SiteRule kCEndAtExitsyscall = {"runtime.cgocall",
                                         SiteWhere::kCallTo,
                                         CGT_SE_C_END,
                                         CGT_SRC_NONE,
                                         0,
                                         CGT_SRC_NONE,
                                         0,
                                         "C end: C returned (breakdown)",
                                         "runtime.exitsyscall",
                                         true};
constexpr SiteRule kCallEndAfterExitsyscall = {"runtime.cgocall",
                                               SiteWhere::kAfterCall,
                                               CGT_SE_CALL_END,
                                               CGT_SRC_NONE,
                                               0,
                                               CGT_SRC_NONE,
                                               0,
                                               "call end: back in Go (breakdown)",
                                               "runtime.exitsyscall"};
constexpr SiteRule kOffThreadAtMcall = {"runtime.exitsyscall",
                                        SiteWhere::kEachCallTo,
                                        CGT_SE_CALL_OFF_THREAD,
                                        CGT_SRC_NONE,
                                        0,
                                        CGT_SRC_NONE,
                                        0,
                                        "slow path: waits for a P (breakdown)",
                                        "runtime.mcall"};
constexpr SiteRule kCbStartAtCallback1 = {"runtime.cgocallbackg",
                                          SiteWhere::kCallTo,
                                          CGT_SE_CB_START,
                                          CGT_SRC_ARG0,
                                          0,
                                          CGT_SRC_NONE,
                                          0,
                                          "callback start: Go function called",
                                          "runtime.cgocallbackg1"};
constexpr SiteRule kCbEndAfterCallback1 = {"runtime.cgocallbackg",
                                           SiteWhere::kAfterCall,
                                           CGT_SE_CB_END,
                                           CGT_SRC_NONE,
                                           0,
                                           CGT_SRC_NONE,
                                           0,
                                           "callback end: Go function returned",
                                           "runtime.cgocallbackg1"};
constexpr SiteRule kCallStartAtEntry = {"runtime.cgocall",
                                        SiteWhere::kEntry,
                                        CGT_SE_CALL_START,
                                        CGT_SRC_ARG0,
                                        0,
                                        CGT_SRC_SP_WORD,
                                        0,
                                        "call start: function entry"};
constexpr SiteRule kCallEndAtRet = {"runtime.cgocall",
                                    SiteWhere::kEachReturn,
                                    CGT_SE_CALL_END,
                                    CGT_SRC_NONE,
                                    0,
                                    CGT_SRC_NONE,
                                    0,
                                    "call end: return instruction"};
constexpr SiteRule kCbStartAtEntry = {"runtime.cgocallbackg",
                                      SiteWhere::kEntry,
                                      CGT_SE_CB_START,
                                      CGT_SRC_ARG0,
                                      0,
                                      CGT_SRC_NONE,
                                      0,
                                      "callback start: function entry"};
constexpr SiteRule kCbEndAtRet = {"runtime.cgocallbackg",
                                  SiteWhere::kEachReturn,
                                  CGT_SE_CB_END,
                                  CGT_SRC_NONE,
                                  0,
                                  CGT_SRC_NONE,
                                  0,
                                  "callback end: return instruction"};

constexpr std::array<SiteRule, 9> kX86Table = {{
    kCallStartAtCheapEntry,
    kCallStartAtAsmcgocall,
    kCallEndAtExitsyscall,
    kCbStartAtCallback1,
    kCbEndAfterCallback1,
    kCallStartAtEntry,
    kCallEndAtRet,
    kCbStartAtEntry,
    kCbEndAtRet,
}};

constexpr std::array<SiteRule, 9> kX86BreakdownTable = {{
    kCallStartAtCheapEntry,
    kCallStartAtAsmcgocall,
    kCEndAtExitsyscall,
    kCallEndAfterExitsyscall,
    kOffThreadAtMcall,
    kCbStartAtCallback1,
    kCbEndAfterCallback1,
    kCbStartAtEntry,
    kCbEndAtRet,
}};

// arm64: the same CALLs (BL, simulated by the kernel: one trap, no
// out-of-line step). At `BL runtime.asmcgocall`, fn is asmcgocall's first
// ABI0 argument at 8(SP) (0(SP) is the callee's LR slot), and the Go caller's
// return address is where cgocall's prologue saved LR, at 0(SP). The entry
// fallback (a single-stepped `str x30, [sp, #-N]!`) reads it from LR.
constexpr SiteRule kArm64CallStartAtAsmcgocall = {"runtime.cgocall",
                                                  SiteWhere::kCallTo,
                                                  CGT_SE_CALL_START,
                                                  CGT_SRC_SP_WORD,
                                                  8,
                                                  CGT_SRC_SP_WORD,
                                                  0,
                                                  "call start: C call begins",
                                                  "runtime.asmcgocall"};
constexpr std::array<SiteRule, 8> kArm64Table = {{
    kArm64CallStartAtAsmcgocall,
    kCallEndAtExitsyscall,
    kCbStartAtCallback1,
    kCbEndAfterCallback1,
    {"runtime.cgocall", SiteWhere::kEntry, CGT_SE_CALL_START, CGT_SRC_ARG0, 0, CGT_SRC_LR, 0,
     "call start: function entry"},
    kCallEndAtRet,
    kCbStartAtEntry,
    kCbEndAtRet,
}};

// arm64 --breakdown: the x86-64 rows on the same calls. The instruction
// after `BL runtime.exitsyscall` is stepped out of line, as on x86-64;
// exitsyscall's slow path is its `BL runtime.mcall`s.
constexpr std::array<SiteRule, 8> kArm64BreakdownTable = {{
    kArm64CallStartAtAsmcgocall,
    kCEndAtExitsyscall,
    kCallEndAfterExitsyscall,
    kOffThreadAtMcall,
    kCbStartAtCallback1,
    kCbEndAfterCallback1,
    kCbStartAtEntry,
    kCbEndAtRet,
}};

static_assert(kX86Table.size() <= CGT_MAX_SITE_SLOTS && kArm64Table.size() <= CGT_MAX_SITE_SLOTS &&
              kX86BreakdownTable.size() <= CGT_MAX_SITE_SLOTS &&
              kArm64BreakdownTable.size() <= CGT_MAX_SITE_SLOTS);

// x86-64 instructions the kernel emulates in the int3 handler instead of
// single-stepping them (arch/x86/kernel/uprobes.c: branch_setup_xol_ops,
// push_setup_xol_ops; NOPs since 6.16).
bool X86Emulated(std::span<const uint8_t> b) {
  size_t i = 0;
  // Operand-size and REX prefixes that do not change the class below.
  while (i < b.size() && (b[i] == 0x66 || (b[i] & 0xf0) == 0x40)) {
    ++i;
  }
  if (i >= b.size()) {
    return false;
  }
  uint8_t op = b[i];
  if (op == 0x90) {
    return true;  // nop / xchg eax,eax
  }
  if (op >= 0x50 && op <= 0x57) {
    return true;  // push r64
  }
  if (op == 0xe8 || op == 0xe9 || op == 0xeb || (op >= 0x70 && op <= 0x7f)) {
    return true;  // call rel32, jmp rel32/rel8, jcc rel8
  }
  if (op == 0x0f && i + 1 < b.size()) {
    uint8_t op2 = b[i + 1];
    return op2 == 0x1f || (op2 >= 0x80 && op2 <= 0x8f);  // nopl, jcc rel32
  }
  return false;
}

// arm64 instructions the kernel simulates (decode-insn.c: branches,
// ADR/ADRP, literal loads); everything else is stepped out of line.
bool Arm64Simulated(uint32_t w) {
  return (w & 0x7c000000u) == 0x14000000u ||  // B, BL
         (w & 0xff000010u) == 0x54000000u ||  // B.cond
         (w & 0x7e000000u) == 0x34000000u ||  // CBZ, CBNZ
         (w & 0x7e000000u) == 0x36000000u ||  // TBZ, TBNZ
         (w & 0xfe000000u) == 0xd6000000u ||  // RET, BR, BLR
         (w & 0x1f000000u) == 0x10000000u ||  // ADR, ADRP
         (w & 0x3b000000u) == 0x18000000u;    // LDR (literal), LDRSW (literal)
}

}  // namespace

std::span<const SiteRule> SiteTable(Arch arch, bool breakdown) {
  if (arch == Arch::kArm64) {
    return breakdown ? std::span<const SiteRule>(kArm64BreakdownTable) : kArm64Table;
  }
  return breakdown ? std::span<const SiteRule>(kX86BreakdownTable) : kX86Table;
}

std::string_view SiteCostName(SiteCost cost) {
  switch (cost) {
    case SiteCost::kOptimizedNop:
      return "optimized";
    case SiteCost::kEmulated:
      return "emulated";
    case SiteCost::kSingleStep:
      return "single-step";
  }
  return "?";
}

std::string_view SiteKernelPath(SiteCost cost) {
  switch (cost) {
    case SiteCost::kOptimizedNop:
      return "5-byte NOP rewritten into a call to the uprobe trampoline (Linux 6.18+)";
    case SiteCost::kEmulated:
      return "breakpoint trap, instruction emulated by the kernel";
    case SiteCost::kSingleStep:
      return "breakpoint trap + out-of-line single-step (a second trap)";
  }
  return "?";
}

SiteCost ClassifyInstruction(Arch arch, std::span<const uint8_t> bytes) {
  if (arch == Arch::kX86_64) {
    static constexpr std::array<uint8_t, 5> kNop5 = {0x0f, 0x1f, 0x44, 0x00, 0x00};
    if (std::equal(bytes.begin(), bytes.end(), kNop5.begin(), kNop5.end())) {
      return SiteCost::kOptimizedNop;
    }
    return X86Emulated(bytes) ? SiteCost::kEmulated : SiteCost::kSingleStep;
  }
  if (arch == Arch::kArm64 && bytes.size() == 4) {
    uint32_t w = static_cast<uint32_t>(bytes[0]) | static_cast<uint32_t>(bytes[1]) << 8 |
                 static_cast<uint32_t>(bytes[2]) << 16 | static_cast<uint32_t>(bytes[3]) << 24;
    return Arm64Simulated(w) ? SiteCost::kEmulated : SiteCost::kSingleStep;
  }
  return SiteCost::kSingleStep;
}

}  // namespace cgotrace
