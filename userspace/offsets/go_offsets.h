// RuntimeOffsets: where cgotrace finds fields of runtime.g / runtime.m.
//
// Three sources, in order of trust (docs/offsets.md):
//   1. the binary's DWARF (the runtime.g and runtime.m types);
//   2. the binary's own Go type descriptors of runtime.g / runtime.m
//      (offsets/go_typedesc.h), present in stripped binaries too;
//   3. a built-in table keyed by the Go version in the binary's buildinfo.
// For() takes the first that works and compares it with every other source
// that works: a disagreement is a warning naming both values (the tests
// treat it as a failure). cgotrace never guesses an offset: when no source
// has every needed field the Error names the field and the version.
//
// Pure value types; the From* functions have no side effects.
#pragma once

#include <cstdint>
#include <limits>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "cgotrace/result.h"
#include "elf/elf_file.h"
#include "gofile/go_buildinfo.h"
#include "gofile/go_pclntab.h"

namespace cgotrace {

struct RuntimeOffsets {
  // A field this Go release does not have (g.syscallbp before go1.23).
  static constexpr uint32_t kAbsent = std::numeric_limits<uint32_t>::max();

  uint32_t g_goid = 0;             // runtime.g.goid
  uint32_t g_stack_lo = 0;         // runtime.g.stack.lo
  uint32_t g_stack_hi = 0;         // runtime.g.stack.hi
  uint32_t g_m = 0;                // runtime.g.m
  uint32_t g_sched = 0;            // runtime.g.sched (a runtime.gobuf)
  uint32_t g_syscallsp = 0;        // runtime.g.syscallsp
  uint32_t g_syscallpc = 0;        // runtime.g.syscallpc
  uint32_t g_syscallbp = kAbsent;  // runtime.g.syscallbp (go1.23+)
  uint32_t m_g0 = 0;               // runtime.m.g0
  uint32_t m_procid = 0;           // runtime.m.procid
  uint32_t m_curg = 0;             // runtime.m.curg
  uint32_t m_incgo = 0;            // runtime.m.incgo
  uint32_t m_ncgocall = 0;         // runtime.m.ncgocall

  // Where the values come from: "dwarf", "type descriptors" or
  // "table (go1.26)".
  std::string source;
  // What the chosen source's reader said about itself (the descriptor
  // layout), for inspect; may be empty.
  std::string detail;
  // Other sources that were read and agree with every value, e.g.
  // {"type descriptors", "table (go1.26)"}.
  std::vector<std::string> agreeing;
  // Other sources that could not be read, with why (inspect shows them).
  std::vector<std::string> unavailable;
  // Disagreements between sources, one line each naming both values.
  std::vector<std::string> warnings;

  // Equal offsets (provenance ignored).
  bool operator==(const RuntimeOffsets& o) const;

  // From DWARF (.debug_info, compressed or not). Error if the binary has no
  // DWARF or lacks the runtime.g type / a needed member.
  static Result<RuntimeOffsets> FromDwarf(const ElfFile& elf);
  // From the binary's type descriptors. Error names the missing field or
  // the unreadable descriptor, and the version.
  static Result<RuntimeOffsets> FromTypeDescriptors(const ElfFile& elf, const GoVersion& version,
                                                    const GoPclntab& pclntab);
  // From the built-in table for this Go version. Error names the version if
  // unknown (newer than the table, or older than go1.17).
  static Result<RuntimeOffsets> FromTable(const GoVersion& version);
  // DWARF, then type descriptors, then the table, cross-checked (see top).
  static Result<RuntimeOffsets> For(const ElfFile& elf, const GoVersion& version,
                                    const GoPclntab& pclntab);
};

// One field cgotrace reads: "runtime.g" + {"stack", "lo"} is g.stack.lo.
struct RuntimeField {
  std::string_view label;       // "g.stack.lo"
  std::string_view type;        // "runtime.g"
  std::string_view field;       // "stack"
  std::string_view inner;       // "lo" (a field of the nested struct), or empty
  std::string_view inner_type;  // "runtime.stack" when inner is set
  uint32_t RuntimeOffsets::*member;
  int since_minor;  // exists from go1.<since_minor>; absent before
};

// Every field, in RuntimeOffsets order.
std::span<const RuntimeField> RuntimeFields();

}  // namespace cgotrace
