// Site plan: placing the site table (binary/site_table.cpp) in one binary.
#include "binary/site_plan.h"

#include <algorithm>
#include <array>
#include <optional>
#include <string>

#include "binary/go_binary.h"
#include "binary/insn_shapes.h"

namespace cgotrace {
namespace {

// ABI0 on arm64: at entry, 0(RSP) is the slot for the callee's saved LR
// and the first argument follows it.
constexpr uint32_t kAbi0FirstArgSpOffset = 8;

std::string HexBytes(std::span<const uint8_t> bytes) {
  std::string out;
  for (uint8_t b : bytes) {
    out += fmt::format("{:02x}", b);
  }
  return out;
}

// The CALL whose return means C returned (runtime.cgocall).
constexpr std::string_view kCReturnCallee = "runtime.asmcgocall";

int CostRank(SiteCost c) {
  switch (c) {
    case SiteCost::kOptimizedNop:
      return 0;
    case SiteCost::kEmulated:
      return 1;
    case SiteCost::kSingleStep:
      return 2;
  }
  return 3;
}

}  // namespace

bool InBlockAfterCall(Arch arch, std::span<const InstructionInfo> insns, const CalleeNamer& namer,
                      std::string_view callee, uint64_t vaddr) {
  std::vector<uint64_t> jump_targets;
  std::optional<size_t> call;
  for (size_t i = 0; i < insns.size(); ++i) {
    auto target = DirectTarget(arch, insns[i]);
    if (target && IsJump(arch, insns[i])) {
      jump_targets.push_back(*target);
    }
    if (target && IsCall(arch, insns[i]) && namer(*target) == callee) {
      if (call) {
        return false;  // two CALLs: neither marks every return
      }
      call = i;
    }
  }
  if (!call) {
    return false;
  }
  for (size_t k = *call + 1; k < insns.size(); ++k) {
    const InstructionInfo& insn = insns[k];
    if (std::find(jump_targets.begin(), jump_targets.end(), insn.vaddr) != jump_targets.end()) {
      return false;  // reachable without the CALL returning
    }
    if (insn.vaddr == vaddr) {
      return true;
    }
    if (insn.is_return || IsCall(arch, insn) || IsJump(arch, insn) || IsTrap(arch, insn)) {
      return false;
    }
  }
  return false;
}

Result<std::vector<PlannedSite>> PlaceRule(Arch arch, const SiteRule& rule, uint32_t slot,
                                           uint64_t entry, std::span<const uint8_t> code,
                                           std::span<const InstructionInfo> insns,
                                           const CalleeNamer& namer) {
  std::vector<PlannedSite> out;
  auto make = [&](const InstructionInfo& insn, int32_t sp_to_entry) {
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
    s.sp_to_entry = sp_to_entry;
    return s;
  };
  switch (rule.where) {
    case SiteWhere::kEntry:
      if (!insns.empty() && insns.front().vaddr == entry) {
        out.push_back(make(insns.front(), 0));
      }
      break;
    case SiteWhere::kCheapEntry: {
      if (insns.empty() || insns.front().vaddr != entry) {
        return MakeError("{} does not start with a decoded instruction", rule.function);
      }
      PlannedSite s = make(insns.front(), 0);
      if (s.cost == SiteCost::kSingleStep) {
        return MakeError("{}'s entry ({}) is single-stepped", rule.function, s.insn);
      }
      for (const InstructionInfo& insn : insns) {
        auto target = DirectTarget(arch, insn);
        if (target && *target == entry && (IsJump(arch, insn) || IsCall(arch, insn))) {
          return MakeError("{}'s entry is reached again from {:#x}", rule.function, insn.vaddr);
        }
      }
      out.push_back(std::move(s));
      break;
    }
    case SiteWhere::kEachReturn:
      for (const InstructionInfo& insn : insns) {
        if (insn.is_return) {
          out.push_back(make(insn, 0));
        }
      }
      break;
    case SiteWhere::kEachCallTo: {
      for (size_t i = 0; i < insns.size(); ++i) {
        auto target = DirectTarget(arch, insns[i]);
        if (!target || !IsCall(arch, insns[i]) || namer(*target) != rule.callee) {
          continue;
        }
        // Such sites read nothing relative to SP (the slow path of
        // exitsyscall lies after a RET, where the frame is not followed).
        if (rule.fn_from == CGT_SRC_SP_WORD || rule.pc_from != CGT_SRC_NONE) {
          return MakeError("{}: a rule for each CALL to {} cannot read the stack", rule.function,
                           rule.callee);
        }
        out.push_back(make(insns[i], 0));
      }
      if (out.empty()) {
        return MakeError("{} has no CALL to {}", rule.function, rule.callee);
      }
      break;
    }
    case SiteWhere::kCallTo:
    case SiteWhere::kAfterCall: {
      std::vector<size_t> calls;
      std::vector<uint64_t> jump_targets;
      for (size_t i = 0; i < insns.size(); ++i) {
        auto target = DirectTarget(arch, insns[i]);
        if (target && IsCall(arch, insns[i]) && namer(*target) == rule.callee) {
          calls.push_back(i);
        }
        if (target && IsJump(arch, insns[i])) {
          jump_targets.push_back(*target);
        }
      }
      if (calls.size() != 1) {
        return MakeError("{} has {} CALLs to {} (one is needed)", rule.function, calls.size(),
                         rule.callee);
      }
      const size_t c = calls.front();
      for (size_t i = 0; i < insns.size(); ++i) {
        auto target = DirectTarget(arch, insns[i]);
        if (target && IsJump(arch, insns[i]) && *target <= insns[c].vaddr &&
            insns[i].vaddr >= insns[c].vaddr) {
          return MakeError("the CALL to {} at {:#x} is inside a loop", rule.callee, insns[c].vaddr);
        }
      }
      auto frame = FrameAt(arch, insns, c);
      if (!frame) {
        return MakeError("{}: {}", rule.function, frame.error().message);
      }
      auto is_target = [&](uint64_t vaddr) {
        return std::find(jump_targets.begin(), jump_targets.end(), vaddr) != jump_targets.end();
      };
      // Candidates execute exactly once whenever the anchor does.
      std::vector<size_t> window;
      if (rule.where == SiteWhere::kCallTo) {
        window.push_back(c);
        for (size_t k = c; k > 0 && IsNop(arch, insns[k - 1]) && !is_target(insns[k].vaddr); --k) {
          window.push_back(k - 1);
        }
      } else {
        for (size_t k = c + 1; k < insns.size(); ++k) {
          const InstructionInfo& insn = insns[k];
          if ((k > c + 1 && is_target(insn.vaddr)) || insn.is_return || ChangesSp(arch, insn) ||
              IsTrap(arch, insn)) {
            break;
          }
          window.push_back(k);
          if (IsCall(arch, insn) || IsJump(arch, insn)) {
            break;
          }
        }
        if (window.empty()) {
          return MakeError("no instruction after the CALL to {} at {:#x}", rule.callee,
                           insns[c].vaddr);
        }
      }
      // Cheapest; on a tie the one nearest the anchor.
      std::optional<PlannedSite> best;
      for (size_t k : window) {
        PlannedSite s = make(insns[k], *frame);
        if (!best || CostRank(s.cost) < CostRank(best->cost)) {
          best = std::move(s);
        }
      }
      best->c_end =
          rule.ends_c && InBlockAfterCall(arch, insns, namer, kCReturnCallee, best->vaddr);
      if (rule.event == CGT_SE_C_END && !best->c_end) {
        return MakeError("{} at {:#x} is not in the block right after CALL {}", rule.function,
                         best->vaddr, kCReturnCallee);
      }
      out.push_back(std::move(*best));
      break;
    }
  }
  if (out.empty()) {
    return MakeError("{} at {:#x}: no instruction for site rule \"{}\"", rule.function, entry,
                     rule.why);
  }
  return out;
}

cgt_site_desc DescriptorFor(Arch arch, const SiteRule& rule, int32_t sp_to_entry, bool has_symtab) {
  cgt_site_desc d{};
  d.event = static_cast<cgt_u8>(rule.event);
  d.g_from = CGT_G_REGISTER;
  d.fn_from = static_cast<cgt_u8>(rule.fn_from);
  d.fn_sp_off = static_cast<cgt_u16>(rule.fn_sp_off);
  // The caller's PC costs a user-memory read per call on x86-64; with
  // .symtab the trampoline's own symbol names the call.
  if (!has_symtab) {
    d.pc_from = static_cast<cgt_u8>(rule.pc_from);
    d.pc_sp_off = static_cast<cgt_u16>(rule.pc_sp_off);
    if (rule.pc_from == CGT_SRC_SP_WORD && arch == Arch::kX86_64) {
      d.pc_sp_off = static_cast<cgt_u16>(d.pc_sp_off + sp_to_entry);
    }
  }
  d.sp_to_entry = sp_to_entry;
  return d;
}

Result<SitePlan> PlanDecoded(Arch arch, std::span<const SiteRule> table,
                             std::span<const DecodedFunction> functions, const CalleeNamer& namer,
                             bool has_symtab, bool entry_ret_only) {
  SitePlan plan;
  plan.descriptors.resize(table.size());
  std::vector<bool> event_done(CGT_SE_MAX, false);
  for (uint32_t slot = 0; slot < table.size(); ++slot) {
    const cgt_site_event event = table[slot].event;
    if (event_done[event]) {
      continue;  // an alternative that lost to an earlier row
    }
    std::string reasons;
    for (uint32_t alt = slot; alt < table.size(); ++alt) {
      const SiteRule& rule = table[alt];
      if (rule.event != event || (entry_ret_only && rule.where != SiteWhere::kEntry &&
                                  rule.where != SiteWhere::kEachReturn)) {
        continue;
      }
      const DecodedFunction* fn = nullptr;
      for (const DecodedFunction& f : functions) {
        if (f.name == rule.function) {
          fn = &f;
        }
      }
      if (fn == nullptr) {
        return MakeError("site table names {}, which was not decoded", rule.function);
      }
      auto sites = PlaceRule(arch, rule, alt, fn->entry, fn->code, fn->insns, namer);
      if (!sites) {
        reasons += reasons.empty() ? "" : "; ";
        reasons += sites.error().message;
        continue;
      }
      for (PlannedSite& s : *sites) {
        s.fallback = !reasons.empty() &&
                     (rule.where == SiteWhere::kEntry || rule.where == SiteWhere::kEachReturn);
        s.not_preferred = reasons;
      }
      plan.descriptors[alt] = DescriptorFor(arch, rule, sites->front().sp_to_entry, has_symtab);
      if (sites->front().c_end) {
        plan.descriptors[alt].flags |= CGT_SITE_F_C_END;
      }
      plan.sites.insert(plan.sites.end(), sites->begin(), sites->end());
      event_done[event] = true;
      break;
    }
    if (!event_done[event]) {
      return MakeError("no probe site for \"{}\": {}", table[slot].why, reasons);
    }
  }
  // A start and its end both at CALLs inside the function run on one thread
  // (the goroutine is locked to its M around the C call and inside a
  // callback): their in-flight state can be per thread. So does a start at
  // runtime.cgocall's entry (kCheapEntry): the runtime is never preempted
  // asynchronously (isAsyncSafePoint refuses runtime.* PCs), and cgocall
  // neither blocks nor grows its stack (nosplit) before entersyscall.
  for (auto [start, end] :
       {std::pair{CGT_SE_CALL_START, CGT_SE_CALL_END}, std::pair{CGT_SE_CB_START, CGT_SE_CB_END}}) {
    auto in_frame = [&](cgt_site_event e) {
      for (uint32_t slot = 0; slot < table.size(); ++slot) {
        if (plan.descriptors[slot].event == e) {
          return table[slot].where == SiteWhere::kCallTo ||
                 table[slot].where == SiteWhere::kAfterCall ||
                 table[slot].where == SiteWhere::kCheapEntry;
        }
      }
      return false;
    };
    if (in_frame(start) && in_frame(end)) {
      for (cgt_site_desc& d : plan.descriptors) {
        if (d.event == start || d.event == end) {
          d.flags |= CGT_SITE_F_TASK;
        }
      }
    }
  }
  // A slow path that moves frames off the thread: the call end may find
  // its frame in `inflight` instead.
  bool off_thread = false;
  for (const cgt_site_desc& d : plan.descriptors) {
    off_thread |= d.event == CGT_SE_CALL_OFF_THREAD;
  }
  for (cgt_site_desc& d : plan.descriptors) {
    if (off_thread && d.event == CGT_SE_CALL_END) {
      d.flags |= CGT_SITE_F_MAY_MOVE;
    }
  }
  return plan;
}

bool ArgumentsOnStack(Arch arch, int go_major, int go_minor) {
  return arch == Arch::kArm64 && go_major == 1 && go_minor < 18;
}

Result<SitePlan> PlanSites(const GoBinary& bin, bool entry_ret_only, bool breakdown) {
  const ElfFile& elf = bin.elf();
  if (breakdown && entry_ret_only) {
    return MakeError("{}: --breakdown needs the planned sites (runtime.exitsyscall's)", elf.path());
  }
  CalleeNamer namer = [&bin](uint64_t target) -> std::string {
    const GoFunc* f = bin.pclntab().FuncAt(target);
    return f != nullptr && f->entry == target ? f->name : "";
  };
  std::vector<DecodedFunction> functions;
  std::vector<const ProbedFunction*> probed = {&bin.cgocall(), &bin.cgocallback()};
  if (breakdown) {
    probed.push_back(&bin.exitsyscall());
  }
  for (const ProbedFunction* fn : probed) {
    auto code = elf.ReadVaddr(fn->entry, fn->size);
    if (!code) {
      return MakeError("{}: cannot read {} at {:#x}: {}", elf.path(), fn->name, fn->entry,
                       code.error().message);
    }
    auto insns = DecodeFunction(elf.arch(), fn->entry, *code);
    if (!insns) {
      return MakeError("{}: {}: {}", elf.path(), fn->name, insns.error().message);
    }
    functions.push_back(DecodedFunction{fn->name, fn->entry, *code, std::move(*insns)});
  }
  auto plan = PlanDecoded(elf.arch(), SiteTable(elf.arch(), breakdown), functions, namer,
                          bin.has_symtab(), entry_ret_only);
  if (!plan) {
    return MakeError("{}: {}", elf.path(), plan.error().message);
  }
  const GoVersion& v = bin.buildinfo().version;
  if (ArgumentsOnStack(elf.arch(), v.major, v.minor)) {
    // Seen live on arm64 go1.17: x0 happened to hold fn at cgocall's
    // entry, but not at cgocallbackg's (callbacks named by address).
    for (cgt_site_desc& d : plan->descriptors) {
      if (d.fn_from == CGT_SRC_ARG0) {
        d.fn_from = CGT_SRC_SP_WORD;
        d.fn_sp_off = static_cast<cgt_u16>(kAbi0FirstArgSpOffset);
      }
    }
  }
  return plan;
}

}  // namespace cgotrace
