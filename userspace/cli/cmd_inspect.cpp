// cgotrace inspect: what cgotrace sees in a binary, without attaching.
#include <fmt/format.h>

#include <algorithm>
#include <cctype>

#include "binary/go_binary.h"
#include "binary/site_plan.h"
#include "commands.h"
#include "common.h"
#include "offsets/go_sample_layout.h"
#include "process/process.h"

namespace cgotrace::cli {
namespace {

bool IsPid(const std::string& s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](unsigned char c) { return isdigit(c); });
}

void PrintFunction(const ElfFile& elf, const ProbedFunction& fn) {
  fmt::print("  {} at 0x{:x}, {} bytes (found in {})\n", fn.name, fn.entry, fn.size, fn.found_by);
  for (const ProbeSite& site : fn.sites) {
    fmt::print("    {:<7} 0x{:x}  +0x{:<4x} {:<22} {:<12} {}\n",
               site.kind == SiteKind::kEntry ? "entry" : "return", site.vaddr,
               site.vaddr - fn.entry, site.insn, site.bytes_hex, site.why);
  }
  // Linux >= 6.18 (x86-64) turns a uprobe on a 5-byte NOP into a ~0.6µs
  // syscall trampoline instead of a ~10µs int3 trap: worth knowing per build.
  auto code = elf.ReadVaddr(fn.entry, fn.size);
  auto nops = code ? FindNop5Sites(elf.arch(), fn.entry, *code)
                   : Result<std::vector<uint64_t>>(code.error());
  if (nops && !nops->empty()) {
    fmt::print("    5-byte NOPs (optimizable uprobe sites):");
    for (uint64_t addr : *nops) {
      fmt::print(" 0x{:x}", addr);
    }
    fmt::print("\n");
  } else if (elf.arch() == Arch::kX86_64) {
    fmt::print("    5-byte NOPs: none (every probe is an int3 trap)\n");
  }
}

// Where every runtime offset came from, and which other sources agree.
void PrintOffsets(const RuntimeOffsets& off) {
  fmt::print(
      "offsets:      {}: g.goid={} g.stack.lo={} g.stack.hi={} g.m={} m.procid={} m.curg={}\n",
      off.source, off.g_goid, off.g_stack_lo, off.g_stack_hi, off.g_m, off.m_procid, off.m_curg);
  if (!off.detail.empty()) {
    fmt::print("  layout: {}\n", off.detail);
  }
  std::string agree;
  for (const std::string& s : off.agreeing) {
    agree += (agree.empty() ? "; agrees: " : ", ") + s;
  }
  for (const RuntimeField& f : RuntimeFields()) {
    uint32_t v = off.*f.member;
    fmt::print("  {:<12} {:>6}  from {}{}\n", f.label,
               v == RuntimeOffsets::kAbsent ? "absent" : std::to_string(v), off.source, agree);
  }
  for (const std::string& w : off.warnings) {
    fmt::print("  DISAGREES: {}\n", w);
  }
  for (const std::string& u : off.unavailable) {
    fmt::print("  not used: {}\n", u);
  }
}

// What sampling (top, profile, exporter --sample) reads: g's TLS slot and
// how cgocall's frame is found from the goroutine's saved state.
void PrintSamplingLayout(const GoBinary& b) {
  const char* tp = b.elf().arch() == Arch::kArm64 ? "tpidr_el0" : "fs_base";
  auto slot = FindGTlsSlot(b.elf(), b.pclntab());
  if (!slot) {
    fmt::print("sampling:     cannot sample: {}\n", slot.error().message);
    return;
  }
  fmt::print("sampling:     g at {}{:+#x} ({} agreeing loads, e.g. 0x{:x})\n", tp, slot->offset,
             slot->witnesses, slot->example_vaddr);
  if (b.offsets().g_syscallbp != RuntimeOffsets::kAbsent) {
    fmt::print("  cgocall frame: g.syscallbp\n");
    return;
  }
  const ProbedFunction& cgocall = b.cgocall();
  auto code = b.elf().ReadVaddr(cgocall.entry, cgocall.size);
  auto bp = code ? CgocallFramePointerOffset(b.elf().arch(), cgocall.entry, *code)
                 : Result<int32_t>(code.error());
  if (!bp) {
    fmt::print("  cgocall frame: cannot sample: {}\n", bp.error().message);
    return;
  }
  fmt::print("  cgocall frame: g.syscallsp{:+d} (from runtime.cgocall's prologue)\n", *bp);
}

const char* EventName(cgt_site_event event) {
  switch (event) {
    case CGT_SE_CALL_START:
      return "call start";
    case CGT_SE_CALL_END:
      return "call end";
    case CGT_SE_CB_START:
      return "callback start";
    case CGT_SE_CB_END:
      return "callback end";
    case CGT_SE_C_END:
      return "C end";
    case CGT_SE_CALL_OFF_THREAD:
      return "off thread";
    default:
      return "-";
  }
}

// The sites `trace`, `stat`, `record` and `exporter` attach, with each
// instruction's kernel path: what a probe hit costs the target. The
// --breakdown plan adds a single-stepped site per call and slow-path sites in
// runtime.exitsyscall.
void PrintPlan(const GoBinary& b, bool breakdown) {
  const char* mode = breakdown ? "--breakdown" : "exact mode";
  auto plan = PlanSites(b, false, breakdown);
  if (!plan) {
    fmt::print("site plan ({}): {}\n", mode, plan.error().message);
    return;
  }
  fmt::print("site plan ({}):\n", mode);
  for (const PlannedSite& s : plan->sites) {
    const cgt_site_desc& d = plan->descriptors[s.slot];
    fmt::print("  {:<15} 0x{:x}  {}+0x{:<5x} {:<24} {:<12} {}{}\n",
               EventName(static_cast<cgt_site_event>(d.event)), s.vaddr, s.function,
               s.vaddr - s.function_entry, s.insn, SiteCostName(s.cost), SiteKernelPath(s.cost),
               s.fallback ? " (fallback)" : "");
    if (s.fallback) {
      fmt::print("    fallback because: {}\n", s.not_preferred);
    } else if (!s.not_preferred.empty()) {
      fmt::print("    not the first choice: {}\n", s.not_preferred);
    }
  }
}

int RunInspect(const std::string& target) {
  std::string path = target;
  if (IsPid(target)) {
    auto exe = ProcessExePath(std::stoi(target));
    if (!exe) {
      return Fail(exe.error());
    }
    path = *exe;
  } else {
    // The same file `trace --binary` would attach to.
    auto canonical = CanonicalBinaryPath(target);
    if (!canonical) {
      return Fail(canonical.error());
    }
    path = *canonical;
  }
  auto bin = GoBinary::Analyze(path);
  if (!bin) {
    return Fail(bin.error());
  }
  const GoBinary& b = **bin;
  const GoBuildInfo& info = b.buildinfo();
  fmt::print("binary:       {}\n", path);
  fmt::print("arch:         {}{}\n", ArchName(b.elf().arch()), b.elf().is_pie() ? " (PIE)" : "");
  fmt::print("build id:     {}\n", b.elf().build_id().empty() ? "-" : b.elf().build_id());
  fmt::print("go version:   {}\n", info.version.raw);
  fmt::print("main module:  {}\n", info.main_path.empty() ? "-" : info.main_path);
  auto cgo = info.settings.find("CGO_ENABLED");
  fmt::print("cgo:          yes{}\n", cgo != info.settings.end() ? " (CGO_ENABLED=1)" : "");
  for (const char* key : {"-buildmode", "-ldflags", "-trimpath", "-race", "GOAMD64"}) {
    if (auto it = info.settings.find(key); it != info.settings.end()) {
      fmt::print("build:        {}={}\n", key, it->second);
    }
  }
  fmt::print("symbols:      {}\n",
             b.has_symtab() ? ".symtab present" : "stripped: names from pclntab");
  fmt::print("pclntab:      magic 0x{:x}, {} functions, text at 0x{:x}\n", b.pclntab().magic(),
             b.pclntab().funcs().size(), b.pclntab().text_start());
  PrintOffsets(b.offsets());
  PrintSamplingLayout(b);
  fmt::print("probe sites:\n");
  PrintFunction(b.elf(), b.cgocall());
  PrintFunction(b.elf(), b.cgocallback());
  PrintPlan(b, false);
  PrintPlan(b, true);
  std::vector<std::string> cfuncs;
  for (const GoFunc& f : b.pclntab().funcs()) {
    if (CgoSymbol s = ParseCgoSymbol(f.name); s.kind == CgoSymbolKind::kCall) {
      cfuncs.push_back(std::move(s.name));
    }
  }
  std::sort(cfuncs.begin(), cfuncs.end());
  cfuncs.erase(std::unique(cfuncs.begin(), cfuncs.end()), cfuncs.end());
  fmt::print("cgo functions ({}):", cfuncs.size());
  for (const std::string& f : cfuncs) {
    fmt::print(" {}", f);
  }
  fmt::print("\n");
  return 0;
}

}  // namespace

void RegisterInspect(CLI::App* app, std::function<int()>* run) {
  auto target = std::make_shared<std::string>();
  CLI::App* sub =
      app->add_subcommand("inspect", "Show what cgotrace finds in a Go binary (no attaching)");
  sub->add_option("target", *target, "Path of a Go executable, or a PID")->required();
  sub->callback([target, run] { *run = [target] { return RunInspect(*target); }; });
}

}  // namespace cgotrace::cli
