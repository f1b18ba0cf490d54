// Sampling layout of a Go binary: capstone decoding of TLS loads of g and of
// runtime.cgocall's prologue.
#include "offsets/go_sample_layout.h"

#include <capstone/capstone.h>

#include <cstring>
#include <map>
#include <optional>
#include <span>
#include <string_view>

#include "util/disassembler.h"

namespace cgotrace {
namespace {

// Enough agreeing loads to be sure; the scan stops there.
constexpr uint32_t kWitnessesWanted = 16;

// A disassembler with operand details for `arch` (x86-64 or arm64).
Result<void> OpenDetailed(Disassembler& dis, Arch arch) {
  return arch == Arch::kArm64 ? dis.Open(CS_ARCH_ARM64, CS_MODE_ARM, /*detail=*/true)
                              : dis.Open(CS_ARCH_X86, CS_MODE_64, /*detail=*/true);
}

// A value a register was just loaded with, to resolve fs:[reg].
struct RegValue {
  x86_reg reg = X86_REG_INVALID;
  std::optional<int64_t> value;
};

bool IsMovToReg(const cs_insn* insn, x86_reg* dst) {
  if (insn->id != X86_INS_MOV || insn->detail->x86.op_count != 2) {
    return false;
  }
  const cs_x86_op& d = insn->detail->x86.operands[0];
  if (d.type != X86_OP_REG || d.size != 8) {
    return false;
  }
  *dst = d.reg;
  return true;
}

// The machine code of `f`, or nothing when it has none or lies outside the
// file (such a function is skipped, not an error).
std::optional<std::span<const uint8_t>> CodeOf(const ElfFile& elf, const GoFunc& f) {
  if (f.end <= f.entry) {
    return std::nullopt;
  }
  auto code = elf.ReadVaddr(f.entry, f.end - f.entry);
  if (!code) {
    return std::nullopt;
  }
  return *code;
}

std::optional<int64_t> ReadGot(const ElfFile& elf, uint64_t vaddr) {
  auto bytes = elf.ReadVaddr(vaddr, sizeof(int64_t));
  if (!bytes) {
    return std::nullopt;
  }
  int64_t v = 0;
  std::memcpy(&v, bytes->data(), sizeof(v));
  // An unresolved GOT slot (filled by a dynamic TPOFF relocation) reads 0,
  // which is never g's slot (that is the TCB self pointer).
  return v == 0 ? std::nullopt : std::optional<int64_t>(v);
}

// One more agreeing (or the first disagreeing) TLS load of g at `vaddr`;
// `segment` prefixes offsets in the error ("fs:" on x86-64).
Result<void> AddWitness(const ElfFile& elf, int64_t found, uint64_t vaddr, GTlsSlot* slot,
                        std::string_view segment = "") {
  if (slot->witnesses > 0 && found != slot->offset) {
    return MakeError(
        "{}: TLS loads of g disagree: {}{:#x} at {:#x} but {}{:#x} at {:#x}; refusing to guess "
        "g's TLS slot",
        elf.path(), segment, slot->offset, slot->example_vaddr, segment, found, vaddr);
  }
  if (slot->witnesses == 0) {
    slot->offset = found;
    slot->example_vaddr = vaddr;
  }
  ++slot->witnesses;
  return Ok();
}

// arm64: the runtime reaches g's slot only in runtime.load_g and
// runtime.save_g (runtime/tls_arm64.s), as
//   mrs x0, tpidr_el0 ; <x27 = offset> ; ldr|str x28, [x0, x27]
// where the offset is `MOVD runtime.tls_g(SB), R27` as the linker resolved
// it: movz (+ movk) for a local-exec offset, or adrp + ldr from the GOT
// (initial-exec). The three instructions are adjacent; any other instruction
// in between forgets what was known.
Result<GTlsSlot> FindGTlsSlotArm64(const ElfFile& elf, const GoPclntab& pclntab,
                                   Disassembler& dis) {
  GTlsSlot slot;
  for (const GoFunc& f : pclntab.funcs()) {
    std::string_view name = f.name;
    if (name.ends_with(".abi0")) {
      name.remove_suffix(4);
    }
    if (name != "runtime.load_g" && name != "runtime.save_g") {
      continue;
    }
    auto code = CodeOf(elf, f);
    if (!code) {
      continue;
    }
    unsigned tp = ARM64_REG_INVALID;
    std::map<unsigned, int64_t> known;   // register -> value
    std::map<unsigned, uint64_t> pages;  // register -> adrp page
    Disassembler::Cursor c = dis.Decode(f.entry, *code);
    while (const cs_insn* insn = c.Next()) {
      const cs_arm64& a = insn->detail->arm64;
      const bool reg0 = a.op_count >= 1 && a.operands[0].type == ARM64_OP_REG;
      const unsigned dst = reg0 ? a.operands[0].reg : ARM64_REG_INVALID;
      if (insn->id == ARM64_INS_MRS && reg0 && std::strstr(insn->op_str, "tpidr_el0") != nullptr) {
        tp = dst;
        continue;
      }
      if ((insn->id == ARM64_INS_MOV || insn->id == ARM64_INS_MOVZ) && reg0 && a.op_count == 2 &&
          a.operands[1].type == ARM64_OP_IMM) {
        const unsigned shift =
            a.operands[1].shift.type == ARM64_SFT_LSL ? a.operands[1].shift.value : 0;
        known[dst] = a.operands[1].imm << shift;
        continue;
      }
      if (insn->id == ARM64_INS_MOVK && reg0 && a.op_count == 2 &&
          a.operands[1].type == ARM64_OP_IMM && known.contains(dst)) {
        const unsigned shift =
            a.operands[1].shift.type == ARM64_SFT_LSL ? a.operands[1].shift.value : 0;
        const uint64_t mask = uint64_t{0xffff} << shift;
        known[dst] =
            static_cast<int64_t>((static_cast<uint64_t>(known[dst]) & ~mask) |
                                 ((static_cast<uint64_t>(a.operands[1].imm) << shift) & mask));
        continue;
      }
      if (insn->id == ARM64_INS_ADRP && reg0 && a.op_count == 2 &&
          a.operands[1].type == ARM64_OP_IMM) {
        pages[dst] = static_cast<uint64_t>(a.operands[1].imm);
        continue;
      }
      if ((insn->id == ARM64_INS_LDR || insn->id == ARM64_INS_STR) && reg0 && a.op_count == 2 &&
          a.operands[1].type == ARM64_OP_MEM) {
        const arm64_op_mem& m = a.operands[1].mem;
        if (dst == ARM64_REG_X28 && m.base == tp && tp != ARM64_REG_INVALID &&
            known.contains(m.index) && m.disp == 0) {
          CGT_TRY(AddWitness(elf, known[m.index], insn->address, &slot));
        } else if (insn->id == ARM64_INS_LDR && m.index == ARM64_REG_INVALID &&
                   pages.contains(m.base)) {
          if (auto got = ReadGot(elf, pages[m.base] + static_cast<uint64_t>(m.disp))) {
            known[dst] = *got;
            continue;
          }
        }
      }
      tp = ARM64_REG_INVALID;
      known.clear();
      pages.clear();
    }
  }
  if (slot.witnesses == 0) {
    return MakeError(
        "{}: no TLS load of g (mrs tpidr_el0; ldr x28, [tp, off]) found in runtime.load_g or "
        "runtime.save_g; cannot locate g's TLS slot",
        elf.path());
  }
  return slot;
}

}  // namespace

Result<GTlsSlot> FindGTlsSlot(const ElfFile& elf, const GoPclntab& pclntab) {
  if (elf.arch() != Arch::kX86_64 && elf.arch() != Arch::kArm64) {
    return MakeError("{}: finding g's TLS slot is implemented for x86-64 and arm64 only (not {})",
                     elf.path(), ArchName(elf.arch()));
  }
  Disassembler dis;
  CGT_TRY(OpenDetailed(dis, elf.arch()));
  if (elf.arch() == Arch::kArm64) {
    return FindGTlsSlotArm64(elf, pclntab, dis);
  }
  GTlsSlot slot;
  for (const GoFunc& f : pclntab.funcs()) {
    auto code = CodeOf(elf, f);
    if (!code) {
      continue;
    }
    RegValue last;
    Disassembler::Cursor c = dis.Decode(f.entry, *code);
    while (const cs_insn* insn = c.Next()) {
      x86_reg dst = X86_REG_INVALID;
      if (!IsMovToReg(insn, &dst)) {
        last = {};
        continue;
      }
      const cs_x86_op& src = insn->detail->x86.operands[1];
      std::optional<int64_t> found;
      if (src.type == X86_OP_MEM && src.mem.segment == X86_REG_FS && dst == X86_REG_R14 &&
          src.mem.index == X86_REG_INVALID) {
        if (src.mem.base == X86_REG_INVALID) {
          found = src.mem.disp;
        } else if (src.mem.base == last.reg && src.mem.disp == 0 && last.value) {
          found = last.value;
        }
      }
      last = {};
      if (src.type == X86_OP_IMM) {
        last = {dst, src.imm};
      } else if (src.type == X86_OP_MEM && src.mem.segment == X86_REG_INVALID &&
                 src.mem.base == X86_REG_RIP && src.mem.index == X86_REG_INVALID) {
        last = {dst, ReadGot(elf, insn->address + insn->size + src.mem.disp)};
      }
      if (!found) {
        continue;
      }
      CGT_TRY(AddWitness(elf, *found, insn->address, &slot, "fs:"));
      if (slot.witnesses >= kWitnessesWanted) {
        return slot;
      }
    }
  }
  if (slot.witnesses == 0) {
    return MakeError("{}: no TLS load of g (mov r14, fs:...) found; cannot locate g's TLS slot",
                     elf.path());
  }
  return slot;
}

namespace {

// arm64 Go frames: `str x30, [sp, #-N]!` (allocates the frame, saves the
// return address at 0(sp)), `stur x29, [sp, #-8]`, `sub x29, sp, #8`: the
// frame record (saved x29, then the return address) sits 8 bytes below the
// stack pointer, so the frame pointer is sp - 8.
Result<int32_t> CgocallFramePointerOffsetArm64(uint64_t vaddr, std::span<const uint8_t> code,
                                               Disassembler& dis) {
  int64_t sp = 0;
  std::optional<int64_t> bp;
  Disassembler::Cursor c = dis.Decode(vaddr, code);
  while (const cs_insn* insn = c.Next()) {
    const cs_arm64& a = insn->detail->arm64;
    if (insn->id == ARM64_INS_BL || insn->id == ARM64_INS_BLR) {
      break;
    }
    const bool two_or_more = a.op_count >= 2 && a.operands[0].type == ARM64_OP_REG;
    if (insn->id == ARM64_INS_STR && two_or_more && a.operands[0].reg == ARM64_REG_X30 &&
        a.writeback && a.operands[1].type == ARM64_OP_MEM &&
        a.operands[1].mem.base == ARM64_REG_SP) {
      sp += a.operands[1].mem.disp;
    } else if (insn->id == ARM64_INS_SUB && a.op_count == 3 && a.operands[0].type == ARM64_OP_REG &&
               a.operands[1].type == ARM64_OP_REG && a.operands[1].reg == ARM64_REG_SP &&
               a.operands[2].type == ARM64_OP_IMM) {
      if (a.operands[0].reg == ARM64_REG_SP) {
        sp -= a.operands[2].imm;
      } else if (a.operands[0].reg == ARM64_REG_X29) {
        bp = sp - a.operands[2].imm;
      }
    } else if (insn->id == ARM64_INS_MOV && two_or_more && a.operands[0].reg == ARM64_REG_X29 &&
               a.operands[1].type == ARM64_OP_REG && a.operands[1].reg == ARM64_REG_SP) {
      bp = sp;
    }
  }
  constexpr int64_t kMaxFrame = 4096;
  if (!bp || sp >= 0 || *bp - sp < -kMaxFrame || *bp - sp > kMaxFrame) {
    return MakeError(
        "runtime.cgocall at {:#x}: prologue does not set up a frame pointer cgotrace "
        "recognises",
        vaddr);
  }
  return static_cast<int32_t>(*bp - sp);
}

}  // namespace

Result<int32_t> CgocallFramePointerOffset(Arch arch, uint64_t vaddr,
                                          std::span<const uint8_t> code) {
  if (arch != Arch::kX86_64 && arch != Arch::kArm64) {
    return MakeError("runtime.cgocall's frame layout is decoded on x86-64 and arm64 only (not {})",
                     ArchName(arch));
  }
  Disassembler dis;
  CGT_TRY(OpenDetailed(dis, arch));
  if (arch == Arch::kArm64) {
    return CgocallFramePointerOffsetArm64(vaddr, code, dis);
  }
  // Offsets relative to the stack pointer at entry.
  int64_t sp = 0;
  std::optional<int64_t> bp;
  Disassembler::Cursor c = dis.Decode(vaddr, code);
  while (const cs_insn* insn = c.Next()) {
    const cs_x86& x = insn->detail->x86;
    if (insn->id == X86_INS_CALL) {
      break;
    }
    if (insn->id == X86_INS_PUSH && x.op_count == 1 && x.operands[0].type == X86_OP_REG &&
        x.operands[0].reg == X86_REG_RBP) {
      sp -= 8;
    } else if (insn->id == X86_INS_MOV && x.op_count == 2 && x.operands[0].type == X86_OP_REG &&
               x.operands[0].reg == X86_REG_RBP && x.operands[1].type == X86_OP_REG &&
               x.operands[1].reg == X86_REG_RSP) {
      bp = sp;
    } else if (insn->id == X86_INS_SUB && x.op_count == 2 && x.operands[0].type == X86_OP_REG &&
               x.operands[0].reg == X86_REG_RSP && x.operands[1].type == X86_OP_IMM) {
      sp -= x.operands[1].imm;
    } else if (insn->id == X86_INS_LEA && x.op_count == 2 && x.operands[0].type == X86_OP_REG &&
               x.operands[0].reg == X86_REG_RBP && x.operands[1].type == X86_OP_MEM &&
               x.operands[1].mem.base == X86_REG_RSP &&
               x.operands[1].mem.index == X86_REG_INVALID) {
      bp = sp + x.operands[1].mem.disp;
    }
  }
  // A Go frame is at most a few KiB in cgocall; anything else is a misread.
  constexpr int64_t kMaxFrame = 4096;
  if (!bp || *bp - sp <= 0 || *bp - sp > kMaxFrame) {
    return MakeError(
        "runtime.cgocall at {:#x}: prologue does not set up a frame pointer cgotrace "
        "recognises",
        vaddr);
  }
  return static_cast<int32_t>(*bp - sp);
}

}  // namespace cgotrace
