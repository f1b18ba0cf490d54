// Fuzz target: runtime.g / runtime.m offsets from the binary itself. Seeds:
// real Go binaries with DWARF (plain) and without (stripped).
//
// Every source is fuzzed on its own (DWARF, the runtime's type descriptors,
// which every Go binary has, stripped or not) and through For(), which picks
// and cross-checks them.
#include <cstddef>
#include <cstdint>

#include "elf/elf_file.h"
#include "fuzz_input.h"
#include "gofile/go_buildinfo.h"
#include "gofile/go_pclntab.h"
#include "offsets/go_offsets.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  cgotrace::fuzz::MemFile file(data, size);
  auto elf = cgotrace::ElfFile::Open(file.path());
  if (!elf) {
    return 0;
  }
  (void)cgotrace::RuntimeOffsets::FromDwarf(**elf);
  auto info = cgotrace::GoBuildInfo::Read(**elf);
  if (!info) {
    return 0;
  }
  // The descriptors are found through moduledata, which points at the pclntab.
  auto pcln = cgotrace::GoPclntab::Read(**elf);
  if (pcln) {
    (void)cgotrace::RuntimeOffsets::FromTypeDescriptors(**elf, info->version, *pcln);
    (void)cgotrace::RuntimeOffsets::For(**elf, info->version, *pcln);
  }
  return 0;
}
