// Sampling layout of a Go binary: capstone decoding of TLS loads of g and of
// runtime.cgocall's prologue.
#include "offsets/go_sample_layout.h"

#include <capstone/capstone.h>

#include <cstring>
#include <optional>

namespace cgotrace {
namespace {

// Enough agreeing loads to be sure; the scan stops there.
constexpr uint32_t kWitnessesWanted = 16;

class DetailDisassembler {
 public:
  DetailDisassembler() = default;
  ~DetailDisassembler() {
    if (insn_ != nullptr) {
      cs_free(insn_, 1);
    }
    if (open_) {
      cs_close(&handle_);
    }
  }
  DetailDisassembler(const DetailDisassembler&) = delete;
  DetailDisassembler& operator=(const DetailDisassembler&) = delete;

  Result<void> Open() {
    cs_err err = cs_open(CS_ARCH_X86, CS_MODE_64, &handle_);
    if (err != CS_ERR_OK) {
      return MakeError("capstone cs_open failed: {}", cs_strerror(err));
    }
    open_ = true;
    cs_option(handle_, CS_OPT_DETAIL, CS_OPT_ON);
    insn_ = cs_malloc(handle_);
    if (insn_ == nullptr) {
      return MakeError("capstone cs_malloc failed");
    }
    return Ok();
  }
  csh handle() const { return handle_; }
  cs_insn* insn() const { return insn_; }

 private:
  bool open_ = false;
  csh handle_ = 0;
  cs_insn* insn_ = nullptr;
};

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

}  // namespace

Result<GTlsSlot> FindGTlsSlot(const ElfFile& elf, const GoPclntab& pclntab) {
  if (elf.arch() != Arch::kX86_64) {
    return MakeError("{}: finding g's TLS slot is implemented for x86-64 only (not {})", elf.path(),
                     ArchName(elf.arch()));
  }
  DetailDisassembler dis;
  CGT_TRY(dis.Open());
  GTlsSlot slot;
  for (const GoFunc& f : pclntab.funcs()) {
    if (f.end <= f.entry) {
      continue;
    }
    auto code = elf.ReadVaddr(f.entry, f.end - f.entry);
    if (!code) {
      continue;
    }
    const uint8_t* p = code->data();
    size_t left = code->size();
    uint64_t addr = f.entry;
    cs_insn* insn = dis.insn();
    RegValue last;
    while (left > 0 && cs_disasm_iter(dis.handle(), &p, &left, &addr, insn)) {
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
      if (slot.witnesses > 0 && *found != slot.offset) {
        return MakeError(
            "{}: TLS loads of g disagree: fs:{:#x} at {:#x} but fs:{:#x} at {:#x}; refusing to "
            "guess g's TLS slot",
            elf.path(), slot.offset, slot.example_vaddr, *found, insn->address);
      }
      if (slot.witnesses == 0) {
        slot.offset = *found;
        slot.example_vaddr = insn->address;
      }
      if (++slot.witnesses >= kWitnessesWanted) {
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

Result<uint32_t> CgocallFramePointerOffset(Arch arch, uint64_t vaddr,
                                           std::span<const uint8_t> code) {
  if (arch != Arch::kX86_64) {
    return MakeError("runtime.cgocall's frame layout is decoded on x86-64 only (not {})",
                     ArchName(arch));
  }
  DetailDisassembler dis;
  CGT_TRY(dis.Open());
  // Offsets relative to the stack pointer at entry.
  int64_t sp = 0;
  std::optional<int64_t> bp;
  const uint8_t* p = code.data();
  size_t left = code.size();
  uint64_t addr = vaddr;
  cs_insn* insn = dis.insn();
  while (left > 0 && cs_disasm_iter(dis.handle(), &p, &left, &addr, insn)) {
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
  return static_cast<uint32_t>(*bp - sp);
}

}  // namespace cgotrace
