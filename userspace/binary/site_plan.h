// Site plan: where cgotrace's uprobes go in one Go binary, and what each does.
//
// Probe sites are data. The site table (SiteTable) has one row per site
// rule: which runtime function, where in it (entry, each RET, a CALL to a
// named function), which event the site produces, and how g, SP and the call's
// arguments are read there. The planner turns each row into concrete
// addresses of one binary by decoding the function (capstone), and gives each
// row a slot whose BPF descriptor (struct cgt_site_desc, bpf/cgotrace_abi.h)
// the tracer writes into the `sites` map: the BPF program does at a site only
// what its descriptor says. Adding a site is a new row here (and, for a new
// kind of event, one case in bpf/cgotrace.bpf.c), nothing else.
//
// Planning needs no privileges and never touches a process. A plan is never
// partial: any row that cannot be placed is an Error naming the binary, the
// function and the row. Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "binary/probe_sites.h"
#include "cgotrace/result.h"
#include "cgotrace_abi.h"
#include "elf/elf_file.h"

namespace cgotrace {

class GoBinary;

// Where in its function a rule places sites.
enum class SiteWhere {
  kEntry,  // the first instruction
  // The first instruction, only where the kernel does not single-step it
  // and no jump in the function leads back to it (a stack-growth prologue).
  kCheapEntry,
  kEachReturn,  // every RET (never uretprobes on Go code: golang/go#22008)
  // The one CALL to `callee` in the function, or an equivalent NOP right
  // before it (same SP, same registers and memory) if that is cheaper.
  kCallTo,
  // The cheapest instruction of the straight-line block that follows the one
  // CALL to `callee` (each is executed exactly once when the call returns).
  kAfterCall,
  // Every CALL to `callee` in the function (at least one): sites that run
  // at most once per call of the function, on the paths that reach them.
  kEachCallTo,
};

// One row of the site table.
struct SiteRule {
  std::string_view function;  // runtime function probed, "runtime.cgocall"
  SiteWhere where = SiteWhere::kEntry;
  cgt_site_event event = CGT_SE_NONE;
  // Where the call's fn argument is at the site (start sites only);
  // CGT_SRC_SP_WORD offsets are from SP at the site.
  cgt_value_source fn_from = CGT_SRC_NONE;
  uint32_t fn_sp_off = 0;
  // Where the Go caller's PC is (start sites of calls only). Read only in
  // binaries without .symtab, where it is the only way to name the call.
  // CGT_SRC_SP_WORD offsets are, on x86-64, from SP at the function's entry
  // (where CALL pushed the return address), whatever the site; on arm64
  // from SP after the prologue (which saved LR at 0(SP)).
  cgt_value_source pc_from = CGT_SRC_NONE;
  uint32_t pc_sp_off = 0;
  std::string_view why;     // shown by `inspect`
  std::string_view callee;  // kCallTo / kAfterCall / kEachCallTo: "runtime.mcall"
  // The site must mark where C returned: in the straight-line block right
  // after the one CALL runtime.asmcgocall of the same function (checked by
  // the planner; the descriptor then gets CGT_SITE_F_C_END). A CGT_SE_C_END
  // row that is not there does not place; a call end just measures no c_ns.
  bool ends_c = false;
};

// The rows for `arch`, in slot order (slot = index, < CGT_MAX_SITE_SLOTS).
// Rows producing the same event are alternatives in order of preference:
// the planner uses the first that can be placed in the binary, and the rest
// get no sites (their descriptors say CGT_SE_NONE). The last alternative of
// each event is the entry / RET fallback, which every Go function has.
// With `breakdown` (--breakdown): the call's end moves after
// runtime.exitsyscall returns, CALL runtime.exitsyscall marks where C
// returned, and exitsyscall's slow-path CALLs to runtime.mcall move the
// in-flight frame off the thread; these rows have no fallbacks.
std::span<const SiteRule> SiteTable(Arch arch, bool breakdown = false);

// Names the function at a call target (link-time address); "" if unknown.
using CalleeNamer = std::function<std::string(uint64_t target)>;

// What a uprobe on an instruction costs on the running kernel (Linux 6.18,
// arch/x86/kernel/uprobes.c; arch/arm64/kernel/probes/decode-insn.c).
enum class SiteCost {
  kOptimizedNop,  // x86-64 5-byte NOP: rewritten into a call after the first hit
  kEmulated,      // the kernel emulates it in the trap: one exception
  kSingleStep,    // copied out of line and single-stepped: two exceptions
};
std::string_view SiteCostName(SiteCost cost);
// Kernel path in words, e.g. "int3, emulated".
std::string_view SiteKernelPath(SiteCost cost);
SiteCost ClassifyInstruction(Arch arch, std::span<const uint8_t> bytes);

// One attachable site of one binary.
struct PlannedSite {
  uint32_t slot = 0;     // row index in SiteTable: the descriptor's slot
  std::string function;  // "runtime.cgocall"
  uint64_t function_entry = 0;
  uint64_t vaddr = 0;     // link-time address of the probed instruction
  std::string insn;       // "push rbp"
  std::string bytes_hex;  // "55"
  SiteCost cost = SiteCost::kSingleStep;
  std::string why;
  int32_t sp_to_entry = 0;    // SP at function entry - SP here
  bool fallback = false;      // the entry / RET row: no preferred row placed
  bool c_end = false;         // in the block right after CALL runtime.asmcgocall
  std::string not_preferred;  // why earlier alternatives were not used ("" if none)
};

// What the tracer loads for one binary: the sites to attach and one BPF
// descriptor per slot (unused slots have event CGT_SE_NONE).
struct SitePlan {
  std::vector<PlannedSite> sites;
  std::vector<cgt_site_desc> descriptors;  // index = slot, size = table rows
};

// Places `rule` (row `slot`) in one decoded function. `code` holds the
// function's bytes from `entry`; `insns` its decoded instructions; `namer`
// names call targets. Error, saying why, if the rule cannot be placed: no
// RET, no CALL to the callee or more than one, the CALL inside a loop, or a
// frame whose SP cannot be followed from the entry (binary/insn_shapes.h).
Result<std::vector<PlannedSite>> PlaceRule(Arch arch, const SiteRule& rule, uint32_t slot,
                                           uint64_t entry, std::span<const uint8_t> code,
                                           std::span<const InstructionInfo> insns,
                                           const CalleeNamer& namer);

// The BPF descriptor of `rule` placed with `sp_to_entry`, for a binary of
// `arch` with or without .symtab.
cgt_site_desc DescriptorFor(Arch arch, const SiteRule& rule, int32_t sp_to_entry, bool has_symtab);

// One decoded function the planner places rules in.
struct DecodedFunction {
  std::string name;  // "runtime.cgocall"
  uint64_t entry = 0;
  std::span<const uint8_t> code;
  std::vector<InstructionInfo> insns;
};

// Plans `table` over `functions` (every function the table names): per
// event, the first alternative that places; PlannedSite::fallback and
// not_preferred say when and why a preferred row was not used. Error if
// some event has no placeable row.
// With `entry_ret_only`, rows other than kEntry / kEachReturn are skipped
// (the benchmark's naive floor).
Result<SitePlan> PlanDecoded(Arch arch, std::span<const SiteRule> table,
                             std::span<const DecodedFunction> functions, const CalleeNamer& namer,
                             bool has_symtab, bool entry_ret_only = false);

// True when Go functions of this arch and release take their arguments on
// the stack (ABI0): arm64 before go1.18, where the register ABI reached
// arm64 (amd64 has it from go1.17, the oldest release cgotrace supports).
// There CGT_SRC_ARG0 becomes the word at SP+8 (at a function's entry, or
// at a BL to the function), the first argument slot above the callee's
// saved-LR slot.
bool ArgumentsOnStack(Arch arch, int go_major, int go_minor);

// Plans every row of the site table for `bin` (the --breakdown table with
// `breakdown`). Errors name the binary.
Result<SitePlan> PlanSites(const GoBinary& bin, bool entry_ret_only = false,
                           bool breakdown = false);

// True when `vaddr` lies in the straight-line block that follows the one
// CALL to `callee` in `insns`: reached only from that CALL's return, with no
// branch, call, return or jump target in between (the site itself may be a
// CALL). Such a site runs exactly once each time the CALL returns.
bool InBlockAfterCall(Arch arch, std::span<const InstructionInfo> insns, const CalleeNamer& namer,
                      std::string_view callee, uint64_t vaddr);

}  // namespace cgotrace
