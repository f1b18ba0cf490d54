// Instruction shapes for the site planner, from capstone's text.
#include "binary/insn_shapes.h"

#include <charconv>
#include <string>

namespace cgotrace {
namespace {

// The operands: everything after the mnemonic ("" if none).
std::string_view Operands(const InstructionInfo& insn) {
  std::string_view t = insn.text;
  auto sp = t.find(' ');
  return sp == std::string_view::npos ? std::string_view{} : t.substr(sp + 1);
}

// An immediate as capstone prints it: "0x40", "-0x40", "8", "#-0x40".
std::optional<int64_t> ParseImm(std::string_view s) {
  if (!s.empty() && s.front() == '#') {
    s.remove_prefix(1);
  }
  bool neg = !s.empty() && s.front() == '-';
  if (neg) {
    s.remove_prefix(1);
  }
  int base = 10;
  if (s.starts_with("0x")) {
    s.remove_prefix(2);
    base = 16;
  }
  uint64_t v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v, base);
  if (ec != std::errc() || end != s.data() + s.size() || v > (uint64_t{1} << 62)) {
    return std::nullopt;
  }
  return neg ? -static_cast<int64_t>(v) : static_cast<int64_t>(v);
}

// The last "#imm" of arm64 operands, up to "]" or ",": "[sp, #-0x40]!" -> -0x40.
std::optional<int64_t> LastImm(std::string_view ops) {
  auto hash = ops.rfind('#');
  if (hash == std::string_view::npos) {
    return std::nullopt;
  }
  std::string_view imm = ops.substr(hash);
  return ParseImm(imm.substr(0, imm.find_first_of("],")));
}

bool IsArm64Branch(std::string_view m) {
  return m == "b" || m == "bl" || m == "cbz" || m == "cbnz" || m == "tbz" || m == "tbnz" ||
         m.starts_with("b.");
}

bool X86ChangesSp(const InstructionInfo& insn) {
  std::string_view m = Mnemonic(insn);
  std::string_view t = insn.text;
  return m == "push" || m == "pop" || m == "ret" || m == "leave" || m == "pushfq" || m == "popfq" ||
         (t.find(" rsp,") != std::string_view::npos && m != "cmp" && m != "test");
}

bool Arm64ChangesSp(const InstructionInfo& insn) {
  std::string_view ops = Operands(insn);
  if (insn.is_return || ops.starts_with("sp,")) {
    return true;  // ret, or SP is the destination (add/sub/mov sp, ...)
  }
  // Pre-index writeback "[sp, #-0x40]!" or post-index "[sp], #0x40".
  auto base = ops.find("[sp");
  return base != std::string_view::npos &&
         (ops.ends_with("]!") || ops.find("], #", base) != std::string_view::npos);
}

Result<int32_t> X86Frame(std::span<const InstructionInfo> insns, size_t site) {
  size_t k = 0;
  if (insns.size() > 1 && insns[0].text.starts_with("cmp rsp, qword ptr [r14") &&
      IsJump(Arch::kX86_64, insns[1])) {
    k = 2;
  }
  int64_t frame = 0;
  for (; k < site; ++k) {
    const std::string& t = insns[k].text;
    if (t == "push rbp") {
      frame += 8;
    } else if (t.starts_with("sub rsp, ")) {
      auto imm = ParseImm(std::string_view{t}.substr(9));
      if (!imm) {
        break;
      }
      frame += *imm;
    } else if (t == "mov rbp, rsp" ||
               (t.starts_with("mov qword ptr [rsp + ") && t.ends_with("], rbp")) ||
               t.starts_with("lea rbp, [rsp + ")) {
      continue;
    } else {
      break;
    }
  }
  for (; k < site; ++k) {
    if (X86ChangesSp(insns[k])) {
      return MakeError("SP changes at {:#x} ({}) before the site", insns[k].vaddr, insns[k].text);
    }
  }
  return static_cast<int32_t>(frame);
}

Result<int32_t> Arm64Frame(std::span<const InstructionInfo> insns, size_t site) {
  size_t k = 0;
  // Stack-bound check: ldr x16, [x28, #0x10]; [sub x17, sp, #N;] cmp; b.ls.
  if (!insns.empty() && insns[0].text.starts_with("ldr x16, [x28")) {
    for (size_t i = 1; i < insns.size() && i < 5; ++i) {
      if (Mnemonic(insns[i]) == "b.ls") {
        k = i + 1;
        break;
      }
    }
    if (k == 0) {
      return MakeError("unrecognised stack-bound check at {:#x}", insns[0].vaddr);
    }
  }
  int64_t frame = 0;
  int64_t pending = 0;  // the large-frame form's x20 = sp - N
  for (; k < site; ++k) {
    const std::string& t = insns[k].text;
    std::string_view ops = Operands(insns[k]);
    if (t.starts_with("str x30, [sp, #-") && t.ends_with("]!")) {
      auto imm = LastImm(ops);
      if (!imm || *imm >= 0) {
        break;
      }
      frame += -*imm;
    } else if (t.starts_with("sub x20, sp, #")) {
      auto imm = LastImm(ops);
      if (!imm) {
        break;
      }
      pending = *imm;
    } else if (t == "mov sp, x20" && pending > 0) {
      frame += pending;
      pending = 0;
    } else if (t.starts_with("stp x29, x30, [x20, #-") || t == "stur x29, [sp, #-8]" ||
               t == "sub x29, sp, #8") {
      continue;  // LR and frame pointer saved below the new SP: SP unchanged
    } else {
      break;
    }
  }
  for (; k < site; ++k) {
    if (Arm64ChangesSp(insns[k])) {
      return MakeError("SP changes at {:#x} ({}) before the site", insns[k].vaddr, insns[k].text);
    }
  }
  return static_cast<int32_t>(frame);
}

}  // namespace

std::string_view Mnemonic(const InstructionInfo& insn) {
  std::string_view t = insn.text;
  return t.substr(0, t.find(' '));
}

bool IsNop(Arch arch, const InstructionInfo& insn) {
  if (arch == Arch::kArm64) {
    return insn.text == "nop";
  }
  return Mnemonic(insn) == "nop" || insn.text == "xchg ax, ax";
}

bool IsCall(Arch arch, const InstructionInfo& insn) {
  std::string_view m = Mnemonic(insn);
  return arch == Arch::kArm64 ? (m == "bl" || m == "blr") : m == "call";
}

bool IsJump(Arch arch, const InstructionInfo& insn) {
  std::string_view m = Mnemonic(insn);
  if (arch == Arch::kArm64) {
    return (IsArm64Branch(m) && m != "bl") || m == "br";
  }
  return m.starts_with('j');
}

bool IsTrap(Arch arch, const InstructionInfo& insn) {
  std::string_view m = Mnemonic(insn);
  if (arch == Arch::kArm64) {
    return m == "brk" || m == "udf" || m == "hlt" || m == ".inst";
  }
  return m == "int3" || m == "ud2";
}

std::optional<uint64_t> DirectTarget(Arch arch, const InstructionInfo& insn) {
  std::string_view ops = Operands(insn);
  if (arch == Arch::kArm64) {
    if (!IsArm64Branch(Mnemonic(insn))) {
      return std::nullopt;
    }
    auto comma = ops.rfind(", ");
    std::string_view last = comma == std::string_view::npos ? ops : ops.substr(comma + 2);
    if (!last.starts_with("#0x")) {
      return std::nullopt;
    }
    auto v = ParseImm(last);
    return v && *v >= 0 ? std::optional<uint64_t>(static_cast<uint64_t>(*v)) : std::nullopt;
  }
  if (!IsCall(arch, insn) && !IsJump(arch, insn)) {
    return std::nullopt;
  }
  if (!ops.starts_with("0x") || ops.size() == 2 ||
      ops.substr(2).find_first_not_of("0123456789abcdef") != std::string_view::npos) {
    return std::nullopt;
  }
  auto v = ParseImm(ops);
  return v ? std::optional<uint64_t>(static_cast<uint64_t>(*v)) : std::nullopt;
}

bool ChangesSp(Arch arch, const InstructionInfo& insn) {
  return arch == Arch::kArm64 ? Arm64ChangesSp(insn) : X86ChangesSp(insn);
}

Result<int32_t> FrameAt(Arch arch, std::span<const InstructionInfo> insns, size_t site) {
  auto frame = arch == Arch::kArm64 ? Arm64Frame(insns, site) : X86Frame(insns, site);
  // The descriptor's SP offsets are 16-bit (cgt_site_desc).
  if (frame && *frame > 0xfff0) {
    return MakeError("frame of {} bytes is implausible", *frame);
  }
  return frame;
}

}  // namespace cgotrace
