// RuntimeOffsets: where the BPF programs find fields of runtime.g / runtime.m.
//
// Taken from the binary's own DWARF (the runtime.g and runtime.m types) when
// present; otherwise from a built-in table keyed by the exact Go version in
// the binary's buildinfo. A version the table does not know gives an Error
// naming it: cgotrace never guesses an offset.
// Pure value types; FromDwarf/FromTable have no side effects.
#pragma once

#include <cstdint>
#include <string>

#include "binary/go_buildinfo.h"
#include "cgotrace/result.h"
#include "elf/elf_file.h"

namespace cgotrace {

struct RuntimeOffsets {
  uint32_t g_goid = 0;      // runtime.g.goid
  uint32_t g_stack_lo = 0;  // runtime.g.stack.lo
  uint32_t g_stack_hi = 0;  // runtime.g.stack.hi
  uint32_t g_m = 0;         // runtime.g.m
  uint32_t m_procid = 0;    // runtime.m.procid
  uint32_t m_curg = 0;      // runtime.m.curg
  std::string source;       // "dwarf" or "table (go1.26)"

  bool operator==(const RuntimeOffsets& o) const {
    return g_goid == o.g_goid && g_stack_lo == o.g_stack_lo && g_stack_hi == o.g_stack_hi &&
           g_m == o.g_m && m_procid == o.m_procid && m_curg == o.m_curg;
  }

  // From DWARF (.debug_info, compressed or not). Error if the binary has no
  // DWARF or lacks the runtime.g type / a needed member.
  static Result<RuntimeOffsets> FromDwarf(const ElfFile& elf);
  // From the built-in table for this Go version. Error names the version if
  // unknown (newer than the table, or older than go1.17).
  static Result<RuntimeOffsets> FromTable(const GoVersion& version);
  // DWARF first, then the table; the Error says why both failed.
  static Result<RuntimeOffsets> For(const ElfFile& elf, const GoVersion& version);
};

}  // namespace cgotrace
