// Internals of GoPclntab shared between its source files.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "binary/go_pclntab.h"
#include "cgotrace/result.h"
#include "elf/elf_file.h"
#include "elf/elf_relocs.h"

namespace cgotrace::pclntab {

constexpr uint32_t kMagic12 = 0xfffffffb;
constexpr uint32_t kMagic116 = 0xfffffffa;
constexpr uint32_t kMagic118 = 0xfffffff0;
constexpr uint32_t kMagic120 = 0xfffffff1;

// A candidate pclntab: its link-time address and the file bytes from there
// to the end of the section or segment holding it (the table's own size is
// not recorded anywhere, so this is the bound for every read).
struct Table {
  uint64_t vaddr = 0;
  std::span<const uint8_t> bytes;
};

struct Decoded {
  uint32_t magic = 0;
  uint64_t text_start = 0;
  std::vector<GoFunc> funcs;
};

// True if the first 8 bytes look like a 64-bit pclntab header.
bool PlausibleHeader(std::span<const uint8_t> bytes);

// Decodes and validates the function table. Errors say what was
// inconsistent (offsets outside the table, unsorted entries, bad names).
Result<Decoded> Decode(const ElfFile& elf, const RelativeRelocs& relocs, const Table& table);

// What cgotrace needs of a runtime.moduledata: its PC range and text start.
struct Moduledata {
  uint64_t vaddr = 0;
  uint64_t minpc = 0;
  uint64_t maxpc = 0;
  uint64_t text = 0;
};

// runtime.moduledata candidates whose first field points at the pclntab at
// `pclntab_vaddr` (found via runtime.firstmoduledata, the .go.module section
// or a scan of writable data). The caller checks minpc/maxpc against the
// function table. Go 1.26 no longer stores the text start in the pclntab
// header, so moduledata is where it must come from.
std::vector<Moduledata> FindModuledata(const ElfFile& elf, const RelativeRelocs& relocs,
                                       uint64_t pclntab_vaddr, uint32_t magic);

}  // namespace cgotrace::pclntab
