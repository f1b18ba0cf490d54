// Instruction shapes: what the site planner needs to know about one decoded
// instruction (capstone text, binary/probe_sites.h) on x86-64 and arm64 —
// is it a call, a jump, a trap, where does a direct branch go, does it move
// SP — and how big the Go prologue's frame is at a given instruction.
//
// Shapes are read from capstone 4's AT&T-free text ("call 0x4810e0",
// "bl #0x478210", "str x30, [sp, #-0x40]!"); anything not recognised is
// treated conservatively (not a NOP, may move SP, ends a straight-line
// block), so an unknown instruction can only make the planner refuse a site,
// never accept a wrong one. Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

#include "binary/probe_sites.h"
#include "cgotrace/result.h"
#include "elf/elf_file.h"

namespace cgotrace {

std::string_view Mnemonic(const InstructionInfo& insn);
bool IsNop(Arch arch, const InstructionInfo& insn);
// A call that returns to the next instruction: x86 `call`, arm64 `bl`/`blr`.
bool IsCall(Arch arch, const InstructionInfo& insn);
// Any other change of control flow but a return: jmp/jcc, b/b.cond,
// cbz/cbnz/tbz/tbnz, br.
bool IsJump(Arch arch, const InstructionInfo& insn);
// An instruction that never falls through: int3, brk, udf, undecoded words.
bool IsTrap(Arch arch, const InstructionInfo& insn);
// The target of a direct call or branch, nullopt for indirect ones and for
// everything else.
std::optional<uint64_t> DirectTarget(Arch arch, const InstructionInfo& insn);
// Writes SP (push/pop/ret on x86, writeback addressing or an SP destination
// on arm64).
bool ChangesSp(Arch arch, const InstructionInfo& insn);

// SP at the function's entry minus SP at instruction `site`, following the
// Go prologue (x86: optional stack-bound check, push rbp / sub rsp / frame
// pointer; arm64: optional stack-bound check, `str x30, [sp, #-N]!` or the
// large-frame `sub x20, sp, #N; stp x29, x30, [x20, #-8]; mov sp, x20`, frame
// pointer). Error if anything between the prologue and the site moves SP.
Result<int32_t> FrameAt(Arch arch, std::span<const InstructionInfo> insns, size_t site);

}  // namespace cgotrace
