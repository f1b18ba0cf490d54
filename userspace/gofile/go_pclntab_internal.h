// Internals of GoPclntab shared between its source files.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "cgotrace/result.h"
#include "elf/elf_file.h"
#include "elf/elf_relocs.h"
#include "gofile/go_pclntab.h"

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

// Where one function's file and line tables are: offsets into the pctab of
// _func.pcfile and _func.pcln, and its compilation unit's first entry in the
// cutab. Zero pcfile/pcln means "no table".
struct FuncLineRefs {
  uint32_t pcfile = 0;
  uint32_t pcln = 0;
  uint32_t cu = 0;
};

// What LineAt needs (Go 1.16+ layouts): a copy of the table bytes from the
// cutab to the function table (cutab, filetab and pctab, in this order), the
// offsets of each in that copy, the PC quantum, and each function's refs.
struct LineData {
  std::vector<uint8_t> bytes;
  uint64_t cutab = 0;
  uint64_t filetab = 0;
  uint64_t pctab = 0;
  uint32_t quantum = 1;
  std::vector<FuncLineRefs> funcs;  // parallel to Decoded::funcs
};

struct Decoded {
  uint32_t magic = 0;
  uint64_t text_start = 0;
  std::vector<GoFunc> funcs;
  std::optional<LineData> lines;  // absent for the Go 1.2-1.15 layout
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
