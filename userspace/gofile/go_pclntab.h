// GoPclntab: the Go function table of a binary, from its pclntab.
//
// pclntab survives stripping (-ldflags=-s -w), so it is how cgotrace names Go
// functions in stripped binaries and finds runtime functions to probe. Found
// via the .gopclntab section, or (PIE, external linking, Go 1.26 .go.module
// layouts) through runtime.firstmoduledata / a scan for the pclntab header
// magic. Supports the Go 1.2, 1.16, 1.18 and 1.20+ header formats.
//
// Addresses are link-time virtual addresses. Owns copies of all names.
// Thread safety: immutable after Read(); const methods are thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cgotrace/result.h"
#include "elf/elf_file.h"

namespace cgotrace {

namespace pclntab {
struct LineData;
}

struct GoFunc {
  std::string name;
  uint64_t entry = 0;  // first instruction
  uint64_t end = 0;    // one past the last instruction
};

// A source position from the pclntab's file and line tables. `file` points
// into the GoPclntab it came from (valid while that lives).
struct SourceLine {
  std::string_view file;  // as the compiler recorded it: "/src/app/main.go"
  uint32_t line = 0;
};

class GoPclntab {
 public:
  static Result<GoPclntab> Read(const ElfFile& elf);

  uint32_t magic() const { return magic_; }                    // e.g. 0xfffffff1 (1.20+)
  uint64_t text_start() const { return text_start_; }          // runtime.text
  uint64_t vaddr() const { return vaddr_; }                    // the table's header
  const std::vector<GoFunc>& funcs() const { return funcs_; }  // by entry

  // The function containing pc, or nullptr.
  const GoFunc* FuncAt(uint64_t pc) const;
  // All functions with exactly this name (a name can appear twice: the ABI0
  // body and ABIInternal wrapper of some runtime functions).
  std::vector<const GoFunc*> FindAll(std::string_view name) const;

  // File and line of the instruction at pc (for a return address, pass
  // pc - 1: the call instruction). nullopt when pc is in no function, its
  // tables are damaged, or the binary uses the Go 1.2-1.15 layout (file and
  // line are not read there). Inlined calls are not expanded: the position is
  // the innermost inlined body's, as Go reports for the physical frame.
  std::optional<SourceLine> LineAt(uint64_t pc) const;

 private:
  uint32_t magic_ = 0;
  uint64_t text_start_ = 0;
  uint64_t vaddr_ = 0;
  std::vector<GoFunc> funcs_;
  std::shared_ptr<const pclntab::LineData> lines_;  // immutable, shared by copies
};

}  // namespace cgotrace
