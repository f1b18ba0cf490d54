// RelativeRelocs: the R_*_RELATIVE relocations of a PIE, so that pointers
// in Go's static data (buildinfo, moduledata, pclntab header) can be read
// at their link-time value even where the linker left 0 in the file.
// Internal to cgotrace_core.
#pragma once

#include <cstdint>
#include <optional>
#include <utility>
#include <vector>

#include "elf/elf_file.h"

namespace cgotrace {

class RelativeRelocs {
 public:
  // Collects RELATIVE relocations from the allocated SHT_RELA sections
  // (.rela.dyn). Malformed tables are skipped, not fatal: the file contents
  // are then the only source of pointer values.
  explicit RelativeRelocs(const ElfFile& elf);

  // The addend of the RELATIVE relocation applied at `vaddr`, if any.
  std::optional<uint64_t> Addend(uint64_t vaddr) const;

  // The 8-byte pointer at `vaddr`: a RELATIVE relocation's addend if one
  // applies there, else the little-endian value in the file.
  std::optional<uint64_t> ReadPointer(uint64_t vaddr) const;

  // Addresses of relocated pointers whose target is `target`.
  std::vector<uint64_t> PointersTo(uint64_t target) const;

 private:
  const ElfFile& elf_;
  std::vector<std::pair<uint64_t, uint64_t>> relocs_;  // (where, addend), by where
};

}  // namespace cgotrace
