// Probe sites: capstone decoding of whole Go functions.
#include "binary/probe_sites.h"

#include <capstone/capstone.h>

#include <algorithm>
#include <array>
#include <string>
#include <vector>

#include "util/disassembler.h"
#include "util/hex.h"

namespace cgotrace {
namespace {

// Opens `dis` for `arch`'s machine code.
Result<void> OpenFor(Disassembler& dis, Arch arch) {
  switch (arch) {
    case Arch::kX86_64:
      return dis.Open(CS_ARCH_X86, CS_MODE_64);
    case Arch::kArm64:
      return dis.Open(CS_ARCH_ARM64, CS_MODE_ARM);
    default:
      return MakeError("cannot decode machine code for architecture {}", ArchName(arch));
  }
}

bool IsReturn(Arch arch, unsigned id) {
  // Far returns (RETF) are deliberately excluded: they change CS and never end
  // a Go function; treating them as exits would hide a misdecode.
  if (arch == Arch::kX86_64) {
    return id == X86_INS_RET;
  }
  return id == ARM64_INS_RET;
}

uint32_t Le32(const uint8_t* p) {
  return static_cast<uint32_t>(p[0]) | static_cast<uint32_t>(p[1]) << 8 |
         static_cast<uint32_t>(p[2]) << 16 | static_cast<uint32_t>(p[3]) << 24;
}

// "Unconditional branch (register)" class: RET, RETAA/RETAB, BR, BLR, ERET...
// An undecodable word here might be a return capstone 4 does not know
// (pointer-authenticated returns), so it must not be skipped silently.
bool MaybeArm64Return(uint32_t word) { return (word & 0xfe000000u) == 0xd6000000u; }

// The Go linker pads arm64 functions with zero words (which are UDF #0, never
// executed). Returns the length without that tail.
size_t TrimArm64Padding(std::span<const uint8_t> code) {
  size_t end = code.size() - code.size() % 4;
  if (end != code.size()) {
    return code.size();  // misaligned: let decoding report it
  }
  while (end >= 4 && code[end - 1] == 0 && code[end - 2] == 0 && code[end - 3] == 0 &&
         code[end - 4] == 0) {
    end -= 4;
  }
  return end;
}

std::span<const uint8_t> InsnBytes(uint64_t func_vaddr, std::span<const uint8_t> code,
                                   const InstructionInfo& insn) {
  return code.subspan(insn.vaddr - func_vaddr, insn.size);
}

}  // namespace

Result<std::vector<InstructionInfo>> DecodeFunction(Arch arch, uint64_t vaddr,
                                                    std::span<const uint8_t> code) {
  if (code.empty()) {
    return MakeError("function at {:#x} has no code bytes", vaddr);
  }
  Disassembler dis;
  CGT_TRY(OpenFor(dis, arch));

  size_t len = arch == Arch::kArm64 ? TrimArm64Padding(code) : code.size();
  if (len == 0) {
    return MakeError("function at {:#x} is all zero padding", vaddr);
  }

  std::vector<InstructionInfo> out;
  const uint8_t* p = code.data();
  size_t left = len;
  uint64_t addr = vaddr;
  cs_insn* insn = dis.insn();
  while (left > 0) {
    if (!cs_disasm_iter(dis.handle(), &p, &left, &addr, insn)) {
      size_t off = static_cast<size_t>(p - code.data());
      if (arch == Arch::kArm64 && left >= 4 && !MaybeArm64Return(Le32(p))) {
        // Fixed-width code cannot desynchronise, so a word capstone 4 does not
        // know (LSE atomics, MSR DIT, literal-pool data) is skipped.
        InstructionInfo info;
        info.vaddr = addr;
        info.size = 4;
        info.text = fmt::format(".inst {:#010x}", Le32(p));
        out.push_back(std::move(info));
        p += 4;
        left -= 4;
        addr += 4;
        continue;
      }
      // On x86-64, probing past an undecodable byte could land mid-instruction.
      size_t shown = std::min<size_t>(left, 8);
      return MakeError(
          "cannot decode {} instruction at {:#x} (function {:#x}+{:#x}, bytes {}{}); refusing to "
          "place probes in a function that does not fully decode",
          ArchName(arch), addr, vaddr, off, HexBytes(code.subspan(off, shown)),
          left > shown ? "..." : "");
    }
    InstructionInfo info;
    info.vaddr = insn->address;
    info.size = insn->size;
    info.text = insn->mnemonic;
    if (insn->op_str[0] != '\0') {
      info.text += ' ';
      info.text += insn->op_str;
    }
    info.is_return = IsReturn(arch, insn->id);
    out.push_back(std::move(info));
  }
  return out;
}

Result<std::vector<ProbeSite>> FindProbeSites(Arch arch, uint64_t vaddr,
                                              std::span<const uint8_t> code) {
  Result<std::vector<InstructionInfo>> insns = DecodeFunction(arch, vaddr, code);
  if (!insns.ok()) {
    return insns.error();
  }

  std::vector<ProbeSite> sites;
  const InstructionInfo& first = insns->front();
  sites.push_back(ProbeSite{SiteKind::kEntry, first.vaddr, first.text,
                            HexBytes(InsnBytes(vaddr, code, first)), "function entry"});
  for (const InstructionInfo& insn : *insns) {
    if (!insn.is_return) {
      continue;
    }
    sites.push_back(ProbeSite{SiteKind::kReturn, insn.vaddr, insn.text,
                              HexBytes(InsnBytes(vaddr, code, insn)), "return instruction"});
  }
  if (sites.size() == 1) {
    return MakeError(
        "function at {:#x} ({} bytes) has no return instruction; its exits cannot be probed", vaddr,
        code.size());
  }
  return sites;
}

Result<std::vector<uint64_t>> FindNop5Sites(Arch arch, uint64_t vaddr,
                                            std::span<const uint8_t> code) {
  Result<std::vector<InstructionInfo>> insns = DecodeFunction(arch, vaddr, code);
  if (!insns.ok()) {
    return insns.error();
  }
  std::vector<uint64_t> out;
  if (arch != Arch::kX86_64) {
    return out;
  }
  static constexpr std::array<uint8_t, 5> kNop5 = {0x0f, 0x1f, 0x44, 0x00, 0x00};
  for (const InstructionInfo& insn : *insns) {
    if (insn.size != kNop5.size()) {
      continue;
    }
    std::span<const uint8_t> b = InsnBytes(vaddr, code, insn);
    if (std::equal(b.begin(), b.end(), kNop5.begin())) {
      out.push_back(insn.vaddr);
    }
  }
  return out;
}

}  // namespace cgotrace
