// Probe sites: the instructions inside a Go function where cgotrace puts
// uprobes, found by decoding the function's machine code with capstone.
//
// Exits of Go functions are never probed with uretprobes (they break Go's
// stack unwinding, golang/go#22008): instead every RET of the function gets a
// plain uprobe. A probe at a wrong offset would corrupt the target, so any
// decoding failure inside the function is an Error, never a partial list.
// Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "cgotrace/result.h"
#include "elf/elf_file.h"

namespace cgotrace {

enum class SiteKind { kEntry, kReturn };

struct ProbeSite {
  SiteKind kind = SiteKind::kEntry;
  uint64_t vaddr = 0;     // link-time virtual address
  std::string insn;       // disassembly, e.g. "ret" or "push rbp"
  std::string bytes_hex;  // e.g. "c3"
  std::string why;        // "function entry", "return instruction"
};

struct InstructionInfo {
  uint64_t vaddr = 0;
  uint32_t size = 0;
  std::string text;  // "mnemonic operands"
  bool is_return = false;
};

// Decodes [code, code+size) of one function starting at `vaddr` for `arch`.
// Error, naming the vaddr, if any byte range fails to decode (capstone stops
// early). On arm64 trailing all-zero words are the Go linker's padding, not
// code: they end the function and are not returned. On x86-64 the linker pads
// with INT3, which decodes and is returned as "int3". An arm64 word capstone
// cannot decode is returned as ".inst 0x........" (fixed-width code cannot be
// misaligned by it) unless it lies in the branch-register class that holds
// the return instructions: that is an Error.
Result<std::vector<InstructionInfo>> DecodeFunction(Arch arch, uint64_t vaddr,
                                                    std::span<const uint8_t> code);

// Entry site plus one site per return instruction (x86-64 RET/RETN; arm64
// RET). Error if the function has no return instruction.
Result<std::vector<ProbeSite>> FindProbeSites(Arch arch, uint64_t vaddr,
                                              std::span<const uint8_t> code);

// Addresses of the 5-byte NOPs (0f 1f 44 00 00, "nop dword ptr [rax+rax]")
// among the function's decoded instructions. Linux 6.18+ can optimise a
// uprobe on such a NOP into a call instead of a trap, so these are the cheap
// places to probe. Always empty on arm64 (no such encoding); Error if the
// function does not decode (see DecodeFunction).
Result<std::vector<uint64_t>> FindNop5Sites(Arch arch, uint64_t vaddr,
                                            std::span<const uint8_t> code);

}  // namespace cgotrace
