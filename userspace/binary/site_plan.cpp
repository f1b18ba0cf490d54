// Site plan: the site table and its placement in one binary.
#include "binary/site_plan.h"

#include <algorithm>
#include <array>

#include "binary/go_binary.h"

namespace cgotrace {
namespace {

// Exact mode, entry + RET: a call is timed from runtime.cgocall's first
// instruction to its return, so duration_ns covers entersyscall, the C call
// and exitsyscall (any wait for a P included).
constexpr std::array<SiteRule, 4> kX86Table = {{
    {"runtime.cgocall", SiteWhere::kEntry, CGT_SE_CALL_START, CGT_SRC_ARG0, 0, CGT_SRC_SP_WORD, 0,
     "call start: function entry"},
    {"runtime.cgocall", SiteWhere::kEachReturn, CGT_SE_CALL_END, CGT_SRC_NONE, 0, CGT_SRC_NONE, 0,
     "call end: return instruction"},
    {"runtime.cgocallbackg", SiteWhere::kEntry, CGT_SE_CB_START, CGT_SRC_ARG0, 0, CGT_SRC_NONE, 0,
     "callback start: function entry"},
    {"runtime.cgocallbackg", SiteWhere::kEachReturn, CGT_SE_CB_END, CGT_SRC_NONE, 0, CGT_SRC_NONE,
     0, "callback end: return instruction"},
}};

// arm64: the return address is in the link register at entry.
constexpr std::array<SiteRule, 4> kArm64Table = {{
    {"runtime.cgocall", SiteWhere::kEntry, CGT_SE_CALL_START, CGT_SRC_ARG0, 0, CGT_SRC_LR, 0,
     "call start: function entry"},
    kX86Table[1],
    kX86Table[2],
    kX86Table[3],
}};

static_assert(kX86Table.size() <= CGT_MAX_SITE_SLOTS && kArm64Table.size() <= CGT_MAX_SITE_SLOTS);

std::string HexBytes(std::span<const uint8_t> bytes) {
  std::string out;
  for (uint8_t b : bytes) {
    out += fmt::format("{:02x}", b);
  }
  return out;
}

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

std::span<const SiteRule> SiteTable(Arch arch) {
  if (arch == Arch::kArm64) {
    return kArm64Table;
  }
  return kX86Table;
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

Result<std::vector<PlannedSite>> PlaceRule(Arch arch, const SiteRule& rule, uint32_t slot,
                                           uint64_t entry, std::span<const uint8_t> code,
                                           std::span<const InstructionInfo> insns) {
  std::vector<PlannedSite> out;
  auto place = [&](const InstructionInfo& insn) {
    std::span<const uint8_t> bytes = code.subspan(insn.vaddr - entry, insn.size);
    PlannedSite s;
    s.slot = slot;
    s.function = std::string(rule.function);
    s.function_entry = entry;
    s.vaddr = insn.vaddr;
    s.insn = insn.text;
    s.bytes_hex = HexBytes(bytes);
    s.cost = ClassifyInstruction(arch, bytes);
    s.why = std::string(rule.why);
    out.push_back(std::move(s));
  };
  switch (rule.where) {
    case SiteWhere::kEntry:
      if (!insns.empty() && insns.front().vaddr == entry) {
        place(insns.front());
      }
      break;
    case SiteWhere::kEachReturn:
      for (const InstructionInfo& insn : insns) {
        if (insn.is_return) {
          place(insn);
        }
      }
      break;
  }
  if (out.empty()) {
    return MakeError("{} at {:#x}: no instruction for site rule \"{}\"", rule.function, entry,
                     rule.why);
  }
  return out;
}

cgt_site_desc DescriptorFor(const SiteRule& rule, bool has_symtab) {
  cgt_site_desc d{};
  d.event = static_cast<cgt_u8>(rule.event);
  d.g_from = CGT_G_REGISTER;
  d.fn_from = static_cast<cgt_u8>(rule.fn_from);
  d.fn_sp_off = rule.fn_sp_off;
  // The caller's PC costs a user-memory read per call on x86-64; with
  // .symtab the trampoline's own symbol names the call.
  if (!has_symtab) {
    d.pc_from = static_cast<cgt_u8>(rule.pc_from);
    d.pc_sp_off = rule.pc_sp_off;
  }
  d.sp_to_entry = 0;
  return d;
}

Result<SitePlan> PlanSites(const GoBinary& bin) {
  const ElfFile& elf = bin.elf();
  std::span<const SiteRule> table = SiteTable(elf.arch());
  SitePlan plan;
  plan.descriptors.resize(table.size());
  for (uint32_t slot = 0; slot < table.size(); ++slot) {
    const SiteRule& rule = table[slot];
    const ProbedFunction* fn = nullptr;
    for (const ProbedFunction* f : {&bin.cgocall(), &bin.cgocallback()}) {
      if (f->name == rule.function) {
        fn = f;
      }
    }
    if (fn == nullptr) {
      return MakeError("{}: site table names {}, which cgotrace does not analyze", elf.path(),
                       rule.function);
    }
    auto code = elf.ReadVaddr(fn->entry, fn->size);
    if (!code) {
      return MakeError("{}: cannot read {} at {:#x}: {}", elf.path(), fn->name, fn->entry,
                       code.error().message);
    }
    auto insns = DecodeFunction(elf.arch(), fn->entry, *code);
    if (!insns) {
      return MakeError("{}: {}: {}", elf.path(), fn->name, insns.error().message);
    }
    auto sites = PlaceRule(elf.arch(), rule, slot, fn->entry, *code, *insns);
    if (!sites) {
      return MakeError("{}: {}", elf.path(), sites.error().message);
    }
    plan.descriptors[slot] = DescriptorFor(rule, bin.has_symtab());
    plan.sites.insert(plan.sites.end(), sites->begin(), sites->end());
  }
  return plan;
}

}  // namespace cgotrace
